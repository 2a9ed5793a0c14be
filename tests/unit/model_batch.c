/* model_batch: what a batch holds, where it ends, pass-through bytes,
 * dropped kinds, contiguity, batches across operands; and
 * qp_imatrix_for_tensor's shape rule (ne2·ne3 matrices). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "buf.h"
#include "imatrix_match.h"
#include "model_batch.h"
#include "rec.h"

/* One record per spec "kind[:model[:name]]"; model records get id. */
static qp_buf pack(const char *const *specs)
{
	FILE *f = tmpfile();
	qp_writer *w = qp_writer_new(fileno(f), false);
	qp_err e;
	for (const char *const *s = specs; *s; s++) {
		char kind[32] = "", model[32] = "", name[32] = "";
		sscanf(*s, "%31[^:]:%31[^:]:%31s", kind, model, name);
		msgpack_packer *pk = qp_writer_packer(w);
		bool is_model = strcmp(kind, "model") == 0;
		bool is_meta = strcmp(kind, "meta") == 0;
		msgpack_pack_map(pk, 1 + is_meta + (model[0] != 0) + (name[0] != 0));
		qp_pack_key_str(pk, "kind", kind);
		if (is_meta)
			qp_pack_key_int(pk, "schema", QP_SCHEMA_MAJOR);
		if (model[0])
			qp_pack_key_str(pk, is_model ? "id" : "model", model);
		if (name[0])
			qp_pack_key_str(pk, "name", name);
		qp_writer_end(w, &e);
	}
	qp_writer_close(w, &e);
	qp_buf b = {0};
	long n = ftell(f);
	rewind(f);
	char *tmp = malloc((size_t)n + 1);
	size_t got = fread(tmp, 1, (size_t)n, f);
	qp_buf_append(&b, tmp, got);
	free(tmp);
	fclose(f);
	return b;
}

typedef struct batch_log {
	char text[1024]; /* "id(model record?):kinds,...|" per batch */
} batch_log;

static int on_model(void *ctx, const qp_model_batch *b, qp_writer *w,
		    qp_err *e)
{
	batch_log *l = ctx;
	size_t n = strlen(l->text);
	n += (size_t)snprintf(l->text + n, sizeof l->text - n, "%s%s:", b->id,
			      b->model ? "+" : "");
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *r = &b->items[i].k.rec;
		n += (size_t)snprintf(l->text + n, sizeof l->text - n, "%s%.*s",
				      i ? "," : "", (int)r->kind_len, r->kind);
		if (i == b->last_tensor)
			n += (size_t)snprintf(l->text + n, sizeof l->text - n, "!");
		if (qp_model_batch_pass(b, i, w, e) < 0)
			return -1;
	}
	snprintf(l->text + n, sizeof l->text - n, "|");
	return 0;
}

/* Counts the records it is given and drops them. */
static int on_outside(void *ctx, const qp_record *rec, qp_writer *w,
		      qp_err *e)
{
	(void)rec, (void)w, (void)e;
	batch_log *l = ctx;
	strcat(l->text, "o");
	return 0;
}

