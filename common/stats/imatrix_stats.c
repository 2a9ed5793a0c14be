/* imatrix_stats.c — see imatrix_stats.h. */
#include "imatrix_stats.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statistics (float, in llama-imatrix's order) ---------------------- */

/* The value llama-imatrix divides by: its counts are int64 (lround of the
 * stored float), converted back to float for the division. */
static float count_as_float(double c)
{
	return (float)llround(c);
}

static float activation(const qp_imatrix_entry *en, int64_t x, int64_t j)
{
	return (float)en->sum2[x * en->n_cols + j] / count_as_float(en->counts[x]);
}

static void entry_stats(const qp_imatrix_entry *en, qp_imatrix_stats *s)
{
	float total = 0, sq_total = 0, mn = FLT_MAX, mx = -FLT_MAX;
	int64_t n = 0, inactive = 0;
	memset(s, 0, sizeof *s);
	for (int64_t x = 0; x < en->n_expert; x++) {
		if (en->counts[x] == 0)
			continue;
		for (int64_t j = 0; j < en->n_cols; j++) {
			float a = activation(en, x, j);
			total += a;
			sq_total += a * a;
			mn = a < mn ? a : mn;
			mx = a > mx ? a : mx;
			inactive += fabsf(a) <= 1e-5f;
			n++;
		}
	}
	float fn = (float)n;
	float mean = total / fn;
	float var = sq_total / fn - mean * mean;
	float dev = sqrtf(var > 0.0f ? var : 0.0f);
	float entropy = 0;
	int64_t z = 0;
	for (int64_t x = 0; x < en->n_expert; x++) {
		if (en->counts[x] == 0)
			continue;
		for (int64_t j = 0; j < en->n_cols; j++) {
			float a = activation(en, x, j);
			float p = total > 0 ? a / total : 0;
			if (total > 0 && p > 0)
				entropy -= p * log2f(p);
			if (dev > 0.0f && (a - mean) / dev > 1)
				z++;
		}
	}
	s->sum_sq = total;
	s->min = mn;
	s->max = mx;
	s->mean = mean;
	s->std = dev;
	s->active = 1 - (float)inactive / fn;
	s->n = n;
	s->entropy = entropy;
	s->entropy_norm = n > 1 ? entropy / log2((double)n) : 0;
	s->zd = (float)z / (float)n;
	for (int64_t x = 0; x < en->n_expert; x++)
		if (en->counts[x] > s->tokens)
			s->tokens = en->counts[x];
	s->n_expert = en->n_expert;
	s->n_idle_experts = en->n_idle_experts;
}

/* The name of the same tensor one layer down: the first "blk.N." with N
 * decremented (llama-imatrix's regex blk\.(\d+)\.); false when none. */
static bool prev_layer_name(const char *name, char *out, size_t cap)
{
	for (const char *p = strstr(name, "blk."); p; p = strstr(p + 1, "blk.")) {
		const char *d = p + 4, *q = d;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q == d || *q != '.')
			continue;
		errno = 0;
		long blk = strtol(d, NULL, 10);
		if (errno || blk > INT_MAX)
			return false;
		int w = snprintf(out, cap, "%.*s%ld%s", (int)(d - name), name,
				 blk - 1, q);
		return w > 0 && (size_t)w < cap;
	}
	return false;
}

static float dot_raw(const qp_imatrix_entry *a, const qp_imatrix_entry *b)
{
	float s = 0;
	for (int64_t i = 0; i < a->n_cols * a->n_expert; i++)
		s += (float)a->sum2[i] * (float)b->sum2[i];
	return s;
}

static void entry_cossim(const qp_imatrix *im, const qp_imatrix_entry *en,
			 qp_imatrix_stats *s)
{
	char prev[QP_IMATRIX_MAX_NAME + 32];
	s->cossim = 0;
	s->has_prev = false;
	if (!prev_layer_name(en->name, prev, sizeof prev))
		return;
	const qp_imatrix_entry *pe = qp_imatrix_find(im, prev);
	if (!pe || pe->n_cols * pe->n_expert != en->n_cols * en->n_expert)
		return;
	float dp = dot_raw(en, pe);
	float cur = sqrtf(dot_raw(en, en));
	float prv = sqrtf(dot_raw(pe, pe));
	s->cossim = dp / (cur * prv);
	s->has_prev = true;
}

int qp_imatrix_stats_compute(const qp_imatrix *im, qp_imatrix_stats *st,
			     qp_err *e)
{
	for (int64_t i = 0; i < im->n_entries; i++) {
		const qp_imatrix_entry *en = &im->entries[i];
		if (en->n_idle_experts >= en->n_expert)
			return qp_fail(e, "%s: no expert saw any token",
				       en->name);
		entry_stats(en, &st[i]);
	}
	for (int64_t i = 0; i < im->n_entries; i++)
		entry_cossim(im, &im->entries[i], &st[i]);
	return 0;
}

