/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret byte strings: allocated once, never reallocated, wiped on free.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <idp/secret.h>

/* Returns a zeroed secret of len bytes (+ NUL), or NULL. */
struct idp_secret *
idp_secret_new(size_t len)
{
	struct idp_secret *s;

	if (len == SIZE_MAX)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->buf = calloc(1, len + 1)) == NULL) {
		free(s);
		return NULL;
	}
	s->len = len;
	return s;
}

/* Returns a secret holding a copy of len bytes of p, or NULL. */
struct idp_secret *
idp_secret_dup(const void *p, size_t len)
{
	struct idp_secret *s;

	if ((s = idp_secret_new(len)) == NULL)
		return NULL;
	if (len > 0)
		memcpy(s->buf, p, len);
	return s;
}

/*
 * Wipes and frees s.  The whole buffer is wiped, terminator included; bytes
 * trimmed off the end by idp_secret_read_file() were zeroed there.
 */
void
idp_secret_free(struct idp_secret *s)
{
	if (s == NULL)
		return;
	if (s->buf != NULL) {
		OPENSSL_cleanse(s->buf, s->len + 1);
		free(s->buf);
	}
	free(s);
}

/* Fills a new secret of len bytes from the OpenSSL CSPRNG. */
int
idp_secret_random(size_t len, struct idp_secret **ret)
{
	struct idp_secret *s;

	if (len > INT_MAX)
		return -EINVAL;
	if ((s = idp_secret_new(len)) == NULL)
		return -ENOMEM;
	if (len > 0 && RAND_bytes(s->buf, (int)len) != 1) {
		idp_secret_free(s);
		return -EIO;
	}
	*ret = s;
	return 0;
}

/*
 * Reads the file into a buffer sized once from fstat().  A file that grows
 * between fstat() and the end of the read is refused rather than chased
 * with realloc(), which would leave copies of plaintext in freed memory.
 */
int
idp_secret_read_file(const char *path, size_t max, int flags,
    struct idp_secret **ret, struct idp_err *err)
{
	struct idp_secret *s = NULL;
	struct stat st;
	unsigned char extra;
	size_t size, got = 0;
	ssize_t n;
	int fd = -1, rc;

	if (path == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "secret file: no path");
	if (path[0] != '/') {
		rc = idp_err_set(err, -EINVAL,
		    "secret file %s: path must be absolute", path);
		goto out;
	}
	/*
	 * O_NONBLOCK: a FIFO put where the secret should be must not block
	 * the daemon in open(); it is refused by the S_ISREG test below.  For
	 * regular files the flag changes nothing.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK);
	if (fd == -1) {
		rc = -errno;
		if (rc == -ELOOP)
			idp_err_set(err, rc,
			    "secret file %s: is a symbolic link", path);
		else
			idp_err_set(err, rc, "secret file %s: %s", path,
			    strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		rc = -errno;
		idp_err_set(err, rc, "secret file %s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = idp_err_set(err, -EINVAL,
		    "secret file %s: not a regular file", path);
		goto out;
	}
	if ((flags & IDP_SECRET_STRICT_MODE) &&
	    (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = idp_err_set(err, -EPERM,
		    "secret file %s: mode %04o gives access to group or others",
		    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
		rc = idp_err_set(err, -E2BIG,
		    "secret file %s: larger than %zu bytes", path, max);
		goto out;
	}
	size = (size_t)st.st_size;
	if ((s = idp_secret_new(size)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "secret file %s: out of memory",
		    path);
		goto out;
	}
	while (got < size) {
		n = read(fd, s->buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			idp_err_set(err, rc, "secret file %s: %s", path,
			    strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;		/* shrank; keep what is there */
		got += (size_t)n;
	}
	/* The file must now be at its end: a grown file is refused. */
	for (;;) {
		n = read(fd, &extra, 1);
		if (n == -1 && errno == EINTR)
			continue;
		break;
	}
	OPENSSL_cleanse(&extra, sizeof(extra));
	if (n != 0) {
		rc = n < 0 ? -errno : -EIO;
		idp_err_set(err, rc, "secret file %s: changed while being read",
		    path);
		goto out;
	}
	s->len = got;
	s->buf[got] = '\0';
	if ((flags & IDP_SECRET_STRIP_NL) && s->len > 0 &&
	    s->buf[s->len - 1] == '\n') {
		s->buf[--s->len] = '\0';
		if (s->len > 0 && s->buf[s->len - 1] == '\r')
			s->buf[--s->len] = '\0';
	}
	*ret = s;
	s = NULL;
	rc = 0;
out:
	/* A shrunk file leaves the tail of buf zero, so free() wipes enough. */
	idp_secret_free(s);
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * Constant-time in the content; the lengths are not secret.  Eight bytes
 * a step (CRYPTO_memcmp() goes a byte at a time through volatile
 * pointers, which costs more than hashing the token it compares): every
 * byte is read, the differences are ORed together and only the sum is
 * tested, through a volatile so that no early exit can be made of it.
 */
int
idp_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *p = a, *q = b;
	volatile uint64_t sum;
	uint64_t d = 0, x, y;
	size_t i = 0;

	if (alen != blen)
		return 0;
	for (; i + 8 <= alen; i += 8) {
		memcpy(&x, p + i, 8);
		memcpy(&y, q + i, 8);
		d |= x ^ y;
	}
	for (; i < alen; i++)
		d |= (uint64_t)(p[i] ^ q[i]);
	sum = d;
	return sum == 0;
}
