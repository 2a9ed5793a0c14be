/* err.h — how library functions report failure.
 *
 * Promise: a function in common/ that can fail returns int (0 success,
 * -1 failure; a few document 1 as "need more input") and, on failure, fills
 * a qp_err with one line of text, no trailing newline, that a filter prints
 * after "prog: FILE: ".  common/ never prints and never exits.
 *
 * Who names what: the library names what is wrong *inside* an input (the
 * record and its byte offset, the entry, the tensor, the field); the
 * caller, which knows which file it handed over, names the file, once.  A
 * function that opens a path therefore never puts that path in its
 * message (a path read from inside the input, such as a tensor record's
 * "path" or a split model's other shards, is named: it is part of what
 * is wrong).
 *
 * Warnings: a library function that warns formats one line and hands it
 * to the caller's qp_warn sink, which prints it (or not: quiet, or no
 * sink).
 */
#ifndef QP_ERR_H
#define QP_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct qp_err {
	char msg[512];
} qp_err;

/* What the functions that document it return instead of -1 when the
 * failure lies in what a well-formed value says rather than in its form
 * (a regular expression that does not compile): a command line treats it
 * as bad input (exit 1), not as bad usage (exit 2). */
enum { QP_ERR_INPUT = -2 };

/* Formats the message into e (if e is not NULL) and returns -1. */
int qp_fail(qp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like qp_fail, then appends ": strerror(errno)" for the errno at call time. */
int qp_fail_errno(qp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The one shape of a message about a record of a stream:
 * "record N (byte offset X): what".  N is 1-based.  Returns -1. */
int qp_fail_record(qp_err *e, unsigned long long index,
		   unsigned long long offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefixes the message already in e with "prefix: " (for adding context
 * such as a tensor name on the way up). Returns -1. */
int qp_fail_prefix(qp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

typedef struct qp_warn {
	void (*fn)(void *ctx, const char *msg); /* NULL: warnings dropped */
	void *ctx;
	bool quiet;                             /* -q: warnings dropped */
} qp_warn;

/* Formats a warning and hands it to w's fn. */
void qp_warnf(const qp_warn *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
