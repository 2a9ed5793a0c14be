/* libFuzzer target: rec-show --from-json's path, JSON text (jansson) to a
 * record, checked the way every reader checks it, then read back by the
 * record reader and shown as JSON again. */
#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[2];
	if (size > 1 << 14 || pipe(fds) != 0)
		return 0;
	qp_writer *w = qp_writer_new(fds[1], false);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, 0, &jerr);
	qp_err e;
	if (j && json_is_object(j) &&
	    qp_json_to_msgpack(j, qp_writer_packer(w), &e) == 0)
		qp_writer_end_checked(w, &e);
	json_decref(j);
	qp_writer_close(w, &e);
	close(fds[1]);
	qp_reader *r = qp_reader_new(fds[0], "fuzz", 1 << 20);
	qp_record rec;
	while (qp_reader_next(r, &rec, &e) == 1) {
		qp_buf b = {0};
		qp_json_from_obj(&b, &rec.map);
		qp_buf_free(&b);
	}
	qp_reader_free(r);
	close(fds[0]);
	return 0;
}
