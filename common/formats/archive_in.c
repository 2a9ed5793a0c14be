#include "archive_in.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IN_CHUNK ((size_t)1 << 18)
#define OUT_CHUNK ((size_t)1 << 18)

/* zlib side of a gzip-compressed archive: inflates member after member
 * (gzip allows several back to back), zlib checking each trailer. */
typedef struct gz_stream {
	int fd;
	z_stream z;
	bool z_live;     /* inflateInit2 done */
	bool in_member;  /* inside a member: its end is still to come */
	bool eof;        /* the file is read to its end */
	bool done;       /* every member is read and checked */
	uint8_t *in, *out;
	char err[200];   /* first failure, kept for qp_archive_finish */
} gz_stream;

struct qp_archive_in {
	struct archive *a;
	gz_stream *gz;  /* NULL when libarchive reads the file itself */
};

static int gz_fill(gz_stream *g)
{
	if (g->z.avail_in > 0 || g->eof)
		return 0;
	ssize_t k;
	do
		k = read(g->fd, g->in, IN_CHUNK);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		snprintf(g->err, sizeof g->err, "gzip: read: %s", strerror(errno));
		return -1;
	}
	if (k == 0)
		g->eof = true;
	g->z.next_in = g->in;
	g->z.avail_in = (uInt)k;
	return 0;
}

/* Bytes between members: another member starts with the gzip magic;
 * anything else after the last member is refused (gzip -t warns about
 * trailing garbage; a flipped byte there must not pass either). */
static int gz_next_member(gz_stream *g)
{
	if (gz_fill(g) < 0)
		return -1;
	if (g->z.avail_in == 0 && g->eof) {
		g->done = true;
		return 0;
	}
	if (g->z.next_in[0] != 0x1f) {
		snprintf(g->err, sizeof g->err,
			 "gzip: trailing garbage after the last member");
		return -1;
	}
	if (inflateReset(&g->z) != Z_OK) {
		snprintf(g->err, sizeof g->err, "gzip: inflateReset failed");
		return -1;
	}
	g->in_member = true;
	return 0;
}

/* Up to n decompressed bytes into dst; 0 at the checked end. */
static ssize_t gz_read(gz_stream *g, uint8_t *dst, size_t n)
{
	if (g->err[0])
		return -1;
	size_t got = 0;
	while (got == 0 && !g->done) {
		if (!g->in_member) {
			if (gz_next_member(g) < 0)
				return -1;
			continue;
		}
		if (gz_fill(g) < 0)
			return -1;
		if (g->z.avail_in == 0 && g->eof) {
			snprintf(g->err, sizeof g->err,
				 "gzip: unexpected end of the compressed data (truncated)");
			return -1;
		}
		g->z.next_out = dst;
		g->z.avail_out = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
		int rc = inflate(&g->z, Z_NO_FLUSH);
		got = (size_t)(g->z.next_out - dst);
		if (rc == Z_STREAM_END) {
			g->in_member = false;
		} else if (rc == Z_BUF_ERROR && got == 0 && g->z.avail_in == 0) {
			continue; /* needs input: gz_fill reads more */
		} else if (rc != Z_OK) {
			snprintf(g->err, sizeof g->err, "gzip: %s",
				 g->z.msg ? g->z.msg : "corrupt data");
			return -1;
		}
	}
	return (ssize_t)got;
}

static la_ssize_t gz_archive_read(struct archive *a, void *ctx,
				  const void **buf)
{
	gz_stream *g = ctx;
	ssize_t k = gz_read(g, g->out, OUT_CHUNK);
	if (k < 0) {
		archive_set_error(a, EIO, "%s", g->err);
		return -1;
	}
	*buf = g->out;
	return k;
}

static void gz_free(gz_stream *g)
{
	if (!g)
		return;
	if (g->z_live)
		inflateEnd(&g->z);
	if (g->fd >= 0)
		close(g->fd);
	free(g->in);
	free(g->out);
	free(g);
}

