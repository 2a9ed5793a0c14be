/* iq_tables.h — ggml's constant lattices and value tables for the IQ,
 * MXFP4 and IQ4 types.
 *
 * Promise: every value is exactly ggml's (ggml/src/ggml-common.h), so
 * dequantization through these tables is bit-exact.  Each grid point is
 * stored as its bytes in memory order (ggml keeps the same bytes packed in
 * a uint64_t / uint32_t, little-endian), so point p, element j is
 * grid[p][j].  Read-only data; no functions.
 */
#ifndef QP_IQ_TABLES_H
#define QP_IQ_TABLES_H

#include <stdint.h>

#define QP_IQ1S_GRID_SIZE 2048
#define QP_IQ1S_DELTA 0.125f

extern const uint8_t qp_iq2xxs_grid[256][8];
extern const uint8_t qp_iq2xs_grid[512][8];
extern const uint8_t qp_iq2s_grid[1024][8];
extern const uint8_t qp_iq3xxs_grid[256][4];
extern const uint8_t qp_iq3s_grid[512][4];
extern const int8_t qp_iq1s_grid[QP_IQ1S_GRID_SIZE][8];
/* ksigns_iq2xs: entry i is i with bit 7 set when i has an odd number of
 * set bits (8 signs from 7 stored bits, even parity). */
extern const uint8_t qp_iq2_signs[128];
/* kvalues_iq4nl: the 16 non-linear 4-bit levels of IQ4_NL and IQ4_XS. */
extern const int8_t qp_iq4nl_values[16];
extern const int8_t qp_mxfp4_values[16];

#endif
