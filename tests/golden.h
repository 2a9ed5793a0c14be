/* golden.h — what the quantizer unit tests' fingerprints share.
 *
 * Promise: xorshift01(&state) is the tests' uniform number in [0, 1), the
 * same sequence for the same seed on every build; golden_hash() quantizes
 * rows to a type and gives the fingerprint (fnv1a) of the bytes;
 * golden_write_data() writes rows and an importance vector in
 * bench/side_bench's data format, so that bench/ggml-side/ggml_harness
 * gives ggml's fingerprint of the same rows; golden_main() is a
 * fingerprint test's main: it checks each case (TAP), or prints the
 * fingerprints (--print-golden) or writes the rows (--write-data FILE).
 * Header-only.
 */
#ifndef QP_GOLDEN_H
#define QP_GOLDEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"
#include "tap.h"
#include "quant.h"
#include "types.h"

static inline double xorshift01(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (double)(*state >> 11) * 0x1p-53;
}

/* 0 and the fingerprint in *h, or -1 when the type refuses the rows */
static inline int golden_hash(uint32_t type, const float *x, int64_t rows,
			      int64_t cols, const float *imat, uint64_t *h)
{
	const int64_t ne[2] = {cols, rows};
	uint64_t nb;
	qp_err e;
	*h = 0;
	if (qp_type_nbytes(type, ne, 2, &nb, &e) < 0)
		return -1;
	uint8_t *q = malloc(nb);
	int rc = q ? qp_quantize(type, x, q, rows, cols, imat, &e) : -1;
	if (rc == 0)
		*h = fnv1a(q, nb);
	free(q);
	return rc < 0 ? -1 : 0;
}

/* 0 on success, 1 when the file cannot be written */
static inline int golden_write_data(const char *path, const float *x,
				    int64_t rows, int64_t cols,
				    const float *imat)
{
	FILE *f = fopen(path, "wb");
	const int64_t dims[2] = {rows, cols};
	const size_t n = (size_t)(rows * cols);
	int ok = f && fwrite(dims, sizeof dims, 1, f) == 1 &&
		 fwrite(x, sizeof *x, n, f) == n &&
		 fwrite(imat, sizeof *imat, (size_t)cols, f) == (size_t)cols;
	ok = f && fclose(f) == 0 && ok;
	return ok ? 0 : 1;
}

/* A type's fingerprints of the rows with the importance vector and
 * without it. */
typedef struct golden_case {
	uint32_t type;
	uint64_t fnv_imat, fnv_plain;
} golden_case;

/* The rows (x: rows x cols, imat: cols) against each case; imatrix false
 * checks the rows without one only.  rows_are and source name the rows
 * and where the fingerprints came from, for the test lines. */
static inline int golden_main(int argc, char **argv, const golden_case *cases,
			      size_t n_cases, const float *x, int64_t rows,
			      int64_t cols, const float *imat, bool imatrix,
			      const char *rows_are, const char *source)
{
	if (argc > 2 && strcmp(argv[1], "--write-data") == 0)
		return golden_write_data(argv[2], x, rows, cols, imat);
	const bool print = argc > 1 && strcmp(argv[1], "--print-golden") == 0;
	for (size_t k = 0; k < n_cases; k++) {
		const golden_case *c = &cases[k];
		char buf[16];
		const char *nm = qp_type_name(c->type, buf);
		uint64_t hi = 0, hp = 0;
		int rc = imatrix ? golden_hash(c->type, x, rows, cols, imat, &hi) : 0;
		rc |= golden_hash(c->type, x, rows, cols, NULL, &hp);
		if (print) {
			printf("%s 0x%016llxull 0x%016llxull\n", nm,
			       (unsigned long long)hi, (unsigned long long)hp);
			continue;
		}
		if (imatrix)
			ok(rc == 0 && hi == c->fnv_imat, "%s %s with imatrix: %s",
			   nm, rows_are, source);
		ok(rc == 0 && hp == c->fnv_plain, "%s %s without imatrix: %s",
		   nm, rows_are, source);
	}
	if (print)
		return 0;
	done_testing();
	return exit_status();
}

#endif
