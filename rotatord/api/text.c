/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small text checks and copies of the HTTP API: what may go into a log
 * line or a header, names, UTF-8, methods and media types.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <idp/jsonw.h>


#include "api/server_int.h"

/*
 * Copies s into buf for a log line: printable ASCII only (anything else,
 * and blanks and quotes, as '?'), at most max bytes then "...".
 */
const char *
txt_safe(char *buf, size_t size, const char *s, size_t max)
{
	size_t i, o = 0;

	if (s == NULL)
		s = "-";
	for (i = 0; s[i] != '\0' && o + 4 < size; i++) {
		if (i == max) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' &&
		    s[i] != '\\') ? s[i] : '?';
	}
	buf[o] = '\0';
	return buf;
}

/* As txt_safe() into a new string (for header values: spaces kept). */
char *
txt_header_dup(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;
	char *r;

	if (n > 1024)
		n = 1024;
	if ((r = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		r[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	r[n] = '\0';
	return r;
}

/* Returns 1 when s is [A-Za-z0-9._-]{1,max} and does not start with '.'. */
int
txt_name_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* Returns 1 when n bytes at p are valid UTF-8 without NUL. */
int
txt_utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (p[i] == 0 || (k = idp_utf8_seq(p + i, n - i)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Is method GET or HEAD (HEAD is served like GET; MHD drops the body)? */
int
txt_is_get(const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* Does header value v start with media type t (then end, ';' or blank)? */
int
txt_media_type_is(const char *v, const char *t)
{
	size_t n = strlen(t);

	if (v == NULL || strncasecmp(v, t, n) != 0)
		return 0;
	return v[n] == '\0' || v[n] == ';' || v[n] == ' ' || v[n] == '\t';
}
