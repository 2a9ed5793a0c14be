/* cpu.h — whether this processor runs the AVX2 twins of the SIMD kernels.
 *
 * Promise: QP_HAVE_AVX2 is 1 when this build contains AVX2 kernels (an
 * x86 GCC or clang build with SSE2, not built with -DQP_NO_AVX2), and 0
 * otherwise; QP_AVX2 marks a function as built for AVX2 (no FMA: a fused
 * product would change ggml's bits).  qp_cpu_avx2() is true only when the
 * build has them and the processor runs them, so a kernel called through
 * it never faults on an older machine.  An AVX2 kernel gives the bytes of
 * its SSE2 and plain C twins: `make check-plain` runs the unit tests on a
 * build without AVX2 and on one without any SIMD.
 */
#ifndef QP_CPU_H
#define QP_CPU_H

#include <stdbool.h>

#if defined(__SSE2__) && (defined(__x86_64__) || defined(__i386__)) && \
	(defined(__GNUC__) || defined(__clang__)) && !defined(QP_NO_AVX2)
#define QP_HAVE_AVX2 1
#define QP_AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
static inline bool qp_cpu_avx2(void)
{
	return __builtin_cpu_supports("avx2");
}
#else
#define QP_HAVE_AVX2 0
static inline bool qp_cpu_avx2(void)
{
	return false;
}
#endif

#endif
