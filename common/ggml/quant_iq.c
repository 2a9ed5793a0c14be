/* quant_iq.c — the lattice ("grid") quantizers of ggml and NVFP4.
 *
 * The IQ types store each run of 8 (IQ1/IQ2) or 4 (IQ3) magnitudes as the
 * index of a point of a fixed lattice subset (iq_tables.c).  ggml searches
 * a scale per group: for each candidate scale every sub-vector is rounded
 * to levels; when the rounded point is not in the grid, the nearest grid
 * points (the "neighbours" of that off-grid point, a precomputed list) are
 * tried and the one of least weighted error is taken.  The neighbour list
 * of an off-grid point holds every grid point at one of the nwant smallest
 * squared distances, in (distance, index) order — ggml sorts by exactly
 * that key, so the order (which decides ties in the search) is fixed.
 *
 * Bytes depend on the order of every float operation: the searches below
 * do ggml's operations in ggml's order, with ggml's operand types (an int
 * level converted to float before it is multiplied, (w*x)*q, not w*(x*q)).
 * The build uses -ffp-contract=off.  IQ1's search sorts the values of a
 * group with qsort, as ggml does: qsort is not stable, so ties between
 * equal values are ordered the way the C library orders them, and the
 * elements here have ggml's layout (a float and an int, 8 bytes) and its
 * comparison so the library does the same moves.
 *
 * Speed: the neighbour search of IQ2/IQ3 scores four neighbours side by
 * side in SSE2 lanes (each lane the scalar loop's operations in its order,
 * then the scalar first-minimum scan), with the scalar loop as the plain C
 * twin (make check-plain compares them through the unit fingerprints);
 * IQ1_S's split search is its own module (iq1_split.c: ggml's loop, and
 * with AVX2 a pruned search that provably ends where that loop does);
 * IQ1_M's split search carries its shared partial sums forward instead of
 * re-adding them and skips the one-by-one tests of a split none of whose
 * four candidates beats the score.  With AVX2 (chosen at run time), the
 * IQ2 types and IQ1_S/IQ1_M score eight neighbours at a time from a table
 * of the 24 possible error terms (nb8_best), the IQ2 search rounds and
 * sums eight candidate scales side by side before ggml's comparisons in
 * its order, and IQ1 sorts by counting ranks when no two values tie
 * (qsort otherwise).
 * NVFP4 packs its E2M1 levels with MXFP4's code
 * (qp_e2m1_pack in quant_legacy.c: ggml uses best_index_mxfp4 for both).
 */
#include "quant_iq.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "blocks.h"
#include "cpu.h"
#include "fp16.h"
#include "iq1_split.h"
#include "iq_tables.h"
#include "le.h"
#include "quant_legacy.h"
#include "quant_search.h"
#include "types.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define QK_K QP_QK_K

/* ---- grids and their neighbour maps ------------------------------------ */

enum { G_IQ2XXS, G_IQ2XS, G_IQ2S, G_IQ1S, G_IQ3XXS, G_IQ3S, N_GRIDS };

typedef struct iq_grid {
	int n_points;
	int dim;	/* coordinates per point: 8 or 4 */
	int bits;	/* bits per coordinate in an index: 2 or 3 */
	int nwant;	/* neighbours: the nwant smallest distances */
	int top;	/* largest level a search rounds to */
	int8_t *pos;	/* [n_points][dim]: 2 * level + 1 */
	int32_t *map;	/* [1 << bits*dim]: point, or -(1 + offset in neigh) */
	uint16_t *neigh; /* per off-grid index: count, then the points */
#ifdef __SSE2__
	/* the neighbours' coordinates as floats, four neighbours side by side:
	 * list u's group g, coordinate i, lane l at lanes[lane_off[u] +
	 * (g*dim + i)*4 + l] (the last group padded with its last point) */
	float *lanes;
	int32_t *lane_off;
#endif
	bool ok;
} iq_grid;

static iq_grid grids[N_GRIDS];
static pthread_once_t grid_once[N_GRIDS] = {
	PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
	PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
};

/* The level (0, 1, ...) of coordinate j of point p in grid g, from the
 * dequantization tables (whose values are affine in the level). */
static int level_of(int g, int p, int j)
{
	switch (g) {
	case G_IQ2XXS: return qp_iq2xxs_grid[p][j] == 8 ? 0 : qp_iq2xxs_grid[p][j] == 25 ? 1 : 2;
	case G_IQ2XS: return qp_iq2xs_grid[p][j] == 8 ? 0 : qp_iq2xs_grid[p][j] == 25 ? 1 : 2;
	case G_IQ2S: return qp_iq2s_grid[p][j] == 8 ? 0 : qp_iq2s_grid[p][j] == 25 ? 1 : 2;
	case G_IQ1S: return qp_iq1s_grid[p][j] + 1;
	case G_IQ3XXS: /* 4 12 20 28 36 44 52 62 */
		return qp_iq3xxs_grid[p][j] == 62 ? 7 : (qp_iq3xxs_grid[p][j] - 4) / 8;
	default: return (qp_iq3s_grid[p][j] - 1) / 2;
	}
}

/* Squared distance of every grid point to the point of levels u (grid
 * coordinates 2*level + 1), and its histogram. */
static void distances(const iq_grid *G, int u, int *d2, int *hist)
{
	int mask = (1 << G->bits) - 1;
	int16_t c[8] = {0};
	for (int k = 0; k < G->dim; k++)
		c[k] = (int16_t)(2 * ((u >> (G->bits * k)) & mask) + 1);
#ifdef __SSE2__
	if (G->dim == 8) {
		const __m128i vc = _mm_loadu_si128((const __m128i *)c);
		for (int p = 0; p < G->n_points; p++) {
			__m128i v = _mm_loadl_epi64((const __m128i *)(G->pos + 8 * p));
			v = _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
			__m128i diff = _mm_sub_epi16(v, vc);
			__m128i sq = _mm_madd_epi16(diff, diff);
			sq = _mm_add_epi32(sq, _mm_shuffle_epi32(sq, 0x4e));
			sq = _mm_add_epi32(sq, _mm_shuffle_epi32(sq, 0xb1));
			d2[p] = _mm_cvtsi128_si32(sq);
			hist[d2[p]]++;
		}
		return;
	}
#endif
	for (int p = 0; p < G->n_points; p++) {
		int d = 0;
		for (int k = 0; k < G->dim; k++) {
			int diff = G->pos[p * G->dim + k] - c[k];
			d += diff * diff;
		}
		d2[p] = d;
		hist[d]++;
	}
}

/* Appends the neighbour list of off-grid index u: every point at one of
 * the nwant smallest distances, by (distance, index) as ggml's qsort
 * orders them; returns its offset or -1 when memory runs out. */
static int64_t add_neighbours(iq_grid *G, int u, int *d2, uint16_t **buf,
			      int64_t *len, int64_t *cap)
{
	int hist[1024] = {0}, start[1024];
	distances(G, u, d2, hist);
	int limit = 0, have = 0, n = 0;
	for (int d = 0; d < 1024 && have < G->nwant; d++)
		if (hist[d]) {
			start[d] = n;
			limit = d;
			have++;
			n += hist[d];
		}
	if (*len + 1 + n > *cap) {
		int64_t nc = (*cap ? *cap * 2 : 65536) + 1 + n;
		uint16_t *nb = realloc(*buf, (size_t)nc * sizeof *nb);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	int64_t off = *len;
	uint16_t *out = *buf + off;
	out[0] = (uint16_t)n;
	for (int p = 0; p < G->n_points; p++) /* a counting sort: stable */
		if (d2[p] <= limit)
			out[1 + start[d2[p]]++] = (uint16_t)p;
	*len += 1 + n;
	return off;
}

#ifdef __SSE2__
static bool build_lanes(iq_grid *G, int map_size)
{
	int64_t total = 0;
	for (int u = 0; u < map_size; u++)
		if (G->map[u] < 0 && G->map[u] != INT32_MIN)
			total += (G->neigh[-1 - G->map[u]] + 3) / 4 * 4 * G->dim;
	G->lanes = malloc((size_t)(total ? total : 1) * sizeof *G->lanes);
	G->lane_off = malloc((size_t)map_size * sizeof *G->lane_off);
	if (!G->lanes || !G->lane_off || total > INT32_MAX) {
		free(G->lanes);
		free(G->lane_off);
		return false;
	}
	int64_t off = 0;
	for (int u = 0; u < map_size; u++) {
		G->lane_off[u] = -1;
		if (G->map[u] >= 0 || G->map[u] == INT32_MIN)
			continue;
		const uint16_t *nb = G->neigh + (-1 - G->map[u]);
		int n = nb[0];
		G->lane_off[u] = (int32_t)off;
		for (int g = 0; g < (n + 3) / 4; g++)
			for (int i = 0; i < G->dim; i++)
				for (int l = 0; l < 4; l++) {
					int j = 4 * g + l < n ? 4 * g + l : n - 1;
					G->lanes[off++] = G->pos[nb[1 + j] * G->dim + i];
				}
	}
	return true;
}
#endif

static void build_grid(int g)
{
	static const struct { int n, dim, bits, nwant, top; } shape[N_GRIDS] = {
		[G_IQ2XXS] = {256, 8, 2, 2, 2}, [G_IQ2XS] = {512, 8, 2, 2, 2},
		[G_IQ2S] = {1024, 8, 2, 1, 2}, [G_IQ1S] = {2048, 8, 2, 3, 2},
		[G_IQ3XXS] = {256, 4, 3, 2, 7}, [G_IQ3S] = {512, 4, 3, 3, 7},
	};
	iq_grid *G = &grids[g];
	G->n_points = shape[g].n;
	G->dim = shape[g].dim;
	G->bits = shape[g].bits;
	G->nwant = shape[g].nwant;
	G->top = shape[g].top;
	int map_size = 1 << (G->bits * G->dim);
	G->pos = malloc((size_t)G->n_points * (size_t)G->dim);
	G->map = malloc((size_t)map_size * sizeof *G->map);
	int *d2 = malloc((size_t)G->n_points * sizeof *d2);
	uint16_t *buf = NULL;
	int64_t len = 0, cap = 0;
	bool ok = G->pos && G->map && d2;
	if (ok) {
		for (int i = 0; i < map_size; i++)
			G->map[i] = INT32_MIN; /* never asked for */
		for (int p = 0; p < G->n_points; p++) {
			int u = 0;
			for (int k = 0; k < G->dim; k++) {
				int l = level_of(g, p, k);
				G->pos[p * G->dim + k] = (int8_t)(2 * l + 1);
				u |= l << (G->bits * k);
			}
			G->map[u] = p;
		}
		/* the searches only round to levels 0..top */
		int mask = (1 << G->bits) - 1;
		for (int u = 0; u < map_size && ok; u++) {
			if (G->map[u] >= 0)
				continue;
			bool reachable = true;
			for (int k = 0; k < G->dim; k++)
				if (((u >> (G->bits * k)) & mask) > G->top)
					reachable = false;
			if (!reachable)
				continue;
			int64_t off = add_neighbours(G, u, d2, &buf, &len, &cap);
			if (off < 0)
				ok = false;
			else
				G->map[u] = (int32_t)(-1 - off);
		}
	}
	free(d2);
	if (!ok) {
		free(buf);
		free(G->pos);
		free(G->map);
		G->pos = NULL;
		G->map = NULL;
		return;
	}
	G->neigh = buf;
#ifdef __SSE2__
	if (!build_lanes(G, map_size)) {
		free(buf);
		free(G->pos);
		free(G->map);
		return;
	}
#endif
	G->ok = true;
}

static void build_0(void) { build_grid(0); }
static void build_1(void) { build_grid(1); }
static void build_2(void) { build_grid(2); }
static void build_3(void) { build_grid(3); }
static void build_4(void) { build_grid(4); }
static void build_5(void) { build_grid(5); }

static const iq_grid *grid_get(int g)
{
	static void (*const build[N_GRIDS])(void) = {
		build_0, build_1, build_2, build_3, build_4, build_5,
	};
	pthread_once(&grid_once[g], build[g]);
	return grids[g].ok ? &grids[g] : NULL;
}

static const uint16_t *neighbours_of(const iq_grid *G, int u)
{
	return G->neigh + (-1 - G->map[u]);
}

/* iq2/iq3_find_best_neighbour: the neighbour of least sum w (s*q - x)^2,
 * the first on ties; its levels go to L.  (ggml asserts one is found; with
 * every error NaN or >= FLT_MAX it aborts, here the first one is taken.) */
/* Called with dim a constant (4 or 8, through round_sub), so its loops
 * unroll. */
static inline int best_neighbour_dim(const iq_grid *G, int u, const float *xval,
				     const float *w, float scale, int8_t *L,
				     const int dim)
{
	const uint16_t *nb = neighbours_of(G, u);
	float best_d2 = FLT_MAX;
	int best = nb[1];
#ifdef __SSE2__
	/* four neighbours per step, each lane doing the scalar loop's
	 * operations in its order; then the scalar loop's first-minimum scan */
	float d2[2048 + 4];
	const float *ql = G->lanes + G->lane_off[u];
	const __m128 vs = _mm_set1_ps(scale);
	__m128 vmin = _mm_set1_ps(FLT_MAX);
	for (int g = 0; g < (nb[0] + 3) / 4; g++) {
		__m128 acc = _mm_setzero_ps();
		for (int i = 0; i < dim; i++, ql += 4) {
			__m128 diff = _mm_sub_ps(_mm_mul_ps(vs, _mm_loadu_ps(ql)),
						 _mm_set1_ps(xval[i]));
			acc = _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(w[i]),
								    diff), diff));
		}
		_mm_storeu_ps(d2 + 4 * g, acc);
		vmin = _mm_min_ps(acc, vmin); /* a NaN lane keeps vmin */
	}
	/* The scalar scan keeps the first d2 below every earlier one: the
	 * first occurrence of the least d2 when that is below FLT_MAX (padded
	 * lanes repeat the last neighbour, so they change no minimum). */
	vmin = _mm_min_ps(vmin, _mm_shuffle_ps(vmin, vmin, 0x4e));
	vmin = _mm_min_ps(vmin, _mm_shuffle_ps(vmin, vmin, 0xb1));
	float mn = _mm_cvtss_f32(vmin);
	if (mn < best_d2)
		for (int j = 0; j < nb[0]; j++)
			if (d2[j] == mn) {
				best = nb[1 + j];
				break;
			}
