#include "filter.h"

#include <string.h>
#include <unistd.h>

static int read_records(int fd, const char *name, qp_record_fn fn,
			void *ctx, qp_err *e)
{
	qp_reader *rd = qp_reader_new(fd, name, 0);
	if (!rd)
		return qp_fail(e, "out of memory");
	qp_record rec;
	int st;
	while ((st = qp_reader_next(rd, &rec, e)) == 1) {
		int r = fn(ctx, &rec, e);
		if (r != 0) {
			st = r < 0 ? -1 : 0;
			break;
		}
	}
	qp_reader_free(rd);
	return st;
}

int qp_records_each(const char *path, qp_record_fn fn, void *ctx, qp_err *e)
{
	int fd;
	if (qp_open_input(path, &fd, e) < 0)
		return -1;
	int st = read_records(fd, path, fn, ctx, e);
	if (fd != STDIN_FILENO)
		close(fd);
	return st;
}

typedef struct filter_step {
	const qp_filter *f;
	qp_writer *w;
} filter_step;

static int filter_record(void *ctx, const qp_record *rec, qp_err *e)
{
	const filter_step *fs = ctx;
	return fs->f->on_record(fs->f->ctx, rec, fs->w, e) < 0 ? -1 : 0;
}

static int run_stream(const qp_filter *f, int fd, const char *name,
		      bool last, qp_writer *w, qp_err *e)
{
	filter_step fs = {f, w};
	int st = read_records(fd, name, filter_record, &fs, e);
	if (st == 0 && f->on_end && f->on_end(f->ctx, w, e) < 0)
		st = -1;
	if (st == 0 && last && f->on_last_end && f->on_last_end(f->ctx, w, e) < 0)
		st = -1;
	return st;
}

int qp_filter_run(const qp_filter *f, const qp_common *c, qp_writer *w)
{
	static char *stdin_only[] = {"-"};
	char **files = c->n_files ? c->files : stdin_only;
	int n = c->n_files ? c->n_files : 1;
	for (int i = 0; i < n; i++) {
		qp_err e;
		int fd;
		if (qp_open_input(files[i], &fd, &e) < 0) {
			qp_report(f->prog, files[i], e.msg);
			return 1;
		}
		int st = run_stream(f, fd, files[i], i == n - 1, w, &e);
		if (fd != STDIN_FILENO)
			close(fd);
		if (st < 0) {
			qp_report(f->prog, files[i], e.msg);
			return 1;
		}
	}
	return 0;
}

int qp_sink_open(qp_sink *s, const char *prog, const qp_common *c, int argc,
		 char **argv)
{
	qp_err e;
	s->w = NULL;
	if (qp_out_open(&s->out, c->output, &e) < 0) {
		qp_report(prog, c->output, e.msg);
		return 1;
	}
	s->w = qp_writer_new(s->out.fd, s->out.json);
	if (!s->w) {
		qp_report(prog, NULL, "out of memory");
		return 1;
	}
	if (argv && qp_write_meta(s->w, prog, argc, argv, &e) < 0) {
		qp_report(prog, c->output ? c->output : "standard output", e.msg);
		return 1;
	}
	return 0;
}

int qp_sink_close(qp_sink *s, const char *prog, const qp_common *c,
		  int status)
{
	qp_err e;
	const char *where = c->output ? c->output : "standard output";
	if (qp_writer_close(s->w, &e) < 0 && status == 0) {
		qp_report(prog, where, e.msg);
		status = 1;
	}
	s->w = NULL;
	return qp_out_finish(&s->out, prog, c->output, status);
}

int qp_filter_pipe(const qp_filter *f, const qp_common *c, int argc,
		   char **argv)
{
	qp_sink sink;
	int status = qp_sink_open(&sink, f->prog, c, argc, argv);
	if (status == 0)
		status = qp_filter_run(f, c, sink.w);
	return qp_sink_close(&sink, f->prog, c, status);
}

int qp_filter_parse(const qp_tool *t, int argc, char **argv, qp_common *c)
{
	int st = qp_cli_parse(t, argc, argv, c);
	return st == QP_CLI_CONTINUE ? qp_cli_refuse_tty_stdin(t, c) : st;
}