/* ---- per-layer weighted averages ---------------------------------------- */

/* llama-imatrix's process_tensor_name: layer = the dot-separated field
 * after "blk", tensor = the field before "weight". */
typedef struct short_name {
	int layer; /* -1 when there is no numeric "blk" field */
	const char *tensor;
	size_t tensor_len;
	float total;
} short_name;

static void split_name(const char *name, short_name *sn)
{
	const char *fields[64];
	size_t lens[64], nf = 0;
	for (const char *p = name; nf < 64;) {
		const char *dot = strchr(p, '.');
		fields[nf] = p;
		lens[nf++] = dot ? (size_t)(dot - p) : strlen(p);
		if (!dot)
			break;
		p = dot + 1;
	}
	sn->layer = -1;
	sn->tensor = name;
	sn->tensor_len = strlen(name);
	for (size_t i = 0; i + 1 < nf; i++)
		if (lens[i] == 3 && memcmp(fields[i], "blk", 3) == 0) {
			char *end;
			long v = strtol(fields[i + 1], &end, 10);
			if (end != fields[i + 1] && v >= INT_MIN && v <= INT_MAX)
				sn->layer = (int)v;
			break;
		}
	for (size_t i = 1; i < nf; i++)
		if (lens[i] == 6 && memcmp(fields[i], "weight", 6) == 0) {
			sn->tensor = fields[i - 1];
			sn->tensor_len = lens[i - 1];
			break;
		}
}

static int cmp_short(const void *a, const void *b)
{
	const short_name *x = a, *y = b;
	size_t n = x->tensor_len < y->tensor_len ? x->tensor_len : y->tensor_len;
	int c = memcmp(x->tensor, y->tensor, n);
	if (c == 0 && x->tensor_len != y->tensor_len)
		c = x->tensor_len < y->tensor_len ? -1 : 1;
	if (c)
		return c;
	return (x->total < y->total) - (x->total > y->total);
}

typedef struct layer_acc {
	int layer;
	float bias, zd, cossim;
	int n;
} layer_acc;

int qp_imatrix_layer_averages(const qp_imatrix *im,
			      const qp_imatrix_stats *st,
			      qp_imatrix_layer_avg **out, int64_t *n_out,
			      qp_err *e)
{
	int64_t n = im->n_entries, nl = 0;
	short_name *sn = calloc(n ? (size_t)n : 1, sizeof *sn);
	int64_t *idx = calloc(n ? (size_t)n : 1, sizeof *idx);
	layer_acc *acc = calloc(n ? (size_t)n : 1, sizeof *acc);
	*out = NULL;
	*n_out = 0;
	if (!sn || !idx || !acc) {
		free(sn), free(idx), free(acc);
		return qp_fail(e, "out of memory");
	}
	for (int64_t i = 0; i < n; i++) {
		split_name(im->entries[i].name, &sn[i]);
		sn[i].total = (float)st[i].sum_sq;
	}
	/* sort (name, -total) carrying the entry index along */
	short_name *tmp = sn;
	for (int64_t i = 0; i < n; i++)
		idx[i] = i;
	for (int64_t i = 1; i < n; i++) /* insertion sort: stable, small n */
		for (int64_t j = i; j > 0 && cmp_short(&tmp[idx[j - 1]],
						       &tmp[idx[j]]) > 0; j--) {
			int64_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (int64_t k = 0; k < n; k++) {
		int64_t i = idx[k];
		if (sn[i].layer < 0)
			continue;
		int64_t l = 0;
		while (l < nl && acc[l].layer != sn[i].layer)
			l++;
		if (l == nl)
			acc[nl++].layer = sn[i].layer;
		float el = (float)st[i].n;
		acc[l].bias += el * (float)st[i].sum_sq;
		acc[l].zd += el * (float)st[i].zd;
		acc[l].cossim += el * (float)st[i].cossim;
		acc[l].n += (int)st[i].n;
	}
	qp_imatrix_layer_avg *res = calloc(nl ? (size_t)nl : 1, sizeof *res);
	if (!res) {
		free(sn), free(idx), free(acc);
		return qp_fail(e, "out of memory");
	}
	for (int64_t l = 0; l < nl; l++) {
		int64_t m = l; /* selection of the smallest remaining layer */
		for (int64_t j = l + 1; j < nl; j++)
			if (acc[j].layer < acc[m].layer)
				m = j;
		layer_acc t = acc[l];
		acc[l] = acc[m];
		acc[m] = t;
		res[l].layer = acc[l].layer;
		res[l].sum_sq = acc[l].n ? acc[l].bias / (float)acc[l].n : 0;
		res[l].zd = acc[l].n ? acc[l].zd / (float)acc[l].n : 0;
		res[l].cossim = acc[l].n ? acc[l].cossim / (float)acc[l].n : 0;
	}
	free(sn), free(idx), free(acc);
	*out = res;
	*n_out = nl;
	return 0;
}
