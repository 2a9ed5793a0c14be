#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool qp_progress_wanted(bool quiet)
{
	return !quiet && isatty(STDERR_FILENO);
}

void qp_progress_init(qp_progress *p, bool enabled, const char *label,
		      uint64_t total)
{
	*p = (qp_progress){.enabled = enabled, .label = label, .total = total};
}

void qp_progress_update(qp_progress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	double t = now_seconds();
	if (t - p->last_print < 0.25)
		return;
	p->last_print = t;
	if (p->total)
		fprintf(stderr, "\r%s: %llu/%llu (%.0f%%)", p->label,
			(unsigned long long)done, (unsigned long long)p->total,
			100.0 * (double)done / (double)p->total);
	else
		fprintf(stderr, "\r%s: %llu", p->label, (unsigned long long)done);
}

void qp_progress_end(qp_progress *p)
{
	if (p->enabled && p->last_print > 0)
		fputs("\r\033[K", stderr);
}
