/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON writer: see idp/jsonw.h.  A growing buffer moves by malloc, copy
 * and wipe rather than realloc(), which could leave the old bytes behind
 * in freed memory.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <idp/b64.h>
#include <idp/jsonw.h>

void
idp_jw_fixed(struct idp_jw *w, char *buf, size_t n)
{
	memset(w, 0, sizeof(*w));
	w->p = buf;
	w->cap = n;
}

void
idp_jw_growing(struct idp_jw *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->grows = 1;
	w->max = max;
}

void
idp_jw_free(struct idp_jw *w)
{
	if (w->grows && w->p != NULL) {
		OPENSSL_cleanse(w->p, w->cap);
		free(w->p);
	}
	w->p = NULL;
	w->len = w->cap = 0;
}

/* Makes room for n more bytes.  Returns 0, or -1 (w is then bad). */
static int
reserve(struct idp_jw *w, size_t n)
{
	size_t cap;
	char *p;

	if (w->bad)
		return -1;
	if (n <= w->cap - w->len)
		return 0;
	if (!w->grows || n > w->max - w->len) {
		w->bad = 1;
		return -1;
	}
	cap = w->cap > 0 ? w->cap : 256;
	while (cap - w->len < n)
		cap = cap > w->max / 2 ? w->max : cap * 2;
	if ((p = malloc(cap)) == NULL) {
		w->bad = 1;
		return -1;
	}
	if (w->p != NULL) {
		memcpy(p, w->p, w->len);
		OPENSSL_cleanse(w->p, w->cap);
		free(w->p);
	}
	w->p = p;
	w->cap = cap;
	return 0;
}

void
idp_jw_raw(struct idp_jw *w, const void *s, size_t n)
{
	if (n == 0 || reserve(w, n) < 0)
		return;
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

void
idp_jw_lit(struct idp_jw *w, const char *s)
{
	idp_jw_raw(w, s, strlen(s));
}

size_t
idp_utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t v;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2)
		return 0;
	if (s[0] < 0xe0) {
		len = 2;
		v = s[0] & 0x1f;
	} else if (s[0] < 0xf0) {
		len = 3;
		v = s[0] & 0x0f;
	} else if (s[0] < 0xf5) {
		len = 4;
		v = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return len;
}

void
idp_jw_strn(struct idp_jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
	char esc[6];
	size_t k;

	idp_jw_raw(w, "\"", 1);
	for (run = p; p < end; ) {
		if (*p == '\0') {
			w->bad = 1;
			return;
		}
		if (*p >= 0x20 && *p != '"' && *p != '\\') {
			if ((k = idp_utf8_seq(p, (size_t)(end - p))) == 0) {
				w->bad = 1;
				return;
			}
			p += k;
			continue;
		}
		idp_jw_raw(w, run, (size_t)(p - run));
		esc[0] = '\\';
		k = 2;
		switch (*p) {
		case '"':	esc[1] = '"'; break;
		case '\\':	esc[1] = '\\'; break;
		case '\b':	esc[1] = 'b'; break;
		case '\f':	esc[1] = 'f'; break;
		case '\n':	esc[1] = 'n'; break;
		case '\r':	esc[1] = 'r'; break;
		case '\t':	esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			k = 6;
			break;
		}
		idp_jw_raw(w, esc, k);
		run = ++p;
	}
	idp_jw_raw(w, run, (size_t)(p - run));
	idp_jw_raw(w, "\"", 1);
}

void
idp_jw_str(struct idp_jw *w, const char *s)
{
	idp_jw_strn(w, s, strlen(s));
}

void
idp_jw_int(struct idp_jw *w, int64_t v)
{
	char tmp[24], *q = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--q = '-';
	idp_jw_raw(w, q, (size_t)(tmp + sizeof(tmp) - q));
}

void
idp_jw_b64(struct idp_jw *w, const void *p, size_t n)
{
	size_t need;

	/* idp_b64_enc_len() would overflow first. */
	if (n > SIZE_MAX / 2) {
		w->bad = 1;
		return;
	}
	need = idp_b64_enc_len(n);
	/* The encoder writes a NUL after the text: room for it too. */
	if (reserve(w, need + 3) < 0)
		return;
	w->p[w->len++] = '"';
	w->len += idp_b64_encode(p, n, w->p + w->len);
	w->p[w->len++] = '"';
}
