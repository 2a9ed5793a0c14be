#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <jansson.h>
#include <msgpack.h>
#include <zlib.h>

/* The shared options, declared once: getopt's tables and the lines of
 * every --help are made from this. */
static const struct shared_opt {
	const char *name;
	int has_arg;
	char letter;
	const char *arg;  /* the value's name in --help, or NULL */
	const char *help; /* %s: the program's name */
} shared[] = {
	{"threads", required_argument, '@', "N",
	 "threads (default 1); output is the same for any N"},
	{"output", required_argument, 'o', "FILE",
	 "write to FILE (atomically) instead of stdout"},
	{"quiet", no_argument, 'q', NULL, "no progress and no warnings on stderr"},
	{"help", no_argument, 'h', NULL, "this help"},
	{"version", no_argument, 'V', NULL, "versions of %s and its libraries"},
};
enum { N_COMMON = sizeof shared / sizeof shared[0] };

/* The column where the tool's own option descriptions start (the shared
 * lines line up with them): the first "  -x, --name ARG   text" line. */
static int help_column(const char *usage)
{
	for (const char *l = usage; *l;) {
		size_t len = strcspn(l, "\n");
		if (strncmp(l, "  -", 3) == 0)
			for (size_t i = 4; i < len; i++)
				if (l[i] != ' ' && l[i - 1] == ' ' && l[i - 2] == ' ')
					return (int)i;
		l += len + (l[len] == '\n');
	}
	return 21;
}

void qp_cli_print_help(const qp_tool *t, FILE *out)
{
	fputs(t->usage, out);
	if (!t->usage_end)
		return;
	int col = help_column(t->usage);
	for (int i = 0; i < N_COMMON; i++) {
		char spec[64], help[256];
		int n = snprintf(spec, sizeof spec, "  -%c, --%s%s%s", shared[i].letter,
				 shared[i].name, shared[i].arg ? " " : "",
				 shared[i].arg ? shared[i].arg : "");
		snprintf(help, sizeof help, shared[i].help, t->name);
		fprintf(out, "%s%*s%s\n", spec, n < col ? col - n : 1, "", help);
	}
	fputs(t->usage_end, out);
}

void qp_report(const char *prog, const char *where, const char *msg)
{
	fflush(stdout);
	if (where)
		fprintf(stderr, "%s: %s: %s\n", prog, where, msg);
	else
		fprintf(stderr, "%s: %s\n", prog, msg);
}

void qp_reportf(const char *prog, const char *where, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	qp_report(prog, where, msg);
}

int qp_parse_long(const char *s, long min, long max, long *out, qp_err *e)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno == ERANGE || v < min || v > max)
		return qp_fail(e, "'%s' is not an integer in [%ld, %ld]", s, min,
			       max);
	*out = v;
	return 0;
}

int qp_parse_double(const char *s, double *out, qp_err *e)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno == ERANGE || !isfinite(v))
		return qp_fail(e, "'%s' is not a finite number", s);
	*out = v;
	return 0;
}

static void print_version(const char *name)
{
	printf("%s (quantpipe) %s\n", name, QP_VERSION);
	printf("msgpack-c %s, %s, jansson %s, zlib %s\n", msgpack_version(),
	       archive_version_string(), JANSSON_VERSION, zlibVersion());
}

/* After --help or --version: their text must have reached stdout (a full
 * disk or a closed pipe is an error there too). */
static int stdout_done(const qp_tool *t)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	int err = errno;
	fprintf(stderr, "%s: standard output: %s\n", t->name,
		strerror(err ? err : EIO));
	return 1;
}

static int usage_error(const qp_tool *t, const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n",
		t->name, msg, t->name);
	return 2;
}

/* An option's value is well-formed but bad input: one line, exit 1. */
static int option_input_error(const qp_tool *t, const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", t->name, msg);
	return 1;
}

/* Long options: the tool's own followed by the shared ones. */
static struct option *merged_long(const qp_tool *t)
{
	size_t n = 0;
	while (t->long_opts && t->long_opts[n].name)
		n++;
	struct option *all = calloc(n + N_COMMON + 1, sizeof *all);
	if (!all)
		return NULL;
	if (n)
		memcpy(all, t->long_opts, n * sizeof *all);
	for (int i = 0; i < N_COMMON; i++)
		all[n + (size_t)i] = (struct option){shared[i].name, shared[i].has_arg,
						     NULL, shared[i].letter};
	return all;
}

static bool is_shared(int opt)
{
	for (int i = 0; i < N_COMMON; i++)
		if (opt == shared[i].letter)
			return true;
	return false;
}

