/* filter.h — the loop every record filter runs.
 *
 * Promise: qp_filter_run reads each operand in turn (none means standard
 * input; "-" is standard input), hands every record to on_record, calls
 * on_end after each operand's last record and on_last_end once after the
 * last operand's (both get the output writer), and on the first failure
 * reports one line "prog: OPERAND: message" and returns 1 (0 when all
 * went well).  qp_sink_open/qp_sink_close own the output: -o FILE written
 * atomically or standard output (JSON lines on a terminal), the meta
 * record first, flush and close checked, the temporary file removed on
 * failure.
 */
#ifndef QP_FILTER_H
#define QP_FILTER_H

#include "cli.h"
#include "rec.h"

/* w is the output writer given to qp_filter_run (NULL for a filter that
 * writes no records, such as rec-show's text modes). */
typedef struct qp_filter {
	const char *prog;
	int (*on_record)(void *ctx, const qp_record *rec, qp_writer *w, qp_err *e);
	int (*on_end)(void *ctx, qp_writer *w, qp_err *e);      /* may be NULL */
	int (*on_last_end)(void *ctx, qp_writer *w, qp_err *e); /* may be NULL */
	void *ctx;
} qp_filter;

int qp_filter_run(const qp_filter *f, const qp_common *c, qp_writer *w);

/* Every record of the file at path ("-": standard input), in order, to
 * fn, which returns 0 to go on, 1 to stop early, -1 on error (e set).
 * Returns 0, or -1 with e saying what is wrong (the caller names path). */
typedef int (*qp_record_fn)(void *ctx, const qp_record *rec, qp_err *e);
int qp_records_each(const char *path, qp_record_fn fn, void *ctx, qp_err *e);

/* A whole record filter: opens the output (meta record first), runs f
 * over the operands with its writer, closes; returns the exit status. */
int qp_filter_pipe(const qp_filter *f, const qp_common *c, int argc,
		   char **argv);

/* qp_cli_parse, then qp_cli_refuse_tty_stdin: QP_CLI_CONTINUE or the
 * exit status. */
int qp_filter_parse(const qp_tool *t, int argc, char **argv, qp_common *c);

typedef struct qp_sink {
	qp_out out;
	qp_writer *w;
} qp_sink;

/* 0, or 1 after reporting; meta is written when argv is not NULL. */
int qp_sink_open(qp_sink *s, const char *prog, const qp_common *c, int argc,
		 char **argv);
/* Finishes the output given the run's status so far; returns the final
 * exit status (reporting a failed flush, close or rename). */
int qp_sink_close(qp_sink *s, const char *prog, const qp_common *c,
		  int status);

#endif
