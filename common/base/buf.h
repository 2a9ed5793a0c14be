/* buf.h — a growable byte buffer.
 *
 * Promise: appends never lose data silently: an allocation failure sets
 * oom, after which appends do nothing; the contents so far stay valid.
 * qp_grow doubles an array of any element type the same way (first
 * elements at first, never overflowing the size): on failure it returns
 * NULL and the array and *cap are as they were.
 */
#ifndef QP_BUF_H
#define QP_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct qp_buf {
	char *p;
	size_t len, cap;
	bool oom;
} qp_buf;

void qp_buf_append(qp_buf *b, const void *data, size_t n);
void qp_buf_putc(qp_buf *b, char c);
void qp_buf_puts(qp_buf *b, const char *s);
void qp_buf_printf(qp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void qp_buf_free(qp_buf *b);

/* The array p of *cap elements of elem bytes, reallocated to twice as
 * many (first when *cap is 0); *cap is updated. */
void *qp_grow(void *p, size_t *cap, size_t elem, size_t first);

#endif
