/* cli.h — what every filter's command line shares (after samtools'
 * sam_opts.h): -@/--threads, -o/--output, -q/--quiet, -h/--help,
 * -V/--version; error lines; the atomic -o output file.
 *
 * Promise: options mean the same in every filter.  qp_cli_parse prints
 * --help to stdout (exit 0) and bad usage as one line plus a hint to stderr
 * (exit 2), an option's bad input (QP_ERR_INPUT) as one line (exit 1);
 * --help and --version that cannot be written to stdout exit 1 with one
 * error line.  qp_out_open writes -o FILE (a regular file or a
 * new one) through a temporary file in the same folder that qp_out_commit
 * renames into place and qp_out_abort — or SIGINT, SIGTERM, SIGHUP,
 * even one that arrives while the temporary is being created — removes,
 * so a failed run never leaves a half-written FILE nor the temporary.  A symlink is followed and the file it names is replaced
 * that way (the link stays); a device, FIFO or socket is opened and
 * written through, never replaced.
 */
#ifndef QP_CLI_H
#define QP_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "err.h"

typedef struct qp_common {
	int threads;        /* -@ N, default 1 */
	const char *output; /* -o FILE, NULL = stdout */
	bool quiet;         /* -q */
	char **files;       /* operands after the options */
	int n_files;
} qp_common;

typedef struct qp_tool {
	const char *name;
	/* The --help text: usage (the tool's own part, ending with its own
	 * options and a blank line), then the shared options -@ -o -q -h -V
	 * generated from their one declaration in cli.c and aligned with the
	 * tool's own, then usage_end (a blank line, notes, exit status).  A
	 * tool whose usage_end is NULL prints usage alone. */
	const char *usage;
	const char *short_opts;   /* the tool's own getopt letters */
	const struct option *long_opts; /* the tool's own, {0} terminated */
	/* Called for each of the tool's own options; returns 0, -1 with a
	 * message in e for a bad value (exit 2), or QP_ERR_INPUT (err.h) with
	 * a message for a well-formed value that is bad input: a regular
	 * expression that does not compile, a file named that does not parse
	 * (one error line, exit 1). */
	int (*on_option)(int opt, const char *arg, void *ctx, qp_err *e);
	void *ctx;
	const char *usage_end;
} qp_tool;

enum { QP_CLI_CONTINUE = -1 };

/* The --help text (see qp_tool). */
void qp_cli_print_help(const qp_tool *t, FILE *out);

/* Returns QP_CLI_CONTINUE, or the exit status main should return now
 * (0 after --help/--version, 2 after bad usage). */
int qp_cli_parse(const qp_tool *t, int argc, char **argv, qp_common *c);

/* When the filter would read a terminal (no operands or a "-" operand,
 * and stdin a tty), prints the usage to stderr and returns 2; otherwise
 * QP_CLI_CONTINUE. */
int qp_cli_refuse_tty_stdin(const qp_tool *t, const qp_common *c);

/* "prog: where: msg" on stderr after flushing stdout. where may be NULL. */
void qp_report(const char *prog, const char *where, const char *msg);
void qp_reportf(const char *prog, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Strict number parsing for option values. */
int qp_parse_long(const char *s, long min, long max, long *out, qp_err *e);
int qp_parse_double(const char *s, double *out, qp_err *e);

/* Opens an input operand for reading: "-" is standard input. */
int qp_open_input(const char *path, int *fd, qp_err *e);

/* ---- the output stream ------------------------------------------------- */

typedef struct qp_out {
	int fd;
	char *path;     /* final name, NULL for stdout */
	char *tmp_path; /* temporary name while writing */
	bool json;      /* records go to a terminal: write JSON lines */
	bool through;   /* -o names a device or FIFO: written in place */
} qp_out;

int qp_out_open(qp_out *o, const char *path, qp_err *e);
/* Closes and renames into place (or checks stdout can be flushed). */
int qp_out_commit(qp_out *o, qp_err *e);
/* Removes the temporary file. Safe to call after commit (does nothing). */
void qp_out_abort(qp_out *o);
/* Writes n bytes of an output that is not records (a text, a picture). */
int qp_out_write(qp_out *o, const void *p, size_t n, qp_err *e);
/* The end of every output, records or not: with status 0 commits (a
 * failure is reported as "prog: FILE: what", FILE being path or "standard
 * output", and gives 1), otherwise removes the temporary file.  Returns
 * the final exit status. */
int qp_out_finish(qp_out *o, const char *prog, const char *path, int status);

#endif
