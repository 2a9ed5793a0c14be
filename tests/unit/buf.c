/* buf.h's qp_grow and err.h's qp_warn: the helpers the engines share. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "buf.h"
#include "err.h"

static void test_grow(void)
{
	size_t cap = 0;
	int *v = qp_grow(NULL, &cap, sizeof *v, 64);
	ok(v && cap == 64, "an empty array gets the first size");
	for (int i = 0; v && i < 64; i++)
		v[i] = i;
	int *w = v ? qp_grow(v, &cap, sizeof *w, 64) : NULL;
	ok(w && cap == 128 && w[63] == 63, "a full one doubles and keeps its elements");
	if (w)
		v = w;
	size_t huge = SIZE_MAX / 2 + 1;
	ok(!qp_grow(v, &huge, 1, 64) && huge == SIZE_MAX / 2 + 1,
	   "a size that would overflow fails and leaves the capacity");
	size_t big = SIZE_MAX / 16;
	ok(!qp_grow(v, &big, 16, 64) && big == SIZE_MAX / 16,
	   "so does one whose bytes would overflow");
	free(v);
}

typedef struct heard {
	int n;
	char last[64];
} heard;

static void listen(void *ctx, const char *msg)
{
	heard *h = ctx;
	h->n++;
	snprintf(h->last, sizeof h->last, "%s", msg);
}

static void test_warn(void)
{
	heard h = {0};
	qp_warn w = {listen, &h, false};
	qp_warnf(&w, "rule %d '%s' decides no tensor", 2, "x");
	ok(h.n == 1 && !strcmp(h.last, "rule 2 'x' decides no tensor"),
	   "a warning is formatted and handed to the sink");
	w.quiet = true;
	qp_warnf(&w, "dropped");
	ok(h.n == 1, "quiet drops it");
	qp_warn none = {0};
	qp_warnf(&none, "nobody listens");
	ok(1, "a sink without a function drops it");
}

int main(void)
{
	plan(7);
	test_grow();
	test_warn();
	return exit_status();
}
