#include "seqsrc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t qp_read_fd(void *ctx, void *buf, size_t n)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0 || errno != EINTR)
			return k;
	}
}

void qp_seq_init(qp_seqsrc *s, qp_read_fn read, void *ctx)
{
	*s = (qp_seqsrc){.read = read, .ctx = ctx};
}

/* Reads exactly n bytes (fewer only at end of stream: *got tells). */
static int seq_read_full(qp_seqsrc *s, uint8_t *dst, size_t n, size_t *got,
			 qp_err *e)
{
	*got = 0;
	while (*got < n) {
		ssize_t k = s->read(s->ctx, dst + *got, n - *got);
		if (k < 0)
			return qp_fail_errno(e, "read");
		if (k == 0)
			break;
		*got += (size_t)k;
		s->pos += (uint64_t)k;
	}
	return 0;
}

int qp_seq_read_meta(qp_seqsrc *s, qp_gguf *g, qp_err *e)
{
	size_t cap = 1 << 16;
	for (;;) {
		uint8_t *p = realloc(s->meta, cap);
		if (!p)
			return qp_fail(e, "out of memory reading GGUF metadata");
		s->meta = p;
		size_t got;
		if (seq_read_full(s, p + s->meta_len, cap - s->meta_len, &got, e) < 0)
			return -1;
		s->meta_len += got;
		bool at_end = s->meta_len < cap;
		int r = qp_gguf_parse(p, s->meta_len,
				      at_end ? s->meta_len : QP_GGUF_SIZE_UNKNOWN,
				      g, e);
		if (r <= 0 || at_end) {
			/* at_end with r == 1 cannot happen: a known size
			 * never asks for more. */
			return r == 0 ? 0 : -1;
		}
		qp_gguf_free(g);
		if (cap >= QP_SEQ_MAX_META)
			return qp_fail(e, "GGUF metadata larger than %zu bytes",
				       QP_SEQ_MAX_META);
		cap *= 2;
	}
}

int qp_seq_read_at(qp_seqsrc *s, uint64_t off, void *dst, uint64_t n,
		   qp_err *e)
{
	/* The metadata buffer holds stream bytes [0, meta_len), which may
	 * include the start of the tensor data. */
	uint8_t *out = dst;
	if (off < s->meta_len) {
		uint64_t k = s->meta_len - off < n ? s->meta_len - off : n;
		memcpy(out, s->meta + off, (size_t)k);
		out += k;
		off += k;
		n -= k;
	}
	if (n == 0)
		return 0;
	if (off < s->pos)
		return qp_fail(e, "tensor data out of order at offset %llu: "
			       "a stream is read front to back",
			       (unsigned long long)off);
	uint8_t skip[4096];
	while (s->pos < off) {
		uint64_t want = off - s->pos;
		size_t got;
		size_t k = want < sizeof skip ? (size_t)want : sizeof skip;
		if (seq_read_full(s, skip, k, &got, e) < 0)
			return -1;
		if (got < k)
			return qp_fail(e, "stream ends at offset %llu, before "
				       "tensor data at %llu",
				       (unsigned long long)s->pos,
				       (unsigned long long)off);
	}
	size_t got;
	if (seq_read_full(s, out, (size_t)n, &got, e) < 0)
		return -1;
	if (got < n)
		return qp_fail(e, "stream ends at offset %llu, inside tensor "
			       "data that runs to %llu",
			       (unsigned long long)s->pos,
			       (unsigned long long)(off + n));
	return 0;
}

void qp_seq_free(qp_seqsrc *s)
{
	free(s->meta);
	s->meta = NULL;
	s->meta_len = 0;
}