static int stream_fd(const qp_buf *b)
{
	FILE *f = tmpfile();
	fwrite(b->p, 1, b->len, f);
	fflush(f);
	int fd = dup(fileno(f));
	fclose(f);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Runs the operands through one stream; ends a batch after each operand
 * unless across. Returns the status, output bytes in *out. */
static int run(const qp_buf *ops, int n_ops, bool across, batch_log *l,
	       qp_buf *out, qp_err *e)
{
	static const char *const drop[] = {"profile", NULL};
	qp_model_filter mf = {"t", on_model, l, drop, across, NULL};
	if (n_ops < 0) { /* with on_outside */
		n_ops = -n_ops;
		mf.on_outside = on_outside;
	}
	qp_model_stream *s = qp_model_stream_new(&mf);
	FILE *f = tmpfile();
	qp_writer *w = qp_writer_new(fileno(f), false);
	int st = 0;
	memset(l, 0, sizeof *l);
	for (int i = 0; i < n_ops && st >= 0; i++) {
		int fd = stream_fd(&ops[i]);
		qp_reader *rd = qp_reader_new(fd, "t", 0);
		qp_record rec;
		while (st >= 0 && (st = qp_reader_next(rd, &rec, e)) == 1)
			st = qp_model_stream_record(s, &rec, w, e) < 0 ? -1 : 1;
		if (st >= 0 && (!across || i == n_ops - 1))
			st = qp_model_stream_end(s, w, e);
		qp_reader_free(rd);
		close(fd);
	}
	qp_err e2;
	qp_writer_close(w, &e2);
	long n = ftell(f);
	rewind(f);
	char *tmp = malloc((size_t)n + 1);
	size_t got = fread(tmp, 1, (size_t)n, f);
	memset(out, 0, sizeof *out);
	qp_buf_append(out, tmp, got);
	free(tmp);
	fclose(f);
	qp_model_stream_free(s);
	return st < 0 ? -1 : 0;
}

static void test_batches(void)
{
	static const char *const in[] = {
		"meta", "model:A", "tensor:A:a1", "measure:A", "tensor:A:a2",
		"fit:A", "profile:A", "model:B", "profile:B", "tensor:B:b1",
		"measure:B", "tensor:C:c1", "recipe:C", NULL};
	static const char *const want[] = {
		"meta", "model:A", "tensor:A:a1", "measure:A", "tensor:A:a2",
		"fit:A", "model:B", "tensor:B:b1", "measure:B", "tensor:C:c1",
		"recipe:C", NULL};
	qp_buf b = pack(in), w = pack(want), out;
	batch_log l;
	qp_err e = {{0}};
	is_int(run(&b, 1, false, &l, &out, &e), 0, "a stream of three models");
	is_str(l.text, "A+:tensor,measure,tensor!,fit|B+:tensor!,measure|C:tensor!,recipe|",
	       "batches hold the records after the first tensor, in order; "
	       "model records found; profiles dropped");
	ok(out.len == w.len && memcmp(out.p, w.p, w.len) == 0,
	   "passed items and outside records keep their bytes and places");
	qp_buf_free(&b);
	qp_buf_free(&w);
	qp_buf_free(&out);
}

static void test_operands(void)
{
	static const char *const a[] = {"model:M", "tensor:M:t1", "tensor:M:t2", NULL};
	static const char *const runs[] = {"measure:M", "measure:M", NULL};
	qp_buf ops[2] = {pack(a), pack(runs)}, out;
	batch_log l;
	qp_err e = {{0}};
	is_int(run(ops, 2, true, &l, &out, &e), 0, "across operands");
	is_str(l.text, "M+:tensor,tensor!,measure,measure|",
	       "across_operands: the next file's records join the last batch");
	qp_buf_free(&out);
	is_int(run(ops, 2, false, &l, &out, &e), 0, "per operand");
	is_str(l.text, "M+:tensor,tensor!|",
	       "without it, the end of an operand ends the batch");
	qp_buf_free(&out);
	qp_buf_free(&ops[0]);
	qp_buf_free(&ops[1]);
}

static void test_outside(void)
{
	static const char *const in[] = {"meta", "measure:A", "model:A", "tensor:A:a",
					 "measure:A", NULL};
	static const char *const want[] = {"model:A", "tensor:A:a", "measure:A", NULL};
	qp_buf b = pack(in), w = pack(want), out;
	batch_log l;
	qp_err e = {{0}};
	is_int(run(&b, -1, false, &l, &out, &e), 0, "with on_outside");
	is_str(l.text, "ooA+:tensor!,measure|",
	       "on_outside gets the records before the first tensor, not the model record");
	ok(out.len == w.len && memcmp(out.p, w.p, w.len) == 0,
	   "what on_outside drops is not written; the model record passes");
	qp_buf_free(&b);
	qp_buf_free(&w);
	qp_buf_free(&out);
}

static void test_contiguity(void)
{
	static const char *const in[] = {"tensor:A:x", "tensor:B:y", "tensor:A:z", NULL};
	qp_buf b = pack(in), out;
	batch_log l;
	qp_err e = {{0}};
	is_int(run(&b, 1, false, &l, &out, &e), -1, "A after B fails");
	ok(strstr(e.msg, "record 3 (byte offset ") &&
	   strstr(e.msg, "tensors of model 'A' are not contiguous"), "message: %s", e.msg);
	qp_buf_free(&out);
	qp_buf_free(&b);
	static const char *const nomodel[] = {"tensor", NULL};
	b = pack(nomodel);
	is_int(run(&b, 1, false, &l, &out, &e), -1, "a tensor without model fails");
	ok(strstr(e.msg, "\"model\"") != NULL, "message names the field: %s", e.msg);
	qp_buf_free(&out);
	qp_buf_free(&b);
}

/* ---- imatrix entries against tensor shapes ------------------------------ */

static void tensor(qp_tensor_ref *t, int n_dims, int64_t ne0, int64_t ne1,
		   int64_t ne2, int64_t ne3)
{
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "blk.0.ffn_up_exps.weight");
	t->n_dims = n_dims;
	t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = ne2, t->ne[3] = ne3;
	t->row_len = ne0;
	t->n_rows = ne1 * ne2 * ne3;
}

