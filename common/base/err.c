#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int qp_fail(qp_err *e, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int qp_fail_errno(qp_err *e, const char *fmt, ...)
{
	int saved = errno;
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
		size_t n = strlen(e->msg);
		snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	}
	errno = saved;
	return -1;
}

int qp_fail_prefix(qp_err *e, const char *fmt, ...)
{
	if (e) {
		char prefix[256], old[sizeof e->msg];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(prefix, sizeof prefix, fmt, ap);
		va_end(ap);
		memcpy(old, e->msg, sizeof old);
		size_t n = strlen(prefix);
		memcpy(e->msg, prefix, n);
		memcpy(e->msg + n, ": ", 2);
		size_t room = sizeof e->msg - n - 3;
		size_t m = strnlen(old, room);
		memcpy(e->msg + n + 2, old, m);
		e->msg[n + 2 + m] = '\0';
	}
	return -1;
}

int qp_fail_record(qp_err *e, unsigned long long index,
		   unsigned long long offset, const char *fmt, ...)
{
	if (e) {
		int n = snprintf(e->msg, sizeof e->msg,
				 "record %llu (byte offset %llu): ", index, offset);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg + n, sizeof e->msg - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void qp_warnf(const qp_warn *w, const char *fmt, ...)
{
	if (w->quiet || !w->fn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->fn(w->ctx, msg);
}
