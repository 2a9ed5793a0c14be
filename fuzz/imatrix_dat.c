/* libFuzzer target: the imatrix readers on arbitrary bytes (the legacy
 * .dat reader, and the GGUF one when the bytes start with "GGUF"), plus
 * statistics and layer averages on whatever they accept. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "imatrix.h"
#include "imatrix_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	qp_imatrix im;
	qp_err e;
	if (qp_imatrix_parse(data, size, &im, &e) != 0)
		return 0;
	qp_imatrix_stats *st = calloc((size_t)im.n_entries, sizeof *st);
	if (st && qp_imatrix_stats_compute(&im, st, &e) == 0) {
		qp_imatrix_layer_avg *la = NULL;
		int64_t nl;
		if (qp_imatrix_layer_averages(&im, st, &la, &nl, &e) == 0)
			free(la);
	}
	free(st);
	if (im.n_entries > 0)
		qp_imatrix_find(&im, im.entries[0].name);
	qp_imatrix_free(&im);
	return 0;
}
