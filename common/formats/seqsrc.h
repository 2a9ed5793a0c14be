/* seqsrc.h — GGUF from a source that can only be read front to back:
 * a pipe, standard input, or a member of an archive (libarchive).
 *
 * Promise: qp_seq_read_meta reads just enough bytes to parse the GGUF
 * metadata (growing its buffer, never past a cap), and qp_seq_read_at
 * then delivers tensor data in increasing offset order, skipping padding.
 * A stream that ends early is an error naming what was being read.
 */
#ifndef QP_SEQSRC_H
#define QP_SEQSRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "gguf.h"

/* Reads up to n bytes; 0 at end of stream, -1 with errno-style failure. */
typedef ssize_t (*qp_read_fn)(void *ctx, void *buf, size_t n);

typedef struct qp_seqsrc {
	qp_read_fn read;
	void *ctx;
	uint64_t pos;      /* stream offset of the next byte read */
	uint8_t *meta;     /* the metadata bytes (qp_gguf points into them) */
	size_t meta_len;
} qp_seqsrc;

/* Metadata larger than this is refused (tokenizers are tens of MB). */
#define QP_SEQ_MAX_META ((size_t)1 << 30)

ssize_t qp_read_fd(void *ctx, void *buf, size_t n); /* ctx: int * */

void qp_seq_init(qp_seqsrc *s, qp_read_fn read, void *ctx);
int qp_seq_read_meta(qp_seqsrc *s, qp_gguf *g, qp_err *e);
/* Reads n bytes starting at stream offset off (>= pos) into dst. */
int qp_seq_read_at(qp_seqsrc *s, uint64_t off, void *dst, uint64_t n,
		   qp_err *e);
void qp_seq_free(qp_seqsrc *s);

#endif
