/* checked.h — overflow-safe size arithmetic for sizes read from files.
 *
 * Promise: each returns false (and leaves *out unspecified) when the exact
 * result does not fit in 64 bits; true and the exact result otherwise.
 */
#ifndef QP_CHECKED_H
#define QP_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* Rounds v up to a multiple of align (align > 0). */
static inline bool ck_align_u64(uint64_t v, uint64_t align, uint64_t *out)
{
	uint64_t r = v % align;
	return r == 0 ? (*out = v, true) : ck_add_u64(v, align - r, out);
}

#endif
