/* sens.c — see sens.h. */
#include "sens.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svd.h"
#include "threads.h"

#define ENERGY_SLABS 16
#define CHUNK_VALUES 65536
#define SVD_SEED 0x5e25c0de

void qp_sens_opts_default(qp_sens_opts *o)
{
	*o = (qp_sens_opts){.n_threads = 1, .svd = true, .svd_rank = 64,
			    .svd_power_iters = 2,
			    .nv_sample_max = QP_SENS_NV_SAMPLE_MAX};
}

/* A tensor's rows as the parts read them: the statistics, the NV sample
 * and the SVD each read the tensor, so a small one is dequantized once and
 * served from memory (the same floats). */
#define CACHE_VALUES ((uint64_t)1 << 20)

typedef struct rows_src {
	const qp_tensor_ref *t;
	float *all; /* every row, or NULL: read from t */
} rows_src;

static int src_rows(const rows_src *r, int64_t row0, int64_t n_rows,
		    float *dst, qp_err *e)
{
	if (!r->all)
		return qp_tensor_rows_f32(r->t, row0, n_rows, dst, e);
	size_t len = (size_t)r->t->row_len;
	memcpy(dst, r->all + (size_t)row0 * len,
	       (size_t)n_rows * len * sizeof *dst);
	return 0;
}

static int tensor_rows(void *ctx, int64_t row0, int64_t n_rows, float *dst,
		       qp_err *e)
{
	return src_rows(ctx, row0, n_rows, dst, e);
}

/* A tensor that cannot be cached, or fails to read, is read by each part
 * as before (a read error then names the rows where it happened). */
static void src_open(rows_src *r, const qp_tensor_ref *t)
{
	*r = (rows_src){.t = t};
	if (t->n_elem > CACHE_VALUES)
		return;
	float *all = malloc((size_t)t->n_elem * sizeof *all);
	qp_err ignored;
	if (all && qp_tensor_rows_f32(t, 0, t->n_rows, all, &ignored) == 0)
		r->all = all;
	else
		free(all);
}

/* ---- pieces ------------------------------------------------------------- */

double qp_sens_role_weight(qp_family f)
{
	/* A prior by family: the output head and the router see every token
	 * and feed the logits or the routing directly; embeddings are looked
	 * up one row at a time; experts each see a share of the tokens. */
	static const double w[QP_FAM_COUNT] = {
		[QP_FAM_ATTENTION] = 1.0, [QP_FAM_FFN] = 1.0,
		[QP_FAM_EXPERT] = 0.8,    [QP_FAM_SHEXP] = 1.0,
		[QP_FAM_ROUTER] = 1.2,    [QP_FAM_NORM] = 1.0,
		[QP_FAM_EMBEDDING] = 0.7, [QP_FAM_OUTPUT] = 1.3,
		[QP_FAM_SSM] = 1.0,       [QP_FAM_OTHER] = 1.0,
	};
	return (unsigned)f < QP_FAM_COUNT ? w[f] : 1.0;
}

double qp_sens_depth_weight(int layer, int n_layer)
{
	if (layer < 0 || n_layer < 2)
		return 1.5;
	double t = (double)layer / (double)(n_layer - 1);
	if (t > 1)
		t = 1;
	return 1.0 + 0.5 * (2 * t - 1) * (2 * t - 1);
}

double qp_sens_spectral_energy(const double *sv, int n)
{
	double sum = 0, h = 0;
	for (int i = 0; i < n; i++)
		sum += sv[i];
	if (!(sum > 0))
		return 0;
	for (int i = 0; i < n; i++) {
		double p = sv[i] / sum;
		if (p > 0)
			h -= p * log(p);
	}
	return sum * exp(h);
}

