#include "gguf_dump.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gguf_rec.h"
#include "mapfile.h"
#include "seqsrc.h"
#include "threads.h"

/* crc32 works on chunks this large, combined in order afterwards. */
#define CRC_CHUNK ((uint64_t)64 << 20)
/* msgpack bin32 cannot hold more. */
#define MAX_INLINE UINT32_MAX

struct qp_dumper {
	qp_writer *w;
	qp_dump_opts o;
	char **ids;
	int n_ids;
	char **shards_done; /* shard paths dumped as part of a split model */
	int n_shards_done;
};

static bool push_str(char ***v, int *n, const char *s)
{
	char **p = realloc(*v, (size_t)(*n + 1) * sizeof *p);
	if (!p)
		return false;
	*v = p;
	if (!(p[*n] = strdup(s)))
		return false;
	(*n)++;
	return true;
}

static bool in_list(char **v, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

qp_dumper *qp_dumper_new(qp_writer *w, const qp_dump_opts *opts)
{
	qp_dumper *d = calloc(1, sizeof *d);
	if (d) {
		d->w = w;
		d->o = *opts;
	}
	return d;
}

void qp_dumper_free(qp_dumper *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n_ids; i++)
		free(d->ids[i]);
	for (int i = 0; i < d->n_shards_done; i++)
		free(d->shards_done[i]);
	free(d->ids);
	free(d->shards_done);
	free(d);
}

/* The model id: the chosen one or the base name, made unique. */
static int claim_id(qp_dumper *d, const char *path, char *id, size_t size,
		    qp_err *e)
{
	const char *slash = strrchr(path, '/');
	const char *base = d->o.id ? d->o.id : slash ? slash + 1 : path;
	snprintf(id, size, "%s", base);
	for (int k = 2; in_list(d->ids, d->n_ids, id); k++)
		snprintf(id, size, "%s#%d", base, k);
	if (!push_str(&d->ids, &d->n_ids, id))
		return qp_fail(e, "out of memory");
	return 0;
}

/* ---- mapped files and split models ----------------------------------- */

typedef struct shard {
	char *path;
	qp_map map;
	qp_gguf g;
	bool parsed;
} shard;

static int load_shard(shard *s, const char *path, qp_err *e)
{
	*s = (shard){0};
	if (!(s->path = strdup(path)))
		return qp_fail(e, "out of memory");
	if (qp_map_open(path, &s->map, e) < 0)
		return -1;
	if (qp_gguf_parse(s->map.data, s->map.size, s->map.size, &s->g, e) != 0)
		return -1;
	s->parsed = true;
	return 0;
}

static void free_shards(shard *s, int n)
{
	for (int i = 0; s && i < n; i++) {
		if (s[i].parsed)
			qp_gguf_free(&s[i].g);
		qp_map_close(&s[i].map);
		free(s[i].path);
	}
	free(s);
}

static int64_t kv_int(const qp_gguf *g, const char *key, int64_t dflt)
{
	int64_t v;
	return qp_gguf_get_int(g, key, &v) ? v : dflt;
}

/* Shards 2..N: each must say it is shard i of the same count. */
static int check_shard(const shard *s, int i, int64_t count, qp_err *e)
{
	int64_t no = kv_int(&s->g, "split.no", -1);
	int64_t cnt = kv_int(&s->g, "split.count", -1);
	if (no != i || cnt != count)
		return qp_fail(e, "%s: split.no %lld of split.count %lld, "
			       "expected shard %d of %lld", s->path,
			       (long long)no, (long long)cnt, i, (long long)count);
	return 0;
}

static int load_split(const char *path, shard **out, int *n_out, qp_err *e)
{
	shard *s = calloc(1, sizeof *s);
	*out = s;
	*n_out = s ? 1 : 0;
	if (!s)
		return qp_fail(e, "out of memory");
	if (load_shard(&s[0], path, e) < 0)
		return -1;
	int64_t count = kv_int(&s[0].g, "split.count", 1);
	if (count <= 1)
		return 0;
	if (kv_int(&s[0].g, "split.no", 0) != 0)
		return qp_fail(e, "shard %lld of a %lld-file split model: "
			       "dump its first shard (-00001-of-...)",
			       (long long)kv_int(&s[0].g, "split.no", 0) + 1,
			       (long long)count);
	char **paths;
	int n;
	if (qp_gguf_split_paths(path, &s[0].g, &paths, &n, e) < 0)
		return -1;
	shard *all = realloc(s, (size_t)n * sizeof *all);
	if (!all) {
		qp_gguf_split_paths_free(paths, n);
		return qp_fail(e, "out of memory");
	}
	*out = s = all;
	int status = 0;
	for (int i = 1; i < n && status == 0; i++) {
		*n_out = i + 1;
		status = load_shard(&s[i], paths[i], e);
		if (status < 0)
			qp_fail_prefix(e, "shard %s", paths[i]);
		if (status == 0)
			status = check_shard(&s[i], i, count, e);
	}
	qp_gguf_split_paths_free(paths, n);
	return status;
}

