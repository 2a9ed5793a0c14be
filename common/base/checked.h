/* checked.h — overflow-safe size arithmetic for sizes read from files.
 *
 * Promise: each returns false (and leaves *out unspecified) when the exact
 * result does not fit in 64 bits; true and the exact result otherwise.
 */
#ifndef QP_CHECKED_H
#define QP_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* Bytes of an array of n elements of size bytes each, for malloc: false
 * when the product overflows or exceeds what one object may span
 * (PTRDIFF_MAX), so a count read from a file can never wrap an allocation
 * size to something small. */
static inline bool ck_array_bytes(uint64_t n, uint64_t size, size_t *out)
{
	uint64_t total;
	if (!ck_mul_u64(n, size, &total) || total > (uint64_t)PTRDIFF_MAX)
		return false;
	*out = (size_t)total;
	return true;
}

/* Rounds v up to a multiple of align (align > 0). */
static inline bool ck_align_u64(uint64_t v, uint64_t align, uint64_t *out)
{
	uint64_t r = v % align;
	return r == 0 ? (*out = v, true) : ck_add_u64(v, align - r, out);
}

#endif
