/* mapfile.h — read-only private mappings of input files.
 *
 * Promise: qp_map_open maps a whole regular file read-only and private (an
 * empty file gives data == NULL, size 0); it fails with the path and
 * strerror for anything it cannot map (missing file, directory, pipe).
 */
#ifndef QP_MAPFILE_H
#define QP_MAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct qp_map {
	const uint8_t *data;
	size_t size;
} qp_map;

int qp_map_open(const char *path, qp_map *m, qp_err *e);
void qp_map_close(qp_map *m);

#endif