static void describe(const shard *s, int n, qp_model_desc *m)
{
	m->g = &s[0].g;
	m->n_shards = n;
	m->n_vocab_from_embd = -1;
	for (int k = 0; k < n; k++)
		for (uint64_t i = 0; i < s[k].g.n_tensors; i++) {
			const qp_gguf_tensor *t = &s[k].g.tensors[i];
			m->n_tensors++;
			m->n_params += t->n_elem;
			m->n_bytes += t->size_known ? t->n_bytes : 0;
			if (qp_gguf_str_eq(t->name, "token_embd.weight") &&
			    t->n_dims >= 2)
				m->n_vocab_from_embd = t->ne[1];
		}
}

typedef struct crc_job {
	const uint8_t *p;
	uint64_t n;
	uint32_t crc;
} crc_job;

static int crc_one(void *ctx, size_t i)
{
	crc_job *j = (crc_job *)ctx + i;
	j->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), j->p, (uInt)j->n);
	return 0;
}

typedef struct crc_plan {
	crc_job *jobs;
	size_t n_jobs;
	size_t *first; /* per tensor (over all shards): its first job */
	size_t *count; /* per tensor: number of jobs (0: no crc) */
} crc_plan;

static void crc_plan_free(crc_plan *p)
{
	free(p->jobs);
	free(p->first);
	free(p->count);
}

static int crc_plan_make(const shard *s, int n, uint64_t n_tensors,
			 crc_plan *p, qp_err *e)
{
	*p = (crc_plan){0};
	size_t n_jobs = 0;
	for (int k = 0; k < n; k++)
		for (uint64_t i = 0; i < s[k].g.n_tensors; i++) {
			const qp_gguf_tensor *t = &s[k].g.tensors[i];
			if (t->size_known)
				n_jobs += (size_t)((t->n_bytes + CRC_CHUNK - 1) / CRC_CHUNK);
		}
	p->jobs = calloc(n_jobs ? n_jobs : 1, sizeof *p->jobs);
	p->first = calloc(n_tensors ? n_tensors : 1, sizeof *p->first);
	p->count = calloc(n_tensors ? n_tensors : 1, sizeof *p->count);
	if (!p->jobs || !p->first || !p->count)
		return qp_fail(e, "out of memory");
	size_t ti = 0;
	for (int k = 0; k < n; k++)
		for (uint64_t i = 0; i < s[k].g.n_tensors; i++, ti++) {
			const qp_gguf_tensor *t = &s[k].g.tensors[i];
			p->first[ti] = p->n_jobs;
			if (!t->size_known)
				continue;
			for (uint64_t off = 0; off < t->n_bytes; off += CRC_CHUNK) {
				uint64_t len = t->n_bytes - off < CRC_CHUNK
						       ? t->n_bytes - off : CRC_CHUNK;
				p->jobs[p->n_jobs++] = (crc_job){
					s[k].map.data + t->offset + off, len, 0};
				p->count[ti]++;
			}
		}
	return 0;
}

static uint32_t crc_of(const crc_plan *p, size_t ti)
{
	uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
	for (size_t j = p->first[ti]; j < p->first[ti] + p->count[ti]; j++)
		crc = (uint32_t)crc32_combine(crc, p->jobs[j].crc,
					      (z_off_t)p->jobs[j].n);
	return crc;
}

static void pack_data(msgpack_packer *pk, const uint8_t *p, uint64_t n)
{
	qp_pack_str(pk, "data");
	msgpack_pack_bin(pk, (size_t)n);
	msgpack_pack_bin_body(pk, p, (size_t)n);
}

