/* gguf_dump.h — GGUF files to model and tensor records (gguf-dump's
 * engine).
 *
 * Promise: qp_dump_input writes, for one input operand, one model record
 * and one tensor record per tensor, in the file's tensor order:
 *  - a path to a GGUF file is mapped read-only; tensors name the file and
 *    their absolute offset; the first shard of a split model
 *    (*-00001-of-0000N.gguf) brings in the other shards, checked for
 *    consistency, and each tensor names the shard it lives in;
 *  - "-" or a pipe is read front to back and tensor data is inlined;
 *  - an archive (tar, tar.gz, tar.zst, tar.xz, zip ...) through libarchive:
 *    each .gguf member is its own model, data inlined, path
 *    "ARCHIVE#MEMBER".
 * With crc, each tensor gets crc32 (zlib) of its data bytes, computed on
 * `threads` threads for mapped files with a result independent of the
 * thread count.  Model ids are unique within one qp_dumper.
 */
#ifndef QP_GGUF_DUMP_H
#define QP_GGUF_DUMP_H

#include <stdbool.h>

#include "err.h"
#include "rec.h"

typedef struct qp_dump_opts {
	bool kv_full;
	bool crc;
	bool data;          /* inline data even when the file is mapped */
	int threads;
	const char *id;     /* model id for the (single) input, or NULL */
} qp_dump_opts;

typedef struct qp_dumper qp_dumper;

qp_dumper *qp_dumper_new(qp_writer *w, const qp_dump_opts *opts);
void qp_dumper_free(qp_dumper *d);
/* Dumps one operand; on failure e holds the reason (without the operand's
 * name, which the caller prints). */
int qp_dump_input(qp_dumper *d, const char *operand, qp_err *e);

#endif
