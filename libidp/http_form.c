/* SPDX-License-Identifier: Apache-2.0 */
/*
 * application/x-www-form-urlencoded bodies for token requests
 * (idp_form_append()).  Pure string building: the values are often
 * secrets, so the buffer is never realloc()ed; no I/O here.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <idp/http.h>

/* RFC 3986 unreserved characters, kept as they are. */
static int
form_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static size_t
form_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += form_unreserved((unsigned char)*s) || *s == ' ' ? 1 : 3;
	return n;
}

static char *
form_put(char *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (form_unreserved(c)) {
			*o++ = (char)c;
		} else if (c == ' ') {
			*o++ = '+';
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
		}
	}
	return o;
}

/*
 * Appends "&key=value" (no '&' first) form-urlencoded.  The buffer grows
 * by copy-and-wipe, never realloc(), so a secret in it leaves no unwiped
 * copy behind; the caller wipes the final buffer.
 */
int
idp_form_append(char **buf, size_t *len, size_t *cap, const char *key,
    const char *value)
{
	size_t kl, vl, need, ncap;
	char *nb, *o;

	if (buf == NULL || len == NULL || cap == NULL || key == NULL)
		return -EINVAL;
	if (value == NULL)
		value = "";
	if (strlen(key) > SIZE_MAX / 8 || strlen(value) > SIZE_MAX / 8)
		return -ENOMEM;
	kl = form_len(key);
	vl = form_len(value);
	if (*len > SIZE_MAX / 2 || kl + vl > SIZE_MAX / 2 - *len - 3)
		return -ENOMEM;
	need = *len + (*len > 0 ? 1 : 0) + kl + 1 + vl + 1;
	if (*buf == NULL || need > *cap) {
		ncap = *cap > 0 ? *cap : 64;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		if ((nb = malloc(ncap)) == NULL)
			return -ENOMEM;
		if (*buf != NULL) {
			memcpy(nb, *buf, *len);
			OPENSSL_cleanse(*buf, *cap);
			free(*buf);
		}
		*buf = nb;
		*cap = ncap;
	}
	o = *buf + *len;
	if (*len > 0)
		*o++ = '&';
	o = form_put(o, key);
	*o++ = '=';
	o = form_put(o, value);
	*o = '\0';
	*len = (size_t)(o - *buf);
	return 0;
}