#else
	for (int j = 1; j <= nb[0]; j++) {
		const int8_t *pg = G->pos + nb[j] * dim;
		float d2 = 0;
		for (int i = 0; i < dim; i++) {
			float q = pg[i];
			float diff = scale * q - xval[i];
			d2 += w[i] * diff * diff;
		}
		if (d2 < best_d2) {
			best_d2 = d2;
			best = nb[j];
		}
	}
#endif
	const int8_t *pg = G->pos + best * dim;
	for (int i = 0; i < dim; i++)
		L[i] = (int8_t)((pg[i] - 1) >> 1); /* pg = 2 * level + 1 >= 1 */
	return best;
}

/* ---- AVX2: the 8-coordinate grids' neighbour search by table ----------- */

typedef struct nb8_lists {
	int32_t *off;	/* [map size]: offset of u's list in lu, -1 if none */
	uint32_t *lu;	/* per list: n, the level groups, then per neighbour
			 * its point << 16 | its packed levels */
	uint16_t *point_u;	/* [n_points]: the point's packed levels */
	bool ok;
} nb8_lists;

#if QP_HAVE_AVX2
/* For IQ2_XXS, IQ2_XS, IQ2_S and IQ1_S (8 coordinates, levels 0..2) the
 * error of a neighbour, sum over i of w[i] (s q(level_i) - x[i])^2, takes
 * for coordinate i one of three values, whichever the neighbour's level
 * is.  The AVX2 search computes those 24 terms once (each the scalar
 * loop's operations in its order), then scores eight neighbours side by
 * side, picking each lane's term with a permute by the lane's level and
 * adding in the scalar loop's order.  Each list keeps its neighbours'
 * levels, eight side by side: group g, lane l at lu[off[u] + 1 + 8 g + l]
 * (the last group padded with its last neighbour), 3 bits per coordinate
 * i: the level, plus 4 for i >= 4, the permute's index into a table with
 * coordinate i % 4's terms in its low half and i % 4 + 4's in its high
 * half; the permute reads the low three bits, so a shift right by 3 i
 * gives coordinate i's index. */
static nb8_lists nb8[G_IQ1S + 1];
static pthread_once_t nb8_once[G_IQ1S + 1] = {
	PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
	PTHREAD_ONCE_INIT,
};

static void nb8_build(int g)
{
	const iq_grid *G = grid_get(g);
	nb8_lists *N = &nb8[g];
	if (!G)
		return;
	int map_size = 1 << (G->bits * G->dim);
	int64_t total = 0;
	for (int u = 0; u < map_size; u++)
		if (G->map[u] < 0 && G->map[u] != INT32_MIN)
			total += 1 + (neighbours_of(G, u)[0] + 7) / 8 * 8 +
				 neighbours_of(G, u)[0];
	N->off = malloc((size_t)map_size * sizeof *N->off);
	N->lu = malloc((size_t)(total ? total : 1) * sizeof *N->lu);
	N->point_u = malloc((size_t)G->n_points * sizeof *N->point_u);
	if (!N->off || !N->lu || !N->point_u || total > INT32_MAX) {
		free(N->off);
		free(N->lu);
		free(N->point_u);
		return;
	}
	for (int p = 0; p < G->n_points; p++) {
		int u = 0;
		for (int i = 0; i < 8; i++)
			u |= ((G->pos[8 * p + i] - 1) >> 1) << 2 * i;
		N->point_u[p] = (uint16_t)u;
	}
	int64_t off = 0;
	for (int u = 0; u < map_size; u++) {
		N->off[u] = -1;
		if (G->map[u] >= 0 || G->map[u] == INT32_MIN)
			continue;
		const uint16_t *nb = neighbours_of(G, u);
		int n = nb[0];
		N->off[u] = (int32_t)off;
		N->lu[off++] = (uint32_t)n;
		for (int j = 0; j < (n + 7) / 8 * 8; j++) {
			const int8_t *pg = G->pos + 8 * nb[1 + (j < n ? j : n - 1)];
			uint32_t v = 0;
			for (int i = 0; i < 8; i++)
				v |= (uint32_t)(((pg[i] - 1) >> 1) | (i < 4 ? 0 : 4)) << 3 * i;
			N->lu[off++] = v;
		}
		for (int j = 0; j < n; j++)
			N->lu[off++] = (uint32_t)nb[1 + j] << 16 | N->point_u[nb[1 + j]];
	}
	N->ok = true;
}

static void nb8_build_0(void) { nb8_build(0); }
static void nb8_build_1(void) { nb8_build(1); }
static void nb8_build_2(void) { nb8_build(2); }
static void nb8_build_3(void) { nb8_build(3); }

static const nb8_lists *nb8_get(int g)
{
	static void (*const build[G_IQ1S + 1])(void) = {
		nb8_build_0, nb8_build_1, nb8_build_2, nb8_build_3,
	};
	pthread_once(&nb8_once[g], build[g]);
	return nb8[g].ok ? &nb8[g] : NULL;
}

/* The neighbour of off-grid u of least sum w (s*q[level] - x)^2, the first
 * on ties (as best_neighbour_dim and iq1_best_neighbour): its point times
 * 65536 plus its packed levels. */
static inline __attribute__((always_inline)) QP_AVX2 uint32_t
nb8_best(const nb8_lists *N, int u,
	 const float *xval, const float *w, float scale, const float *q)
{
	const uint32_t *list = N->lu + N->off[u];
	const int n = (int)list[0], ng = (n + 7) / 8;
	const uint32_t *lu = list + 1, *point = lu + 8 * ng;
	const __m256 x = _mm256_loadu_ps(xval), wv = _mm256_loadu_ps(w);
	const __m256 s = _mm256_set1_ps(scale);
	const __m256 d0 = _mm256_sub_ps(_mm256_mul_ps(s, _mm256_set1_ps(q[0])), x);
	const __m256 d1 = _mm256_sub_ps(_mm256_mul_ps(s, _mm256_set1_ps(q[1])), x);
	const __m256 d2v = _mm256_sub_ps(_mm256_mul_ps(s, _mm256_set1_ps(q[2])), x);
	const __m256 e0 = _mm256_mul_ps(_mm256_mul_ps(wv, d0), d0);
	const __m256 e1 = _mm256_mul_ps(_mm256_mul_ps(wv, d1), d1);
	const __m256 e2 = _mm256_mul_ps(_mm256_mul_ps(wv, d2v), d2v);
	/* transpose: t[i] holds coordinate i's three terms in its low half
	 * and coordinate i + 4's in its high half */
	const __m256 a0 = _mm256_unpacklo_ps(e0, e1), a1 = _mm256_unpacklo_ps(e2, e2);
	const __m256 a2 = _mm256_unpackhi_ps(e0, e1), a3 = _mm256_unpackhi_ps(e2, e2);
	const __m256 t0 = _mm256_shuffle_ps(a0, a1, 0x44), t1 = _mm256_shuffle_ps(a0, a1, 0xee);
	const __m256 t2 = _mm256_shuffle_ps(a2, a3, 0x44), t3 = _mm256_shuffle_ps(a2, a3, 0xee);
	float d2[2048 + 8];
	__m256 vmin = _mm256_set1_ps(FLT_MAX);
	for (int gr = 0; gr < ng; gr++) {
		__m256 acc = _mm256_setzero_ps();
		const __m256i lev = _mm256_loadu_si256((const __m256i *)(lu + 8 * gr));
		/* the permute reads the low 3 bits: level, plus 4 (the high
		 * half) for coordinates 4..7 */
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t0, lev));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t1, _mm256_srli_epi32(lev, 3)));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t2, _mm256_srli_epi32(lev, 6)));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t3, _mm256_srli_epi32(lev, 9)));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t0, _mm256_srli_epi32(lev, 12)));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t1, _mm256_srli_epi32(lev, 15)));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t2, _mm256_srli_epi32(lev, 18)));
		acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(t3, _mm256_srli_epi32(lev, 21)));
		_mm256_storeu_ps(d2 + 8 * gr, acc);
		vmin = _mm256_min_ps(acc, vmin); /* a NaN lane keeps vmin */
	}
	__m128 m = _mm_min_ps(_mm256_castps256_ps128(vmin), _mm256_extractf128_ps(vmin, 1));
	m = _mm_min_ps(m, _mm_shuffle_ps(m, m, 0x4e));
	m = _mm_min_ps(m, _mm_shuffle_ps(m, m, 0xb1));
	float mn = _mm_cvtss_f32(m);
	if (!(mn < FLT_MAX))
		return point[0];
	/* the first lane equal to mn: a padded lane repeats the last
	 * neighbour, so a match there comes after the real one */
	const __m256 vm = _mm256_set1_ps(mn);
	for (int gr = 0;; gr++) {
		int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(d2 + 8 * gr),
							   vm, _CMP_EQ_OQ));
		if (hit)
			return point[8 * gr + __builtin_ctz((unsigned)hit)];
	}
}

#endif

/* ---- IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S ------------------------------ */

/* How the final refit after the candidate scales treats the sub-vectors. */
enum refit {
	REFIT_ALL,	/* IQ2_XXS: always (scale > 0), every sub-vector */
	REFIT_OFF,	/* IQ2_XS IQ2_S IQ3_XXS: those off the grid, if any */
	REFIT_ANY_ALL,	/* IQ3_S: every sub-vector, if any was off the grid */
};

typedef struct lattice_type {
	int grid;
	int group;		/* values per scale: 32 or 16 */
	int kmax;		/* levels 0..kmax-1 before the grid: 3 or 8 */
	int nstep;		/* candidates -nstep..nstep */
	float step;		/* candidate spacing: 0.1 or 0.2 */
	bool even_signs;	/* 7 sign bits per 8 (odd count: flip the least) */
	bool qp_start;		/* start from make_qp_quants (IQ2_XXS) */
	enum refit refit;
	bool init_on_grid;
	float eps;		/* smaller max: empty group; 0: max == 0 only */
	bool sigma_twice;	/* sigma2 = 2 sum x^2 / QK_K (else sum / QK_K) */
	float plain_sigma;	/* no imatrix: w = plain_sigma*sigma2 + x^2,
				 * or x^2 when 0 (IQ2_XXS/XS never get here) */
	float fudge;		/* super-block scale factor */
} lattice_type;

static const lattice_type T_IQ2XXS = {G_IQ2XXS, 32, 3, 6, 0.1f, true, true,
	REFIT_ALL, true, 1e-15f, false, 0, 1};
static const lattice_type T_IQ2XS = {G_IQ2XS, 16, 3, 9, 0.1f, true, false,
	REFIT_OFF, true, 1e-15f, false, 0, 1};
static const lattice_type T_IQ2S = {G_IQ2S, 16, 3, 9, 0.1f, false, false,
	REFIT_OFF, true, 1e-8f, true, 0.25f, 0.9875f};
static const lattice_type T_IQ3XXS = {G_IQ3XXS, 32, 8, 15, 0.2f, true, false,
	REFIT_OFF, true, 1e-8f, true, 0, 1.0125f};
static const lattice_type T_IQ3S = {G_IQ3S, 32, 8, 9, 0.2f, false, false,
	REFIT_ANY_ALL, false, 0, true, 0, 1.033f};

static int pack_levels(const iq_grid *G, const int8_t *L)
{
	int u = 0;
	for (int i = 0; i < G->dim; i++)
		u |= L[i] << (G->bits * i);
	return u;
}

/* Rounds the sub-vector at scale 1/id to levels 0..kmax-1 in L; returns
 * the point's code (the grid map's index).  Plain C, so that it inlines
 * into the AVX2 kernels too. */
static inline int round_levels(const lattice_type *t, const iq_grid *G,
			       float id, const float *xval, int8_t *L,
			       const int dim)
{
	int u = 0;
	for (int i = 0; i < dim; i++) {
		int l = qp_nearest_int(0.5f * (id * xval[i] - 1));
		L[i] = (int8_t)qp_clamp_int(l, 0, t->kmax - 1);
		u |= L[i] << (G->bits * i);
	}
	return u;
}

/* round_levels; true when that point is in the grid, else L is the best
 * neighbour at `scale`. */
static inline bool round_sub_dim(const lattice_type *t, const iq_grid *G,
				 float id, float scale, const float *xval,
				 const float *waux, int8_t *L, const int dim)
{
	int u = round_levels(t, G, id, xval, L, dim);
	if (G->map[u] >= 0)
		return true;
	best_neighbour_dim(G, u, xval, waux, scale, L, dim);
	return false;
}

static bool round_sub(const lattice_type *t, const iq_grid *G, float id,
		      float scale, const float *xval, const float *waux,
		      int8_t *L)
{
	if (G->dim == 4)
		return round_sub_dim(t, G, id, scale, xval, waux, L, 4);
	return round_sub_dim(t, G, id, scale, xval, waux, L, 8);
}

/* sum w x q and sum w q^2 for q = 2L+1, in ggml's order. */
static void lattice_sums(int n, const float *w, const float *xval,
			 const int8_t *L, float *sumqx, float *sumq2)
{
	float sx = 0, s2 = 0;
	for (int i = 0; i < n; i++) {
		float q = 2 * L[i] + 1;
		sx += w[i] * xval[i] * q;
		s2 += w[i] * q * q;
	}
	*sumqx = sx;
	*sumq2 = s2;
}

/* The pieces of a group's search that every kernel (lattice_group and the
 * AVX2 ones) shares: plain scalar C, static inline, so that they inline
 * into the QP_AVX2 kernels as well. */

/* The first of eight values whose w x^2 is least: the one whose sign
 * ggml flips to make a group's signs even. */
static inline int least_weighted_square(const float *w, const float *xb)
{
	int imin = 0;
	float min = w[0] * xb[0] * xb[0];
	for (int i = 1; i < 8; i++) {
		float ax = w[i] * xb[i] * xb[i];
		if (ax < min) {
			min = ax;
			imin = i;
		}
	}
	return imin;
}

/* xval = |xb| and the sign bytes signs[] (a bit where xb is not >= 0, NaN
 * included); with even_signs an odd count flips the value of least
 * w x^2 back, as ggml does.  False for an empty group (ggml's max test). */
