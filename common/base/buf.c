#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool buf_reserve(qp_buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->cap - b->len > extra)
		return true;
	size_t want = b->len + extra + 1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want) {
		if (cap > ((size_t)-1) / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void qp_buf_append(qp_buf *b, const void *data, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void qp_buf_putc(qp_buf *b, char c)
{
	qp_buf_append(b, &c, 1);
}

void qp_buf_puts(qp_buf *b, const char *s)
{
	qp_buf_append(b, s, strlen(s));
}

void qp_buf_printf(qp_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		qp_buf_append(b, small, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void qp_buf_free(qp_buf *b)
{
	free(b->p);
	*b = (qp_buf){0};
}

void *qp_grow(void *p, size_t *cap, size_t elem, size_t first)
{
	size_t n = *cap ? 2 * *cap : first;
	if (n < *cap || (elem && n > SIZE_MAX / elem))
		return NULL;
	void *q = realloc(p, n * elem);
	if (q)
		*cap = n;
	return q;
}
