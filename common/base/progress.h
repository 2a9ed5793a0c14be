/* progress.h — progress on stderr for long work.
 *
 * Promise: prints only when enabled (the filter passes: stderr is a
 * terminal and -q was not given), at most a few times a second, on one
 * line it rewrites with \r, and clears the line when done.  Never writes
 * to stdout.
 */
#ifndef QP_PROGRESS_H
#define QP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct qp_progress {
	bool enabled;
	const char *label;
	uint64_t total;
	double last_print;
} qp_progress;

void qp_progress_init(qp_progress *p, bool enabled, const char *label,
		      uint64_t total);
void qp_progress_update(qp_progress *p, uint64_t done);
void qp_progress_end(qp_progress *p);
/* stderr is a terminal and not quiet */
bool qp_progress_wanted(bool quiet);

#endif
