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

/* ---- a sharded run's per-tensor parts (sens-score --shard, --merge) ----
 *
 * A shard measures its tensors but cannot normalise them over the model:
 * its "sens" key holds only what qp_sens_measure gave (and the run's
 * options the completion needs), marked "partial": true.  The merge reads
 * them back, exactly (doubles as float64, NaN as nil), normalises the
 * whole model and writes the "sens" key an unsharded run writes. */

typedef struct qp_sens_run_opts {
	bool with_svd, with_act; /* --no-svd not given; an imatrix given */
	double mem_bw;           /* -b, or 0 */
} qp_sens_run_opts;

void qp_sens_pack_partial(msgpack_packer *pk, const qp_sens_tensor *s,
			  const qp_sens_run_opts *o);
/* From the value of a "sens" key: 1 and *s (layer, family and n_elem
 * left as they are; s->sv malloc'd) and *o when it is a partial one, 0
 * when it is not (no partial marker), -1 when a partial one is
 * malformed (e says which field). */
int qp_sens_read_partial(const msgpack_object *sens, qp_sens_tensor *s,
			 qp_sens_run_opts *o, qp_err *e);

#endif
