/* libFuzzer target: rec-merge's merge of shard outputs, fed any stream. */
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#include "rec.h"
#include "shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[2], out;
	if (size > 1 << 16 || pipe(fds) != 0)
		return 0;
	if (write(fds[1], data, size) != (ssize_t)size) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	close(fds[1]);
	out = open("/dev/null", O_WRONLY);
	qp_reader *r = qp_reader_new(fds[0], "fuzz", 1 << 20);
	qp_writer *w = qp_writer_new(out, false);
	qp_merger *m = qp_merger_new();
	qp_record rec;
	qp_err e;
	int st;
	while ((st = qp_reader_next(r, &rec, &e)) == 1)
		if (qp_merger_add(m, &rec, &e) < 0)
			break;
	if (st == 0)
		qp_merger_finish(m, w, &e);
	qp_merger_free(m);
	qp_writer_close(w, &e);
	qp_reader_free(r);
	close(fds[0]);
	close(out);
	return 0;
}
