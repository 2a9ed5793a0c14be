/* measure_rec.c — measure records (see measure_rec.h). */
#include "measure_rec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checked.h"
#include "cli.h"
#include "gguf.h"
#include "mapfile.h"
#include "rec.h"
#include "types.h"

void qp_model_file_free(qp_model_file *m)
{
	for (uint64_t i = 0; i < m->n_tensors; i++)
		free(m->tensors[i].name);
	free(m->tensors);
	*m = (qp_model_file){0};
}

/* Adds one shard's tensors to m. */
static int add_shard(const char *path, qp_model_file *m, qp_gguf *g,
		     qp_map *map, qp_err *e)
{
	if (qp_map_open(path, map, e) < 0)
		return -1;
	if (qp_gguf_parse(map->data, map->size, map->size, g, e) != 0)
		return -1;
	qp_model_tensor *t = realloc(m->tensors, (size_t)(m->n_tensors + g->n_tensors + 1) *
				     sizeof *t);
	if (!t)
		return qp_fail(e, "out of memory");
	m->tensors = t;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const qp_gguf_tensor *gt = &g->tensors[i];
		char *name = qp_gguf_strdup(gt->name);
		if (!name)
			return qp_fail(e, "out of memory");
		qp_model_tensor *mt = &m->tensors[m->n_tensors++];
		mt->name = name;
		char tbuf[24];
		snprintf(mt->type, sizeof mt->type, "%s", qp_type_name(gt->type, tbuf));
		if (!gt->size_known)
			return qp_fail(e, "tensor '%s' has type id %u, whose size is "
				       "unknown: cannot count the file's bytes", name, gt->type);
		if (!ck_add_u64(m->n_bytes, gt->n_bytes, &m->n_bytes) ||
		    !ck_add_u64(m->n_elem, gt->n_elem, &m->n_elem))
			return qp_fail(e, "tensor sizes overflow 64 bits");
	}
	m->file_bytes += map->size;
	return 0;
}

int qp_model_file_read(const char *path, qp_model_file *m, qp_err *e)
{
	*m = (qp_model_file){0};
	qp_gguf g = {0};
	qp_map map = {0};
	char **paths = NULL;
	int n_paths = 0;
	int st = add_shard(path, m, &g, &map, e);
	if (st == 0)
		st = qp_gguf_split_paths(path, &g, &paths, &n_paths, e);
	qp_gguf_free(&g);
	qp_map_close(&map);
	for (int i = 1; st == 0 && i < n_paths; i++) {
		g = (qp_gguf){0};
		st = add_shard(paths[i], m, &g, &map, e);
		if (st < 0)
			qp_fail_prefix(e, "%s", paths[i]);
		qp_gguf_free(&g);
		qp_map_close(&map);
	}
	if (paths)
		qp_gguf_split_paths_free(paths, n_paths);
	if (st == 0 && m->n_elem == 0)
		st = qp_fail(e, "the file holds no tensors");
	if (st < 0)
		qp_model_file_free(m);
	return st;
}

int qp_read_whole(const char *path, size_t cap, char **text, size_t *len,
		  qp_err *e)
{
	int fd;
	if (qp_open_input(path, &fd, e) < 0)
		return -1;
	size_t n = 0, size = 1 << 16;
	char *b = malloc(size);
	int st = b ? 0 : qp_fail(e, "out of memory");
	while (st == 0) {
		if (n + 1 == size) {
			if (size > cap) {
				st = qp_fail(e, "larger than %zu bytes: not a log", cap);
				break;
			}
			char *nb = realloc(b, size * 2);
			if (!nb) {
				st = qp_fail(e, "out of memory");
				break;
			}
			b = nb;
			size *= 2;
		}
		ssize_t r = read(fd, b + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			st = qp_fail_errno(e, "read");
		else if (r == 0)
			break;
		else
			n += (size_t)r;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (st < 0) {
		free(b);
		return -1;
	}
	b[n] = 0;
	*text = b;
	*len = n;
	return 0;
}

static const struct { int field; const char *key; } result_keys[] = {
	{QP_PPL_PPL, "ppl"}, {QP_PPL_PPL_ERR, "ppl_err"},
	{QP_PPL_BASE_PPL, "base_ppl"}, {QP_PPL_BASE_PPL_ERR, "base_ppl_err"},
	{QP_PPL_LN_RATIO, "ln_ppl_ratio"}, {QP_PPL_LN_RATIO_ERR, "ln_ppl_ratio_err"},
	{QP_PPL_RATIO, "ppl_ratio"}, {QP_PPL_RATIO_ERR, "ppl_ratio_err"},
	{QP_PPL_KLD_MEAN, "kld_mean"}, {QP_PPL_KLD_MEAN_ERR, "kld_mean_err"},
	{QP_PPL_KLD_MEDIAN, "kld_median"}, {QP_PPL_KLD_P99, "kld_p99"},
	{QP_PPL_KLD_MAX, "kld_max"}, {QP_PPL_TOP1, "top1"},
	{QP_PPL_TOP1_ERR, "top1_err"}, {QP_PPL_DP_RMS, "dp_rms"},
	{QP_PPL_DP_RMS_ERR, "dp_rms_err"},
};

void qp_measure_pack(msgpack_packer *pk, const qp_measure_src *s)
{
	const qp_pplog *p = s->log;
	const qp_model_file *f = s->file;
	uint32_t n = 10 + (p->ctx > 0) + (p->chunks > 0);
	for (size_t i = 0; i < sizeof result_keys / sizeof *result_keys; i++)
		n += p->have[result_keys[i].field];
	msgpack_pack_map(pk, n);
	qp_pack_key_str(pk, "kind", "measure");
	qp_pack_key_str(pk, "model", s->model_id);
	qp_pack_key_str(pk, "source", "llama-perplexity");
	qp_pack_key_str(pk, "run", p->mode == QP_PPLOG_KLD ? "kl-divergence" : "perplexity");
	qp_pack_key_str(pk, "path", s->gguf_path);
	qp_pack_key_str(pk, "log", s->log_path);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, (uint32_t)f->n_tensors);
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		qp_pack_str(pk, f->tensors[i].name);
		qp_pack_str(pk, f->tensors[i].type);
	}
	qp_pack_key_uint(pk, "n_bytes", f->n_bytes);
	qp_pack_key_double(pk, "bpw", (double)f->n_bytes * 8.0 / (double)f->n_elem);
	qp_pack_key_uint(pk, "file_bytes", f->file_bytes);
	if (p->ctx > 0)
		qp_pack_key_int(pk, "ctx", p->ctx);
	if (p->chunks > 0)
		qp_pack_key_int(pk, "chunks", p->chunks);
	for (size_t i = 0; i < sizeof result_keys / sizeof *result_keys; i++)
		if (p->have[result_keys[i].field])
			qp_pack_key_double(pk, result_keys[i].key, p->v[result_keys[i].field]);
}
