/* profile.c — see profile.h. */
#include "profile.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

static int64_t hyper_int(const msgpack_object *hyper, const char *key)
{
	const msgpack_object *v = hyper ? qp_map_get(hyper, key) : NULL;
	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    v->via.u64 <= INT64_MAX)
		return (int64_t)v->via.u64;
	return -1;
}

void qp_profile_hyper_from_model(const msgpack_object *model_map,
				 qp_profile_hyper *h)
{
	const msgpack_object *hy = model_map ? qp_map_get(model_map, "hyper") : NULL;
	if (hy && hy->type != MSGPACK_OBJECT_MAP)
		hy = NULL;
	*h = (qp_profile_hyper){
		hyper_int(hy, "n_layer"), hyper_int(hy, "n_embd"),
		hyper_int(hy, "n_ff"), hyper_int(hy, "n_head"),
		hyper_int(hy, "n_head_kv"), hyper_int(hy, "head_dim"),
		hyper_int(hy, "n_vocab"), hyper_int(hy, "n_ctx_train"),
		hyper_int(hy, "n_expert"), hyper_int(hy, "n_expert_used"),
		hyper_int(hy, "sliding_window"),
	};
}

typedef struct sums {
	double params, bytes;
	int64_t n;
} sums;

static void add(sums *s, const qp_profile_tensor *t)
{
	s->params += (double)t->n_elem;
	s->bytes += (double)t->n_bytes;
	s->n++;
}

/* n_tensors, n_params, n_bytes, bpw of s into the map m. */
static void sums_entries(qp_mapw *m, const sums *s)
{
	msgpack_pack_int64(qp_mapw_key(m, "n_tensors"), s->n);
	msgpack_pack_int64(qp_mapw_key(m, "n_params"), (int64_t)s->params);
	msgpack_pack_int64(qp_mapw_key(m, "n_bytes"), (int64_t)s->bytes);
	qp_pack_num(qp_mapw_key(m, "bpw"),
		    s->params > 0 ? 8 * s->bytes / s->params : NAN);
}

static void pack_sums(msgpack_packer *pk, const sums *s)
{
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	sums_entries(&m, s);
	qp_mapw_end(&m);
}

static int cmp_type(const void *a, const void *b)
{
	return strcmp(((const qp_profile_tensor *const *)a)[0]->type,
		      ((const qp_profile_tensor *const *)b)[0]->type);
}

static int pack_by_type(qp_mapw *top, const qp_profile_tensor *t,
			size_t n, qp_err *e)
{
	const qp_profile_tensor **p = malloc((n ? n : 1) * sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < n; i++)
		p[i] = &t[i];
	qsort(p, n, sizeof *p, cmp_type);
	qp_mapw m;
	qp_mapw_begin(&m, qp_mapw_key(top, "by_type"));
	for (size_t i = 0; i < n;) {
		sums s = {0};
		size_t j = i;
		while (j < n && strcmp(p[j]->type, p[i]->type) == 0)
			add(&s, p[j++]);
		pack_sums(qp_mapw_key(&m, p[i]->type), &s);
		i = j;
	}
	qp_mapw_end(&m);
	free(p);
	return 0;
}

static void pack_by_family(qp_mapw *top, const qp_profile_tensor *t,
			   size_t n)
{
	sums f[QP_FAM_COUNT] = {{0}};
	for (size_t i = 0; i < n; i++)
		add(&f[(unsigned)t[i].family < QP_FAM_COUNT ? t[i].family : QP_FAM_OTHER], &t[i]);
	qp_mapw m;
	qp_mapw_begin(&m, qp_mapw_key(top, "by_family"));
	for (int i = 0; i < QP_FAM_COUNT; i++)
		if (f[i].n > 0)
			pack_sums(qp_mapw_key(&m, qp_family_name((qp_family)i)), &f[i]);
	qp_mapw_end(&m);
}

static int pack_layers(qp_mapw *top, const qp_profile_tensor *t,
		       size_t n, qp_err *e)
{
	int max_layer = -1;
	for (size_t i = 0; i < n; i++)
		if (t[i].layer > max_layer)
			max_layer = t[i].layer;
	sums *l = calloc((size_t)max_layer + 2, sizeof *l); /* [0] = global */
	if (!l)
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < n; i++)
		add(&l[t[i].layer < 0 ? 0 : t[i].layer + 1], &t[i]);
	pack_sums(qp_mapw_key(top, "global"), &l[0]);
	msgpack_packer *pk = qp_mapw_key(top, "layers");
	msgpack_pack_array(pk, (size_t)max_layer + 1);
	for (int i = 1; i <= max_layer + 1; i++)
		pack_sums(pk, &l[i]);
	free(l);
	return 0;
}

typedef struct decode {
	int64_t n_expert, n_used;
	double params_total, params_active, bytes_per_token;
} decode;

