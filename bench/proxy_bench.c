/* proxy_bench — proxy-fit's numbers at scale.
 *
 *   proxy_bench write FILE   a stream of 1,000 tensor records (a 142-layer
 *                            llama-shaped model) with qerr for 15 types,
 *                            then 50 measure records whose KLD comes from a
 *                            known additive law times 5% log-normal noise;
 *                            bench/proxy-fit.sh times proxy-fit on it.
 *   proxy_bench predict      in-process: fits the proxy on the same 50
 *                            runs, then predicts 10,000 random
 *                            configurations through the term table, next
 *                            to a plain pass summing the same number of
 *                            doubles (the floor) measured in the same run.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"
#include "proxy_fit.h"
#include "rec.h"

#define N_LAYER 142
#define N_TYPES 15
#define N_RUNS 50
#define N_CONFIGS 10000

static const char *const types[N_TYPES] = {
	"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q4_0", "Q4_1",
	"Q5_0", "Q5_1", "IQ4_NL", "IQ4_XS", "F16", "BF16", "MXFP4"};
static const double type_bits[N_TYPES] = {
	2.625, 3.4375, 4.5, 5.5, 6.5625, 8.5, 4.5, 5.0, 5.5, 6.0, 4.5, 4.25, 16, 16, 4.25};
static const char *const roles[] = {"attn_q", "attn_k", "attn_v", "attn_output",
				    "ffn_gate", "ffn_up", "ffn_down"};
static const double role_weight[] = {1.0, 0.8, 2.0, 1.5, 0.7, 0.9, 2.5};

/* CPU time of this process: the machine is shared, wall time is not
 * ours to measure. */
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void)
{
	rng = rng * 6364136223846793005u + 1442695040888963407u;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

typedef struct model {
	int n;
	char names[1100][64];
	double w[1100];      /* true sensitivity */
	double rel2[1100][N_TYPES];
	uint64_t n_elem[1100];
} model;

static void make_model(model *m)
{
	m->n = 0;
	for (int l = 0; l < N_LAYER; l++)
		for (int r = 0; r < 7; r++) {
			int i = m->n++;
			snprintf(m->names[i], sizeof m->names[i], "blk.%d.%s.weight", l, roles[r]);
			m->w[i] = role_weight[r] * (1 + 0.5 * l / (N_LAYER - 1.0));
			m->n_elem[i] = r < 4 ? 4096u * 4096 : 4096u * 11008;
		}
	const char *glob[] = {"token_embd.weight", "output.weight", "output_norm.weight",
			      "rope_freqs.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"};
	for (int g = 0; g < 6; g++) {
		int i = m->n++;
		snprintf(m->names[i], sizeof m->names[i], "%s", glob[g]);
		m->w[i] = g < 2 ? 3.0 : 0;
		m->n_elem[i] = g < 2 ? 4096u * 32000 : 4096;
	}
	for (int i = 0; i < m->n; i++)
		for (int k = 0; k < N_TYPES; k++)
			m->rel2[i][k] = pow(2.0, -2 * (type_bits[k] - 0.5)) * (0.7 + 0.6 * uniform());
}

static void pack_tensor(msgpack_packer *pk, const model *m, int i)
{
	bool norm = m->w[i] == 0;
	msgpack_pack_map(pk, norm ? 8 : 9);
	qp_pack_key_str(pk, "kind", "tensor");
	qp_pack_key_str(pk, "model", "bench");
	qp_pack_key_str(pk, "name", m->names[i]);
	qp_pack_key_int(pk, "layer", 0);
	qp_pack_key_str(pk, "role", "x");
	qp_pack_key_str(pk, "type", "F16");
	qp_pack_key_uint(pk, "n_elem", m->n_elem[i]);
	qp_pack_key_uint(pk, "n_bytes", 2 * m->n_elem[i]);
	if (norm)
		return;
	qp_pack_str(pk, "qerr");
	msgpack_pack_map(pk, N_TYPES);
	for (int k = 0; k < N_TYPES; k++) {
		qp_pack_str(pk, types[k]);
		msgpack_pack_map(pk, 6);
		qp_pack_key_str(pk, "as", types[k]);
		qp_pack_key_uint(pk, "n_bytes", (uint64_t)(type_bits[k] * (double)m->n_elem[i] / 8));
		qp_pack_key_double(pk, "bpw", type_bits[k]);
		qp_pack_key_double(pk, "mse", m->rel2[i][k] * 1e-4);
		qp_pack_key_double(pk, "rel", sqrt(m->rel2[i][k]));
		qp_pack_key_double(pk, "wmse", m->rel2[i][k] * 1.1e-4);
	}
}

/* Run r's type per tensor (index into types): a base type plus a few
 * role or layer-block overrides. */
static void make_config(const model *m, int *ty)
{
	int base = (int)(uniform() * 12);
	for (int i = 0; i < m->n; i++)
		ty[i] = base;
	int n_over = (int)(uniform() * 4);
	for (int o = 0; o < n_over; o++) {
		int t = (int)(uniform() * 12), role = (int)(uniform() * 7);
		int l0 = (int)(uniform() * N_LAYER), l1 = l0 + (int)(uniform() * 40);
		for (int l = l0; l < l1 && l < N_LAYER; l++)
			ty[l * 7 + role] = t;
	}
}

static double truth(const model *m, const int *ty, uint64_t total)
{
	double s = 0;
	for (int i = 0; i < m->n; i++)
		s += m->w[i] * m->rel2[i][ty[i]] * (double)m->n_elem[i] / (double)total;
	double noise = exp(0.05 * sqrt(-2 * log(uniform())) * cos(6.283185307 * uniform()));
	return 0.8 * s * noise;
}

static uint64_t total_elems(const model *m)
{
	uint64_t t = 0;
	for (int i = 0; i < m->n; i++)
		if (m->w[i] != 0)
			t += m->n_elem[i];
	return t;
}

static int write_stream(const char *path)
{
	static model m;
	make_model(&m);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 1;
	qp_writer *w = qp_writer_new(fd, false);
	qp_err e;
	msgpack_packer *pk = qp_writer_packer(w);
	msgpack_pack_map(pk, 4);
	qp_pack_key_str(pk, "kind", "model");
	qp_pack_key_str(pk, "id", "bench");
	qp_pack_key_str(pk, "arch", "llama");
	qp_pack_str(pk, "hyper");
	msgpack_pack_map(pk, 1);
	qp_pack_key_int(pk, "n_layer", N_LAYER);
	qp_writer_end(w, &e);
	for (int i = 0; i < m.n; i++) {
		pack_tensor(pk, &m, i);
		qp_writer_end(w, &e);
	}
	uint64_t total = total_elems(&m);
	int ty[1100];
	for (int r = 0; r < N_RUNS; r++) {
		make_config(&m, ty);
		msgpack_pack_map(pk, 5);
		qp_pack_key_str(pk, "kind", "measure");
		qp_pack_key_str(pk, "model", "bench");
		qp_pack_key_str(pk, "source", "bench");
		qp_pack_str(pk, "types");
		int named = 0;
		for (int i = 0; i < m.n; i++)
			named += m.w[i] != 0;
		msgpack_pack_map(pk, (uint32_t)named);
		for (int i = 0; i < m.n; i++)
			if (m.w[i] != 0)
				qp_pack_key_str(pk, m.names[i], types[ty[i]]);
		qp_pack_key_double(pk, "kld_mean", truth(&m, ty, total));
		qp_writer_end(w, &e);
	}
	int rc = qp_writer_close(w, &e);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "proxy_bench: %s: %s\n", path, e.msg);
		return 1;
	}
	printf("wrote %d tensor records x %d types and %d measures to %s\n", m.n, N_TYPES,
	       N_RUNS, path);
	return 0;
}