double qp_sens_excess_kurtosis(const double *x, size_t n)
{
	if (n < 2)
		return NAN;
	double mean = 0;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	double m2 = 0, m4 = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (x[i] - mean) * (x[i] - mean);
		m2 += d;
		m4 += d * d;
	}
	m2 /= (double)n;
	m4 /= (double)n;
	return m2 > 0 ? m4 / (m2 * m2) - 3.0 : NAN;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median_sorted(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int qp_sens_mad_sigmoid(const double *x, size_t n, double *out, qp_err *e)
{
	double *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return qp_fail(e, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i]))
			v[k++] = x[i];
	double med = 0, scale = 0;
	if (k > 0) {
		qsort(v, k, sizeof *v, cmp_double);
		med = median_sorted(v, k);
		double mean_abs = 0;
		for (size_t i = 0; i < k; i++) {
			v[i] = fabs(v[i] - med);
			mean_abs += v[i];
		}
		mean_abs /= (double)k;
		qsort(v, k, sizeof *v, cmp_double);
		scale = 1.4826 * median_sorted(v, k);
		if (!(scale > 0))
			scale = 1.2533 * mean_abs;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(x[i]))
			out[i] = NAN;
		else if (!(scale > 0))
			out[i] = 0.5;
		else
			out[i] = 1.0 / (1.0 + exp(-(x[i] - med) / scale));
	}
	free(v);
	return 0;
}

/* ---- measuring one tensor ----------------------------------------------- */

static int nv_sample(const rows_src *src, int64_t max_values,
		     qp_sens_tensor *s, qp_err *e)
{
	const qp_tensor_ref *t = src->t;
	int64_t rows = t->n_rows, len = t->row_len;
	int64_t k = max_values / len;
	if (k < 1)
		k = 1;
	if (k > rows)
		k = rows;
	double *x = malloc((size_t)(k * len) * sizeof *x);
	float *row = malloc((size_t)len * sizeof *row);
	int rc = (x && row) ? 0 : qp_fail(e, "out of memory");
	size_t n = 0; /* NaN and infinities are left out */
	for (int64_t i = 0; i < k && rc == 0; i++) {
		int64_t r = k == rows ? i : (int64_t)((double)i * (double)rows / (double)k);
		rc = src_rows(src, r, 1, row, e);
		for (int64_t j = 0; j < len && rc == 0; j++)
			if (isfinite(row[j]))
				x[n++] = row[j];
	}
	if (rc == 0) {
		s->nv_n = (int64_t)n;
		s->nv_kurtosis = qp_sens_excess_kurtosis(x, n);
	}
	free(x);
	free(row);
	return rc;
}

typedef struct energy_run {
	const rows_src *src;
	const qp_tensor_ref *t;
	const qp_imatrix_entry *im;
	int64_t rows_per_expert, slab_rows;
	double slab[ENERGY_SLABS];
	qp_err errs[ENERGY_SLABS];
} energy_run;

static int energy_item(void *ctx, size_t s)
{
	energy_run *r = ctx;
	const qp_tensor_ref *t = r->t;
	int64_t len = t->row_len;
	int64_t row0 = (int64_t)s * r->slab_rows;
	int64_t row1 = row0 + r->slab_rows < t->n_rows ? row0 + r->slab_rows : t->n_rows;
	int64_t chunk = CHUNK_VALUES / len > 0 ? CHUNK_VALUES / len : 1;
	r->slab[s] = 0;
	if (row0 >= row1)
		return 0;
	float *buf = malloc((size_t)(chunk * len) * sizeof *buf);
	if (!buf)
		return qp_fail(&r->errs[s], "out of memory");
	double sum = 0;
	int rc = 0;
	for (int64_t c = row0; c < row1 && rc == 0; c += chunk) {
		int64_t nr = row1 - c < chunk ? row1 - c : chunk;
		rc = src_rows(r->src, c, nr, buf, &r->errs[s]);
		for (int64_t i = 0; i < nr && rc == 0; i++) {
			int64_t x = (c + i) / r->rows_per_expert;
			double cnt = r->im->counts[x];
			if (!(cnt > 0))
				continue; /* an expert that saw no tokens */
			const double *a = r->im->sum2 + x * len;
			const float *w = buf + i * len;
			for (int64_t j = 0; j < len; j++)
				if (isfinite(w[j])) /* non-finite: left out */
					sum += (double)w[j] * w[j] * (a[j] / cnt);
		}
	}
	r->slab[s] = sum;
	free(buf);
	return rc;
}