static int emit_tensor(qp_dumper *d, const char *id, const qp_gguf_tensor *t,
		       const char *path, const uint8_t *data, bool have_crc,
		       uint32_t crc, qp_err *e)
{
	bool inline_data = data && t->size_known;
	if (inline_data && t->n_bytes > MAX_INLINE)
		return qp_fail(e, "tensor '%.*s': %llu bytes cannot be inlined "
			       "(msgpack bin holds at most 4 GiB)",
			       (int)t->name.len, t->name.ptr,
			       (unsigned long long)t->n_bytes);
	msgpack_packer *pk = qp_writer_packer(d->w);
	qp_pack_tensor_record(pk, id, t, path, have_crc + inline_data);
	if (have_crc)
		qp_pack_key_uint(pk, "crc32", crc);
	if (inline_data)
		pack_data(pk, data, t->n_bytes);
	return qp_writer_end(d->w, e);
}

static int emit_mapped(qp_dumper *d, const shard *s, int n, const char *id,
		       const crc_plan *crc, qp_err *e)
{
	size_t ti = 0;
	for (int k = 0; k < n; k++)
		for (uint64_t i = 0; i < s[k].g.n_tensors; i++, ti++) {
			const qp_gguf_tensor *t = &s[k].g.tensors[i];
			bool have_crc = crc && t->size_known;
			uint32_t c = have_crc ? crc_of(crc, ti) : 0;
			const uint8_t *data = d->o.data ? s[k].map.data + t->offset
							: NULL;
			if (emit_tensor(d, id, t, s[k].path, data, have_crc, c, e) < 0)
				return -1;
		}
	return 0;
}

static int dump_mapped(qp_dumper *d, const char *path, qp_err *e)
{
	shard *s = NULL;
	int n = 0;
	char id[512];
	int status = load_split(path, &s, &n, e);
	if (status == 0 && n > 1 && in_list(d->shards_done, d->n_shards_done, path))
		goto out; /* already dumped as part of its model */
	if (status == 0)
		status = claim_id(d, path, id, sizeof id, e);
	qp_model_desc m = {.id = id, .path = path, .kv_full = d->o.kv_full};
	if (status == 0) {
		describe(s, n, &m);
		int64_t want = kv_int(&s[0].g, "split.tensors.count", -1);
		if (n > 1 && want >= 0 && (uint64_t)want != m.n_tensors)
			status = qp_fail(e, "split.tensors.count is %lld but the "
					 "%d shards hold %llu tensors",
					 (long long)want, n,
					 (unsigned long long)m.n_tensors);
	}
	for (int k = 1; status == 0 && k < n; k++)
		if (!push_str(&d->shards_done, &d->n_shards_done, s[k].path))
			status = qp_fail(e, "out of memory");
	if (status == 0) {
		qp_pack_model_record(qp_writer_packer(d->w), &m);
		status = qp_writer_end(d->w, e);
	}
	crc_plan plan = {0};
	if (status == 0 && d->o.crc) {
		status = crc_plan_make(s, n, m.n_tensors, &plan, e);
		if (status == 0)
			qp_parallel_for(d->o.threads, plan.n_jobs, crc_one, plan.jobs);
	}
	if (status == 0)
		status = emit_mapped(d, s, n, id, d->o.crc ? &plan : NULL, e);
	crc_plan_free(&plan);
out:
	free_shards(s, n);
	return status;
}

/* ---- sequential sources: pipes and archive members -------------------- */

static int emit_seq_tensor(qp_dumper *d, qp_seqsrc *src, const char *id,
			   const qp_gguf_tensor *t, const char *path,
			   qp_err *e)
{
	if (!t->size_known) /* its size is unknown: nothing to read */
		return emit_tensor(d, id, t, path, NULL, false, 0, e);
	if (t->n_bytes > MAX_INLINE)
		return emit_tensor(d, id, t, path, (const uint8_t *)"", false, 0, e);
	uint8_t *buf = malloc(t->n_bytes ? (size_t)t->n_bytes : 1);
	if (!buf)
		return qp_fail(e, "out of memory for tensor '%.*s' (%llu bytes)",
			       (int)t->name.len, t->name.ptr,
			       (unsigned long long)t->n_bytes);
	int status = qp_seq_read_at(src, t->offset, buf, t->n_bytes, e);
	if (status < 0)
		qp_fail_prefix(e, "tensor '%.*s'", (int)t->name.len, t->name.ptr);
	uint32_t crc = 0;
	if (status == 0 && d->o.crc)
		crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)t->n_bytes);
	if (status == 0)
		status = emit_tensor(d, id, t, path, buf, d->o.crc, crc, e);
	free(buf);
	return status;
}

