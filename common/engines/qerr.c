#include "qerr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "llq_policy.h"
#include "rowsample.h"
#include "quant.h"
#include "threads.h"
#include "types.h"

/* Rows per chunk aim at this many values: enough work per item to keep
 * threads busy, few enough partial sums to merge. */
#define CHUNK_VALUES (1 << 18)

int qp_qerr_count(const qp_qerr_opts *o)
{
	return o->n_types * (o->rotate_block > 0 ? 2 : 1);
}

/* ---- what llama-quantize would write ---------------------------------- */

static void set_bytes(const qp_tensor_ref *t, qp_qerr_result *r)
{
	uint64_t n = 0;
	qp_err e;
	if (qp_type_nbytes(r->as, t->ne, t->n_dims, &n, &e) == 0) {
		r->n_bytes = n;
		r->bpw = t->n_elem ? 8.0 * (double)n / (double)t->n_elem : 0;
	}
}

/* Without importance values for the tensor (none given, no entry for it,
 * or a rotated variant, always measured without them): llama-quantize's
 * tensor_requires_imatrix refuses IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS
 * except on token_embd / per_layer_token_embd / output.weight, and on those
 * ggml_quantize_chunk itself still aborts for IQ1_S IQ2_XXS IQ2_XS.  True
 * (with the rule in note) when nothing can be measured. */
static bool imatrix_refused(const char *name, uint32_t as, char *note,
			    size_t size)
{
	char tn[16];
	bool exempt = !strcmp(name, "token_embd.weight") ||
		      !strcmp(name, "per_layer_token_embd.weight") ||
		      !strcmp(name, "output.weight");
	if (!qp_quant_requires_imatrix(as))
		return false;
	if (!exempt) {
		snprintf(note, size, "needs an importance matrix: llama-quantize "
			 "refuses %s without one (only token_embd and output are "
			 "exempt)", qp_type_name(as, tn));
		return true;
	}
	if (as == QP_IQ1_S || as == QP_IQ2_XXS || as == QP_IQ2_XS) {
		snprintf(note, size, "needs an importance matrix: llama-quantize "
			 "exempts this tensor, but ggml aborts quantizing %s "
			 "without one", qp_type_name(as, tn));
		return true;
	}
	return false;
}

static void plan_result(const qp_tensor_ref *t, const qp_qerr_opts *o,
			uint32_t req, int rot, bool has_imp, qp_qerr_result *r)
{
	char name[16];
	*r = (qp_qerr_result){.requested = req, .rotate_block = rot};
	if (rot)
		snprintf(r->key, sizeof r->key, "%s+had%d", qp_type_name(req, name), rot);
	else
		snprintf(r->key, sizeof r->key, "%s", qp_type_name(req, name));
	if (!t->data) {
		snprintf(r->note, sizeof r->note, "source type %s cannot be read",
			 t->type_name);
		return;
	}
	if (!qp_llq_quantizes(t->name, t->n_dims)) {
		r->has_as = true;
		r->as = t->type;
		snprintf(r->note, sizeof r->note,
			 "llama-quantize keeps this tensor as %s", t->type_name);
	} else {
		bool ok;
		r->as = qp_quant_fallback(req, t->row_len, &ok);
		r->has_as = ok;
		if (!ok) {
			snprintf(r->note, sizeof r->note,
				 "llama-quantize has no fallback for %s at row length %lld: it aborts",
				 qp_type_name(req, name), (long long)t->row_len);
			return;
		}
	}
	set_bytes(t, r);
	if (r->as != t->type && !qp_can_quantize(r->as)) {
		snprintf(r->note, sizeof r->note, "not measurable yet: no %s quantizer",
			 qp_type_name(r->as, name));
		return;
	}
	if (r->as != t->type && !(has_imp && !rot) &&
	    imatrix_refused(t->name, r->as, r->note, sizeof r->note))
		return;
	if (rot && t->row_len % rot != 0) {
		snprintf(r->note, sizeof r->note,
			 "row length %lld is not a multiple of the rotation block %d",
			 (long long)t->row_len, rot);
		return;
	}
	r->measured = true;
	(void)o;
}

/* ---- block Hadamard (orthonormal, its own inverse) --------------------- */