static inline bool lattice_signs(const lattice_type *t, int g, const float *xb,
				 const float *w, float *xval, uint8_t *signs,
				 float *max_out)
{
	for (int k = 0; k < g / 8; k++) {
		int nflip = 0;
		uint8_t s = 0;
		for (int i = 0; i < 8; i++) { /* no branch: signs are random */
			const float v = xb[8 * k + i];
			const int neg = !(v >= 0);
			xval[8 * k + i] = neg ? -v : v;
			nflip += neg;
			s |= (uint8_t)(neg << i);
		}
		if (t->even_signs && nflip % 2) {
			const int imin = least_weighted_square(w + 8 * k, xb + 8 * k);
			xval[8 * k + imin] = -xval[8 * k + imin];
			s ^= (uint8_t)(1 << imin);
		}
		signs[k] = t->even_signs ? s & 127 : s;
	}
	float max = xval[0];
	for (int i = 1; i < g; i++)
		max = max > xval[i] ? max : xval[i];
	*max_out = max;
	return !(t->eps > 0 ? max < t->eps : max == 0);
}

/* The search's starting scale and the maximum its candidates divide:
 * make_qp_quants' fit (IQ2_XXS; its levels in L) or max / (2 kmax - 1).
 * False when the fit leaves nothing to quantize. */
static inline bool lattice_start(const lattice_type *t, int g,
				 const float *xval, const float *w, float max,
				 uint8_t *L, float *scale, float *eff_max)
{
	if (t->qp_start) {
		*scale = qp_fit_positive(g, t->kmax + 1, xval, L, w);
		*eff_max = *scale * t->kmax;
		return !(*eff_max <= 0); /* ggml's test: a NaN goes on */
	}
	*eff_max = max;
	*scale = max / (2 * t->kmax - 1);
	return true;
}

/* Whether the final refit runs, for the winner's on-grid flags on[]. */
static inline bool lattice_wants_refit(const lattice_type *t, const bool *on,
				       int nsub, float scale)
{
	int n_off = 0;
	for (int k = 0; k < nsub; k++)
		n_off += !on[k];
	return t->refit == REFIT_ALL ? scale > 0 : n_off > 0 && scale > 0;
}

/* The refit's new scale from the refitted levels L (kept when sum w q^2
 * is 0). */
static inline float lattice_refit_scale(int g, const float *w,
					const float *xval, const int8_t *L,
					float scale)
{
	float sumqx, sumq2;
	lattice_sums(g, w, xval, L, &sumqx, &sumq2);
	return sumq2 > 0 ? sumqx / sumq2 : scale;
}

/* A negative scale (ggml: "should never happen") made positive, the
 * signs flipped with it. */
static inline float lattice_unflip(const lattice_type *t, int g, float scale,
				   uint8_t *signs)
{
	if (scale < 0) {
		scale = -scale;
		for (int k = 0; k < g / 8; k++)
			signs[k] = t->even_signs ? (uint8_t)~signs[k] & 127
						 : (uint8_t)~signs[k];
	}
	return scale;
}

/* Stores the group: idx[] the points of L, the scale made positive. */
static inline void lattice_store(const lattice_type *t, const iq_grid *G,
				 int g, const int8_t *L, float scale,
				 float *scale_out, int *idx, uint8_t *signs)
{
	for (int k = 0; k < g / G->dim; k++)
		idx[k] = G->map[pack_levels(G, L + G->dim * k)];
	*scale_out = lattice_unflip(t, g, scale, signs);
}

/* One group: its scale (< 0 never returned) and grid points idx[], sign
 * bytes signs[]; false for an empty group (nothing stored). */
static bool lattice_group(const lattice_type *t, const iq_grid *G,
			  const float *xb, const float *w, const float *waux,
			  float *scale_out, int *idx, uint8_t *signs)
{
	const int g = t->group, dim = G->dim, nsub = g / dim;
	float xval[32], max;
	int8_t L[32], Laux[32];
	bool on[8], on_aux[8];
	if (!lattice_signs(t, g, xb, w, xval, signs, &max))
		return false;
	memset(L, 0, (size_t)g);
	float scale, eff_max;
	if (!lattice_start(t, g, xval, w, max, (uint8_t *)L, &scale, &eff_max))
		return false;
	float best = 0;
	for (int k = 0; k < nsub; k++)
		on[k] = t->init_on_grid;
	for (int is = -t->nstep; is <= t->nstep; is++) {
		float id = (2 * t->kmax - 1 + is * t->step) / eff_max;
		float this_scale = 1 / id;
		for (int k = 0; k < nsub; k++)
			on_aux[k] = round_sub(t, G, id, this_scale, xval + dim * k,
					      waux + dim * k, Laux + dim * k);
		float sumqx, sumq2;
		lattice_sums(g, w, xval, Laux, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, (size_t)g);
			memcpy(on, on_aux, sizeof on);
		}
	}
	if (lattice_wants_refit(t, on, nsub, scale)) {
		float id = 1 / scale;
		for (int k = 0; k < nsub; k++) {
			if (t->refit == REFIT_OFF && on[k])
				continue;
			round_sub(t, G, id, scale, xval + dim * k, waux + dim * k,
				  L + dim * k);
		}
		scale = lattice_refit_scale(g, w, xval, L, scale);
	}
	lattice_store(t, G, g, L, scale, scale_out, idx, signs);
	return true;
}

#if QP_HAVE_AVX2
/* The packed levels (2 bits each) of 8 values rounded at 1/id, as
 * round_sub_dim computes them: nearest_int(0.5 (id x - 1)) clamped to
 * 0..2, lane by lane. */
static inline __attribute__((always_inline)) QP_AVX2 int
round8_avx2(const float *xval, float id)
{
	__m256 v = _mm256_mul_ps(_mm256_set1_ps(0.5f),
				 _mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(id),
							     _mm256_loadu_ps(xval)),
					       _mm256_set1_ps(1)));
	__m256i b = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
	__m256i l = _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)),
				     _mm256_set1_epi32(0x00400000));
	l = _mm256_min_epi32(_mm256_max_epi32(l, _mm256_setzero_si256()),
			     _mm256_set1_epi32(2));
	l = _mm256_sllv_epi32(l, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
	__m128i h = _mm_or_si128(_mm256_castsi256_si128(l), _mm256_extracti128_si256(l, 1));
	h = _mm_or_si128(h, _mm_shuffle_epi32(h, 0x4e));
	h = _mm_or_si128(h, _mm_shuffle_epi32(h, 0xb1));
	return _mm_cvtsi128_si32(h);
}

/* round_sub for the IQ2 grids: the packed levels of the chosen point;
 * *on when the rounded point is in the grid. */
static inline __attribute__((always_inline)) QP_AVX2 int
round8_point(const iq_grid *G, const nb8_lists *N, const float *xval,
	     const float *waux, float id, float scale, bool *on)
{
	static const float q[3] = {1, 3, 5};
	int u = round8_avx2(xval, id);
	*on = G->map[u] >= 0;
	if (*on)
		return u;
	return (int)(nb8_best(N, u, xval, waux, scale, q) & 0xffff);
}

/* lattice_sums from the per-value tables sx[i][l] = (w x) q and
 * s2[i][l] = (w q) q (q = 2l + 1): the same products, added in order. */
static inline void lattice8_sums(int nsub, float (*sx)[4],
				 float (*s2)[4], const int *u,
				 float *sumqx, float *sumq2)
{
	float a = 0, b = 0;
	for (int k = 0; k < nsub; k++)
		for (int i = 0; i < 8; i++) {
			int l = (u[k] >> 2 * i) & 3;
			a += sx[8 * k + i][l];
			b += s2[8 * k + i][l];
		}
	*sumqx = a;
	*sumq2 = b;
}

/* Stores eight values' four terms (a, b, c, d: vectors over the values)
 * as t[i] = {a[i], b[i], c[i], d[i]}. */
static inline __attribute__((always_inline)) QP_AVX2 void
lattice8_table_store(float (*t)[4], __m256 a, __m256 b, __m256 c, __m256 d)
{
	const __m256 a0 = _mm256_unpacklo_ps(a, b), a1 = _mm256_unpacklo_ps(c, d);
	const __m256 a2 = _mm256_unpackhi_ps(a, b), a3 = _mm256_unpackhi_ps(c, d);
	const __m256 r[4] = {_mm256_shuffle_ps(a0, a1, 0x44), _mm256_shuffle_ps(a0, a1, 0xee),
			     _mm256_shuffle_ps(a2, a3, 0x44), _mm256_shuffle_ps(a2, a3, 0xee)};
	for (int i = 0; i < 4; i++) {
		_mm_storeu_ps(t[i], _mm256_castps256_ps128(r[i]));
		_mm_storeu_ps(t[i + 4], _mm256_extractf128_ps(r[i], 1));
	}
}

/* lattice_group for IQ2_XXS, IQ2_XS and IQ2_S (8 coordinates, levels
 * 0..2) with the AVX2 rounding and neighbour search: the same bytes. */