static int dump_seq(qp_dumper *d, qp_read_fn read, void *ctx,
		    const char *id_base, const char *path, qp_err *e)
{
	qp_seqsrc src;
	qp_gguf g = {0};
	char id[512];
	qp_seq_init(&src, read, ctx);
	int status = qp_seq_read_meta(&src, &g, e);
	bool parsed = status == 0;
	if (status == 0)
		status = claim_id(d, id_base, id, sizeof id, e);
	if (status == 0) {
		shard one = {.g = g};
		qp_model_desc m = {.id = id, .path = path, .kv_full = d->o.kv_full};
		describe(&one, 1, &m);
		qp_pack_model_record(qp_writer_packer(d->w), &m);
		status = qp_writer_end(d->w, e);
	}
	for (uint64_t i = 0; status == 0 && i < g.n_tensors; i++)
		status = emit_seq_tensor(d, &src, id, &g.tensors[i], path, e);
	if (parsed)
		qp_gguf_free(&g);
	qp_seq_free(&src);
	return status;
}

typedef struct archive_ctx {
	struct archive *a;
} archive_ctx;

static ssize_t read_archive(void *ctx, void *buf, size_t n)
{
	la_ssize_t k = archive_read_data(((archive_ctx *)ctx)->a, buf, n);
	if (k < 0)
		errno = EIO;
	return k < 0 ? -1 : (ssize_t)k;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int dump_archive_member(qp_dumper *d, struct archive *a,
			       const char *archive_path, const char *member,
			       qp_err *e)
{
	size_t n = strlen(archive_path) + strlen(member) + 2;
	char *label = malloc(n);
	if (!label)
		return qp_fail(e, "out of memory");
	snprintf(label, n, "%s#%s", archive_path, member);
	archive_ctx ctx = {a};
	int status = dump_seq(d, read_archive, &ctx, member, label, e);
	if (status < 0)
		qp_fail_prefix(e, "member %s", member);
	free(label);
	return status;
}

static int dump_archive(qp_dumper *d, const char *path, qp_err *e)
{
	struct archive *a = archive_read_new();
	if (!a)
		return qp_fail(e, "out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	int status = 0, found = 0;
	if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
		status = qp_fail(e, "not a GGUF file (no GGUF magic) nor an "
				 "archive: %s", archive_error_string(a));
	}
	struct archive_entry *ent;
	int r;
	while (status == 0 && (r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ent);
		if (archive_entry_filetype(ent) != AE_IFREG || !name ||
		    !ends_with(name, ".gguf"))
			continue;
		found++;
		status = dump_archive_member(d, a, path, name, e);
	}
	if (status == 0 && r != ARCHIVE_EOF)
		status = qp_fail(e, "archive: %s", archive_error_string(a));
	if (status == 0 && found == 0)
		status = qp_fail(e, "archive holds no .gguf member");
	archive_read_free(a);
	return status;
}

/* ---- dispatch -------------------------------------------------------- */

static int read_magic(const char *path, uint8_t magic[4], bool *regular,
		      qp_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qp_fail_errno(e, "cannot open");
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return qp_fail_errno(e, "cannot stat");
	}
	*regular = S_ISREG(st.st_mode);
	memset(magic, 0, 4);
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return qp_fail_errno(e, "cannot read");
	}
	ssize_t got = *regular ? pread(fd, magic, 4, 0) : 4;
	if (got < 0) {
		close(fd);
		return qp_fail_errno(e, "read");
	}
	if (got < 4) {
		close(fd);
		return qp_fail(e, "not a GGUF file: only %zd bytes", got);
	}
	close(fd);
	return 0;
}

static int dump_stream_path(qp_dumper *d, const char *path, qp_err *e)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO
					: open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qp_fail_errno(e, "cannot open");
	int status = dump_seq(d, qp_read_fd, &fd, path, path, e);
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}

int qp_dump_input(qp_dumper *d, const char *operand, qp_err *e)
{
	if (strcmp(operand, "-") == 0)
		return dump_stream_path(d, operand, e);
	uint8_t magic[4];
	bool regular = false;
	if (read_magic(operand, magic, &regular, e) < 0)
		return -1;
	if (!regular)
		return dump_stream_path(d, operand, e);
	if (memcmp(magic, "GGUF", 4) == 0)
		return dump_mapped(d, operand, e);
	return dump_archive(d, operand, e);
}
