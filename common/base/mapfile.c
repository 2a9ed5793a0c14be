#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int qp_map_open(const char *path, qp_map *m, qp_err *e)
{
	m->data = NULL;
	m->size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qp_fail_errno(e, "cannot open");
	struct stat st;
	if (fstat(fd, &st) != 0) {
		qp_fail_errno(e, "cannot stat");
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return qp_fail(e, "not a regular file");
	}
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);
		if (p == MAP_FAILED) {
			qp_fail_errno(e, "cannot map");
			close(fd);
			return -1;
		}
		m->data = p;
		m->size = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

void qp_map_close(qp_map *m)
{
	if (m->data)
		munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}
