/* shard.h — one filter's work split over N processes, and merged back.
 *
 * Promise (sharder): a filter run as shard I of N (0 <= I < N) reads the
 * whole stream, writes every record it does not work on (pass-through)
 * and works only on its share of the tensor records.  The share is fixed
 * before any work: all tensor records of the stream, in stream order,
 * are balanced over the N shards by work (n_elem x the filter's work per
 * element, e.g. the number of types), largest first onto the least
 * loaded shard, ties to the earlier record and the lower shard: the same
 * stream and N give every shard the same assignment, whatever the order
 * the shards run in.  Each record a shard writes is preceded by a
 * `shard` record {kind, shard: I, of: N, seq: K}: K is the record's
 * position in the input stream (1-based, across operands), which for a
 * one-record-in, one-record-out filter is its position in the unsharded
 * output.  The shard keeps the tensor records in memory until the end of
 * its input (their bytes: small for records that point into a mapped
 * file, large when they carry inline data).
 *
 * Promise (merger): fed the records of any number of shard outputs, in
 * any order, as one stream, it checks that they are N outputs of one run
 * (the same N, every shard 0..N-1 present, the meta records, which the
 * shards write without the --shard option, byte-identical, a record
 * written by several shards byte-identical in each, every position 1..K
 * present) and writes the meta record once, then every record in
 * position order without the shard records: byte for byte the unsharded
 * run's output.  Anything else is an error naming the record.
 */
#ifndef QP_SHARD_H
#define QP_SHARD_H

#include <stdint.h>

#include "err.h"
#include "rec.h"

typedef struct qp_shard_spec {
	uint32_t index, count; /* shard index of count, 0-based */
} qp_shard_spec;

/* "I/N" with 0 <= I < N <= 65536. */
int qp_shard_parse(const char *arg, qp_shard_spec *s, qp_err *e);

/* A malloc'd copy of argv (NULL-terminated) without "--shard X",
 * "--shard=X" and the output option ("-o X", "-oX", "--output X",
 * "--output=X"), for a shard's meta record: every shard then writes the
 * same meta, that of the unsharded run writing to standard output, and
 * so does their merge.  NULL on allocation failure. */
char **qp_shard_strip_argv(int argc, char **argv, int *out_argc);

/* Balances work[0..n) over count shards (see above): owner[i] is the
 * shard of item i.  -1 on allocation failure. */
int qp_shard_assign(const uint64_t *work, size_t n, uint32_t count,
		    uint32_t *owner, qp_err *e);

/* ---- the sharded filter ------------------------------------------------ */

typedef struct qp_sharder qp_sharder;

/* Works on one kept tensor record, writing its output record(s). */
typedef int (*qp_shard_work_fn)(void *ctx, const qp_record *rec, qp_writer *w,
				qp_err *e);

qp_sharder *qp_sharder_new(qp_shard_spec spec, uint64_t work_per_elem);
void qp_sharder_free(qp_sharder *s);
/* Takes one input record: a tensor record is kept, any other is written
 * (after its shard record). */
int qp_sharder_record(qp_sharder *s, const qp_record *rec, qp_writer *w,
		      qp_err *e);
/* After the last record: assigns the tensors and runs fn on this shard's
 * in stream order, each after its shard record. */
int qp_sharder_finish(qp_sharder *s, qp_writer *w, qp_shard_work_fn fn,
		      void *ctx, qp_err *e);
/* Every kept tensor record, in stream order, to fn (before finish): for
 * a filter whose per-tensor work depends on state all tensors build, so a
 * shard builds it as the unsharded run does. */
typedef int (*qp_kept_fn)(void *ctx, const qp_record *rec, qp_err *e);
int qp_sharder_each_kept(const qp_sharder *s, qp_kept_fn fn, void *ctx,
			 qp_err *e);
/* How many tensors this shard works on (valid after finish started; for
 * progress). */
uint64_t qp_sharder_owned(const qp_sharder *s);

/* ---- the merge --------------------------------------------------------- */

typedef struct qp_merger qp_merger;

qp_merger *qp_merger_new(void);
void qp_merger_free(qp_merger *m);
int qp_merger_add(qp_merger *m, const qp_record *rec, qp_err *e);
/* Checks completeness, writes the merged stream. */
int qp_merger_finish(qp_merger *m, qp_writer *w, qp_err *e);
/* The same checks, then the merged stream's records (meta first), each
 * record's exact bytes to fn: for a filter that completes the merged
 * stream before writing it (sens-score --merge). */
typedef int (*qp_raw_fn)(void *ctx, const uint8_t *raw, size_t len,
			 qp_err *e);
int qp_merger_each(qp_merger *m, qp_raw_fn fn, void *ctx, qp_err *e);

#endif