static void hadamard_rows(float *x, int64_t n, int block, double *tmp)
{
	double scale = 1.0 / sqrt((double)block);
	for (int64_t b = 0; b < n; b += block) {
		for (int i = 0; i < block; i++)
			tmp[i] = x[b + i];
		for (int h = 1; h < block; h *= 2)
			for (int i = 0; i < block; i += 2 * h)
				for (int j = i; j < i + h; j++) {
					double a = tmp[j], c = tmp[j + h];
					tmp[j] = a + c;
					tmp[j + h] = a - c;
				}
		for (int i = 0; i < block; i++)
			x[b + i] = (float)(tmp[i] * scale);
	}
}

/* ---- the measurement ---------------------------------------------------- */

typedef struct chunk_sum {
	double w2, maxabs;              /* over the measured rows */
	qp_strata_sums e2, wmse, q2, wq; /* per-row sums, by stratum */
	int64_t rows;
	uint32_t crc;
	uint64_t qbytes;
	int status;
} chunk_sum;

typedef struct job {
	const qp_tensor_ref *t;
	const float *imp;
	const qp_qerr_opts *o;
	qp_qerr_result *res;
	int *measured;          /* indices of results to measure */
	int n_measured;
	const qp_row_plan *plan; /* sampled rows, NULL = all */
	int64_t n_sel;
	int64_t chunk_rows, n_chunks;
	chunk_sum *sums;        /* [n_measured][n_chunks] */
	double *row_err;        /* [n_measured][n_sel] when sampling */
	qp_err *errs;           /* per item */
} job;

typedef struct row_bufs {
	float *w, *q, *rot;
	uint8_t *qbytes;
	double *tmp;
} row_bufs;

static int bufs_alloc(row_bufs *b, int64_t n, uint64_t qrow_bytes, int block)
{
	b->w = malloc((size_t)n * sizeof *b->w);
	b->q = malloc((size_t)n * sizeof *b->q);
	b->rot = malloc((size_t)n * sizeof *b->rot);
	b->qbytes = malloc(qrow_bytes ? (size_t)qrow_bytes : 1);
	b->tmp = malloc((size_t)(block > 0 ? block : 1) * sizeof *b->tmp);
	return b->w && b->q && b->rot && b->qbytes && b->tmp ? 0 : -1;
}

static void bufs_free(row_bufs *b)
{
	free(b->w);
	free(b->q);
	free(b->rot);
	free(b->qbytes);
	free(b->tmp);
}

static const float *row_importance(const job *j, int64_t row)
{
	if (!j->imp)
		return NULL;
	int64_t rows_per_expert = j->t->n_dims >= 3 ? j->t->ne[1] : j->t->n_rows;
	return j->imp + (row / rows_per_expert) * j->t->row_len;
}

/* Quantizes one row (rotated when asked) and dequantizes it into b->q. */
static int round_trip(const job *j, const qp_qerr_result *r, int64_t row,
		      row_bufs *b, qp_err *e)
{
	int64_t n = j->t->row_len;
	const float *imp = r->rotate_block ? NULL : row_importance(j, row);
	const float *src = b->w;
	if (r->rotate_block) {
		memcpy(b->rot, b->w, (size_t)n * sizeof *b->rot);
		hadamard_rows(b->rot, n, r->rotate_block, b->tmp);
		src = b->rot;
	}
	if (r->as == j->t->type && !r->rotate_block) { /* llama-quantize copies */
		memcpy(b->q, b->w, (size_t)n * sizeof *b->q);
		memcpy(b->qbytes, j->t->data + (uint64_t)row * qp_tensor_row_bytes(j->t),
		       (size_t)qp_tensor_row_bytes(j->t));
		return 0;
	}
	if (qp_quantize(r->as, src, b->qbytes, 1, n, imp, e) < 0 ||
	    qp_dequantize(r->as, b->qbytes, b->q, n, e) < 0)
		return -1;
	if (r->rotate_block)
		hadamard_rows(b->q, n, r->rotate_block, b->tmp);
	return 0;
}

/* Adds one row's sums to s; returns the row's squared error. */
static double accumulate_row(chunk_sum *s, const float *w, const float *q,
			     const float *imp, int64_t n, bool take_all,
			     double proxy)
{
	double e2 = 0, w2 = 0, q2 = 0, wq = 0, ie2 = 0, isum = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = (double)w[i] - (double)q[i];
		e2 += d * d;
		w2 += (double)w[i] * w[i];
		q2 += (double)q[i] * q[i];
		wq += (double)w[i] * q[i];
		if (fabs(d) > s->maxabs)
			s->maxabs = fabs(d);
		if (imp) {
			ie2 += (double)imp[i] * d * d;
			isum += imp[i];
		}
	}
	s->w2 += w2;
	qp_strata_add(&s->q2, take_all, q2, 0);
	qp_strata_add(&s->wq, take_all, wq, 0);
	qp_strata_add(&s->e2, take_all, e2, proxy);
	qp_strata_add(&s->wmse, take_all, isum > 0 ? ie2 / isum : 0, proxy);
	s->rows++;
	return e2;
}