static int act_energy(const rows_src *src, const qp_imatrix_entry *im,
		      int n_threads, qp_sens_tensor *s, qp_err *e)
{
	const qp_tensor_ref *t = src->t;
	if (im->n_cols != t->row_len || t->n_rows % im->n_expert != 0)
		return qp_fail(e, "imatrix entry of %lld x %lld experts does not fit "
			       "rows of %lld (%lld rows)", (long long)im->n_cols,
			       (long long)im->n_expert, (long long)t->row_len,
			       (long long)t->n_rows);
	energy_run *r = calloc(1, sizeof *r);
	if (!r)
		return qp_fail(e, "out of memory");
	r->src = src;
	r->t = t;
	r->im = im;
	r->rows_per_expert = t->n_rows / im->n_expert;
	r->slab_rows = (t->n_rows + ENERGY_SLABS - 1) / ENERGY_SLABS;
	int rc = qp_parallel_for(n_threads, ENERGY_SLABS, energy_item, r);
	if (rc != 0) {
		for (int i = 0; i < ENERGY_SLABS; i++)
			if (r->errs[i].msg[0]) {
				*e = r->errs[i];
				break;
			}
	} else {
		double sum = 0;
		for (int i = 0; i < ENERGY_SLABS; i++)
			sum += r->slab[i];
		s->act_energy = sum;
		s->has_act = true;
	}
	free(r);
	return rc ? -1 : 0;
}

static int spectrum(const rows_src *src, const qp_sens_opts *o,
		    qp_sens_tensor *s, qp_err *e)
{
	const qp_tensor_ref *t = src->t;
	s->sv = malloc((size_t)o->svd_rank * sizeof *s->sv);
	if (!s->sv)
		return qp_fail(e, "out of memory");
	qp_svd_opts so = {.rank = o->svd_rank, .oversample = 8,
			  .power_iters = o->svd_power_iters, .seed = SVD_SEED,
			  .n_threads = o->n_threads};
	if (qp_svd_top(t->n_rows, t->row_len, tensor_rows, (void *)src, &so,
		       s->sv, &s->n_sv, e) < 0)
		return qp_fail_prefix(e, "SVD");
	s->se_raw = qp_sens_spectral_energy(s->sv, s->n_sv);
	return 0;
}

int qp_sens_measure(const qp_tensor_ref *t, const qp_imatrix_entry *imat,
		    const qp_sens_opts *o, qp_sens_tensor *s, qp_err *e)
{
	qp_tensor_name tn;
	qp_parse_tensor_name(t->name, &tn);
	*s = (qp_sens_tensor){
		.layer = tn.layer, .family = tn.family, .n_elem = (int64_t)t->n_elem,
		.is_matrix = t->row_len >= 2 && t->n_rows >= 2,
		.nv_kurtosis = NAN, .se_raw = NAN, .act_energy = NAN,
		.nv = NAN, .se = NAN, .nsds = NAN, .act = NAN,
		.w_role = NAN, .w_depth = NAN, .w_size = NAN, .score = NAN,
	};
	if (!t->data || t->n_elem == 0) {
		/* nothing to measure: the caller skips the tensor */
		s->skipped = true;
		s->is_matrix = false;
		if (!t->data)
			qp_fail(e, "type %s cannot be read (unknown to this "
				"build): left unscored", t->type_name);
		else
			qp_fail(e, "no elements (a dimension is 0): left unscored");
		return 1;
	}
	rows_src src;
	src_open(&src, t);
	qp_wstats_opts wo = {.n_threads = o->n_threads};
	int rc = qp_wstats_compute(t->ne, t->n_dims, tensor_rows, &src, &wo,
				   &s->ws, e);
	if (rc == 0)
		rc = nv_sample(&src, o->nv_sample_max, s, e);
	if (rc == 0 && s->is_matrix && o->svd)
		rc = spectrum(&src, o, s, e);
	if (rc == 0 && s->is_matrix && imat)
		rc = act_energy(&src, imat, o->n_threads, s, e);
	free(src.all);
	return rc;
}