static int common_option(const qp_tool *t, int opt, qp_common *c)
{
	qp_err e;
	long v;
	switch (opt) {
	case '@':
		if (qp_parse_long(optarg, 1, 1024, &v, &e) < 0)
			return usage_error(t, e.msg);
		c->threads = (int)v;
		return QP_CLI_CONTINUE;
	case 'o': c->output = optarg; return QP_CLI_CONTINUE;
	case 'q': c->quiet = true; return QP_CLI_CONTINUE;
	case 'h': qp_cli_print_help(t, stdout); return stdout_done(t);
	case 'V': print_version(t->name); return stdout_done(t);
	}
	return usage_error(t, "unknown option");
}

int qp_cli_parse(const qp_tool *t, int argc, char **argv, qp_common *c)
{
	*c = (qp_common){.threads = 1};
	char shorts[128];
	size_t k = 0;
	for (int i = 0; i < N_COMMON; i++) {
		shorts[k++] = shared[i].letter;
		if (shared[i].has_arg)
			shorts[k++] = ':';
	}
	snprintf(shorts + k, sizeof shorts - k, "%s",
		 t->short_opts ? t->short_opts : "");
	struct option *longs = merged_long(t);
	if (!longs)
		return usage_error(t, "out of memory");
	opterr = 0;
	optind = 1;
	int status = QP_CLI_CONTINUE, opt;
	while (status == QP_CLI_CONTINUE &&
	       (opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			char msg[128];
			if (optopt && optopt < 128)
				snprintf(msg, sizeof msg, "option -%c %s", optopt,
					 opt == ':' ? "needs a value" :
						      "is not known");
			else
				snprintf(msg, sizeof msg, "option '%s' is not known or needs a value",
					 argv[optind - 1]);
			status = usage_error(t, msg);
		} else if (is_shared(opt)) {
			status = common_option(t, opt, c);
		} else {
			qp_err e;
			int rc = t->on_option(opt, optarg, t->ctx, &e);
			if (rc == QP_ERR_INPUT)
				status = option_input_error(t, e.msg);
			else if (rc < 0)
				status = usage_error(t, e.msg);
		}
	}
	free(longs);
	c->files = argv + optind;
	c->n_files = argc - optind;
	return status;
}

int qp_cli_refuse_tty_stdin(const qp_tool *t, const qp_common *c)
{
	bool reads_stdin = c->n_files == 0;
	for (int i = 0; i < c->n_files; i++)
		reads_stdin |= strcmp(c->files[i], "-") == 0;
	if (!reads_stdin || !isatty(STDIN_FILENO))
		return QP_CLI_CONTINUE;
	qp_cli_print_help(t, stderr);
	return 2;
}

