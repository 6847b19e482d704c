/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small JSON writer for the documents rotatord writes on every publish,
 * mint and request (claims, meta.json, API responses), where jansson's
 * tree and json_dumps() cost more than the work itself.  Strings are
 * escaped exactly as json_dumps() escapes them by default, and refused
 * (the writer turns bad) unless they are valid UTF-8 by jansson's rules,
 * so a writer's output is what jansson would write for the same values.
 *
 * Two kinds of buffer: fixed (the caller's, idp_jw_fixed()), which turns
 * bad when it would overflow, and growing (idp_jw_growing()), which wipes
 * every copy it lets go of and its last one in idp_jw_free(), so that it
 * may hold secrets.  Errors are sticky: write freely, check bad at the end.
 */
#ifndef IDP_JSONW_H
#define IDP_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct idp_jw {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* growing: the most it may hold */
	int	 grows;
	int	 bad;		/* overflow, no memory, or a bad string */
};

/* A writer into n bytes at buf (not NUL-terminated by the writer). */
void idp_jw_fixed(struct idp_jw *w, char *buf, size_t n);

/* A writer into a buffer of its own that grows up to max bytes. */
void idp_jw_growing(struct idp_jw *w, size_t max);

/* Wipes and frees a growing writer's buffer; nothing for a fixed one. */
void idp_jw_free(struct idp_jw *w);

/* Appends n bytes as they are. */
void idp_jw_raw(struct idp_jw *w, const void *s, size_t n);

/* Appends the NUL-terminated s as it is (punctuation, keys' colons). */
void idp_jw_lit(struct idp_jw *w, const char *s);

/* Appends s as a JSON string: quoted, escaped as json_dumps() does. */
void idp_jw_str(struct idp_jw *w, const char *s);

/* As idp_jw_str() for n bytes at s (a NUL among them makes w bad). */
void idp_jw_strn(struct idp_jw *w, const char *s, size_t n);

/* Appends v in decimal. */
void idp_jw_int(struct idp_jw *w, int64_t v);

/* Appends standard base64 (padded) of n bytes at p, as a JSON string. */
void idp_jw_b64(struct idp_jw *w, const void *p, size_t n);

/*
 * Returns the length of the valid UTF-8 sequence at s (1 to 4 of the n
 * bytes there), or 0: jansson's rules (no overlong forms, surrogates or
 * code points beyond U+10FFFF).
 */
size_t idp_utf8_seq(const unsigned char *s, size_t n);

#endif
