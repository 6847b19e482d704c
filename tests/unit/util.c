/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers for files and strings (util.h).  Needs nothing of
 * rotatord or libidp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

char *
ut_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
	return buf;
}

char *
ut_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

char *
ut_tmpdir(const char *tag, int flags)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || base[0] != '/' || (flags & UT_TMP_TMP))
		base = "/tmp";
	if ((flags & UT_TMP_SHM) && access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	if (asprintf(&dir, "%s/%s.XXXXXX", base, tag) < 0)
		return NULL;
	if (mkdtemp(dir) == NULL) {
		int e = errno;

		free(dir);
		errno = e;
		return NULL;
	}
	return dir;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
ut_rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void
ut_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	const char *p = data;
	ssize_t n;
	int fd;

	if (unlink(path) < 0 && errno != ENOENT)
		fail_msg("cannot remove %s: %s", path, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

char *
ut_put(char *buf, size_t size, const char *dir, const char *name,
    const void *data, size_t len, mode_t mode)
{
	ut_snprintf(buf, size, "%s/%s", dir, name);
	ut_write_file(buf, data, len, mode);
	return buf;
}

char *
ut_read_file(const char *path, int flags, size_t *ret_len)
{
	char *buf = NULL;
	struct stat st;
	size_t have = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC |
	    ((flags & UT_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (have < (size_t)st.st_size) {
		n = read(fd, buf + have, (size_t)st.st_size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	if (ret_len != NULL)
		*ret_len = have;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

int64_t
ut_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