static QP_AVX2 bool lattice8_group_avx2(const lattice_type *t, const iq_grid *G,
					const nb8_lists *N, const float *xb,
					const float *w, const float *waux,
					float *scale_out, int *idx, uint8_t *signs)
{
	const int g = t->group, nsub = g / 8;
	float xval[32] = {0}; /* = {0}: for -Wmaybe-uninitialized */
	_Alignas(16) float sx[32][4], s2[32][4];
	int u[4];
	bool on[4];
	float max;
	if (!lattice_signs(t, g, xb, w, xval, signs, &max))
		return false;
	/* sx[i][l] = (w x) q, s2[i][l] = (w q) q, eight values at a time */
	for (int i0 = 0; i0 < g; i0 += 8) {
		const __m256 wi = _mm256_loadu_ps(w + i0);
		const __m256 wx = _mm256_mul_ps(wi, _mm256_loadu_ps(xval + i0));
		const __m256 q1 = _mm256_set1_ps(1), q3 = _mm256_set1_ps(3);
		const __m256 q5 = _mm256_set1_ps(5), z = _mm256_setzero_ps();
		lattice8_table_store(sx + i0, _mm256_mul_ps(wx, q1), _mm256_mul_ps(wx, q3),
				     _mm256_mul_ps(wx, q5), z);
		lattice8_table_store(s2 + i0, _mm256_mul_ps(_mm256_mul_ps(wi, q1), q1),
				     _mm256_mul_ps(_mm256_mul_ps(wi, q3), q3),
				     _mm256_mul_ps(_mm256_mul_ps(wi, q5), q5), z);
	}
	for (int k = 0; k < nsub; k++)
		u[k] = 0;
	float scale, eff_max;
	uint8_t L0[32];
	memset(L0, 0, sizeof L0);
	if (!lattice_start(t, g, xval, w, max, L0, &scale, &eff_max))
		return false;
	if (t->qp_start)
		for (int k = 0; k < nsub; k++)
			for (int i = 0; i < 8; i++)
				u[k] |= L0[8 * k + i] << 2 * i;
	float best = 0;
	for (int k = 0; k < nsub; k++)
		on[k] = t->init_on_grid;
	/* every candidate's points, then their sums eight candidates side
	 * by side, then ggml's comparisons in its order */
	const int nc = 2 * t->nstep + 1;
	int32_t cu[4][24] = {{0}};
	float csx[24], cs2[24];
	float cid[24], cscale[24];
	/* cid = (2 kmax - 1 + is step) / eff_max (is = c - nstep: the int
	 * product converted to float as in the scalar expression),
	 * cscale = 1 / cid, eight candidates at a time; lanes past nc get
	 * id 0 */
	for (int c0 = 0; c0 < nc; c0 += 8) {
		const __m256i c8 = _mm256_add_epi32(_mm256_set1_epi32(c0),
						    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
		const __m256 live = _mm256_castsi256_ps(
			_mm256_cmpgt_epi32(_mm256_set1_epi32(nc), c8));
		const __m256 is = _mm256_cvtepi32_ps(
			_mm256_sub_epi32(c8, _mm256_set1_epi32(t->nstep)));
		const __m256 num = _mm256_add_ps(_mm256_set1_ps((float)(2 * t->kmax - 1)),
						 _mm256_mul_ps(is, _mm256_set1_ps(t->step)));
		const __m256 id8 = _mm256_and_ps(live, _mm256_div_ps(num, _mm256_set1_ps(eff_max)));
		_mm256_storeu_ps(cid + c0, id8);
		_mm256_storeu_ps(cscale + c0, _mm256_div_ps(_mm256_set1_ps(1), id8));
	}
	/* round8_avx2's rounding, eight candidates side by side (lanes past
	 * nc round at id 0 to level 0, unused) */
	for (int c0 = 0; c0 < nc; c0 += 8) {
		const __m256 vid = _mm256_loadu_ps(cid + c0);
		for (int k = 0; k < nsub; k++) {
			__m256i uk = _mm256_setzero_si256();
			for (int i = 0; i < 8; i++) {
				__m256 v = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_sub_ps(
					_mm256_mul_ps(vid, _mm256_set1_ps(xval[8 * k + i])),
					_mm256_set1_ps(1)));
				__m256i b = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
				__m256i l = _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)),
							     _mm256_set1_epi32(0x00400000));
				l = _mm256_min_epi32(_mm256_max_epi32(l, _mm256_setzero_si256()),
						     _mm256_set1_epi32(2));
				uk = _mm256_or_si256(uk, _mm256_slli_epi32(l, 2 * i));
			}
			_mm256_storeu_si256((__m256i *)(cu[k] + c0), uk);
		}
	}
	/* off[k] bit c: candidate c's sub-vector k rounds off the grid
	 * (map < 0, by a gather of eight map entries); those get their
	 * nearest neighbour */
	static const float q135[3] = {1, 3, 5};
	unsigned off[4] = {0};
	for (int k = 0; k < nsub; k++) {
		for (int c0 = 0; c0 < nc; c0 += 8) {
			const __m256i m = _mm256_i32gather_epi32(G->map,
				_mm256_loadu_si256((const __m256i *)(cu[k] + c0)), 4);
			off[k] |= (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m)) << c0;
		}
		off[k] &= (1u << nc) - 1;
		for (unsigned o = off[k]; o; o &= o - 1) {
			const int c = __builtin_ctz(o);
			cu[k][c] = (int32_t)(0xffff & nb8_best(N, cu[k][c], xval + 8 * k,
							       waux + 8 * k, cscale[c], q135));
		}
	}
	for (int c0 = 0; c0 < nc; c0 += 8) {
		__m256 ax = _mm256_setzero_ps(), aq = _mm256_setzero_ps();
		for (int k = 0; k < nsub; k++) {
			__m256i uk = _mm256_loadu_si256((const __m256i *)(cu[k] + c0));
			for (int i = 0; i < 8; i++) {
				/* the permute reads the low 2 bits */
				__m256i l = _mm256_srli_epi32(uk, 2 * i);
				ax = _mm256_add_ps(ax, _mm256_permutevar_ps(
					_mm256_broadcast_ps((const __m128 *)sx[8 * k + i]), l));
				aq = _mm256_add_ps(aq, _mm256_permutevar_ps(
					_mm256_broadcast_ps((const __m128 *)s2[8 * k + i]), l));
			}
		}
		_mm256_storeu_ps(csx + c0, ax);
		_mm256_storeu_ps(cs2 + c0, aq);
	}
	for (int c = 0; c < nc; c++) {
		float sumqx = csx[c], sumq2 = cs2[c];
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			for (int k = 0; k < nsub; k++) {
				u[k] = cu[k][c];
				on[k] = !((off[k] >> c) & 1);
			}
		}
	}
	if (lattice_wants_refit(t, on, nsub, scale)) {
		float id = 1 / scale;
		for (int k = 0; k < nsub; k++) {
			if (t->refit == REFIT_OFF && on[k])
				continue;
			bool dummy;
			u[k] = round8_point(G, N, xval + 8 * k, waux + 8 * k, id,
					    scale, &dummy);
		}
		float sumqx, sumq2;
		lattice8_sums(nsub, sx, s2, u, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	for (int k = 0; k < nsub; k++)
		idx[k] = G->map[u[k]];
	*scale_out = lattice_unflip(t, g, scale, signs);
	return true;
}
#endif

/* 4-bit group scale level of s against the super-block scale 1/id. */
static int scale_level(float id, float s, int top)
{
	return qp_clamp_int(qp_nearest_int(0.5f * (id * s - 1)), 0, top);
}

static void pack_iq2_xxs(uint8_t *y, const float *scales, int idx[][8],
			 uint8_t signs[][4], const bool *full, float max_scale)
{
	memset(y, 0, 66);
	if (!max_scale)
		return;
	float d = max_scale / 31;
	le_put_u16(y, qp_fp32_to_fp16(d));
	float id = 1 / d;
	for (int ib = 0; ib < 8; ib++) {
		uint32_t a = 0, b = 0;
		if (full[ib])
			for (int k = 0; k < 4; k++) {
				a |= (uint32_t)idx[ib][k] << 8 * k;
				b |= (uint32_t)signs[ib][k] << 7 * k;
			}
		b |= (uint32_t)scale_level(id, scales[ib], 15) << 28;
		le_put_u32(y + 2 + 8 * ib, a);
		le_put_u32(y + 6 + 8 * ib, b);
	}
}

static void pack_iq2_xs(uint8_t *y, const float *scales, int idx[][8],
			uint8_t signs[][4], const bool *full, float max_scale)
{
	memset(y, 0, 74);
	if (!max_scale)
		return;
	float d = max_scale / 31;
	le_put_u16(y, qp_fp32_to_fp16(d));
	float id = 1 / d;
	for (int ib = 0; ib < 16; ib++) {
		if (full[ib])
			for (int k = 0; k < 2; k++)
				le_put_u16(y + 2 + 4 * ib + 2 * k,
					   (uint16_t)(idx[ib][k] | signs[ib][k] << 9));
		int l = scale_level(id, scales[ib], 15);
		y[66 + ib / 2] |= (uint8_t)(ib % 2 ? l << 4 : l);
	}
}

static void pack_iq2_s(uint8_t *y, const float *scales, int idx[][8],
		       uint8_t signs[][4], const bool *full, float max_scale)
{
	memset(y, 0, 82);
	for (int ib = 0; ib < 16; ib++) {
		if (!full[ib])
			continue;
		for (int k = 0; k < 2; k++) {
			int i8 = 2 * ib + k;
			y[2 + i8] = (uint8_t)(idx[ib][k] & 255);
			y[66 + i8 / 4] |= (uint8_t)((idx[ib][k] >> 8) << 2 * (i8 % 4));
			y[2 + 32 + i8] = signs[ib][k];
		}
	}
	if (!max_scale)
		return;
	float d = max_scale / 31;
	le_put_u16(y, qp_fp32_to_fp16(d * 0.9875f));
	float id = 1 / d;
	for (int ib = 0; ib < 16; ib++) {
		int l = scale_level(id, scales[ib], 15);
		y[74 + ib / 2] |= (uint8_t)(ib % 2 ? l << 4 : l);
	}
}

static void pack_iq3_xxs(uint8_t *y, const float *scales, int idx[][8],
			 uint8_t signs[][4], const bool *full, float max_scale)
{
	memset(y, 0, 98);
	if (!max_scale)
		return;
	float d = max_scale / 31;
	le_put_u16(y, qp_fp32_to_fp16(d * 1.0125f));
	float id = 1 / d;
	for (int ib = 0; ib < 8; ib++) {
		uint32_t ss = 0;
		if (full[ib]) {
			for (int k = 0; k < 8; k++)
				y[2 + 8 * ib + k] = (uint8_t)idx[ib][k];
			ss = signs[ib][0] | (uint32_t)signs[ib][1] << 7 |
			     (uint32_t)signs[ib][2] << 14 | (uint32_t)signs[ib][3] << 21;
		}
		ss |= (uint32_t)scale_level(id, scales[ib], 15) << 28;
		le_put_u32(y + 66 + 4 * ib, ss);
	}
}

static void pack_iq3_s(uint8_t *y, const float *scales, int idx[][8],
		       uint8_t signs[][4], const bool *full, float max_scale)
{
	memset(y, 0, 110);
	/* ggml moves its qs and signs pointers on only past a group it
	 * quantized: an all-zero group takes no slot there, the later
	 * groups move up and the block's last slots stay zero (qh keeps
	 * each group's own byte) */
	int slot = 0;
	for (int ib = 0; ib < 8; ib++) {
		if (!full[ib])
			continue;
		for (int k = 0; k < 8; k++) {
			y[2 + 8 * slot + k] = (uint8_t)(idx[ib][k] & 255);
			y[66 + ib] |= (uint8_t)((idx[ib][k] >> 8) << k);
		}
		memcpy(y + 74 + 4 * slot, signs[ib], 4);
		slot++;
	}
	if (!max_scale)
		return;
	float d = max_scale / 31;
	le_put_u16(y, qp_fp32_to_fp16(d * 1.033f));
	float id = 1 / d;
	for (int ib = 0; ib < 8; ib += 2)
		y[106 + ib / 2] = (uint8_t)(scale_level(id, scales[ib], 15) |
					    scale_level(id, scales[ib + 1], 15) << 4);
}

typedef void (*lattice_pack_fn)(uint8_t *y, const float *scales,
				int idx[][8], uint8_t signs[][4],
				const bool *full, float max_scale);

#if QP_HAVE_AVX2
typedef struct iq3_lanes iq3_lanes;
static const iq3_lanes *iq3_lanes_get(int grid);
static QP_AVX2 bool iq3_group_avx2(const lattice_type *t, const iq_grid *G,
				   const iq3_lanes *T, const float *xb,
				   const float *w, const float *waux,
				   float *scale_out, int *idx, uint8_t *signs);
#endif

/* The group kernels lattice_group and its AVX2 twins, chosen once per
 * call: N8 the IQ2 grids' (8 coordinates, levels 0..2), T3 IQ3's; with
 * neither, lattice_group. */
typedef struct lattice_kernel {
#if QP_HAVE_AVX2
	const nb8_lists *N8;
	const iq3_lanes *T3;
#else
	char none;	/* C has no empty struct */
#endif
} lattice_kernel;

static bool lattice_kernel_group(const lattice_type *t, const iq_grid *G,
				 const lattice_kernel *K, const float *xb,
				 const float *w, const float *waux,
				 float *scale_out, int *idx, uint8_t *signs)
{
#if QP_HAVE_AVX2
	if (K->N8)
		return lattice8_group_avx2(t, G, K->N8, xb, w, waux, scale_out,
					   idx, signs);
	if (K->T3)
		return iq3_group_avx2(t, G, K->T3, xb, w, waux, scale_out, idx,
				      signs);
#else
	(void)K;
#endif
	return lattice_group(t, G, xb, w, waux, scale_out, idx, signs);
}

/* A group's weights: qw sqrt(sigma2 + x^2) with an imatrix, else
 * plain_sigma sigma2 + x^2 or x^2; waux their square roots. */
static void lattice_weights(const lattice_type *t, int g, const float *xb,
			    const float *qw, float sigma2, float *weight,
			    float *waux)
{
	if (qw) {
		for (int i = 0; i < g; i++)
			weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
	} else if (t->plain_sigma > 0) {
		for (int i = 0; i < g; i++)
			weight[i] = t->plain_sigma * sigma2 + xb[i] * xb[i];
	} else {
		for (int i = 0; i < g; i++)
			weight[i] = xb[i] * xb[i];
	}
	for (int i = 0; i < g; i++)
		waux[i] = sqrtf(weight[i]);
}

#if QP_HAVE_AVX2
/* lattice_weights eight at a time: each the scalar expression's
 * operations (the square root is exact in both). */
static QP_AVX2 void lattice_weights_avx2(const lattice_type *t, int g,
					 const float *xb, const float *qw,
					 float sigma2, float *weight, float *waux)
{
	const __m256 vsig = _mm256_set1_ps(sigma2);
	const __m256 vplain = _mm256_set1_ps(t->plain_sigma * sigma2);
	for (int i = 0; i < g; i += 8) {
		__m256 xi = _mm256_loadu_ps(xb + i), wi;
		__m256 x2 = _mm256_mul_ps(xi, xi);
		if (qw)
			wi = _mm256_mul_ps(_mm256_loadu_ps(qw + i),
					   _mm256_sqrt_ps(_mm256_add_ps(vsig, x2)));
		else if (t->plain_sigma > 0)
			wi = _mm256_add_ps(vplain, x2);
		else
			wi = x2;
		_mm256_storeu_ps(weight + i, wi);
		_mm256_storeu_ps(waux + i, _mm256_sqrt_ps(wi));
	}
}
#endif

static void encode_lattice(const lattice_type *t, lattice_pack_fn pack,
			   int block_bytes, const float *src, uint8_t *dst,
			   int64_t nrows, int64_t n_per_row, const float *imp)
{
	const iq_grid *G = grid_get(t->grid);
	lattice_kernel K = {0};
#if QP_HAVE_AVX2
	if (G && qp_cpu_avx2()) {
		if (t->grid <= G_IQ2S)
			K.N8 = nb8_get(t->grid);
		else
			K.T3 = iq3_lanes_get(t->grid);
	}
#endif
	const int g = t->group, ngroups = QK_K / g;
	float weight[32], waux[32], scales[16];
	int idx[16][8];
	uint8_t signs[16][4];
	bool full[16];
	for (int64_t r = 0; r < nrows; r++) {
		const float *x = src + r * n_per_row;
		for (int64_t ibl = 0; ibl < n_per_row / QK_K; ibl++) {
			const float *xbl = x + QK_K * ibl;
			float sumx2 = qp_sum_squares(xbl, QK_K);
			float sigma2 = t->sigma_twice ? 2 * sumx2 / QK_K : sumx2 / QK_K;
			float max_scale = 0;
			for (int ib = 0; ib < ngroups; ib++) {
				const float *xb = xbl + g * ib;
				const float *qw = imp ? imp + QK_K * ibl + g * ib : NULL;
#if QP_HAVE_AVX2
				if (K.N8 || K.T3)
					lattice_weights_avx2(t, g, xb, qw, sigma2, weight, waux);
				else
#endif
					lattice_weights(t, g, xb, qw, sigma2, weight, waux);
				float scale = 0;
				full[ib] = lattice_kernel_group(t, G, &K, xb, weight, waux,
								&scale, idx[ib], signs[ib]);
				scales[ib] = full[ib] ? scale : 0;
				max_scale = max_scale > scales[ib] ? max_scale : scales[ib];
			}
			pack(dst, scales, idx, signs, full, max_scale);
			dst += block_bytes;
		}
	}
}

void qp_encode_iq2_xxs(const float *s, uint8_t *d, int64_t nr, int64_t n,
			   const float *imp)
{
	encode_lattice(&T_IQ2XXS, pack_iq2_xxs, QP_BLOCK_IQ2_XXS, s, d, nr, n, imp);
}
void qp_encode_iq2_xs(const float *s, uint8_t *d, int64_t nr, int64_t n,
			  const float *imp)
{
	encode_lattice(&T_IQ2XS, pack_iq2_xs, QP_BLOCK_IQ2_XS, s, d, nr, n, imp);
}
void qp_encode_iq2_s(const float *s, uint8_t *d, int64_t nr, int64_t n,
			 const float *imp)
{
	encode_lattice(&T_IQ2S, pack_iq2_s, QP_BLOCK_IQ2_S, s, d, nr, n, imp);
}
/* ---- IQ3_XXS, IQ3_S: candidate scales in AVX2 lanes ---------------------- */

#if QP_HAVE_AVX2
/* IQ3's candidate scales are searched eight at a time, one per lane: each
 * lane rounds, looks up and sums exactly as the scalar loop does for its
 * candidate, and the candidates are then compared in the scalar order, so
 * the winner (first best on ties) is the scalar one.  A lane whose point
 * is off the grid scores eight neighbours side by side at its scale: a
 * coordinate's error for each of the eight levels is one vector (the
 * levels are the lanes), a neighbour's term a permute of it by the
 * neighbour's level.  The final refit rounds the eight sub-vectors side
 * by side and searches the same way.  Without AVX2, lattice_group is the
 * twin (make check-plain; tests/unit/quant_iq3.c has the edge rows). */

/* IQ3's neighbour lists for the AVX2 search, eight neighbours side by
 * side: list u's batch b, lane j at cw[8 * ((ls[u] & INT32_MAX) >> 4) +
 * 8 b + j], the last batch padded with copies of its last neighbour (the
 * same entry, index included, so it cannot change a first minimum); each
 * entry the neighbour's levels, 3
 * bits per coordinate, | its index in the list << 16 (iq3_lane_best
 * breaks ties between lanes by it).  ls[u] is 0 for a point on the grid,
 * else INT32_MIN | (its list's offset / 8) << 4 | its number of batches
 * (the sign bit, so that a movemask of eight gives the lanes off the
 * grid). */
typedef struct iq3_lanes {
	int32_t *cw;
	int32_t *ls;
	/* for each 8-bit mask, the indices of its set bits in order, one
	 * byte each */
	uint64_t lane_list[256];
	bool ok;
} iq3_lanes;

static iq3_lanes iq3_lane_tabs[2];
static pthread_once_t iq3_lane_once[2] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static void build_iq3_lanes(int which)
{
	const iq_grid *G = grid_get(which ? G_IQ3S : G_IQ3XXS);
	iq3_lanes *T = &iq3_lane_tabs[which];
	if (!G)
		return;
	enum { MAP = 1 << 12 };
	int64_t total = 0;
	bool fits = true;
	for (int u = 0; u < MAP; u++)
		if (G->map[u] < 0 && G->map[u] != INT32_MIN) {
			int n = neighbours_of(G, u)[0];
			total += (n + 7) / 8 * 8;
			fits = fits && n >= 1 && (n + 7) / 8 <= 15;
		}
	T->cw = malloc((size_t)(total ? total : 1) * sizeof *T->cw);
	T->ls = malloc(MAP * sizeof *T->ls);
	if (!T->cw || !T->ls || !fits || total / 8 >= (1 << 25)) {
		free(T->cw);
		free(T->ls);
		return;
	}
	for (int m = 0; m < 256; m++) {
		uint64_t v = 0;
		for (int l = 7; l >= 0; l--)
			if (m >> l & 1)
				v = v << 8 | (uint64_t)l;
		T->lane_list[m] = v;
	}
	int64_t off = 0;
	for (int u = 0; u < MAP; u++) {
		T->ls[u] = 0;
		if (G->map[u] >= 0 || G->map[u] == INT32_MIN)
			continue;
		const uint16_t *nb = neighbours_of(G, u);
		int n = nb[0], nbatch = (n + 7) / 8;
		T->ls[u] = (int32_t)((uint32_t)1 << 31 | (uint32_t)(off / 8) << 4 |
				     (uint32_t)nbatch);
		for (int j = 0; j < 8 * nbatch; j++) {
			int jj = j < n ? j : n - 1;
			const int8_t *pg = G->pos + 4 * nb[1 + jj];
			int32_t code = jj << 16;
			for (int i = 0; i < 4; i++)
				code |= ((pg[i] - 1) >> 1) << 3 * i;
			T->cw[off++] = code;
		}
	}
	T->ok = true;
}

/* The entries of the list that ls entry e (off the grid) names. */
static inline const int32_t *iq3_list(const iq3_lanes *T, int32_t e)
{
	return (const int32_t *)((const char *)T->cw + 2 * (e & 0x7ffffff0));
}

static void build_iq3_lanes_xxs(void) { build_iq3_lanes(0); }
static void build_iq3_lanes_s(void) { build_iq3_lanes(1); }

static const iq3_lanes *iq3_lanes_get(int grid)
{
	int which = grid == G_IQ3S;
	pthread_once(&iq3_lane_once[which],
		     which ? build_iq3_lanes_s : build_iq3_lanes_xxs);
	return iq3_lane_tabs[which].ok ? &iq3_lane_tabs[which] : NULL;
}

/* The scores of eight neighbours (levels c, 3 bits per coordinate) from
 * the terms t[i], level l in lane l: t[0] + t[1] + t[2] + t[3] in the
 * scalar order (vpermps reads the low three bits of each index). */
static inline __attribute__((always_inline)) QP_AVX2 __m256
iq3_scores8(const __m256 *t, __m256i c)
{
	__m256 e = _mm256_add_ps(_mm256_permutevar8x32_ps(t[0], c),
				 _mm256_permutevar8x32_ps(t[1], _mm256_srli_epi32(c, 3)));
	e = _mm256_add_ps(e, _mm256_permutevar8x32_ps(t[2], _mm256_srli_epi32(c, 6)));
	return _mm256_add_ps(e, _mm256_permutevar8x32_ps(t[3], _mm256_srli_epi32(c, 9)));
}

/* iq3_find_best_neighbour at one scale: the entry of list cw (nbatch
 * batches; the levels, 3 bits each, in its low 12 bits) of the
 * neighbour of least sum w_i (s q - x_i)^2,
 * the first one on ties, the first neighbour when no score is below
 * FLT_MAX (NaN scores are never below), as the scalar loop takes them.
 * sq holds s q for the eight levels, vx and vw the four coordinates'
 * values and weights, each in every lane.  The error of coordinate i for
 * level l, (w_i (s q - x_i)) (s q - x_i) as the scalar loop computes it,
 * is lane l of t[i]; a neighbour's score adds its four terms in the
 * scalar order (the scalar 0 + first term changes at most the sign of a
 * zero, which no comparison sees).  Lane j keeps the first neighbour
 * j + 8 b strictly below its best so far (min_ps(e, best) is e < best ?
 * e : best, the scalar comparison); the list's first minimum is then the
 * least score's lane, or of several lanes with it the least index. */
static inline __attribute__((always_inline)) QP_AVX2 int32_t
iq3_lane_best(const int32_t *cw, int nbatch, __m256 sq, const __m256 *vx,
	      const __m256 *vw)
{
	__m256 t[4];
#pragma GCC unroll 4
	for (int i = 0; i < 4; i++) {
		__m256 d = _mm256_sub_ps(sq, vx[i]);
		t[i] = _mm256_mul_ps(_mm256_mul_ps(vw[i], d), d);
	}
	__m256i c = _mm256_loadu_si256((const __m256i *)cw);
	__m256 best = _mm256_min_ps(iq3_scores8(t, c), _mm256_set1_ps(FLT_MAX));
	for (int b = 1; b < nbatch; b++) {
		__m256i cb = _mm256_loadu_si256((const __m256i *)(cw + 8 * b));
		__m256 e = iq3_scores8(t, cb);
		__m256 lt = _mm256_cmp_ps(e, best, _CMP_LT_OQ);
		best = _mm256_min_ps(e, best);
		c = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(c),
							 _mm256_castsi256_ps(cb), lt));
	}
	__m256 m = _mm256_min_ps(best, _mm256_permute2f128_ps(best, best, 1));
	m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, 0x4e));
	m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, 0xb1));
	unsigned eq = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(best, m, _CMP_EQ_OQ));
	int32_t cs[8];
	_mm256_storeu_si256((__m256i *)cs, c);
	int32_t r = cs[__builtin_ctz(eq)];
	for (eq &= eq - 1; eq; eq &= eq - 1) /* a tie: the least index */
		r = cs[__builtin_ctz(eq)] < r ? cs[__builtin_ctz(eq)] : r;
	return r;
}