int qp_open_input(const char *path, int *fd, qp_err *e)
{
	if (strcmp(path, "-") == 0) {
		*fd = STDIN_FILENO;
		return 0;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return qp_fail_errno(e, "cannot open");
	struct stat st;
	if (fstat(*fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(*fd);
		errno = EISDIR;
		return qp_fail_errno(e, "cannot read");
	}
	return 0;
}

/* ---- output ------------------------------------------------------------ */

/* The temporary file being written, for the signal handler: the one piece
 * of process-wide state here, because a handler can reach nothing else.
 * A filter writes one -o file at a time. */
static char *volatile pending_tmp;
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { N_CLEANUP = sizeof cleanup_signals / sizeof cleanup_signals[0] };
static struct sigaction saved_action[N_CLEANUP];

static void remove_tmp_and_die(int sig)
{
	char *p = pending_tmp;
	if (p)
		unlink(p);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void watch_tmp(char *tmp)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = remove_tmp_and_die;
	sigemptyset(&sa.sa_mask);
	pending_tmp = tmp;
	for (int i = 0; i < N_CLEANUP; i++) {
		sigaction(cleanup_signals[i], NULL, &saved_action[i]);
		/* a signal the caller's parent ignored stays ignored (nohup) */
		if (saved_action[i].sa_handler != SIG_IGN)
			sigaction(cleanup_signals[i], &sa, NULL);
	}
}

static void unwatch_tmp(void)
{
	if (!pending_tmp)
		return;
	for (int i = 0; i < N_CLEANUP; i++)
		if (saved_action[i].sa_handler != SIG_IGN)
			sigaction(cleanup_signals[i], &saved_action[i], NULL);
	pending_tmp = NULL;
}

/* The file a chain of symlinks at path ends at (path itself when it is
 * not a symlink; the end need not exist).  malloc'd; NULL with errno. */
static char *follow_links(const char *path)
{
	char *cur = strdup(path);
	for (int hops = 0; cur; hops++) {
		struct stat st;
		if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
			return cur; /* absent (a new file) or not a link */
		if (hops == 40) {
			free(cur);
			errno = ELOOP;
			return NULL;
		}
		char target[PATH_MAX];
		ssize_t n = readlink(cur, target, sizeof target - 1);
		if (n < 0) {
			free(cur);
			return NULL;
		}
		target[n] = '\0';
		char *next;
		if (target[0] == '/') {
			next = strdup(target);
		} else { /* relative to the link's own folder */
			const char *slash = strrchr(cur, '/');
			size_t dir = slash ? (size_t)(slash - cur) + 1 : 0;
			next = malloc(dir + (size_t)n + 1);
			if (next) {
				memcpy(next, cur, dir);
				memcpy(next + dir, target, (size_t)n + 1);
			}
		}
		free(cur);
		cur = next;
	}
	return NULL;
}

int qp_out_open(qp_out *o, const char *path, qp_err *e)
{
	*o = (qp_out){.fd = STDOUT_FILENO};
	if (!path || strcmp(path, "-") == 0) {
		o->json = isatty(STDOUT_FILENO);
		return 0;
	}
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return qp_fail_errno(e, "cannot write");
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* a device, FIFO or socket (-o /dev/null, -o /dev/stdout): write
		 * through it, as every Unix tool does; never replace it */
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
		if (o->fd < 0)
			return qp_fail_errno(e, "cannot open");
		o->json = isatty(o->fd);
		o->through = true;
		return 0;
	}
	/* a regular file or a new one, possibly at the end of symlinks: the
	 * file the links name is replaced, the links stay */
	char *final = follow_links(path);
	if (!final)
		return qp_fail_errno(e, "cannot follow the link");
	struct stat fst;
	if (stat(path, &st) == 0 &&
	    (stat(final, &fst) != 0 || fst.st_dev != st.st_dev ||
	     fst.st_ino != st.st_ino)) {
		/* a link whose name does not lead to its file (/proc/self/fd/N
		 * of a deleted file): write through, replacing nothing */
		free(final);
		o->fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (o->fd < 0)
			return qp_fail_errno(e, "cannot open");
		o->through = true;
		return 0;
	}
	size_t n = strlen(final) + 16;
	o->path = final;
	o->tmp_path = malloc(n);
	if (!o->tmp_path) {
		qp_out_abort(o);
		return qp_fail(e, "out of memory");
	}
	snprintf(o->tmp_path, n, "%s.tmpXXXXXX", final);
	/* a signal between creating the file and watching it would leave
	 * the file behind: it waits until the handlers are in place */
	sigset_t cleanup, old;
	sigemptyset(&cleanup);
	for (int i = 0; i < N_CLEANUP; i++)
		sigaddset(&cleanup, cleanup_signals[i]);
	pthread_sigmask(SIG_BLOCK, &cleanup, &old);
	o->fd = mkstemp(o->tmp_path);
	const int create_errno = errno;
	if (o->fd >= 0)
		watch_tmp(o->tmp_path);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (o->fd < 0) {
		errno = create_errno;
		qp_fail_errno(e, "cannot create");
		free(o->tmp_path);
		o->tmp_path = NULL;
		qp_out_abort(o);
		return -1;
	}
	mode_t mask = umask(0);
	umask(mask);
	fchmod(o->fd, 0666 & ~mask);
	return 0;
}

int qp_out_commit(qp_out *o, qp_err *e)
{
	if (!o->tmp_path) { /* stdout or a device: a failed close is an error */
		int fd = o->fd;
		o->fd = -1;
		if (fd >= 0 && close(fd) != 0 && errno != EBADF)
			return qp_fail_errno(e, "close");
		return 0;
	}
	int fd = o->fd;
	o->fd = -1;
	if (close(fd) != 0) {
		qp_fail_errno(e, "close");
		qp_out_abort(o);
		return -1;
	}
	/* a signal between the rename and unwatch_tmp would unlink a name that
	 * no longer exists: harmless */
	if (rename(o->tmp_path, o->path) != 0) {
		qp_fail_errno(e, "cannot rename the temporary file into place");
		qp_out_abort(o);
		return -1;
	}
	unwatch_tmp();
	free(o->tmp_path);
	free(o->path);
	*o = (qp_out){.fd = -1};
	return 0;
}

void qp_out_abort(qp_out *o)
{
	if (o->tmp_path) {
		if (o->fd >= 0)
			close(o->fd);
		unlink(o->tmp_path);
		unwatch_tmp();
	} else if (o->through && o->fd >= 0) {
		close(o->fd);
	}
	free(o->tmp_path);
	free(o->path);
	*o = (qp_out){.fd = -1};
}

int qp_out_write(qp_out *o, const void *p, size_t n, qp_err *e)
{
	const char *c = p;
	for (size_t done = 0; done < n;) {
		ssize_t k = write(o->fd, c + done, n - done);
		if (k < 0 && errno == EINTR)
			continue; /* a signal that did not end the run */
		if (k < 0)
			return qp_fail_errno(e, "write");
		if (k == 0)
			return qp_fail(e, "write: no progress");
		done += (size_t)k;
	}
	return 0;
}

int qp_out_finish(qp_out *o, const char *prog, const char *path, int status)
{
	qp_err e;
	if (status == 0 && qp_out_commit(o, &e) < 0) {
		qp_report(prog, path ? path : "standard output", e.msg);
		status = 1;
	}
	if (status != 0)
		qp_out_abort(o);
	return status;
}