static int measure_chunk(void *ctx, size_t item)
{
	job *j = ctx;
	int m = (int)(item / (size_t)j->n_chunks);
	int64_t c = (int64_t)(item % (size_t)j->n_chunks);
	qp_qerr_result *r = &j->res[j->measured[m]];
	chunk_sum *s = &j->sums[item];
	qp_err *e = &j->errs[item];
	uint64_t qrow = 0;
	int64_t one = j->t->row_len;
	qp_type_nbytes(r->as, &one, 1, &qrow, e);
	row_bufs b = {0};
	s->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	int status = bufs_alloc(&b, j->t->row_len, qrow > qp_tensor_row_bytes(j->t) ? qrow : qp_tensor_row_bytes(j->t), r->rotate_block);
	if (status < 0)
		qp_fail(e, "out of memory");
	int64_t i0 = c * j->chunk_rows;
	int64_t i1 = i0 + j->chunk_rows < j->n_sel ? i0 + j->chunk_rows : j->n_sel;
	for (int64_t i = i0; i < i1 && status == 0; i++) {
		const qp_row_plan *plan = j->plan;
		int64_t row = plan ? plan->rows[i] : i;
		status = qp_tensor_rows_f32(j->t, row, 1, b.w, e);
		if (status == 0)
			status = round_trip(j, r, row, &b, e);
		if (status == 0) {
			double e2 = accumulate_row(s, b.w, b.q, row_importance(j, row),
						   j->t->row_len, !plan || plan->take_all[i],
						   plan ? plan->proxy[i] : 0);
			if (plan)
				j->row_err[(size_t)m * (size_t)j->n_sel + (size_t)i] = e2;
			uint64_t nb = r->as == j->t->type && !r->rotate_block
					      ? qp_tensor_row_bytes(j->t) : qrow;
			s->crc = (uint32_t)crc32(s->crc, b.qbytes, (uInt)nb);
			s->qbytes += nb;
		}
	}
	bufs_free(&b);
	s->status = status;
	return status;
}

/* ---- finishing -------------------------------------------------------- */

static void merge(const chunk_sum *v, int64_t n, chunk_sum *out)
{
	*out = (chunk_sum){.crc = (uint32_t)crc32(0L, Z_NULL, 0)};
	for (int64_t c = 0; c < n; c++) {
		out->w2 += v[c].w2;
		qp_strata_merge(&out->q2, &v[c].q2);
		qp_strata_merge(&out->wq, &v[c].wq);
		qp_strata_merge(&out->e2, &v[c].e2);
		qp_strata_merge(&out->wmse, &v[c].wmse);
		out->rows += v[c].rows;
		out->maxabs = v[c].maxabs > out->maxabs ? v[c].maxabs : out->maxabs;
		out->crc = (uint32_t)crc32_combine(out->crc, v[c].crc, (z_off_t)v[c].qbytes);
	}
}

static double sqnr_of_ratio(double ratio)
{
	return ratio > 0 ? -10.0 * log10(ratio) : INFINITY;
}

/* The error metrics from the total squared error E (and its interval
 * [lo, hi] when sampled), W = sum w^2 and n values. */
static void set_error_metrics(qp_qerr_result *r, double E, double lo,
			      double hi, double W, double n)
{
	r->mse = n > 0 ? E / n : 0;
	r->rmse = sqrt(r->mse);
	r->rel = W > 0 ? sqrt(E / W) : (E > 0 ? INFINITY : 0);
	r->sqnr_db = W > 0 ? sqnr_of_ratio(E / W) : 0;
	if (lo == hi || isnan(lo) || n <= 0)
		return;
	lo = fmax(lo, 0);
	r->has_ci = true;
	r->ci_mse = (qp_interval){lo / n, hi / n};
	r->ci_rmse = (qp_interval){sqrt(lo / n), sqrt(hi / n)};
	if (W > 0) {
		r->ci_rel = (qp_interval){sqrt(lo / W), sqrt(hi / W)};
		r->ci_sqnr = (qp_interval){sqnr_of_ratio(hi / W), sqnr_of_ratio(lo / W)};
	}
}

