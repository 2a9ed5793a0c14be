/* fingerprint.h — the hash the unit tests' byte fingerprints are made with.
 *
 * Promise: fnv1a(p, n) is the 64-bit FNV-1a hash of the n bytes at p, the
 * same on every build and machine, so a fingerprint printed by one build
 * (--print-golden, on the plain C build) checks the bytes of every other.
 * Header-only.
 */
#ifndef QP_FINGERPRINT_H
#define QP_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#endif