/* xval, signs[] and the maximum as lattice_signs makes them for a group
 * of 32, eight values at a time: neg = !(v >= 0) (NaN included), xval =
 * v with its sign flipped where neg (the scalar -v), the sign byte its
 * mask; with even_signs an odd count flips the value of least w x^2 back
 * (the scalar loop, in its order).  The maximum of values without NaN is
 * the same in any order, up to the sign of a zero maximum, which only the
 * empty-group test sees (and it sees both zeros alike); with a NaN the
 * scalar loop's order decides, so it runs. */
static inline __attribute__((always_inline)) QP_AVX2 bool
iq3_signs_avx2(const lattice_type *t, const float *xb, const float *w,
	       float *xval, uint8_t *signs, float *max_out)
{
	const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
	for (int k = 0; k < 4; k++) {
		__m256 v = _mm256_loadu_ps(xb + 8 * k);
		__m256 neg = _mm256_cmp_ps(v, zero, _CMP_NGE_UQ);
		_mm256_storeu_ps(xval + 8 * k, _mm256_xor_ps(v, _mm256_and_ps(neg, sign)));
		unsigned s = (unsigned)_mm256_movemask_ps(neg);
		if (t->even_signs && __builtin_popcount(s) % 2) {
			const int imin = least_weighted_square(w + 8 * k, xb + 8 * k);
			xval[8 * k + imin] = -xval[8 * k + imin];
			s ^= 1u << imin;
		}
		signs[k] = (uint8_t)(t->even_signs ? s & 127 : s);
	}
	__m256 a = _mm256_loadu_ps(xval), b = _mm256_loadu_ps(xval + 8);
	__m256 c = _mm256_loadu_ps(xval + 16), d = _mm256_loadu_ps(xval + 24);
	__m256 nan = _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q),
				  _mm256_cmp_ps(c, d, _CMP_UNORD_Q));
	float max;
	if (_mm256_movemask_ps(nan)) {
		max = xval[0];
		for (int i = 1; i < 32; i++)
			max = max > xval[i] ? max : xval[i];
	} else {
		__m256 m = _mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d));
		m = _mm256_max_ps(m, _mm256_permute2f128_ps(m, m, 1));
		m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0x4e));
		m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0xb1));
		max = _mm256_cvtss_f32(m);
	}
	*max_out = max;
	return !(t->eps > 0 ? max < t->eps : max == 0);
}

/* Four rows of 8 (32 values) transposed for the refit: lane j of r[i] is
 * value i of sub-vector iq3_sub_of(j), the lanes holding sub-vectors
 * 0 2 4 6 1 3 5 7. */
static inline int iq3_sub_of(int j) { return 2 * (j & 3) + (j >> 2); }

static inline __attribute__((always_inline)) QP_AVX2 void
iq3_transpose(const float *v, __m256 *r)
{
	__m256 a = _mm256_loadu_ps(v), b = _mm256_loadu_ps(v + 8);
	__m256 c = _mm256_loadu_ps(v + 16), d = _mm256_loadu_ps(v + 24);
	__m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
	__m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
	r[0] = _mm256_shuffle_ps(t0, t2, 0x44);
	r[1] = _mm256_shuffle_ps(t0, t2, 0xee);
	r[2] = _mm256_shuffle_ps(t1, t3, 0x44);
	r[3] = _mm256_shuffle_ps(t1, t3, 0xee);
}

/* The final refit at `scale` (> 0): the sub-vectors REFIT_ANY_ALL asks
 * for, or REFIT_OFF's off the grid, rounded at id = 1 / scale (all eight
 * side by side, each lane round_levels' operations) and, off the grid,
 * given their best neighbour at `scale`; code[] is updated and the new
 * scale returned, sum w x q / sum w q^2 over the 32 values in the scalar
 * order (the products side by side, then added one by one), or `scale`
 * when sum w q^2 is not positive. */
static inline __attribute__((always_inline)) QP_AVX2 float
iq3_refit_avx2(const lattice_type *t, const iq3_lanes *T, const float *xval,
	       const float *w, const __m256 *vx, const __m256 *vw, float scale,
	       const bool *on, int32_t *code)
{
	__m256 xt[4], wt[4];
	iq3_transpose(xval, xt);
	iq3_transpose(w, wt);
	const float id = 1 / scale;
	const __m256 vid = _mm256_set1_ps(id), one = _mm256_set1_ps(1);
	__m256i u = _mm256_setzero_si256();
#pragma GCC unroll 4
	for (int i = 0; i < 4; i++) {
		__m256 v = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_sub_ps(
			_mm256_mul_ps(vid, xt[i]), one));
		__m256i l = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(
			_mm256_add_ps(v, _mm256_set1_ps(12582912.f))),
			_mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
		l = _mm256_max_epi32(_mm256_min_epi32(l, _mm256_set1_epi32(t->kmax - 1)),
				     _mm256_setzero_si256());
		u = _mm256_or_si256(u, _mm256_slli_epi32(l, 3 * i));
	}
	int32_t uu[8];
	_mm256_storeu_si256((__m256i *)uu, u);
	const __m256 sq = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_setr_ps(
		1, 3, 5, 7, 9, 11, 13, 15));
	for (int j = 0; j < 8; j++) {
		const int k = iq3_sub_of(j);
		if (t->refit == REFIT_OFF && on[k]) {
			uu[j] = code[k];
			continue;
		}
		const int32_t e = T->ls[uu[j]];
		if (e)
			uu[j] = iq3_lane_best(iq3_list(T, e), e & 15, sq,
					      vx + 4 * k, vw + 4 * k);
		code[k] = uu[j] & 0xfff;
	}
	u = _mm256_loadu_si256((const __m256i *)uu);
	const __m256 qf = _mm256_setr_ps(1, 3, 5, 7, 9, 11, 13, 15);
	float px[4][8], p2[4][8];
#pragma GCC unroll 4
	for (int i = 0; i < 4; i++) {
		__m256 q = _mm256_permutevar8x32_ps(qf, _mm256_srli_epi32(u, 3 * i));
		/* (w x) q and (w q) q, as lattice_sums multiplies */
		_mm256_storeu_ps(px[i], _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), q));
		_mm256_storeu_ps(p2[i], _mm256_mul_ps(_mm256_mul_ps(wt[i], q), q));
	}
	float sumqx = 0, sumq2 = 0;
#pragma GCC unroll 8
	for (int k = 0; k < 8; k++) {
		const int j = (k >> 1) + 4 * (k & 1);	/* iq3_sub_of(j) == k */
#pragma GCC unroll 4
		for (int i = 0; i < 4; i++) {
			sumqx += px[i][j];
			sumq2 += p2[i][j];
		}
	}
	return sumq2 > 0 ? sumqx / sumq2 : scale;
}

/* lattice_group for IQ3 (t->qp_start false, t->refit REFIT_OFF or
 * REFIT_ANY_ALL, t->group 32, at most 32 candidates): the same operations
 * in the same order per candidate, eight candidates at a time, one per
 * lane: each lane rounds its sub-vectors, and each lane whose point is
 * off the grid is given its best neighbour by iq3_lane_best (eight
 * neighbours side by side at the lane's scale); the lanes' sums are then
 * compared in the scalar order, so the winner (first best on ties) is the
 * scalar one. */