static int predict(void)
{
	static model m;
	make_model(&m);
	uint64_t total = total_elems(&m);
	/* Tensor records as msgpack objects, kept for the whole run. */
	msgpack_sbuffer *sb = calloc(1100, sizeof *sb);
	msgpack_unpacked *un = calloc(1100, sizeof *un);
	qp_proxy_tensor *t = calloc(1100, sizeof *t);
	qp_err e;
	for (int i = 0; i < m.n; i++) {
		msgpack_sbuffer_init(&sb[i]);
		msgpack_packer pk;
		msgpack_packer_init(&pk, &sb[i], msgpack_sbuffer_write);
		pack_tensor(&pk, &m, i);
		msgpack_unpacked_init(&un[i]);
		size_t off = 0;
		msgpack_unpack_next(&un[i], sb[i].data, sb[i].size, &off);
		qp_record rec = {0};
		rec.map = un[i].data;
		if (qp_proxy_tensor_from_record(&rec, N_LAYER, total, &t[i], &e) < 0) {
			fprintf(stderr, "proxy_bench: %s\n", e.msg);
			return 1;
		}
		/* The records say layer 0; the name tells the truth. */
		qp_tensor_name tn;
		qp_parse_tensor_name(t[i].name, &tn);
		t[i].layer = tn.layer;
	}
	/* 50 runs, fitted in-process. */
	static int ty[N_RUNS][1100];
	static const char *tyn[N_RUNS][1100];
	qp_fit_run runs[N_RUNS];
	for (int r = 0; r < N_RUNS; r++) {
		make_config(&m, ty[r]);
		for (int i = 0; i < m.n; i++)
			tyn[r][i] = m.w[i] != 0 ? types[ty[r][i]] : NULL;
		runs[r] = (qp_fit_run){truth(&m, ty[r], total), t, m.n, tyn[r]};
	}
	qp_fit_opts fo = {"kld_mean", 0.95, 0, -1, -1};
	qp_proxy *p = NULL;
	qp_fit_report rep;
	double t0 = now();
	if (qp_fit_proxy(runs, N_RUNS, &fo, &p, &rep, &e) < 0) {
		fprintf(stderr, "proxy_bench: %s\n", e.msg);
		return 1;
	}
	double t1 = now();
	printf("fit in-process (%d runs, %d tensors, %d candidates, LOO): %.3f s CPU; "
	       "form %s, LOO Spearman %.3f, LOO coverage %.2f\n", N_RUNS, m.n, rep.n_cand,
	       t1 - t0, qp_proxy_form_name(qp_proxy_form_used(p)), rep.loo_spearman,
	       rep.loo_coverage);
	qp_fit_report_free(&rep);
	/* 10,000 configurations. */
	int (*cfg)[1100] = malloc(sizeof(int[1100]) * N_CONFIGS);
	for (int c = 0; c < N_CONFIGS; c++)
		make_config(&m, cfg[c]);
	double *terms = malloc((size_t)m.n * N_TYPES * sizeof *terms);
	double t2 = now();
	qp_proxy_term_table(p, t, m.n, types, N_TYPES, terms);
	double sum_all = 0;
	for (int c = 0; c < N_CONFIGS; c++) {
		double s = 0;
		for (int i = 0; i < m.n; i++) {
			double v = terms[(size_t)i * N_TYPES + cfg[c][i]];
			s += isnan(v) ? 0 : v;
		}
		qp_pred pr;
		qp_proxy_predict(p, s, &pr);
		sum_all += pr.value;
	}
	double t3 = now();
	/* Floor: the same number of table reads, no proxy. */
	double floor_sum = 0;
	double t4 = now();
	for (int c = 0; c < N_CONFIGS; c++)
		for (int i = 0; i < m.n; i++)
		{
			double v = terms[(size_t)i * N_TYPES + cfg[c][i]];
			floor_sum += isnan(v) ? 0 : v * 0.5;
		}
	double t5 = now();
	printf("predict %d configurations x %d tensors: %.3f s CPU (term table included); "
	       "floor (sum the same %d doubles): %.3f s; ratio %.1f\n", N_CONFIGS, m.n,
	       t3 - t2, N_CONFIGS * m.n, t5 - t4, (t3 - t2) / (t5 - t4 > 0 ? t5 - t4 : 1e-9));
	printf("(checksums %.6g %.6g)\n", sum_all, floor_sum);
	qp_proxy_free(p);
	free(terms);
	free(cfg);
	for (int i = 0; i < m.n; i++) {
		msgpack_unpacked_destroy(&un[i]);
		msgpack_sbuffer_destroy(&sb[i]);
	}
	free(sb);
	free(un);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "write"))
		return write_stream(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "predict"))
		return predict();
	fprintf(stderr, "usage: proxy_bench write FILE | proxy_bench predict\n");
	return 2;
}
