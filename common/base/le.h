/* le.h — little-endian loads and stores that never cast an unaligned pointer.
 *
 * Promise: every function reads or writes exactly the named width at p,
 * whatever p's alignment and the host's byte order.  Bounds are the
 * caller's business (see checked.h for overflow-safe size arithmetic).
 */
#ifndef QP_LE_H
#define QP_LE_H

#include <stdint.h>
#include <string.h>

static inline uint16_t le_u16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}

static inline uint32_t le_u32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t le_u64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)le_u32(b) | (uint64_t)le_u32(b + 4) << 32;
}

static inline float le_f32(const void *p)
{
	uint32_t u = le_u32(p);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline double le_f64(const void *p)
{
	uint64_t u = le_u64(p);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static inline void le_put_u16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void le_put_u32(void *p, uint32_t v)
{
	uint8_t *b = p;
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_put_u64(void *p, uint64_t v)
{
	le_put_u32(p, (uint32_t)v);
	le_put_u32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

static inline void le_put_f32(void *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	le_put_u32(p, u);
}

#endif