void qp_sens_tensor_free(qp_sens_tensor *s)
{
	qp_wstats_free(&s->ws);
	free(s->sv);
	s->sv = NULL;
}

/* ---- the model ---------------------------------------------------------- */

typedef double (*field_fn)(const qp_sens_tensor *s);

static double get_nv(const qp_sens_tensor *s) { return s->nv_kurtosis; }
static double get_se(const qp_sens_tensor *s) { return s->se_raw; }
static double get_act(const qp_sens_tensor *s)
{
	return s->has_act && s->act_energy > 0 ? log(s->act_energy) : NAN;
}

/* MAD-sigmoid of get(t[i]) over the matrices; out[i] NaN elsewhere. */
static int normalise_field(const qp_sens_tensor *t, size_t n, field_fn get,
			   double *out, qp_err *e)
{
	double *x = malloc((n ? n : 1) * sizeof *x);
	if (!x)
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < n; i++)
		x[i] = t[i].is_matrix ? get(&t[i]) : NAN;
	int rc = qp_sens_mad_sigmoid(x, n, out, e);
	free(x);
	return rc;
}

static void combine(qp_sens_tensor *s, int n_layer, double mean_elem)
{
	s->w_role = qp_sens_role_weight(s->family);
	s->w_depth = qp_sens_depth_weight(s->layer, n_layer);
	s->w_size = mean_elem > 0 ? log1p((double)s->n_elem / mean_elem) : NAN;
	if (!s->is_matrix) {
		s->nsds = s->score = NAN;
		return;
	}
	double se = isnan(s->se) ? 0 : s->se;
	s->nsds = 1 - (1 - s->nv) * (1 - se);
	double base = isnan(s->act) ? s->nsds : 1 - (1 - s->nsds) * (1 - s->act);
	s->score = s->w_role * s->w_depth * s->w_size * base;
}

int qp_sens_normalise(qp_sens_tensor *t, size_t n, int n_layer, qp_err *e)
{
	double *nv = malloc((n ? n : 1) * sizeof *nv);
	double *se = malloc((n ? n : 1) * sizeof *se);
	double *act = malloc((n ? n : 1) * sizeof *act);
	int rc = (nv && se && act) ? 0 : qp_fail(e, "out of memory");
	if (rc == 0)
		rc = normalise_field(t, n, get_nv, nv, e);
	if (rc == 0)
		rc = normalise_field(t, n, get_se, se, e);
	if (rc == 0)
		rc = normalise_field(t, n, get_act, act, e);
	if (rc == 0) {
		int max_layer = -1;
		double sum_elem = 0, n_mat = 0;
		for (size_t i = 0; i < n; i++) {
			if (t[i].layer > max_layer)
				max_layer = t[i].layer;
			if (t[i].is_matrix) {
				sum_elem += (double)t[i].n_elem;
				n_mat++;
			}
		}
		if (n_layer <= 0)
			n_layer = max_layer + 1;
		for (size_t i = 0; i < n; i++) {
			t[i].nv = nv[i];
			t[i].se = se[i];
			t[i].act = act[i];
			combine(&t[i], n_layer, n_mat > 0 ? sum_elem / n_mat : 0);
		}
	}
	free(nv);
	free(se);
	free(act);
	return rc;
}
