/* libFuzzer target: the record stream reader, then the JSON view of each
 * record it accepts, then the tensor-record field checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "rec.h"
#include "tensor_src.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[2];
	if (size > 1 << 16 || pipe(fds) != 0)
		return 0;
	if (write(fds[1], data, size) != (ssize_t)size) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	close(fds[1]);
	qp_reader *r = qp_reader_new(fds[0], "fuzz", 1 << 20);
	qp_map_cache *maps = qp_map_cache_new();
	qp_record rec;
	qp_err e;
	while (qp_reader_next(r, &rec, &e) == 1) {
		qp_buf b = {0};
		qp_json_from_obj(&b, &rec.map);
		qp_buf_free(&b);
		qp_tensor_ref t;
		if (qp_rec_is(&rec, "tensor") &&
		    qp_map_get(&rec.map, "data") != NULL)
			qp_tensor_ref_from_record(&rec, maps, &t, &e);
	}
	qp_map_cache_free(maps);
	qp_reader_free(r);
	close(fds[0]);
	return 0;
}
