/* qerr_rec.h — the qerr key of a tensor record.
 *
 * Promise: packs the results of qp_qerr_tensor as the value of the
 * tensor record's "qerr" key, in the layout man/quantpipe.5 documents
 * (one map per result, in the order measured; "as" nil where
 * llama-quantize would abort).
 */
#ifndef QP_QERR_REC_H
#define QP_QERR_REC_H

#include <msgpack.h>
#include <stdbool.h>

#include "qerr.h"

/* Packs the qerr map {KEY: {...}} for the results; imatrix_given adds
 * "imatrix": true/false to each measured result. */
void qp_qerr_pack(msgpack_packer *pk, const qp_qerr_result *res, int n,
		  bool imatrix_given);

#endif