static void finish(const chunk_sum *s, const job *j, int m, qp_qerr_result *r)
{
	const qp_row_plan *plan = j->plan;
	double n = (double)j->t->n_rows * (double)j->t->row_len;
	double E = s->e2.take_all_y, WM = s->wmse.take_all_y;
	double Q2 = s->q2.take_all_y, WQ = s->wq.take_all_y;
	double lo = E, hi = E;
	double W = plan ? plan->w2 : s->w2;
	if (plan) {
		qp_row_estimate(plan, j->row_err + (size_t)m * (size_t)j->n_sel,
				&E, &lo, &hi);
		qp_strata_total(plan, &s->wmse, &WM);
		qp_strata_total(plan, &s->q2, &Q2);
		qp_strata_total(plan, &s->wq, &WQ);
	}
	set_error_metrics(r, E, lo, hi, W, n);
	r->rows_measured = s->rows;
	r->rows_total = j->t->n_rows;
	r->cos = W > 0 && Q2 > 0 ? WQ / (sqrt(W) * sqrt(Q2)) : (W == Q2 ? 1.0 : 0.0);
	r->maxabs = s->maxabs;
	r->has_wmse = j->imp != NULL;
	r->wmse = j->t->n_rows ? WM / (double)j->t->n_rows : 0;
	r->used_imatrix = j->imp && !r->rotate_block;
	if (j->o->crc && !plan) {
		r->has_crc = true;
		r->crc = s->crc;
	}
}

static int run_jobs(job *j, qp_err *e)
{
	size_t items = (size_t)j->n_measured * (size_t)j->n_chunks;
	j->sums = calloc(items ? items : 1, sizeof *j->sums);
	j->errs = calloc(items ? items : 1, sizeof *j->errs);
	if (j->plan)
		j->row_err = calloc((size_t)j->n_measured * (size_t)j->n_sel + 1,
				    sizeof *j->row_err);
	if (!j->sums || !j->errs || (j->plan && !j->row_err))
		return qp_fail(e, "out of memory");
	qp_parallel_for(j->o->threads, items, measure_chunk, j);
	for (size_t i = 0; i < items; i++)
		if (j->sums[i].status != 0) {
			*e = j->errs[i];
			return qp_fail_prefix(e, "tensor '%s'", j->t->name);
		}
	for (int m = 0; m < j->n_measured; m++) {
		chunk_sum total;
		merge(j->sums + (size_t)m * (size_t)j->n_chunks, j->n_chunks, &total);
		finish(&total, j, m, &j->res[j->measured[m]]);
	}
	return 0;
}

int qp_qerr_tensor(const qp_tensor_ref *t, const float *imp,
		   const qp_qerr_opts *o, qp_qerr_result *res, qp_err *e)
{
	int n = 0, measured[128];
	for (int i = 0; i < o->n_types; i++) {
		plan_result(t, o, o->types[i], 0, imp != NULL, &res[n++]);
		if (o->rotate_block > 0)
			plan_result(t, o, o->types[i], o->rotate_block, imp != NULL,
				    &res[n++]);
	}
	job j = {.t = t, .imp = imp, .o = o, .res = res, .measured = measured};
	for (int i = 0; i < n && j.n_measured < 128; i++)
		if (res[i].measured)
			measured[j.n_measured++] = i;
	bool sampling = o->sample_frac > 0 && o->sample_frac < 1;
	j.n_sel = t->n_rows;
	qp_row_plan plan = {0};
	if (sampling && j.n_measured) {
		if (qp_row_plan_make(t, o->sample_frac, o->seed, o->threads, &plan, e) < 0) {
			qp_row_plan_free(&plan);
			return qp_fail_prefix(e, "tensor '%s'", t->name);
		}
		j.plan = &plan;
		j.n_sel = plan.n_sel;
	}
	j.chunk_rows = t->row_len ? CHUNK_VALUES / t->row_len : 1;
	j.chunk_rows = j.chunk_rows < 1 ? 1 : j.chunk_rows;
	j.n_chunks = (j.n_sel + j.chunk_rows - 1) / j.chunk_rows;
	int status = j.n_measured && j.n_chunks ? run_jobs(&j, e) : 0;
	qp_row_plan_free(&plan);
	free(j.row_err);
	free(j.sums);
	free(j.errs);
	return status;
}
