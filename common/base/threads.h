/* threads.h — a parallel for over independent items.
 *
 * Promise: qp_parallel_for calls fn(ctx, i) exactly once for each i in
 * [0, n), on up to n_threads threads (1 = the calling thread only).  Items
 * are handed out in index order; callers write each item's result into its
 * own slot and combine slots in index order, so results never depend on
 * the thread count.  Returns the status of the lowest-indexed failing item
 * (0 when all succeeded); once an item fails, items not yet started are
 * skipped.
 */
#ifndef QP_THREADS_H
#define QP_THREADS_H

#include <stddef.h>

typedef int (*qp_item_fn)(void *ctx, size_t i);

int qp_parallel_for(int n_threads, size_t n, qp_item_fn fn, void *ctx);

#endif