static QP_AVX2 bool iq3_group_avx2(const lattice_type *t, const iq_grid *G,
				   const iq3_lanes *T, const float *xb,
				   const float *w, const float *waux,
				   float *scale_out, int *idx, uint8_t *signs)
{
	float xval[32], wx[32], max;
	if (!iq3_signs_avx2(t, xb, w, xval, signs, &max))
		return false;
	float scale = max / (2 * t->kmax - 1), best = 0;
	__m256 vx[32], vw[32];
	for (int i = 0; i < 32; i += 8)	/* w x, the scalar product */
		_mm256_storeu_ps(wx + i, _mm256_mul_ps(_mm256_loadu_ps(w + i),
						       _mm256_loadu_ps(xval + i)));
#pragma GCC unroll 8
	for (int i = 0; i < 32; i++) {
		vx[i] = _mm256_set1_ps(xval[i]);
		vw[i] = _mm256_set1_ps(waux[i]);
	}
	const __m256 one = _mm256_set1_ps(1), half = _mm256_set1_ps(0.5f);
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256 qf = _mm256_setr_ps(1, 3, 5, 7, 9, 11, 13, 15);
	const __m256i m23 = _mm256_set1_epi32(0x007fffff);
	const __m256i bias = _mm256_set1_epi32(0x00400000);
	const __m256i top = _mm256_set1_epi32(t->kmax - 1);
	const __m256i zero = _mm256_setzero_si256();
	const int nc = 2 * t->nstep + 1;
	/* each candidate's levels and off-grid sub-vectors, kept so that only
	 * the winner's are read back */
	int32_t pts[4][64];	/* batch b, sub-vector k, lane l: pts[b][8 k + l] */
	int offb[4][8];
	int win = -1;
	for (int c0 = 0; c0 < nc; c0 += 8) {
		const int b = c0 / 8, nl = nc - c0 < 8 ? nc - c0 : 8;
		const unsigned valid = (1u << nl) - 1;
		__m256i is = _mm256_add_epi32(_mm256_set1_epi32(c0 - t->nstep),
					      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
		/* (2*kmax - 1 + is*step) / max, and 1 / that */
		__m256 id = _mm256_div_ps(
			_mm256_add_ps(_mm256_set1_ps((float)(2 * t->kmax - 1)),
				      _mm256_mul_ps(_mm256_cvtepi32_ps(is),
						    _mm256_set1_ps(t->step))),
			_mm256_set1_ps(max));
		float sc[8];
		_mm256_storeu_ps(sc, _mm256_div_ps(one, id));
		/* first every sub-vector's rounding and the lanes off the grid,
		 * listed as 8 k + lane in
		 * work[]; then the searches, one loop for the batch; then the
		 * sums */
		int32_t lsv[64];	/* sub-vector k, lane l: lsv[8 k + l] */
		uint8_t work[64];
		int nw = 0;
#pragma GCC unroll 8
		for (int k = 0; k < 8; k++) {
			__m256i u = zero;
#pragma GCC unroll 4
			for (int i = 0; i < 4; i++) {
				__m256 v = _mm256_mul_ps(half, _mm256_sub_ps(
					_mm256_mul_ps(id, vx[4 * k + i]), one));
				__m256i l = _mm256_sub_epi32(_mm256_and_si256(
					_mm256_castps_si256(_mm256_add_ps(v, magic)), m23), bias);
				l = _mm256_max_epi32(_mm256_min_epi32(l, top), zero);
				u = _mm256_or_si256(u, _mm256_slli_epi32(l, 3 * i));
			}
			_mm256_storeu_si256((__m256i *)(pts[b] + 8 * k), u);
			/* one gather: here (with the rounding done first for
			 * the whole batch) 10% faster than eight scalar loads
			 * on this machine's Xeon; Intel cores with the GDS
			 * (Downfall) microcode make gathers slower */
			const __m256i g = _mm256_i32gather_epi32(T->ls, u, 4);
			_mm256_storeu_si256((__m256i *)(lsv + 8 * k), g);
			const unsigned off = (unsigned)_mm256_movemask_ps(
				_mm256_castsi256_ps(g)) & valid;
			offb[b][k] = (int)off;
			const uint64_t lanes = T->lane_list[off] +
					       0x0808080808080808ull * (uint64_t)k;
			memcpy(work + nw, &lanes, 8);
			nw += __builtin_popcount(off);
		}
		for (int j = 0; j < nw; j++) {
			/* work[j] = 8 k + l indexes lsv and pts[b] */
			const int kl = work[j], k = kl >> 3, l = kl & 7;
			const int32_t e = lsv[kl];
			pts[b][kl] = iq3_lane_best(iq3_list(T, e), e & 15,
				_mm256_mul_ps(_mm256_set1_ps(sc[l]), qf),
				vx + 4 * k, vw + 4 * k);
		}
		__m256 sx = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
#pragma GCC unroll 8
		for (int k = 0; k < 8; k++) {
			const __m256i u = _mm256_loadu_si256((const __m256i *)(pts[b] + 8 * k));
#pragma GCC unroll 4
			for (int i = 0; i < 4; i++) {
				const __m256 q = _mm256_permutevar8x32_ps(qf,
					_mm256_srli_epi32(u, 3 * i));
				sx = _mm256_add_ps(sx, _mm256_mul_ps(_mm256_set1_ps(wx[4 * k + i]), q));
				s2 = _mm256_add_ps(s2, _mm256_mul_ps(_mm256_mul_ps(
					_mm256_set1_ps(w[4 * k + i]), q), q));
			}
		}
		float fx[8], f2[8];
		_mm256_storeu_ps(fx, sx);
		_mm256_storeu_ps(f2, s2);
		for (int l = 0; l < nl; l++)
			if (f2[l] > 0 && fx[l] * fx[l] > best * f2[l]) {
				scale = fx[l] / f2[l];
				best = scale * fx[l];
				win = c0 + l;
			}
	}
	int32_t code[8];
	bool on[8];
	for (int k = 0; k < 8; k++) {
		code[k] = win >= 0 ? pts[win / 8][8 * k + win % 8] & 0xfff : 0;
		on[k] = win >= 0 ? !(offb[win / 8][k] >> win % 8 & 1) : t->init_on_grid;
	}
	if (lattice_wants_refit(t, on, 8, scale))
		scale = iq3_refit_avx2(t, T, xval, w, vx, vw, scale, on, code);
	for (int k = 0; k < 8; k++)
		idx[k] = G->map[code[k]];
	*scale_out = lattice_unflip(t, 32, scale, signs);
	return true;
}
#endif

void qp_encode_iq3_xxs(const float *s, uint8_t *d, int64_t nr, int64_t n,
			   const float *imp)
{
	encode_lattice(&T_IQ3XXS, pack_iq3_xxs, QP_BLOCK_IQ3_XXS, s, d, nr, n, imp);
}
void qp_encode_iq3_s(const float *s, uint8_t *d, int64_t nr, int64_t n,
			 const float *imp)
{
	encode_lattice(&T_IQ3S, pack_iq3_s, QP_BLOCK_IQ3_S, s, d, nr, n, imp);
}


/* ---- IQ1_S, IQ1_M ---------------------------------------------------------- */

#define IQ1_DELTA 0.125f

/* A value and its position, laid out as ggml's float pairs[] with the int
 * index in the odd slots: qsort moves 8-byte elements ordered by value. */
typedef struct iq1_pair {
	float v;
	int32_t i;
} iq1_pair;

static int iq1_pair_cmp(const void *a, const void *b)
{
	float l = ((const iq1_pair *)a)->v, r = ((const iq1_pair *)b)->v;
	return l < r ? -1 : l > r ? 1 : 0;
}

/* iq1_find_best_neighbour2: the neighbour of least sum w (s*xx[l] - x)^2.
 * (When every error is NaN or >= FLT_MAX ggml scans the whole grid with an
 * out-of-bounds read, then aborts; here the first neighbour is taken.) */
static int iq1_best_neighbour(const iq_grid *G, int u, const float *xval,
			      const float *w, float scale, const float *xx)
{
	const uint16_t *nb = neighbours_of(G, u);
	float best_d2 = FLT_MAX;
	int best = nb[1];
#ifdef __SSE2__
	/* as best_neighbour; a lane's value xx[level] is selected by masks
	 * from its coordinate 2*level + 1 (1, 3 or 5), no arithmetic */
	float d2[2048 + 4];
	const float *ql = G->lanes + G->lane_off[u];
	const __m128 vs = _mm_set1_ps(scale), one = _mm_set1_ps(1), three = _mm_set1_ps(3);
	const __m128 x0 = _mm_set1_ps(xx[0]), x1 = _mm_set1_ps(xx[1]), x2 = _mm_set1_ps(xx[2]);
	__m128 vmin = _mm_set1_ps(FLT_MAX);
	for (int g = 0; g < (nb[0] + 3) / 4; g++) {
		__m128 acc = _mm_setzero_ps();
		for (int i = 0; i < 8; i++, ql += 4) {
			__m128 c = _mm_loadu_ps(ql);
			__m128 is0 = _mm_cmpeq_ps(c, one), is1 = _mm_cmpeq_ps(c, three);
			__m128 q = _mm_or_ps(_mm_and_ps(is0, x0),
					     _mm_or_ps(_mm_and_ps(is1, x1),
						       _mm_andnot_ps(_mm_or_ps(is0, is1), x2)));
			__m128 diff = _mm_sub_ps(_mm_mul_ps(vs, q), _mm_set1_ps(xval[i]));
			acc = _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(w[i]),
								    diff), diff));
		}
		_mm_storeu_ps(d2 + 4 * g, acc);
		vmin = _mm_min_ps(acc, vmin);
	}
	vmin = _mm_min_ps(vmin, _mm_shuffle_ps(vmin, vmin, 0x4e));
	vmin = _mm_min_ps(vmin, _mm_shuffle_ps(vmin, vmin, 0xb1));
	float mn = _mm_cvtss_f32(vmin);
	if (mn < best_d2)
		for (int j = 0; j < nb[0]; j++)
			if (d2[j] == mn) {
				best = nb[1 + j];
				break;
			}
#else
	for (int j = 1; j <= nb[0]; j++) {
		const int8_t *pg = G->pos + nb[j] * 8;
		float d2 = 0;
		for (int i = 0; i < 8; i++) {
			float q = xx[(pg[i] - 1) / 2];
			float diff = scale * q - xval[i];
			d2 += w[i] * diff * diff;
		}
		if (d2 < best_d2) {
			best_d2 = d2;
			best = nb[j];
		}
	}
#endif
	return best;
}

#if QP_HAVE_AVX2
/* iq1_sort's ranks, eight values side by side (n = 16 or 32): false when
 * two compare equal or one is NaN. */
static QP_AVX2 bool iq1_rank_avx2(const float *xb, int n, iq1_pair *pairs)
{
	__m256 v[4];
	__m256i below[4];
	const int nv = n / 8;
	for (int a = 0; a < nv; a++) {
		v[a] = _mm256_loadu_ps(xb + 8 * a);
		below[a] = _mm256_setzero_si256();
	}
	for (int k = 0; k < n; k++) {
		const __m256 b = _mm256_set1_ps(xb[k]);
		for (int a = 0; a < nv; a++) /* a mask lane is -1: subtracting counts */
			below[a] = _mm256_sub_epi32(below[a], _mm256_castps_si256(
				_mm256_cmp_ps(b, v[a], _CMP_LT_OQ)));
	}
	/* the ranks are a permutation exactly when no two values compare
	 * equal and none is NaN (a NaN, and the least other value, rank 0) */
	int32_t r[32];
	for (int a = 0; a < nv; a++)
		_mm256_storeu_si256((__m256i *)(r + 8 * a), below[a]);
	uint32_t seen = 0;
	for (int j = 0; j < n; j++) {
		seen |= 1u << r[j];
		pairs[r[j]].v = xb[j];
		pairs[r[j]].i = j;
	}
	return seen == (n == 32 ? 0xffffffffu : (1u << n) - 1);
}
#endif

/* Each value to its rank, the count of values below it: false when two
 * compare equal or one is NaN. */
static bool iq1_rank(const float *xb, int n, iq1_pair *pairs)
{
	for (int j = 0; j < n; j++) {
		int below = 0, same = 0;
		for (int k = 0; k < n; k++) {
			below += xb[k] < xb[j];
			same += xb[k] == xb[j];
		}
		if (same != 1) /* itself, unless NaN */
			return false;
		pairs[below].v = xb[j];
		pairs[below].i = j;
	}
	return true;
}

/* Whether the C library's qsort keeps equal elements in index order for
 * iq1_sort's arrays (at most 32 pairs of 8 bytes).  glibc's qsort sorts
 * any array under 1024 bytes with its merge sort in a stack buffer
 * (stdlib/msort.c), whose merge takes the left element when the
 * comparison gives <= 0: it is stable.  Other C libraries' (musl's
 * smoothsort, the BSDs') are not, so there the tie path stays qsort. */
#if defined(__GLIBC__)
#define IQ1_QSORT_STABLE 1
#else
#define IQ1_QSORT_STABLE 0
#endif

/* The ranks a stable sort by value gives (ties in index order): the count
 * of values below x[j] or equal to it at a lower index.  With no NaN,
 * iq1_pair_cmp is a total preorder (-0 and +0 equal, as < and <= see
 * them), and a stable sort under it orders by (value, index), which is
 * exactly this rank; glibc's qsort is such a sort (IQ1_QSORT_STABLE).
 * False when a value is NaN (the comparisons are then no preorder and the
 * order is whatever qsort's steps make of them). */
static bool iq1_stable_rank(const float *xb, int n, iq1_pair *pairs)
{
	for (int j = 0; j < n; j++)
		if (isnan(xb[j]))
			return false;
	for (int j = 0; j < n; j++) {
		int before = 0;
		for (int k = 0; k < j; k++)
			before += xb[k] <= xb[j];
		for (int k = j + 1; k < n; k++)
			before += xb[k] < xb[j];
		pairs[before].v = xb[j];
		pairs[before].i = j;
	}
	return true;
}

/* The group's values sorted by the C library's qsort, as ggml does. */
static void iq1_qsort(const float *xb, int n, iq1_pair *pairs)
{
	for (int j = 0; j < n; j++) {
		pairs[j].v = xb[j];
		pairs[j].i = j;
	}
	qsort(pairs, (size_t)n, sizeof *pairs, iq1_pair_cmp);
}

/* Sorts the group's values (ties as the C library's qsort leaves them).
 * When no two values compare equal (and none is NaN) the sorted order is
 * unique, whatever sort makes it: then each value goes to its rank, the
 * count of values below it (no calls, no branches); with ties and no NaN
 * the stable rank where qsort is stable (IQ1_QSORT_STABLE); otherwise
 * qsort. */
static void iq1_sort(const float *xb, int n, iq1_pair *pairs, bool avx2)
{
	bool ranked;
#if QP_HAVE_AVX2
	if (avx2)
		ranked = iq1_rank_avx2(xb, n, pairs);
	else
#else
	(void)avx2;
#endif
	ranked = iq1_rank(xb, n, pairs);
	if (!ranked && IQ1_QSORT_STABLE)
		ranked = iq1_stable_rank(xb, n, pairs);
	if (!ranked)
		iq1_qsort(xb, n, pairs);
}

