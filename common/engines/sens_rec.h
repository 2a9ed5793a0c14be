/* sens_rec.h — the stats, imat and sens keys of a tensor record.
 *
 * Promise: packs what qp_sens_measure and qp_sens_normalise computed as
 * the values of the keys sens-score owns, in the layout man/quantpipe.5
 * documents; figures that do not exist (NaN) are nil.
 */
#ifndef QP_SENS_REC_H
#define QP_SENS_REC_H

#include <msgpack.h>
#include <stdbool.h>

#include "imatrix.h"
#include "imatrix_stats.h"
#include "sens.h"
#include "wstats.h"

/* The value of the "stats" key: a map. */
void qp_sens_pack_stats(msgpack_packer *pk, const qp_wstats *ws);
/* The value of the "sens" key; with_act: an imatrix was given. */
void qp_sens_pack_sens(msgpack_packer *pk, const qp_sens_tensor *s,
		       bool with_act, bool with_svd);
/* The value of the "imat" key for an entry and its statistics. */
void qp_sens_pack_imat(msgpack_packer *pk, const qp_imatrix_entry *ent,
		       const qp_imatrix_stats *st);

#endif