static void test_imatrix_shapes(void)
{
	double counts[12] = {1};
	qp_imatrix_entry ent = {.name = "blk.0.ffn_up_exps.weight", .n_cols = 4,
				.n_expert = 6, .counts = counts};
	qp_imatrix im = {.format = QP_IMATRIX_GGUF, .n_entries = 1, .entries = &ent};
	qp_tensor_ref t;
	const qp_imatrix_entry *got;
	qp_err e = {{0}};
	bool resplit;

	tensor(&t, 4, 4, 2, 3, 2);
	is_int(qp_imatrix_for_tensor(&im, &t, &got, &resplit, &e), 0,
	       "4-D weight, ne2*ne3 = 6 matrices: accepted");
	ok(got == &ent && !resplit, "the entry, not split");
	tensor(&t, 3, 4, 2, 6, 1);
	is_int(qp_imatrix_for_tensor(&im, &t, &got, NULL, &e), 0,
	       "3-D expert weight with 6 experts: accepted");
	tensor(&t, 3, 4, 2, 3, 1);
	is_int(qp_imatrix_for_tensor(&im, &t, &got, NULL, &e), -1,
	       "3 experts against an entry of 6: refused");
	ok(got == NULL && strstr(e.msg, "is 4 x 6 experts") &&
	   strstr(e.msg, "rows of 4 and 3 experts"), "message: %s", e.msg);
	tensor(&t, 2, 8, 2, 1, 1);
	is_int(qp_imatrix_for_tensor(&im, &t, &got, NULL, &e), -1,
	       "other row length: refused");
	snprintf(t.name, sizeof t.name, "blk.1.ffn_up.weight");
	is_int(qp_imatrix_for_tensor(&im, &t, &got, NULL, &e), 0, "no entry: 0");
	ok(got == NULL, "no entry: NULL");

	/* a legacy .dat entry of one "expert" of 24 values is split by ne0 */
	double *c1 = malloc(sizeof *c1);
	*c1 = 5;
	qp_imatrix_entry dat = {.name = "blk.0.ffn_up_exps.weight", .n_cols = 24,
				.n_expert = 1, .counts = c1};
	qp_imatrix imd = {.format = QP_IMATRIX_DAT, .n_entries = 1, .entries = &dat};
	tensor(&t, 4, 4, 2, 3, 2);
	is_int(qp_imatrix_for_tensor(&imd, &t, &got, &resplit, &e), 0,
	       ".dat entry split into ne2*ne3 experts");
	ok(resplit && dat.n_expert == 6 && dat.n_cols == 4 && dat.counts[5] == 5,
	   "split: 6 experts of 4 columns, counts copied");
	free(dat.counts);

	bool used[1] = {false};
	is_int(qp_imatrix_check_used(&im, used, "m", &e), -1, "unused entry refused");
	ok(strstr(e.msg, "imatrix entry 'blk.0.ffn_up_exps.weight' names no "
		  "tensor of model 'm'") != NULL, "message: %s", e.msg);
}

int main(void)
{
	test_batches();
	test_operands();
	test_outside();
	test_contiguity();
	test_imatrix_shapes();
	done_testing();
	return exit_status();
}
