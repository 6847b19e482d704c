/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret byte strings: key material, client secrets, tokens.  The buffer is
 * wiped with OPENSSL_cleanse() when freed and is always NUL-terminated (the
 * terminator is not counted in len).
 */
#ifndef IDP_SECRET_H
#define IDP_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include <idp/idp.h>

struct idp_secret {
	unsigned char	*buf;	/* len bytes + NUL */
	size_t		 len;
};

/* Returns a zeroed secret of len bytes, or NULL.  Free with idp_secret_free(). */
struct idp_secret *idp_secret_new(size_t len);

/* Returns a secret holding a copy of len bytes of p, or NULL. */
struct idp_secret *idp_secret_dup(const void *p, size_t len);

/* Wipes and frees s; accepts NULL. */
void idp_secret_free(struct idp_secret *s);

/* Fills a new secret of len bytes from the CSPRNG.  Returns 0 or -errno. */
int idp_secret_random(size_t len, struct idp_secret **ret);

/*
 * Reads the file at the absolute path into a new secret, at most max bytes
 * (-E2BIG beyond), without ever reallocating plaintext.  With
 * IDP_SECRET_STRICT_MODE, a file readable or writable by group or others is
 * refused with -EPERM.  A single trailing newline is stripped when
 * IDP_SECRET_STRIP_NL is given.  Returns 0 or -errno; the reason in err
 * names the path, never the content.
 */
#define IDP_SECRET_STRICT_MODE	0x1
#define IDP_SECRET_STRIP_NL	0x2
int idp_secret_read_file(const char *path, size_t max, int flags,
    struct idp_secret **ret, struct idp_err *err);

/* Constant-time comparison; returns 1 when equal (same length and bytes). */
int idp_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
