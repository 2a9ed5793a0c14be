/* recipe_text.h — a recipe as text: ours, and what llama.cpp runs.
 *
 * Promise:
 *  - qp_rtext_parse() reads the recipe text format (DESIGN.md, "# quantpipe
 *    recipe 1" first, one REGEX=TYPE rule a line, POSIX extended regexes
 *    that must match the whole tensor name, first rule wins, '#' lines are
 *    comments) and names the line of anything malformed: a missing '=',
 *    an empty pattern, an unknown type, a regex that does not compile, a
 *    NUL byte, a header of another version.
 *  - qp_ttfile_parse() reads a llama-quantize --tensor-type-file exactly
 *    as llama-quantize does (whitespace-separated NAME=TYPE tokens, no
 *    comments) into llq_mix rules; a bad token is named with its line.
 *  - qp_rtext_sniff() tells the two apart by the header line.
 *  - qp_rtext_compress() states a per-tensor assignment as few, readable
 *    rules (one rule per role, layers listed only where they differ, roles
 *    with the same per-layer pattern joined, a final ".*" rule for the
 *    commonest type), checked against the assignment before it is
 *    returned: the rules give every tensor exactly its planned type.
 *  - The writers turn rules into the recipe text, a --tensor-type-file,
 *    --tensor-type arguments and ik_llama.cpp's --custom-q list, with the
 *    patterns anchored and escaped for llama-quantize's lower-casing
 *    substring search (an upper-case letter in a name becomes '.').
 * Nothing here exits or prints.
 */
#ifndef QP_RECIPE_TEXT_H
#define QP_RECIPE_TEXT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define QP_RTEXT_HEADER "# quantpipe recipe 1"

typedef struct qp_rtext_rule {
	char *regex;            /* POSIX ERE, whole-name */
	char *llama;            /* the same rule for llama-quantize (NULL
				   for rules read from a file) */
	uint32_t type;
	int line;               /* 1-based line in the file, 0 if generated */
	regex_t re;             /* compiled as ^(regex)$ */
} qp_rtext_rule;

typedef struct qp_rtext {
	qp_rtext_rule *v;
	size_t n, cap;
} qp_rtext;

void qp_rtext_free(qp_rtext *r);

/* Index of the first rule matching the whole name, or -1. */
long qp_rtext_match(const qp_rtext *r, const char *name);

/* 1 when text starts (after blank lines) with "# quantpipe recipe", 0
 * otherwise. */
int qp_rtext_sniff(const char *text, size_t len);

/* Parses the recipe text format. */
int qp_rtext_parse(const char *text, size_t len, qp_rtext *out, qp_err *e);

/* A --tensor-type-file; the rules are appended to *out (an llq_mix
 * qp_llq_rules, declared here opaquely to keep layers apart). */
struct qp_llq_rules;
int qp_ttfile_parse(const char *text, size_t len, struct qp_llq_rules *out,
		    qp_err *e);

/* The rules for an assignment: names[i] gets types[i] for every i with
 * decided[i] (tensors llama-quantize never quantizes have decided false
 * and get no rule). */
int qp_rtext_compress(const char *const *names, const uint32_t *types,
		      const bool *decided, size_t n, qp_rtext *out,
		      qp_err *e);

/* ---- writers (append to b) --------------------------------------------- */

/* The recipe text: the header, the comment lines given (each without
 * "# "), the rules. */
void qp_rtext_write(const qp_rtext *r, const char *const *comments,
		    size_t n_comments, qp_buf *b);
/* llama-quantize --tensor-type-file: one PATTERN=type token a line. */
void qp_rtext_write_ttfile(const qp_rtext *r, qp_buf *b);
/* llama-quantize options on one line, shell-quoted: --pure when asked,
 * one --tensor-type per rule; the ftype on the second line. */
void qp_rtext_write_args(const qp_rtext *r, bool pure, const char *ftype,
			 qp_buf *b);
/* ik_llama.cpp --custom-q: PATTERN=type,PATTERN=type on one line. */
void qp_rtext_write_custom_q(const qp_rtext *r, qp_buf *b);

#endif
