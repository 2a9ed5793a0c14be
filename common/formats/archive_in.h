/* archive_in.h — reading an archive so that corruption is never silent.
 *
 * Promise: qp_archive_open opens PATH on a libarchive reader (every format
 * and filter libarchive knows).  A gzip-compressed file is decompressed
 * here with zlib instead of libarchive's gzip filter, which does not check
 * the CRC-32 and length in a member's trailer: every gzip member's trailer
 * is checked, and a stream that ends inside a member is an error.
 * qp_archive_member_end reads the rest of the current member through
 * archive_read_data, so the format's own check (zip's CRC-32 of a stored
 * or deflated member, a truncated tar member) runs even when the caller
 * stopped reading early.  qp_archive_finish, after the last header, reads
 * what is left of the compressed stream, so a corrupt or missing trailer
 * after the last member is found too.  A file that opens with the magic
 * of gzip, xz, zstd, bzip2 or zip and cannot be opened is reported as a
 * damaged archive ("archive: ..."), anything else that is no archive as
 * neither GGUF nor archive.  Errors are one line without the archive's
 * path.
 */
#ifndef QP_ARCHIVE_IN_H
#define QP_ARCHIVE_IN_H

#include <archive.h>

#include "err.h"

typedef struct qp_archive_in qp_archive_in;

/* *out gets the reader (NULL on failure); free it with qp_archive_close. */
int qp_archive_open(const char *path, qp_archive_in **out, qp_err *e);
struct archive *qp_archive_handle(qp_archive_in *in);
/* Reads and checks the rest of the current member's data. */
int qp_archive_member_end(qp_archive_in *in, qp_err *e);
/* After archive_read_next_header gave ARCHIVE_EOF: checks what is left. */
int qp_archive_finish(qp_archive_in *in, qp_err *e);
void qp_archive_close(qp_archive_in *in);

#endif