#if QP_HAVE_AVX2
/* iq1_points with the AVX2 neighbour search inlined. */
/* The bits of x spread apart: bit j to bit 2 j. */
static inline uint64_t iq1_spread_bits(uint64_t x)
{
	x = (x | x << 16) & 0x0000ffff0000ffffull;
	x = (x | x << 8) & 0x00ff00ff00ff00ffull;
	x = (x | x << 4) & 0x0f0f0f0f0f0f0f0full;
	x = (x | x << 2) & 0x3333333333333333ull;
	return (x | x << 1) & 0x5555555555555555ull;
}

/* pack_levels of each 8 of L (nsub = 2 or 4, levels 0..3, the IQ1 grid:
 * 2 bits a level) at once, sub-vector k's in bits 16 k ..: the levels'
 * low bits and high bits gathered by movemask (a byte's bit 0 or 1
 * shifted to its bit 7), then interleaved, so level i of sub-vector k
 * lands in bits 16 k + 2 i and 16 k + 2 i + 1. */
static QP_AVX2 uint64_t iq1_pack_levels_avx2(const int8_t *L, int nsub)
{
	uint32_t lo, hi;
	if (nsub == 4) {
		const __m256i v = _mm256_loadu_si256((const __m256i *)L);
		lo = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 7));
		hi = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 6));
	} else {
		const __m128i v = _mm_loadu_si128((const __m128i *)L);
		lo = (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(v, 7));
		hi = (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(v, 6));
	}
	return iq1_spread_bits(lo) | iq1_spread_bits(hi) << 1;
}

static QP_AVX2 bool iq1_points_avx2(const iq_grid *G, const nb8_lists *N8,
				    int nsub, const int8_t *L, const float *xb,
				    const float *w, float scale,
				    const float *const *xx, uint16_t *index)
{
	bool all_on = true;
	const uint64_t packed = iq1_pack_levels_avx2(L, nsub);
	for (int k = 0; k < nsub; k++) {
		int u = (int)(packed >> 16 * k & 0xffff);
		int gi = G->map[u];
		if (gi < 0) {
			all_on = false;
			gi = (int)(nb8_best(N8, u, xb + 8 * k, w + 8 * k, scale, xx[k]) >> 16);
		}
		index[k] = (uint16_t)gi;
	}
	return all_on;
}
#endif

/* The grid point of each 8 levels of L (neighbours for off-grid ones, at
 * scale with the shifted values xx[k] of sub-vector k); true when all
 * were on the grid. */
static bool iq1_points(const iq_grid *G, const nb8_lists *N8, int nsub,
		       const int8_t *L, const float *xb, const float *w, float scale,
		       const float *const *xx, uint16_t *index)
{
#if QP_HAVE_AVX2
	if (N8)
		return iq1_points_avx2(G, N8, nsub, L, xb, w, scale, xx, index);
#else
	(void)N8;
#endif
	bool all_on = true;
	for (int k = 0; k < nsub; k++) {
		int u = pack_levels(G, L + 8 * k);
		int gi = G->map[u];
		if (gi < 0) {
			all_on = false;
			gi = iq1_best_neighbour(G, u, xb + 8 * k, w + 8 * k, scale,
						xx[k]);
		}
		index[k] = (uint16_t)gi;
	}
	return all_on;
}

#if QP_HAVE_AVX2
/* iq1_refit with each value's terms w q x and w q q formed eight at a time
 * (the same two products per value, in that order) and then summed one
 * by one in ggml's order. */
static QP_AVX2 float iq1_refit_avx2(const iq_grid *G, int nsub, const uint16_t *index,
				    const float *xb, const float *w,
				    const float *const *xx, float scale)
{
	float tx[32], tq[32];
	const __m256i one = _mm256_set1_epi32(1);
	for (int k = 0; k < nsub; k++) {
		/* pos = 2 * level + 1: the level indexes xx[k] */
		const __m256i lev = _mm256_srli_epi32(_mm256_sub_epi32(_mm256_cvtepi8_epi32(
			_mm_loadl_epi64((const __m128i *)(G->pos + index[k] * 8))), one), 1);
		const __m256 q = _mm256_permutevar8x32_ps(
			_mm256_setr_ps(xx[k][0], xx[k][1], xx[k][2], 0, 0, 0, 0, 0), lev);
		const __m256 wq = _mm256_mul_ps(_mm256_loadu_ps(w + 8 * k), q);
		_mm256_storeu_ps(tx + 8 * k, _mm256_mul_ps(wq, _mm256_loadu_ps(xb + 8 * k)));
		_mm256_storeu_ps(tq + 8 * k, _mm256_mul_ps(wq, q));
	}
	float sumqx = 0, sumq2 = 0;
	for (int j = 0; j < 8 * nsub; j++) {
		sumqx += tx[j];
		sumq2 += tq[j];
	}
	return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}
#endif

/* The least-squares scale of the chosen points, when positive. */
static float iq1_refit(const iq_grid *G, int nsub, const uint16_t *index,
		       const float *xb, const float *w,
		       const float *const *xx, float scale, bool avx2)
{
#if QP_HAVE_AVX2
	if (avx2)
		return iq1_refit_avx2(G, nsub, index, xb, w, xx, scale);
#else
	(void)avx2;
#endif
	float sumqx = 0, sumq2 = 0;
	for (int k = 0; k < nsub; k++) {
		const int8_t *pg = G->pos + index[k] * 8;
		for (int j = 0; j < 8; j++) {
			float q = xx[k][(pg[j] - 1) / 2];
			sumqx += w[8 * k + j] * q * xb[8 * k + j];
			sumq2 += w[8 * k + j] * q * q;
		}
	}
	return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}


static const float iq1_xp[3] = {-1 + IQ1_DELTA, IQ1_DELTA, 1 + IQ1_DELTA};
static const float iq1_xm[3] = {-1 - IQ1_DELTA, -IQ1_DELTA, 1 - IQ1_DELTA};

#if QP_HAVE_AVX2
/* IQ1_S's weights qw * sqrt(sigma2 + x^2) (sqrtps rounds as sqrtf) and the
 * group's largest magnitude (its value matters only without NaN, where
 * the order of the comparisons does not). */
static QP_AVX2 float iq1s_weights_avx2(const float *xb, const float *qw,
				       float sigma2, float *weight)
{
	const __m256 s2 = _mm256_set1_ps(sigma2), sign = _mm256_set1_ps(-0.0f);
	__m256 mx = _mm256_setzero_ps();
	for (int k = 0; k < 32; k += 8) {
		const __m256 x = _mm256_loadu_ps(xb + k);
		_mm256_storeu_ps(weight + k, _mm256_mul_ps(_mm256_loadu_ps(qw + k),
			_mm256_sqrt_ps(_mm256_add_ps(s2, _mm256_mul_ps(x, x)))));
		mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, x));
	}
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0x4e));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0xb1));
	return _mm_cvtss_f32(h);
}

/* The ranks of a group of 32 (the count of values below each) and the
 * values and weights in rank order: false when two compare equal or one
 * is NaN (then the ranks are no permutation and the outputs are junk). */
static QP_AVX2 bool iq1s_rank32_avx2(const float *xb, const float *weight,
				     int32_t *rank, float *xsort, float *wsort)
{
	const __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
	const __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
	__m256i b0 = _mm256_setzero_si256(), b1 = b0, b2 = b0, b3 = b0;
#pragma GCC unroll 8
	for (int k = 0; k < 32; k++) { /* a mask lane is -1: subtracting counts */
		const __m256 b = _mm256_broadcast_ss(xb + k);
		b0 = _mm256_sub_epi32(b0, _mm256_castps_si256(_mm256_cmp_ps(b, v0, _CMP_LT_OQ)));
		b1 = _mm256_sub_epi32(b1, _mm256_castps_si256(_mm256_cmp_ps(b, v1, _CMP_LT_OQ)));
		b2 = _mm256_sub_epi32(b2, _mm256_castps_si256(_mm256_cmp_ps(b, v2, _CMP_LT_OQ)));
		b3 = _mm256_sub_epi32(b3, _mm256_castps_si256(_mm256_cmp_ps(b, v3, _CMP_LT_OQ)));
	}
	_mm256_storeu_si256((__m256i *)rank, b0);
	_mm256_storeu_si256((__m256i *)(rank + 8), b1);
	_mm256_storeu_si256((__m256i *)(rank + 16), b2);
	_mm256_storeu_si256((__m256i *)(rank + 24), b3);
	/* each of the 496 pairs adds x < y plus y < x to the sum of the
	 * counts: 1 when the two are ordered, 0 when they compare equal or
	 * one is NaN; so the sum is 496 (= 0 + 1 + ... + 31) exactly when no
	 * pair ties and nothing is NaN, and then the ranks are a permutation */
	__m256i t = _mm256_add_epi32(_mm256_add_epi32(b0, b1), _mm256_add_epi32(b2, b3));
	__m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
	if (_mm_cvtsi128_si32(h) != 496)
		return false;
	for (int j = 0; j < 32; j++) {
		const int r = rank[j];
		xsort[r] = xb[j];
		wsort[r] = weight[j];
	}
	return true;
}

/* After iq1s_rank32_avx2 found a tie: the ranks with ties in index order
 * (iq1_stable_rank's), and the values and weights in that order; false
 * when a value is NaN.  With no NaN, values with the same count below
 * them are exactly the values equal to each other, so a class of m equal
 * values has ranks r .. r + m - 1 (r its count below) to itself, handed
 * out in index order. */
static QP_AVX2 bool iq1s_stable_rank32_avx2(const float *xb, const float *weight,
					    int32_t *rank, float *xsort, float *wsort)
{
	__m256 nan = _mm256_setzero_ps();
	for (int a = 0; a < 32; a += 8) {
		const __m256 v = _mm256_loadu_ps(xb + a);
		nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
	}
	if (_mm256_movemask_ps(nan))
		return false;
	uint32_t used = 0;
	for (int j = 0; j < 32; j++) {
		int r = rank[j];
		while (used >> r & 1)
			r++;
		used |= 1u << r;
		rank[j] = r;
		xsort[r] = xb[j];
		wsort[r] = weight[j];
	}
	return true;
}
#endif

