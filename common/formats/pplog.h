/* pplog.h — what a llama-perplexity log says.
 *
 * Promise: qp_pplog_parse reads the text output (stdout and stderr, in
 * any interleaving) of one llama-perplexity run, a plain perplexity run
 * or a --kl-divergence run, and returns every figure the run's final
 * statistics state, exactly as printed (each number is the nearest double
 * to the printed digits; nothing is recomputed), together with what
 * identifies the model it measured (the command line when the log holds
 * one, the model loader's tensor count and "file size ... (BPW)" line).
 * It tolerates what real logs carry: timestamp and level prefixes
 * ("0.12.501.982 I "), carriage returns, "±" written as "+/-", "+-",
 * latin-1 or double-encoded UTF-8, "Δ" lost or mangled, and the layout
 * of older builds ("===== KL-divergence statistics" with "Average:" /
 * "KLD_99 :", from which the rest is read off the last chunk row).
 * It never makes a number up: a log without its final statistics block
 * (llama-perplexity sometimes exits 0 without printing it), a log that
 * ends inside a line (truncated), a block cut short, a figure printed
 * twice (two runs in one log), a non-finite figure, NUL bytes, or text
 * that is no llama-perplexity output at all is an error naming the line.
 */
#ifndef QP_PPLOG_H
#define QP_PPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The figures, indexes into qp_pplog.v / .line. */
enum qp_pplog_field {
	QP_PPL_PPL,            /* Final estimate PPL, or Mean PPL(Q) */
	QP_PPL_PPL_ERR,
	QP_PPL_BASE_PPL,       /* Mean PPL(base) */
	QP_PPL_BASE_PPL_ERR,
	QP_PPL_LN_RATIO,       /* Mean ln(PPL(Q)/PPL(base)) */
	QP_PPL_LN_RATIO_ERR,
	QP_PPL_RATIO,          /* Mean PPL(Q)/PPL(base) */
	QP_PPL_RATIO_ERR,
	QP_PPL_KLD_MEAN,
	QP_PPL_KLD_MEAN_ERR,
	QP_PPL_KLD_MEDIAN,
	QP_PPL_KLD_P99,
	QP_PPL_KLD_MAX,
	QP_PPL_TOP1,           /* Same top p, percent */
	QP_PPL_TOP1_ERR,
	QP_PPL_DP_RMS,         /* RMS Δp, percent */
	QP_PPL_DP_RMS_ERR,
	QP_PPL_N_FIELDS
};

typedef enum qp_pplog_mode {
	QP_PPLOG_PLAIN,        /* perplexity (maybe saving base logits) */
	QP_PPLOG_KLD,          /* --kl-divergence against base logits */
} qp_pplog_mode;

typedef struct qp_pplog {
	qp_pplog_mode mode;
	bool old_layout;       /* KLD block of builds before the stats tables */
	bool have[QP_PPL_N_FIELDS];
	double v[QP_PPL_N_FIELDS];
	int line[QP_PPL_N_FIELDS];   /* 1-based line each figure came from */

	int64_t ctx, chunks;   /* n_ctx=, "over N chunks"; -1 when absent */

	/* What identifies the model and the base (empty strings when the
	 * log does not say). */
	char model_path[1024];     /* "-m X" of a "$ " command line, else the
				      loader's "from X" */
	int model_path_line;
	char logits_saved[1024];   /* "saving all logits to X": a base run */
	char logits_base[1024];    /* "--kl-divergence-base X" of a KL run's
				      command line */
	int64_t loader_tensors;    /* -1 when no loader line */
	int loader_line;
	bool have_size;            /* a "file size = S MiB (B BPW)" line */
	double size_value;         /* S as printed */
	int size_decimals;         /* digits after the point in S */
	char size_unit[4];         /* "MiB" or "GiB" */
	double size_bpw;           /* B as printed */
	int size_bpw_decimals;
	int size_line;
	int n_lines;
} qp_pplog;

/* Parses text[0..len). 0 on success; -1 with "line N: what" in e. */
int qp_pplog_parse(const char *text, size_t len, qp_pplog *out, qp_err *e);

/* Checks that the log measured a model with these facts: n_tensors
 * tensors holding n_bytes of tensor data over n_elem elements, file name
 * gguf_name (a path; its base name is compared with the log's model path
 * only when the log has no loader lines to check).  -1 with a message
 * naming the line and what differs; 1 (with a message saying why) when
 * the log names no model at all, so nothing can be checked. */
int qp_pplog_check_model(const qp_pplog *p, const char *gguf_name,
			 uint64_t n_tensors, uint64_t n_bytes, uint64_t n_elem,
			 qp_err *e);

/* The base name of a path (the part after the last '/'). */
const char *qp_path_base(const char *path);

#endif