static int gz_open(int fd, gz_stream **out, qp_err *e)
{
	gz_stream *g = calloc(1, sizeof *g);
	if (!g)
		return qp_fail(e, "out of memory");
	g->fd = fd;
	g->in = malloc(IN_CHUNK);
	g->out = malloc(OUT_CHUNK);
	if (!g->in || !g->out) {
		gz_free(g);
		return qp_fail(e, "out of memory");
	}
	/* 16 + MAX_WBITS: gzip wrapper only, trailer CRC-32 and ISIZE checked */
	if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
		gz_free(g);
		return qp_fail(e, "gzip: inflateInit2 failed");
	}
	g->z_live = true;
	g->in_member = true;
	*out = g;
	return 0;
}

/* The file says it is compressed or a zip (xz, zstd, bzip2, zip): when
 * libarchive cannot open it, it is a damaged archive, not something else. */
static bool has_compressed_magic(const uint8_t *m, ssize_t n)
{
	static const struct { const char *bytes; size_t len; } known[] = {
		{"\xfd" "7zXZ\0", 6}, {"\x28\xb5\x2f\xfd", 4}, {"BZh", 3}, {"PK\x03\x04", 4},
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (n >= (ssize_t)known[i].len && memcmp(m, known[i].bytes, known[i].len) == 0)
			return true;
	return false;
}

int qp_archive_open(const char *path, qp_archive_in **out, qp_err *e)
{
	*out = NULL;
	qp_archive_in *in = calloc(1, sizeof *in);
	if (!in || !(in->a = archive_read_new())) {
		free(in);
		return qp_fail(e, "out of memory");
	}
	archive_read_support_filter_all(in->a);
	archive_read_support_format_all(in->a);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		qp_archive_close(in);
		return qp_fail_errno(e, "cannot open");
	}
	uint8_t magic[6] = {0};
	ssize_t k = pread(fd, magic, sizeof magic, 0);
	bool gzip = k >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	int rc;
	if (gzip) {
		if (gz_open(fd, &in->gz, e) < 0) {
			qp_archive_close(in);
			return -1;
		}
		rc = archive_read_open(in->a, in->gz, NULL, gz_archive_read, NULL);
	} else {
		close(fd);
		rc = archive_read_open_filename(in->a, path, 1 << 20);
	}
	if (rc != ARCHIVE_OK) {
		if (gzip || has_compressed_magic(magic, k))
			qp_fail(e, "archive: %s", archive_error_string(in->a));
		else
			qp_fail(e, "not a GGUF file (no GGUF magic) nor an archive: %s",
				archive_error_string(in->a));
		qp_archive_close(in);
		return -1;
	}
	*out = in;
	return 0;
}

struct archive *qp_archive_handle(qp_archive_in *in)
{
	return in->a;
}

int qp_archive_member_end(qp_archive_in *in, qp_err *e)
{
	const void *buf;
	size_t n;
	la_int64_t at;
	int k;
	while ((k = archive_read_data_block(in->a, &buf, &n, &at)) == ARCHIVE_OK)
		;
	if (k != ARCHIVE_EOF) /* ARCHIVE_WARN too: how zip reports a bad CRC */
		return qp_fail(e, "%s", archive_error_string(in->a)
					      ? archive_error_string(in->a)
					      : "corrupt member");
	return 0;
}

int qp_archive_finish(qp_archive_in *in, qp_err *e)
{
	gz_stream *g = in->gz;
	if (!g)
		return 0;
	while (!g->done) {
		if (gz_read(g, g->out, OUT_CHUNK) < 0)
			return qp_fail(e, "%s", g->err);
	}
	return 0;
}

void qp_archive_close(qp_archive_in *in)
{
	if (!in)
		return;
	if (in->a)
		archive_read_free(in->a);
	gz_free(in->gz);
	free(in);
}