#if QP_HAVE_AVX2
/* L[j] = (rank[j] >= i1) + (rank[j] >= i2), eight at a time. */
static QP_AVX2 void iq1s_levels_avx2(const int32_t *rank, int i1, int i2, int8_t *L)
{
	const __m256i a = _mm256_set1_epi32(i1 - 1), b = _mm256_set1_epi32(i2 - 1);
	__m256i l[4];
	for (int k = 0; k < 4; k++) { /* a mask lane is -1: subtracting counts */
		const __m256i r = _mm256_loadu_si256((const __m256i *)(rank + 8 * k));
		l[k] = _mm256_sub_epi32(_mm256_sub_epi32(_mm256_setzero_si256(),
							 _mm256_cmpgt_epi32(r, a)),
					_mm256_cmpgt_epi32(r, b));
	}
	/* 0..2 in each lane: the packs saturate nothing; they interleave
	 * 128-bit halves, which the permute puts back in order */
	const __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(l[0], l[1]),
					     _mm256_packs_epi32(l[2], l[3]));
	_mm256_storeu_si256((__m256i *)L, _mm256_permutevar8x32_epi32(
		w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}
#endif

void qp_encode_iq1_s(const float *src, uint8_t *dst, int64_t nrows,
			 int64_t n_per_row, const float *imp)
{
	const iq_grid *G = grid_get(G_IQ1S);
	const nb8_lists *N8 = NULL;
	const bool avx2 = qp_cpu_avx2();
#if QP_HAVE_AVX2
	if (G && avx2)
		N8 = nb8_get(G_IQ1S);
#endif
	float weight[32], xsort[32], wsort[32], scales[8];
	int32_t rank[32];
	int8_t L[32], shifts[8];
	iq1_pair pairs[32];
	uint16_t index[4];
	for (int64_t r = 0; r < nrows; r++) {
		const float *x = src + r * n_per_row;
		for (int64_t ibl = 0; ibl < n_per_row / QK_K; ibl++, dst += QP_BLOCK_IQ1_S) {
			uint8_t *qs = dst + 2, *qh = dst + 34;
			memset(dst, 0, 50);
			const float *xbl = x + QK_K * ibl;
			float sumx2 = qp_sum_squares(xbl, QK_K);
			float sigma2 = 2 * sumx2 / QK_K;
			float max_scale = 0;
			for (int ib = 0; ib < 8; ib++) {
				const float *xb = xbl + 32 * ib;
				const float *qw = imp + QK_K * ibl + 32 * ib;
				float max;
				bool ranked = false;
#if QP_HAVE_AVX2
				if (avx2)
					max = iq1s_weights_avx2(xb, qw, sigma2, weight);
				else
#endif
				{
					for (int i = 0; i < 32; i++)
						weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
					max = fabsf(xb[0]);
					for (int i = 1; i < 32; i++)
						max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
				}
				scales[ib] = 0;
				shifts[ib] = 1;
				if (max < 1e-12f)
					continue;
#if QP_HAVE_AVX2
				if (avx2) {
					ranked = iq1s_rank32_avx2(xb, weight, rank, xsort, wsort);
					if (!ranked && IQ1_QSORT_STABLE)
						ranked = iq1s_stable_rank32_avx2(xb, weight, rank,
										 xsort, wsort);
				}
#endif
				if (!ranked) { /* with AVX2: a tie or a NaN */
					if (avx2)
						iq1_qsort(xb, 32, pairs);
					else
						iq1_sort(xb, 32, pairs, false);
					for (int j = 0; j < 32; j++) {
						rank[pairs[j].i] = j;
						xsort[j] = xb[pairs[j].i];
						wsort[j] = weight[pairs[j].i];
					}
				}
				/* pruned where the AVX2 kernels make it pay */
				qp_iq1_split split;
				qp_iq1_split_search(xsort, wsort, max, avx2, avx2, &split);
				float scale = split.scale;
				int besti1 = split.i1, besti2 = split.i2;
				int best_shift = split.shift;
				if (besti1 < 0 || besti2 < 0 || best_shift == 0)
					continue;
#if QP_HAVE_AVX2
				if (avx2)
					iq1s_levels_avx2(rank, besti1, besti2, L);
				else
#endif
				for (int j = 0; j < 32; j++) /* i1 <= i2 */
					L[j] = (int8_t)((rank[j] >= besti1) + (rank[j] >= besti2));
				if (scale < 0) {
					for (int j = 0; j < 32; j++)
						L[j] = (int8_t)(2 - L[j]);
					scale = -scale;
					best_shift = -best_shift;
				}
				const float *xs = best_shift == 1 ? iq1_xp : iq1_xm;
				const float *xx[4] = {xs, xs, xs, xs};
				if (!iq1_points(G, N8, 4, L, xb, weight, scale, xx, index))
					scale = iq1_refit(G, 4, index, xb, weight, xx, scale, avx2);
				uint16_t h = 0;
				for (int k = 0; k < 4; k++) {
					qs[4 * ib + k] = (uint8_t)(index[k] & 255);
					h |= (uint16_t)((index[k] >> 8) << 3 * k);
				}
				le_put_u16(qh + 2 * ib, h);
				scales[ib] = scale;
				shifts[ib] = (int8_t)best_shift;
				max_scale = max_scale > scale ? max_scale : scale;
			}
			if (!max_scale)
				continue;
			float d = max_scale / 15;
			le_put_u16(dst, qp_fp32_to_fp16(d * 1.125f));
			float id = 1 / d;
			for (int ib = 0; ib < 8; ib++) {
				int l = scale_level(id, scales[ib], 7);
				if (shifts[ib] == -1)
					l |= 8;
				le_put_u16(qh + 2 * ib, (uint16_t)(le_u16(qh + 2 * ib) | l << 12));
			}
		}
	}
}

/* IQ1_M's four shift patterns: k = 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-) for
 * the first and second 8 values of a group of 16. */
static const float *iq1m_values(int k, int half)
{
	return (half == 0 ? k < 2 : k % 2 == 0) ? iq1_xp : iq1_xm;
}

static void iq1m_weights(const float *xb, const float *qw, float sigma2,
			 float *w)
{
	if (qw)
		for (int i = 0; i < 16; i++)
			w[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
	else
		for (int i = 0; i < 16; i++)
			w[i] = xb[i] * xb[i];
}

/* Whether one of the four candidates (sums sx, sq) beats score as IQ1_M's
 * search tests them; when none does, none is taken and nothing changes,
 * so the one-by-one tests are skipped.  Plain C: always true. */
static inline bool iq1m_any_beats(const float *sx, const float *sq, float score)
{
#ifdef __SSE2__
	const __m128 vx = _mm_loadu_ps(sx), vq = _mm_loadu_ps(sq);
	return _mm_movemask_ps(_mm_and_ps(_mm_cmpgt_ps(vq, _mm_setzero_ps()),
					  _mm_cmpgt_ps(_mm_mul_ps(vx, vx),
						       _mm_mul_ps(_mm_set1_ps(score), vq)))) != 0;
#else
	(void)sx;
	(void)sq;
	(void)score;
	return true;
#endif
}

/* IQ1_M's exhaustive split search: sorted position j goes to level 0 below
 * i1, 1 below i2, 2 from there; for each split and shift pattern k, ggml
 * sums w v x and w v^2 over j = 0..15 in order from zero.  The sums over
 * the level-0 head are shared by every i2 and the level-1 middle grows by
 * one term per i2, so they are carried forward (the same additions in the
 * same order, so the same floats); only the level-2 tail is summed anew.
 * Candidates are compared in ggml's order (i1, i2, k). */
static void iq1m_split_search(const iq1_pair *pairs, const float *weight,
			      const float *xb, float *best_score, float *scale,
			      int *besti1, int *besti2, int *best_k)
{
	float tx[3][16][4], tq[3][16][4];
	for (int j = 0; j < 16; j++) {
		int i = pairs[j].i;
		for (int lev = 0; lev < 3; lev++)
			for (int k = 0; k < 4; k++) {
				float v = iq1m_values(k, i >= 8)[lev];
				tx[lev][j][k] = weight[i] * v * xb[i];
				tq[lev][j][k] = weight[i] * v * v;
			}
	}
	float hx[4] = {0}, hq[4] = {0};	/* level 0 over j < i1 */
	for (int i1 = 0; i1 <= 16; i1++) {
		float mx[4], mq[4];	/* then level 1 over i1 <= j < i2 */
		memcpy(mx, hx, sizeof mx);
		memcpy(mq, hq, sizeof mq);
		for (int i2 = i1; i2 <= 16; i2++) {
			float sx[4], sq[4];
			memcpy(sx, mx, sizeof sx);
			memcpy(sq, mq, sizeof sq);
			for (int j = i2; j < 16; j++)
				for (int k = 0; k < 4; k++) {
					sx[k] += tx[2][j][k];
					sq[k] += tq[2][j][k];
				}
			if (iq1m_any_beats(sx, sq, *best_score))
			for (int k = 0; k < 4; k++)
				if (sq[k] > 0 && sx[k] * sx[k] > *best_score * sq[k]) {
					*scale = sx[k] / sq[k];
					*best_score = *scale * sx[k];
					*besti1 = i1;
					*besti2 = i2;
					*best_k = k;
				}
			if (i2 < 16)
				for (int k = 0; k < 4; k++) {
					mx[k] += tx[1][i2][k];
					mq[k] += tq[1][i2][k];
				}
		}
		if (i1 < 16)
			for (int k = 0; k < 4; k++) {
				hx[k] += tx[0][i1][k];
				hq[k] += tq[0][i1][k];
			}
	}
}

void qp_encode_iq1_m(const float *src, uint8_t *dst, int64_t nrows,
			 int64_t n_per_row, const float *imp)
{
	static const uint8_t masks[4] = {0x00, 0x80, 0x08, 0x88};
	const iq_grid *G = grid_get(G_IQ1S);
	const nb8_lists *N8 = NULL;
	const bool avx2 = qp_cpu_avx2();
#if QP_HAVE_AVX2
	if (G && avx2)
		N8 = nb8_get(G_IQ1S);
#endif
	float weight[16], scales[16];
	int8_t L[16], shifts[16];
	iq1_pair pairs[16];
	uint16_t index[2];
	for (int64_t r = 0; r < nrows; r++) {
		const float *x = src + r * n_per_row;
		for (int64_t ibl = 0; ibl < n_per_row / QK_K; ibl++, dst += QP_BLOCK_IQ1_M) {
			uint8_t *qs = dst, *qh = dst + 32, *sc = dst + 48;
			memset(dst, 0, 56);
			const float *xbl = x + QK_K * ibl;
			float sumx2 = qp_sum_squares(xbl, QK_K);
			float sigma2 = 2 * sumx2 / QK_K;
			float max_scale = 0;
			for (int ib = 0; ib < 16; ib++) {
				const float *xb = xbl + 16 * ib;
				iq1m_weights(xb, imp ? imp + QK_K * ibl + 16 * ib : NULL,
					     sigma2, weight);
				float max = fabsf(xb[0]);
				for (int i = 1; i < 16; i++)
					max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
				scales[ib] = 0;
				shifts[ib] = 0;
				if (max < 1e-7f)
					continue;
				iq1_sort(xb, 16, pairs, avx2);
				float best_score = -FLT_MAX, scale = max;
				int besti1 = -1, besti2 = -1, best_k = -1;
				iq1m_split_search(pairs, weight, xb, &best_score, &scale,
						  &besti1, &besti2, &best_k);
				if (besti1 < 0 || besti2 < 0 || best_k < 0)
					continue;
				for (int j = 0; j < 16; j++)
					L[pairs[j].i] = (int8_t)(j < besti1 ? 0 : j < besti2 ? 1 : 2);
				if (scale < 0) {
					for (int j = 0; j < 16; j++)
						L[j] = (int8_t)(2 - L[j]);
					scale = -scale;
					best_k = 3 - best_k;
				}
				const float *xx[2] = {iq1m_values(best_k, 0),
						      iq1m_values(best_k, 1)};
				if (!iq1_points(G, N8, 2, L, xb, weight, scale, xx, index))
					scale = iq1_refit(G, 2, index, xb, weight, xx, scale, avx2);
				qs[2 * ib] = (uint8_t)(index[0] & 255);
				qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
				qh[ib] = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
				scales[ib] = scale;
				shifts[ib] = (int8_t)best_k;
				max_scale = max_scale > scale ? max_scale : scale;
			}
			if (!max_scale)
				continue;
			uint16_t s16[4] = {0};
			float d = max_scale / 15;
			float id = 1 / d;
			float sumqx = 0, sumq2 = 0;
			for (int ib = 0; ib < 16; ib++) {
				int l = scale_level(id, scales[ib], 7);
				s16[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
				qh[ib] |= masks[shifts[ib]];
				const float *xb = xbl + 16 * ib;
				iq1m_weights(xb, imp ? imp + QK_K * ibl + 16 * ib : NULL,
					     sigma2, weight);
				for (int k = 0; k < 2; k++) {
					const float *xx = iq1m_values(shifts[ib], k);
					int gi = qs[2 * ib + k] + ((qh[ib] << (8 - 4 * k)) & 0x700);
					const int8_t *pg = G->pos + gi * 8;
					for (int j = 0; j < 8; j++) {
						float w = weight[8 * k + j];
						float q = xx[(pg[j] - 1) / 2] * (2 * l + 1);
						sumqx += w * q * xb[8 * k + j];
						sumq2 += w * q * q;
					}
				}
			}
			if (sumq2 > 0)
				d = sumqx / sumq2;
			uint16_t h = qp_fp32_to_fp16(d * 1.1125f);
			s16[0] |= (uint16_t)((h & 0x000f) << 12);
			s16[1] |= (uint16_t)((h & 0x00f0) << 8);
			s16[2] |= (uint16_t)((h & 0x0f00) << 4);
			s16[3] |= (uint16_t)(h & 0xf000);
			for (int k = 0; k < 4; k++)
				le_put_u16(sc + 2 * k, s16[k]);
		}
	}
}

/* ---- NVFP4 --------------------------------------------------------------- */

/* ggml_ue4m3_to_fp32: an unsigned e4m3 scale, halved (the e2m1 table holds
 * doubled values). */
static float ue4m3_to_f32(uint8_t x)
{
	if (x == 0 || x == 0x7f)
		return 0.0f;
	int exp = (x >> 3) & 0xf, man = x & 0x7;
	float raw = exp == 0 ? ldexpf((float)man, -9)
			     : ldexpf(1.0f + (float)man / 8.0f, exp - 7);
	return raw * 0.5f;
}

/* ggml_fp32_to_ue4m3: round half up on the mantissa bits, saturate at
 * 448 (0x7e). */
static uint8_t f32_to_ue4m3(float x)
{
	if (!(x > 0.0f))
		return 0;
	if (x > 448.0f)
		x = 448.0f;
	uint32_t bits = qp_f32_bits(x);
	int e = (int)((bits >> 23) & 0xff) - 127 + 7;
	int man = (int)((bits >> 20) & 0x7);
	if (e <= 0) {
		int m = (int)(x * 512.0f + 0.5f);
		if (m > 7)
			m = 7;
		return m < 1 ? 0 : (uint8_t)m;
	}
	if (e >= 15)
		return 0x7e;
	man += (int)((bits >> 19) & 1);
	if (man > 7) {
		man = 0;
		if (++e >= 15)
			return 0x7e;
	}
	return (uint8_t)(e << 3 | man);
}

void qp_encode_nvfp4(const float *src, uint8_t *dst, int64_t nrows,
			 int64_t n_per_row, const float *imp)
{
	(void)imp;
	const int64_t nb = nrows * n_per_row / QP_QK_NVFP4;
	for (int64_t i = 0; i < nb; i++, dst += QP_BLOCK_NVFP4) {
		for (int s = 0; s < 4; s++) {
			const float *xb = src + QP_QK_NVFP4 * i + 16 * s;
#ifdef __SSE2__
			/* max_ps(new, acc) keeps acc for a NaN, as the scalar
			 * comparison skips it; otherwise the order is moot */
			const __m128 sign = _mm_set1_ps(-0.0f);
			__m128 m = _mm_setzero_ps();
			for (int j = 0; j < 16; j += 4)
				m = _mm_max_ps(_mm_andnot_ps(sign, _mm_loadu_ps(xb + j)), m);
			m = _mm_max_ps(m, _mm_shuffle_ps(m, m, 0x4e));
			m = _mm_max_ps(m, _mm_shuffle_ps(m, m, 0xb1));
			const float amax = _mm_cvtss_f32(m);
#else
			float amax = 0.0f;
			for (int j = 0; j < 16; j++)
				if (amax < fabsf(xb[j]))
					amax = fabsf(xb[j]);
#endif
			uint8_t ue = f32_to_ue4m3(amax / 6.0f);
			dst[s] = ue;
			qp_e2m1_pack(xb, 16, ue4m3_to_f32(ue), dst + 4 + 8 * s);
		}
	}
}

void qp_decode_nvfp4(const uint8_t *b, float *y, int64_t nblocks)
{
	for (int64_t i = 0; i < nblocks; i++, b += QP_BLOCK_NVFP4, y += QP_QK_NVFP4)
		for (int s = 0; s < 4; s++) {
			const float d = ue4m3_to_f32(b[s]);
			const uint8_t *qs = b + 4 + 8 * s;
			for (int j = 0; j < 8; j++) {
				y[16 * s + j] = (float)qp_mxfp4_values[qs[j] & 0x0f] * d;
				y[16 * s + j + 8] = (float)qp_mxfp4_values[qs[j] >> 4] * d;
			}
		}
}

/* ---- neighbour maps on first use ---------------------------------------- */

int qp_iq_ready(uint32_t type, bool has_imatrix, qp_err *e)
{
	int g;
	switch (type) {
	case QP_IQ2_XXS: g = G_IQ2XXS; break;
	case QP_IQ2_XS: g = G_IQ2XS; break;
	case QP_IQ2_S: g = G_IQ2S; break;
	case QP_IQ1_S: case QP_IQ1_M: g = G_IQ1S; break;
	case QP_IQ3_XXS: g = G_IQ3XXS; break;
	case QP_IQ3_S: g = G_IQ3S; break;
	default: return 0;
	}
	if (!has_imatrix && (type == QP_IQ2_XXS || type == QP_IQ2_XS ||
			     type == QP_IQ1_S)) {
		char name[16];
		return qp_fail(e, "%s needs an importance matrix (ggml aborts "
			       "without one)", qp_type_name(type, name));
	}
	if (!grid_get(g))
		return qp_fail(e, "out of memory building the neighbour map");
	return 0;
}
