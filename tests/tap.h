/* tap.h — a small TAP producer for C unit tests run by prove.
 *
 * Promise: plan(n) or done_testing() prints the plan; every ok/is_* prints
 * one "ok N - name" / "not ok N - name" line with a diagnostic on failure;
 * exit_status() is 0 only when every test passed and the plan was kept.
 * Header-only, one file per test program (static state lives in main's
 * translation unit only).
 */
#ifndef QP_TAP_H
#define QP_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_run_, tap_failed_, tap_planned_ = -1;

static inline void plan(int n)
{
	tap_planned_ = n;
	printf("1..%d\n", n);
}

static inline void diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
}

static inline int ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", cond ? "" : "not ", ++tap_run_);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!cond)
		tap_failed_++;
	return cond;
}

#define is_int(got, want, ...)                                                 \
	do {                                                                   \
		long long g_ = (long long)(got), w_ = (long long)(want);       \
		if (!ok(g_ == w_, __VA_ARGS__))                                \
			diag("got %lld, want %lld", g_, w_);                   \
	} while (0)

#define is_double(got, want, tol, ...)                                         \
	do {                                                                   \
		double g_ = (got), w_ = (want), t_ = (tol);                    \
		if (!ok(fabs(g_ - w_) <= t_ || (isnan(g_) && isnan(w_)),       \
			__VA_ARGS__))                                          \
			diag("got %.17g, want %.17g (tol %g)", g_, w_, t_);    \
	} while (0)

#define is_str(got, want, ...)                                                 \
	do {                                                                   \
		const char *g_ = (got), *w_ = (want);                          \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))         \
			diag("got '%s', want '%s'", g_ ? g_ : "(null)",       \
			     w_ ? w_ : "(null)");                              \
	} while (0)

static inline void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
}

static inline void skip(int n, const char *why)
{
	for (int i = 0; i < n; i++)
		printf("ok %d # skip %s\n", ++tap_run_, why);
}

static inline void done_testing(void)
{
	if (tap_planned_ < 0) {
		tap_planned_ = tap_run_;
		printf("1..%d\n", tap_run_);
	}
}

static inline int exit_status(void)
{
	return (tap_failed_ || tap_run_ != tap_planned_) ? 1 : 0;
}

/* The fixtures folder (../shared/fixtures next to the checkout), or NULL
 * when it is absent; QP_FIXTURES overrides. */
static inline const char *tap_fixtures(void)
{
	static char path[4096];
	const char *env = getenv("QP_FIXTURES");
	const char *top = getenv("QP_TOP");
	if (env && *env)
		snprintf(path, sizeof path, "%s", env);
	else
		snprintf(path, sizeof path, "%s/../shared/fixtures",
			 top ? top : ".");
	FILE *f;
	char probe[4200];
	snprintf(probe, sizeof probe, "%s/README.txt", path);
	if (!(f = fopen(probe, "r")))
		return NULL;
	fclose(f);
	return path;
}

#endif
