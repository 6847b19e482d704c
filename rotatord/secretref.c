/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret references: file:, env:, cred: or a literal, resolved at run time.
 * Files go through idp_secret_read_file(), which reads without reallocating
 * plaintext and refuses links and loose modes.  Nothing here logs: the
 * caller decides what a failure means, with the reason from why.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/idp.h>
#include <idp/secret.h>

#include "secretref.h"

static int __attribute__((format(printf, 4, 5)))
fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * Reads path as a secret file; the reason comes from libidp (it names the
 * path).  max applies after the trailing newline is stripped, so a secret
 * of exactly max bytes may end with "\r\n".
 */
static int
load_file(const char *path, size_t max, struct idp_secret **ret, char *why,
    size_t whylen)
{
	struct idp_secret *sec = NULL;
	struct idp_err err;
	int rc;

	err.msg[0] = '\0';
	rc = idp_secret_read_file(path, max <= SIZE_MAX - 2 ? max + 2 : max,
	    IDP_SECRET_STRICT_MODE | IDP_SECRET_STRIP_NL, &sec, &err);
	if (rc == -E2BIG || (rc == 0 && sec->len > max)) {
		idp_secret_free(sec);
		return fail(why, whylen, -E2BIG, "secret file %s: larger than "
		    "%zu bytes", path, max);
	}
	if (rc < 0)
		return fail(why, whylen, rc, "%s", err.msg[0] != '\0' ? err.msg :
		    strerror(-rc));
	*ret = sec;
	return 0;
}

int
secretref_load(const struct cfg_secret *s, size_t max,
    struct idp_secret **ret, char *why, size_t whylen)
{
	struct idp_secret *sec = NULL;
	const char *v, *dir;
	char path[PATH_MAX];
	size_t len;
	int rc, n;

	if (s == NULL || s->source == 0 || s->arg == NULL)
		return fail(why, whylen, -EINVAL, "no secret configured");
	switch (s->source) {
	case CFG_SECRET_FILE:
		if ((rc = load_file(s->arg, max, &sec, why, whylen)) < 0)
			return rc;
		if (sec->len == 0) {
			idp_secret_free(sec);
			return fail(why, whylen, -ENODATA, "secret file %s is "
			    "empty", s->arg);
		}
		break;
	case CFG_SECRET_ENV:
		v = getenv(s->arg);
		if (v == NULL)
			return fail(why, whylen, -ENOENT, "environment variable "
			    "%s is not set", s->arg);
		len = strlen(v);
		if (len == 0)
			return fail(why, whylen, -ENODATA, "environment variable "
			    "%s is empty", s->arg);
		if (len > max)
			return fail(why, whylen, -E2BIG, "environment variable "
			    "%s is longer than %zu bytes", s->arg, max);
		if ((sec = idp_secret_dup(v, len)) == NULL)
			return fail(why, whylen, -ENOMEM, "out of memory");
		break;
	case CFG_SECRET_CRED:
		/* The name was checked by the config: no '/', not "." or "..". */
		if (strchr(s->arg, '/') != NULL || s->arg[0] == '.' ||
		    s->arg[0] == '\0')
			return fail(why, whylen, -EINVAL, "bad credential name "
			    "%s", s->arg);
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || dir[0] == '\0')
			return fail(why, whylen, -ENOENT, "credential %s: "
			    "CREDENTIALS_DIRECTORY is not set (systemd "
			    "LoadCredential= or SetCredential=)", s->arg);
		if (dir[0] != '/')
			return fail(why, whylen, -EINVAL, "credential %s: "
			    "CREDENTIALS_DIRECTORY is not an absolute path",
			    s->arg);
		n = snprintf(path, sizeof(path), "%s/%s", dir, s->arg);
		if (n < 0 || (size_t)n >= sizeof(path))
			return fail(why, whylen, -ENAMETOOLONG, "credential %s: "
			    "path too long", s->arg);
		if ((rc = load_file(path, max, &sec, why, whylen)) < 0)
			return rc;
		if (sec->len == 0) {
			idp_secret_free(sec);
			return fail(why, whylen, -ENODATA, "credential %s (%s) is "
			    "empty", s->arg, path);
		}
		break;
	case CFG_SECRET_LITERAL:
		len = strlen(s->arg);
		if (len == 0)
			return fail(why, whylen, -ENODATA, "literal secret is "
			    "empty");
		if (len > max)
			return fail(why, whylen, -E2BIG, "literal secret is "
			    "longer than %zu bytes", max);
		if ((sec = idp_secret_dup(s->arg, len)) == NULL)
			return fail(why, whylen, -ENOMEM, "out of memory");
		break;
	default:
		return fail(why, whylen, -EINVAL, "unknown secret source %d",
		    (int)s->source);
	}
	*ret = sec;
	return 0;
}
