/* libFuzzer target: JSON lines to records (rec-show --from-json), each
 * line through jansson and the msgpack packer, then the writer's check
 * that a record is one map. */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	qp_writer *w = qp_writer_new(fd, false);
	qp_err e;
	const char *p = (const char *)data, *end = p + size;
	long lineno = 0;
	while (w && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (qp_json_line_to_record(p, len, ++lineno, w, &e) < 0)
			break;
		p += len;
	}
	qp_writer_close(w, &e);
	close(fd);
	return 0;
}
