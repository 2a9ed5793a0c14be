/* libFuzzer target for the archive input path: the input is written to a
 * file and dumped as gguf-dump dumps an operand that is not a GGUF file
 * (libarchive, gzip members checked by zlib, each .gguf member parsed
 * front to back through seqsrc, records written to /dev/null). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf_dump.h"
#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int file_fd = -1, null_fd = -1;

static int setup(void)
{
	if (file_fd >= 0)
		return 0;
	/* removed at once and named through /proc: nothing is left behind */
	char tmp[] = "/tmp/qp-fuzz-archive-XXXXXX";
	file_fd = mkstemp(tmp);
	if (file_fd < 0)
		return -1;
	unlink(tmp);
	snprintf(path, sizeof path, "/proc/self/fd/%d", file_fd);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return null_fd >= 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a GGUF file is mapped, not read as an archive: gguf_parse's target */
	if (size >= 4 && memcmp(data, "GGUF", 4) == 0)
		return 0;
	if (setup() != 0)
		abort();
	if (ftruncate(file_fd, 0) != 0 || pwrite(file_fd, data, size, 0) != (ssize_t)size)
		abort();
	qp_writer *w = qp_writer_new(null_fd, false);
	if (!w)
		return 0;
	qp_dump_opts o = {.crc = true, .threads = 1};
	qp_dumper *d = qp_dumper_new(w, &o);
	if (d) {
		qp_err e;
		const char *operand;
		if (qp_dump_input(d, path, &e) == 0)
			qp_dump_finish(d, &operand, &e);
		qp_dumper_free(d);
	}
	qp_err e;
	qp_writer_close(w, &e);
	return 0;
}
