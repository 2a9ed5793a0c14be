#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct pool {
	qp_item_fn fn;
	void *ctx;
	size_t n;
	atomic_size_t next;
	atomic_size_t first_failed; /* n when none failed */
	pthread_mutex_t lock;
	int status;
} pool;

static void record_failure(pool *p, size_t i, int status)
{
	pthread_mutex_lock(&p->lock);
	if (i < atomic_load(&p->first_failed)) {
		atomic_store(&p->first_failed, i);
		p->status = status;
	}
	pthread_mutex_unlock(&p->lock);
}

static void *worker(void *arg)
{
	pool *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n || i > atomic_load(&p->first_failed))
			return NULL;
		int status = p->fn(p->ctx, i);
		if (status != 0)
			record_failure(p, i, status);
	}
}

int qp_parallel_for(int n_threads, size_t n, qp_item_fn fn, void *ctx)
{
	pool p = {.fn = fn, .ctx = ctx, .n = n};
	atomic_init(&p.next, 0);
	atomic_init(&p.first_failed, n);
	pthread_mutex_init(&p.lock, NULL);
	size_t extra = n_threads > 1 ? (size_t)n_threads - 1 : 0;
	if (extra > n)
		extra = n;
	pthread_t *tids = extra ? calloc(extra, sizeof *tids) : NULL;
	size_t started = 0;
	for (; tids && started < extra; started++)
		if (pthread_create(&tids[started], NULL, worker, &p) != 0)
			break; /* fewer threads is still correct */
	worker(&p);
	for (size_t t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	free(tids);
	pthread_mutex_destroy(&p.lock);
	return p.status;
}
