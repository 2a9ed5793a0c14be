/* proxy.c — see proxy.h. */
#include "proxy.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "json.h"
#include "proxy_prior.h"

struct qp_proxy {
	char target[16];
	bool calibrated;
	qp_proxy_form form;
	qp_proxy_metric metric;
	double power;
	int n_coef;
	char (*coef_names)[112];
	double *coef;
	double coef_default;
	double level, eps, widen, loo_coverage;
	double q;
	int saturated;
	int n_resid;
	double *abs_resid;
};

static const char *const metric_names[QP_METRIC_COUNT] = {"wmse", "mse", "rel2"};
static const char *const form_names[QP_FORM_COUNT] = {
	"total", "family", "family-depth", "role", "role-depth"};

const char *qp_proxy_metric_name(qp_proxy_metric m)
{
	return (unsigned)m < QP_METRIC_COUNT ? metric_names[m] : "?";
}

const char *qp_proxy_form_name(qp_proxy_form f)
{
	return (unsigned)f < QP_FORM_COUNT ? form_names[f] : "?";
}

/* ---- tensors ------------------------------------------------------------ */

static void obj_to_buf(const msgpack_object *o, char *buf, size_t size)
{
	size_t n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = 0;
}

int qp_proxy_tensor_from_record(const qp_record *rec, int n_layer,
				uint64_t n_elem_total, qp_proxy_tensor *t,
				qp_err *e)
{
	memset(t, 0, sizeof *t);
	const msgpack_object *name = qp_rec_field(rec, "name", MSGPACK_OBJECT_STR, e);
	if (!name)
		return -1;
	if (name->via.str.size >= sizeof t->name)
		return qp_fail(e, "tensor name of %u bytes is too long",
			       (unsigned)name->via.str.size);
	obj_to_buf(name, t->name, sizeof t->name);
	qp_tensor_name tn;
	qp_parse_tensor_name(t->name, &tn);
	memcpy(t->role, tn.role, sizeof t->role);
	t->family = tn.family;
	t->layer = tn.layer;
	t->n_layer = n_layer > 0 ? n_layer : 1;
	const msgpack_object *type = qp_map_get(&rec->map, "type");
	if (type && type->type == MSGPACK_OBJECT_STR)
		obj_to_buf(type, t->base_type, sizeof t->base_type);
	uint64_t n_elem = 0;
	if (qp_rec_uint(rec, "n_elem", &n_elem, e) < 0)
		return -1;
	t->n_elem = n_elem;
	t->n_elem_total = n_elem_total;
	const msgpack_object *nb = qp_map_get(&rec->map, "n_bytes");
	if (nb && nb->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		t->n_bytes = nb->via.u64;
	const msgpack_object *q = qp_map_get(&rec->map, "qerr");
	if (q && q->type == MSGPACK_OBJECT_MAP)
		t->qerr = q;
	else if (q && q->type != MSGPACK_OBJECT_NIL)
		return qp_fail(e, "tensor %s: qerr is a %s, not a map", t->name,
			       qp_obj_type_name(q->type));
	const msgpack_object *s = qp_map_get(&rec->map, "sens");
	if (s && s->type == MSGPACK_OBJECT_MAP)
		t->sens = s;
	return 0;
}

static int float_width(const char *type)
{
	if (!strcmp(type, "F32"))
		return 32;
	if (!strcmp(type, "F16") || !strcmp(type, "BF16"))
		return 16;
	if (!strcmp(type, "F64"))
		return 64;
	return 0;
}

bool qp_proxy_type_is_unquantized(const char *base_type, const char *type)
{
	if (!strcmp(base_type, type))
		return true;
	int wb = float_width(base_type), wt = float_width(type);
	/* A float type at least as wide as the base's keeps every value. */
	return wt > 0 && wb > 0 && wt >= wb && !(wb == 16 && wt == 16);
}

static bool num_of(const msgpack_object *o, double *v)
{
	return qp_obj_number(o, v);
}

int qp_proxy_atom(const qp_proxy_tensor *t, const char *type,
		  qp_proxy_metric m, double *atom, qp_err *e)
{
	*atom = 0;
	if (qp_proxy_type_is_unquantized(t->base_type, type))
		return 0;
	const msgpack_object *ent = NULL;
	if (t->qerr) {
		msgpack_object_kv *kv = t->qerr->via.map.ptr;
		for (uint32_t i = 0; i < t->qerr->via.map.size; i++)
			if (qp_obj_str_eq(&kv[i].key, type)) {
				ent = &kv[i].val;
				break;
			}
	}
	if (!ent || ent->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "tensor %s: no qerr.%s measured (run qerr-measure -t %s)",
			       t->name, type, type);
	const msgpack_object *as = qp_map_get(ent, "as");
	if (as && as->type == MSGPACK_OBJECT_NIL)
		return qp_fail(e, "tensor %s: llama-quantize cannot write it as %s (qerr.%s.as is nil)",
			       t->name, type, type);
	if (as && as->type == MSGPACK_OBJECT_STR && t->base_type[0]) {
		char as_name[16];
		obj_to_buf(as, as_name, sizeof as_name);
		if (qp_proxy_type_is_unquantized(t->base_type, as_name))
			return 0;
	}
	double v = NAN;
	bool have;
	switch (m) {
	case QP_METRIC_WMSE:
		have = num_of(qp_map_get(ent, "wmse"), &v) ||
		       num_of(qp_map_get(ent, "mse"), &v);
		break;
	case QP_METRIC_MSE:
		have = num_of(qp_map_get(ent, "mse"), &v);
		break;
	default:
		have = num_of(qp_map_get(ent, "rel"), &v);
		v = v * v;
		break;
	}
	if (!have || !isfinite(v) || v < 0) {
		const msgpack_object *note = qp_map_get(ent, "note");
		char nb[192] = "";
		if (note && note->type == MSGPACK_OBJECT_STR)
			obj_to_buf(note, nb, sizeof nb);
		return qp_fail(e, "tensor %s: qerr.%s has no %s%s%s", t->name, type,
			       m == QP_METRIC_REL2 ? "rel" : "mse", nb[0] ? ": " : "", nb);
	}
	double share = t->n_elem_total > 0 ? (double)t->n_elem / (double)t->n_elem_total : 0;
	*atom = v * share;
	return 0;
}

static const char *family_key(qp_family f)
{
	return qp_family_name(f);
}

int qp_proxy_groups(qp_proxy_form f, const qp_proxy_tensor *t,
		    char names[2][112], double weights[2])
{
	const char *base;
	switch (f) {
	case QP_FORM_TOTAL:
		snprintf(names[0], 112, "all");
		weights[0] = 1;
		return 1;
	case QP_FORM_FAMILY:
	case QP_FORM_FAMILY_DEPTH:
		base = family_key(t->family);
		break;
	default:
		base = t->role;
		break;
	}
	bool depth = (f == QP_FORM_FAMILY_DEPTH || f == QP_FORM_ROLE_DEPTH) && t->layer >= 0;
	if (!depth) {
		snprintf(names[0], 112, "%s", base);
		weights[0] = 1;
		return 1;
	}
	double d = t->n_layer > 1 ? (double)t->layer / (double)(t->n_layer - 1) : 0;
	if (d > 1)
		d = 1;
	snprintf(names[0], 112, "%s@0", base);
	snprintf(names[1], 112, "%s@1", base);
	weights[0] = 1 - d;
	weights[1] = d;
	return 2;
}

/* ---- construction -------------------------------------------------------- */

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

int qp_proxy_new(const qp_proxy_spec *s, qp_proxy **out, qp_err *e)
{
	*out = NULL;
	if (strcmp(s->target, "kld_mean") && strcmp(s->target, "ln_ppl_ratio"))
		return qp_fail(e, "unknown target '%s' (kld_mean or ln_ppl_ratio)", s->target);
	if ((unsigned)s->form >= QP_FORM_COUNT || (unsigned)s->metric >= QP_METRIC_COUNT)
		return qp_fail(e, "unknown form or metric");
	if (!(s->power > 0) || !isfinite(s->power))
		return qp_fail(e, "link power must be positive, not %g", s->power);
	if (!(s->level > 0 && s->level < 1))
		return qp_fail(e, "interval level must be in (0, 1), not %g", s->level);
	if (!(s->eps > 0) || !(s->widen >= 1) || s->n_resid < 1 || s->n_coef < 0)
		return qp_fail(e, "interval needs eps > 0, widen >= 1 and at least one residual");
	if (!(s->coef_default >= 0) || !isfinite(s->coef_default))
		return qp_fail(e, "coef_default must be a finite number >= 0");
	qp_proxy *p = calloc(1, sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	snprintf(p->target, sizeof p->target, "%s", s->target);
	p->calibrated = s->calibrated;
	p->form = s->form;
	p->metric = s->metric;
	p->power = s->power;
	p->n_coef = s->n_coef;
	p->coef_default = s->coef_default;
	p->level = s->level;
	p->eps = s->eps;
	p->widen = s->widen;
	p->loo_coverage = s->loo_coverage;
	p->n_resid = s->n_resid;
	p->coef_names = calloc((size_t)(s->n_coef ? s->n_coef : 1), sizeof *p->coef_names);
	p->coef = calloc((size_t)(s->n_coef ? s->n_coef : 1), sizeof *p->coef);
	p->abs_resid = malloc((size_t)s->n_resid * sizeof *p->abs_resid);
	if (!p->coef_names || !p->coef || !p->abs_resid) {
		qp_proxy_free(p);
		return qp_fail(e, "out of memory");
	}
	for (int i = 0; i < s->n_coef; i++) {
		if (!(s->coef[i] >= 0) || !isfinite(s->coef[i])) {
			qp_fail(e, "coefficient %s is %g: coefficients are finite and >= 0",
				s->coef_names[i], s->coef[i]);
			qp_proxy_free(p);
			return -1;
		}
		snprintf(p->coef_names[i], sizeof p->coef_names[i], "%s", s->coef_names[i]);
		p->coef[i] = s->coef[i];
	}
	for (int i = 0; i < s->n_resid; i++) {
		if (!(s->abs_resid[i] >= 0) || !isfinite(s->abs_resid[i])) {
			qp_fail(e, "held-out residual %d is %g, not a finite value >= 0", i,
				s->abs_resid[i]);
			qp_proxy_free(p);
			return -1;
		}
		p->abs_resid[i] = s->abs_resid[i];
	}
	qsort(p->abs_resid, (size_t)p->n_resid, sizeof *p->abs_resid, cmp_double);
	p->q = qp_conformal_q(p->abs_resid, p->n_resid, p->level, &p->saturated);
	*out = p;
	return 0;
}

void qp_proxy_free(qp_proxy *p)
{
	if (!p)
		return;
	free(p->coef_names);
	free(p->coef);
	free(p->abs_resid);
	free(p);
}

const char *qp_proxy_target(const qp_proxy *p) { return p->target; }
qp_proxy_form qp_proxy_form_used(const qp_proxy *p) { return p->form; }
qp_proxy_metric qp_proxy_metric_used(const qp_proxy *p) { return p->metric; }
bool qp_proxy_calibrated(const qp_proxy *p) { return p->calibrated; }

/* ---- term and prediction ---------------------------------------------- */

static double coef_of(const qp_proxy *p, const char *name)
{
	/* Few coefficients (tens): a linear scan beats a hash here. */
	for (int i = 0; i < p->n_coef; i++)
		if (!strcmp(p->coef_names[i], name))
			return p->coef[i];
	return p->coef_default;
}

double qp_proxy_weight(const qp_proxy *p, const qp_proxy_tensor *t)
{
	char names[2][112];
	double w[2];
	int k = qp_proxy_groups(p->form, t, names, w);
	double c = 0;
	for (int i = 0; i < k; i++)
		c += w[i] * coef_of(p, names[i]);
	return c;
}

int qp_proxy_term(const qp_proxy *p, const qp_proxy_tensor *t,
		  const char *type, double *term, qp_err *e)
{
	double atom;
	*term = 0;
	if (qp_proxy_atom(t, type, p->metric, &atom, e) < 0)
		return -1;
	if (atom == 0)
		return 0;
	*term = qp_proxy_weight(p, t) * atom;
	return 0;
}

void qp_proxy_term_table(const qp_proxy *p, const qp_proxy_tensor *tensors,
			 int n_tensors, const char *const *types, int n_types,
			 double *terms)
{
	for (int i = 0; i < n_tensors; i++)
		for (int k = 0; k < n_types; k++) {
			double v;
			terms[(size_t)i * n_types + k] =
				qp_proxy_term(p, &tensors[i], types[k], &v, NULL) < 0 ? NAN : v;
		}
}

static void predict_q(const qp_proxy *p, double sum, double q, double level,
		      qp_pred *out)
{
	double v = sum > 0 ? pow(sum, p->power) : 0;
	double half = q * p->widen;
	out->value = v;
	out->lo = (v + p->eps) * exp(-half) - p->eps;
	out->hi = (v + p->eps) * exp(half) - p->eps;
	/* A fit record's link or width can overflow (inf * exp(-inf) is NaN):
	 * the interval still brackets the value, a loss is never negative. */
	if (!(out->lo >= 0))
		out->lo = 0;
	if (out->lo > v)
		out->lo = v;
	if (!(out->hi >= v))
		out->hi = isnan(out->hi) ? INFINITY : v;
	out->level = level;
	out->calibrated = p->calibrated;
}

void qp_proxy_predict(const qp_proxy *p, double sum, qp_pred *out)
{
	predict_q(p, sum, p->q, p->level, out);
}

void qp_proxy_predict_at(const qp_proxy *p, double sum, double level,
			 qp_pred *out)
{
	if (!(level > 0 && level < 1) || level == p->level) {
		qp_proxy_predict(p, sum, out);
		return;
	}
	int sat;
	double q = qp_conformal_q(p->abs_resid, p->n_resid, level, &sat);
	predict_q(p, sum, q, level, out);
}

/* ---- the fit record ---------------------------------------------------- */

void qp_proxy_pack_fields(const qp_proxy *p, msgpack_packer *pk)
{
	qp_pack_key_str(pk, "target", p->target);
	qp_pack_key_bool(pk, "calibrated", p->calibrated);
	qp_pack_key_str(pk, "form", form_names[p->form]);
	qp_pack_key_str(pk, "metric", metric_names[p->metric]);
	qp_pack_str(pk, "link");
	msgpack_pack_map(pk, 2);
	qp_pack_key_str(pk, "name", p->power == 1 ? "linear" : "power");
	qp_pack_key_double(pk, "power", p->power);
	qp_pack_str(pk, "coef");
	msgpack_pack_map(pk, (uint32_t)p->n_coef);
	for (int i = 0; i < p->n_coef; i++)
		qp_pack_key_double(pk, p->coef_names[i], p->coef[i]);
	qp_pack_key_double(pk, "coef_default", p->coef_default);
	qp_pack_str(pk, "interval");
	msgpack_pack_map(pk, 8);
	qp_pack_key_str(pk, "method", p->calibrated ? "jackknife-log" : "cross-model-transfer");
	qp_pack_key_double(pk, "level", p->level);
	qp_pack_key_double(pk, "q", p->q * p->widen);
	qp_pack_key_double(pk, "eps", p->eps);
	qp_pack_key_double(pk, "widen", p->widen);
	qp_pack_key_bool(pk, "saturated", p->saturated != 0);
	if (isfinite(p->loo_coverage))
		qp_pack_key_double(pk, "loo_coverage", p->loo_coverage);
	else {
		qp_pack_str(pk, "loo_coverage");
		msgpack_pack_nil(pk);
	}
	qp_pack_str(pk, "resid");
	msgpack_pack_array(pk, (size_t)p->n_resid);
	for (int i = 0; i < p->n_resid; i++)
		msgpack_pack_double(pk, p->abs_resid[i]);
}

static int get_num(const msgpack_object *map, const char *key, double *v,
		   qp_err *e)
{
	if (!num_of(qp_map_get(map, key), v))
		return qp_fail(e, "fit record: %s is missing or not a number", key);
	return 0;
}

static int get_str(const msgpack_object *map, const char *key, char *buf,
		   size_t size, qp_err *e)
{
	const msgpack_object *o = qp_map_get(map, key);
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return qp_fail(e, "fit record: %s is missing or not a string", key);
	obj_to_buf(o, buf, size);
	return 0;
}

int qp_proxy_from_fit(const msgpack_object *fit, qp_proxy **p, qp_err *e)
{
	*p = NULL;
	if (fit->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "fit record is not a map");
	char target[32], form[32], metric[16];
	qp_proxy_spec s = {0};
	if (get_str(fit, "target", target, sizeof target, e) < 0 ||
	    get_str(fit, "form", form, sizeof form, e) < 0 ||
	    get_str(fit, "metric", metric, sizeof metric, e) < 0)
		return -1;
	s.target = target;
	s.form = QP_FORM_COUNT;
	for (int i = 0; i < QP_FORM_COUNT; i++)
		if (!strcmp(form, form_names[i]))
			s.form = (qp_proxy_form)i;
	s.metric = QP_METRIC_COUNT;
	for (int i = 0; i < QP_METRIC_COUNT; i++)
		if (!strcmp(metric, metric_names[i]))
			s.metric = (qp_proxy_metric)i;
	if (s.form == QP_FORM_COUNT)
		return qp_fail(e, "fit record: unknown form '%s'", form);
	if (s.metric == QP_METRIC_COUNT)
		return qp_fail(e, "fit record: unknown metric '%s'", metric);
	const msgpack_object *cal = qp_map_get(fit, "calibrated");
	if (!cal || cal->type != MSGPACK_OBJECT_BOOLEAN)
		return qp_fail(e, "fit record: calibrated is missing or not a bool");
	s.calibrated = cal->via.boolean;
	const msgpack_object *link = qp_map_get(fit, "link");
	if (!link || link->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "fit record: link is missing or not a map");
	if (get_num(link, "power", &s.power, e) < 0 ||
	    get_num(fit, "coef_default", &s.coef_default, e) < 0)
		return -1;
	const msgpack_object *coef = qp_map_get(fit, "coef");
	if (!coef || coef->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "fit record: coef is missing or not a map");
	const msgpack_object *iv = qp_map_get(fit, "interval");
	if (!iv || iv->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "fit record: interval is missing or not a map");
	if (get_num(iv, "level", &s.level, e) < 0 || get_num(iv, "eps", &s.eps, e) < 0 ||
	    get_num(iv, "widen", &s.widen, e) < 0)
		return -1;
	s.loo_coverage = NAN;
	num_of(qp_map_get(iv, "loo_coverage"), &s.loo_coverage);
	const msgpack_object *res = qp_map_get(iv, "resid");
	if (!res || res->type != MSGPACK_OBJECT_ARRAY || res->via.array.size == 0)
		return qp_fail(e, "fit record: interval.resid is missing or empty");
	uint32_t nc = coef->via.map.size, nr = res->via.array.size;
	const char **names = calloc(nc ? nc : 1, sizeof *names);
	char (*nbuf)[112] = calloc(nc ? nc : 1, sizeof *nbuf);
	double *cv = calloc(nc ? nc : 1, sizeof *cv), *rv = calloc(nr, sizeof *rv);
	int rc = 0;
	if (!names || !nbuf || !cv || !rv) {
		rc = qp_fail(e, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < nc; i++) {
		const msgpack_object_kv *kv = &coef->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || !num_of(&kv->val, &cv[i])) {
			rc = qp_fail(e, "fit record: coef %u is not NAME: number", i);
			goto out;
		}
		obj_to_buf(&kv->key, nbuf[i], sizeof nbuf[i]);
		names[i] = nbuf[i];
	}
	for (uint32_t i = 0; i < nr; i++)
		if (!num_of(&res->via.array.ptr[i], &rv[i])) {
			rc = qp_fail(e, "fit record: interval.resid[%u] is not a number", i);
			goto out;
		}
	s.n_coef = (int)nc;
	s.coef_names = names;
	s.coef = cv;
	s.n_resid = (int)nr;
	s.abs_resid = rv;
	/* The packed q is the widened one; residuals are what it came from. */
	rc = qp_proxy_new(&s, p, e);
	if (rc < 0)
		qp_fail_prefix(e, "fit record");
out:
	free(names);
	free(nbuf);
	free(cv);
	free(rv);
	return rc;
}

int qp_proxy_prior(const char *target, qp_proxy **p, qp_err *e)
{
	*p = NULL;
	if (!target)
		target = "kld_mean";
	const char *text = qp_proxy_prior_text(target);
	if (!text)
		return qp_fail(e, "no built-in prior for target '%s'", target);
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		return qp_fail(e, "built-in prior: line %d: %s", je.line, je.text);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int rc = qp_json_to_msgpack(j, &pk, e);
	json_decref(j);
	if (rc == 0) {
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		size_t off = 0;
		if (msgpack_unpack_next(&u, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS)
			rc = qp_fail(e, "built-in prior: cannot decode");
		else
			rc = qp_proxy_from_fit(&u.data, p, e);
		msgpack_unpacked_destroy(&u);
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}
