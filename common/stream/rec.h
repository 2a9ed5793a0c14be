/* rec.h — the record stream: msgpack maps back to back.
 *
 * Promise (reader): qp_reader_next() returns one whole record at a time
 * from a file descriptor read with read(2) into one bounded buffer.  It
 * tells a clean end of stream (0) from a stream that ends inside a record
 * (-1, "truncated record N at byte offset X"); a record larger than the
 * cap, garbage bytes, a top-level value that is not a map, or a map without
 * a "kind" string are errors naming the record number and byte offset.
 * A claimed length (a 4 GiB string, say) never allocates more than the
 * bytes really read, and never more than the cap.  Each record carries its
 * exact bytes, so a filter passes records it does not consume through byte
 * for byte.  The decoded map (msgpack-c objects) is valid until the next
 * call.
 *
 * Promise (writer): records are packed with msgpack-c into a per-record
 * buffer and written with write(2) in large chunks; the first write error
 * is latched and reported by qp_writer_close(), which also flushes.  In
 * JSON mode (standard output is a terminal) each record is written as one
 * line of JSON instead.
 */
#ifndef QP_REC_H
#define QP_REC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define QP_SCHEMA_MAJOR 1
/* Default cap on one record: large enough for a tensor with inline data. */
#define QP_DEFAULT_MAX_RECORD ((size_t)8 << 30)

typedef struct qp_reader qp_reader;

typedef struct qp_record {
	const uint8_t *raw;       /* the record's exact bytes */
	size_t raw_len;
	msgpack_object map;       /* decoded; type MSGPACK_OBJECT_MAP */
	const char *kind;         /* the "kind" string (not NUL-terminated) */
	size_t kind_len;
	uint64_t index;           /* 1-based record number in this stream */
	uint64_t offset;          /* byte offset of the record's first byte */
	const char *source;       /* stream name for messages ("-" = stdin) */
} qp_record;

/* name is used in messages; max_record 0 means QP_DEFAULT_MAX_RECORD.
 * NULL on allocation failure. The reader does not close fd. */
qp_reader *qp_reader_new(int fd, const char *name, size_t max_record);
void qp_reader_free(qp_reader *r);
/* 1: a record in *rec; 0: clean end of stream; -1: error in e. */
int qp_reader_next(qp_reader *r, qp_record *rec, qp_err *e);

/* A record kept past the reader's next call (filters that must see a
 * whole model before writing): its own copy of the bytes, decoded again.
 * rec is valid until qp_kept_free. */
typedef struct qp_kept_record {
	uint8_t *raw;
	msgpack_unpacked unp;
	qp_record rec;
} qp_kept_record;

int qp_record_keep(const qp_record *src, qp_kept_record *dst, qp_err *e);
void qp_kept_free(qp_kept_record *k);
/* A record from its exact bytes (one msgpack map with a string "kind"),
 * decoded into dst; index is its number in the stream it stands for. */
int qp_record_from_raw(const uint8_t *raw, size_t len, uint64_t index,
		       qp_kept_record *dst, qp_err *e);

/* Containers (maps, arrays) a record may nest, the record's own map
 * included: msgpack-c's decoder (MSGPACK_EMBED_STACK_SIZE) fails on more,
 * so the framing refuses them first, with its own message. */
#define QP_MSGPACK_MAX_DEPTH 32

/* Validates a complete msgpack value at p (used by the reader and by
 * anything handed raw bytes): 1 and its length in *len when p[0..n) starts
 * with one complete value, 0 when more bytes are needed, -1 when the bytes
 * cannot be msgpack, -2 when it nests more than QP_MSGPACK_MAX_DEPTH
 * containers. Never recurses. */
int qp_msgpack_span(const uint8_t *p, size_t n, size_t *len);

/* What every reader demands of a decoded record: a string "kind"; a meta
 * record's integer "schema" equal to QP_SCHEMA_MAJOR. */
int qp_record_check(const msgpack_object *map, qp_err *e);

/* ---- field access: NULL / -1 with a message naming record and field ---- */

bool qp_rec_is(const qp_record *rec, const char *kind);
const msgpack_object *qp_map_get(const msgpack_object *map, const char *key);
bool qp_obj_str_eq(const msgpack_object *o, const char *s);
/* Follows a dotted path ("qerr.Q4_K.rel") through nested maps. */
const msgpack_object *qp_map_path(const msgpack_object *map, const char *path);

int qp_rec_str(const qp_record *rec, const char *key, char *buf, size_t size,
	       qp_err *e);
int qp_rec_int(const qp_record *rec, const char *key, int64_t *out,
	       qp_err *e);
int qp_rec_uint(const qp_record *rec, const char *key, uint64_t *out,
		qp_err *e);
int qp_rec_double(const qp_record *rec, const char *key, double *out,
		  qp_err *e);
/* A number of any msgpack kind (float or integer) as a double; false for
 * NULL or anything else. */
bool qp_obj_number(const msgpack_object *o, double *out);
/* Fails when the field is missing or of the wrong type. */
const msgpack_object *qp_rec_field(const qp_record *rec, const char *key,
				   msgpack_object_type want, qp_err *e);