static decode decode_cost(const qp_profile_tensor *t, size_t n,
			  const qp_profile_hyper *h)
{
	decode d = {h->n_expert, h->n_expert_used, 0, 0, 0};
	bool has_output = false;
	for (size_t i = 0; i < n; i++) {
		has_output |= t[i].family == QP_FAM_OUTPUT;
		if (d.n_expert < 0 && t[i].family == QP_FAM_EXPERT && t[i].n_dims >= 3)
			d.n_expert = t[i].ne[2];
	}
	bool moe = d.n_expert > 0 && d.n_used > 0 && d.n_used <= d.n_expert;
	double share = moe ? (double)d.n_used / (double)d.n_expert : 1.0;
	for (size_t i = 0; i < n; i++) {
		double p = (double)t[i].n_elem, b = (double)t[i].n_bytes;
		d.params_total += p;
		if (t[i].family == QP_FAM_EXPERT) {
			d.params_active += p * share;
			d.bytes_per_token += b * share;
		} else if (t[i].family == QP_FAM_EMBEDDING && has_output &&
			   t[i].n_dims >= 2 && t[i].ne[1] > 0) {
			d.params_active += p;
			d.bytes_per_token += b / (double)t[i].ne[1];
		} else {
			d.params_active += p;
			d.bytes_per_token += b;
		}
	}
	return d;
}

static void pack_arch(qp_mapw *top, const qp_profile_hyper *h,
		      const decode *d)
{
	qp_mapw m;
	qp_mapw_begin(&m, qp_mapw_key(top, "arch"));
	qp_pack_count(qp_mapw_key(&m, "n_layer"), h->n_layer);
	qp_pack_count(qp_mapw_key(&m, "n_embd"), h->n_embd);
	qp_pack_count(qp_mapw_key(&m, "n_head"), h->n_head);
	qp_pack_count(qp_mapw_key(&m, "n_head_kv"), h->n_head_kv);
	qp_pack_count(qp_mapw_key(&m, "head_dim"), h->head_dim);
	qp_pack_num(qp_mapw_key(&m, "gqa_ratio"),
		    h->n_head > 0 && h->n_head_kv > 0
			    ? (double)h->n_head / (double)h->n_head_kv : NAN);
	qp_pack_count(qp_mapw_key(&m, "sliding_window"), h->sliding_window);
	qp_pack_count(qp_mapw_key(&m, "n_ctx_train"), h->n_ctx_train);
	qp_pack_count(qp_mapw_key(&m, "n_expert"), d->n_expert);
	qp_pack_count(qp_mapw_key(&m, "n_expert_used"), d->n_used);
	qp_mapw_end(&m);
}

int qp_profile_pack(msgpack_packer *pk, const char *model_id, size_t id_len,
		    const qp_profile_tensor *t, size_t n,
		    const qp_profile_hyper *h, double mem_bw_gbs, qp_err *e)
{
	sums all = {0};
	for (size_t i = 0; i < n; i++)
		add(&all, &t[i]);
	decode d = decode_cost(t, n, h);
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	qp_pack_str(qp_mapw_key(&m, "kind"), "profile");
	qp_pack_strn(qp_mapw_key(&m, "model"), model_id, id_len);
	sums_entries(&m, &all);
	pack_by_family(&m, t, n);
	if (pack_by_type(&m, t, n, e) < 0 || pack_layers(&m, t, n, e) < 0) {
		qp_mapw_drop(&m);
		return -1;
	}
	pack_arch(&m, h, &d);
	msgpack_pack_int64(qp_mapw_key(&m, "params_total"), (int64_t)d.params_total);
	msgpack_pack_int64(qp_mapw_key(&m, "params_active"),
			   (int64_t)(d.params_active + 0.5));
	msgpack_pack_int64(qp_mapw_key(&m, "bytes_per_token"),
			   (int64_t)(d.bytes_per_token + 0.5));
	if (mem_bw_gbs > 0) {
		msgpack_pack_double(qp_mapw_key(&m, "mem_bw_gbs"), mem_bw_gbs);
		msgpack_pack_double(qp_mapw_key(&m, "tok_per_s"),
				    d.bytes_per_token > 0
					    ? mem_bw_gbs * 1e9 / d.bytes_per_token
					    : 0);
		msgpack_pack_double(qp_mapw_key(&m, "ms_per_token"),
				    d.bytes_per_token / (mem_bw_gbs * 1e9) * 1e3);
	}
	qp_mapw_end(&m);
	return 0;
}

void qp_profile_tensor_from_ref(const qp_tensor_ref *t, qp_profile_tensor *p)
{
	snprintf(p->name, sizeof p->name, "%s", t->name);
	snprintf(p->type, sizeof p->type, "%s", t->type_name);
	p->n_elem = (int64_t)t->n_elem;
	p->n_bytes = t->n_bytes;
	p->n_dims = t->n_dims;
	memcpy(p->ne, t->ne, sizeof p->ne);
	qp_tensor_name tn;
	qp_parse_tensor_name(t->name, &tn);
	p->layer = tn.layer;
	p->family = tn.family;
}