const char *qp_obj_type_name(msgpack_object_type t);

/* ---- writer ------------------------------------------------------------ */

typedef struct qp_writer qp_writer;

/* json: write each record as a JSON line instead of msgpack. */
qp_writer *qp_writer_new(int fd, bool json);
/* Packs into the record being built. */
msgpack_packer *qp_writer_packer(qp_writer *w);
/* Ends the record being built (must be exactly one map) and queues it. */
int qp_writer_end(qp_writer *w, qp_err *e);
/* The same for a record built from foreign input (rec-show --from-json):
 * first checks it the way every reader will (qp_record_check, nesting),
 * so nothing is written that the next program refuses. */
int qp_writer_end_checked(qp_writer *w, qp_err *e);
/* Queues a whole record's bytes unchanged (pass-through). */
int qp_writer_raw(qp_writer *w, const uint8_t *p, size_t n, qp_err *e);
/* Flushes, reports the first latched write error; frees w. Does not close
 * the fd. */
int qp_writer_close(qp_writer *w, qp_err *e);

/* Starts an enriched copy of rec: a map holding every field of rec except
 * own_key, then own_key itself, whose value the caller packs next, then
 * qp_writer_end(). */
int qp_writer_enrich(qp_writer *w, const qp_record *rec, const char *own_key);

/* The same for a filter that owns several keys: every field of rec except
 * the n_own keys in own, then room for n_new fields that the caller packs
 * (key, value) before qp_writer_end(). */
int qp_writer_enrich_keys(qp_writer *w, const qp_record *rec,
			  const char *const *own, int n_own, uint32_t n_new);

/* ---- maps that count their own entries --------------------------------
 *
 * msgpack writes a map's size before its entries.  A qp_mapw holds the
 * entries in a buffer of its own and counts them as they are added, so
 * nobody sizes a map by hand:
 *
 *     qp_mapw m;
 *     qp_mapw_begin(&m, pk);
 *     qp_pack_key_num(qp_mapw_key(&m, "mean"), NULL, mean);   // or:
 *     qp_pack_str(qp_mapw_key(&m, "name"), name);
 *     if (has_note) qp_pack_str(qp_mapw_key(&m, "note"), note);
 *     qp_mapw_end(&m);   // header with the count, then the entries, to pk
 *
 * qp_mapw_key packs the key and returns the packer for exactly one value
 * (which may itself be a map: open another qp_mapw on that packer).  The
 * bytes are the same as a hand-sized map's.  An allocation failure is
 * passed on to the packer the map was opened on (qp_writer_end reports
 * it). */
typedef struct qp_mapw {
	qp_buf buf;
	msgpack_packer pk;
	msgpack_packer *out; /* NULL: a detached map (qp_writer_enrich_map) */
	uint32_t n;
} qp_mapw;

void qp_mapw_begin(qp_mapw *m, msgpack_packer *out);
msgpack_packer *qp_mapw_key(qp_mapw *m, const char *key);
void qp_mapw_end(qp_mapw *m);
/* Forgets the entries (after a failure); nothing is written. */
void qp_mapw_drop(qp_mapw *m);

/* Enriches rec with the fields of own (opened with out NULL): every field
 * of rec except the n_own keys in own_keys, then own's entries; then
 * call qp_writer_end().  Frees own. */
int qp_writer_enrich_map(qp_writer *w, const qp_record *rec,
			 const char *const *own_keys, int n_own, qp_mapw *own);

/* ---- undefined becomes nil ----------------------------------------------
 *
 * One rule for values that do not exist: they are written as nil, never
 * as a made-up number.  A double that is NaN (not computable: 0/0, a
 * score of a tensor that is not a matrix, a figure without its input) is
 * nil; an integer that is negative where only counts and sizes can be
 * (the -1 "unknown" of a hyperparameter) is nil with qp_pack_count.
 * Infinities are real results (the SQNR of an exact round trip is +inf)
 * and stay doubles; JSON, which has none, shows them as null. */
void qp_pack_num(msgpack_packer *pk, double v);
void qp_pack_count(msgpack_packer *pk, int64_t v);
void qp_pack_key_num(msgpack_packer *pk, const char *key, double v);
void qp_pack_key_count(msgpack_packer *pk, const char *key, int64_t v);

/* The provenance record every filter writes before its first output. */
int qp_write_meta(qp_writer *w, const char *tool, int argc, char **argv,
		  qp_err *e);

/* Packing shorthands. */
void qp_pack_str(msgpack_packer *pk, const char *s);
void qp_pack_strn(msgpack_packer *pk, const char *s, size_t n);
void qp_pack_key_str(msgpack_packer *pk, const char *key, const char *val);
void qp_pack_key_int(msgpack_packer *pk, const char *key, int64_t val);
void qp_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t val);
void qp_pack_key_double(msgpack_packer *pk, const char *key, double val);
void qp_pack_key_bool(msgpack_packer *pk, const char *key, bool val);
void qp_pack_bool(msgpack_packer *pk, bool val);

#endif
