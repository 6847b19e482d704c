/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON of JOSE headers and claims: a fast path for the flat objects
 * tokens nearly always are, and json_loadb(JSON_REJECT_DUPLICATES) for
 * everything else.  A pure parser of untrusted bytes: no I/O, no state,
 * and it never accepts what json_loadb() would refuse.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "jws_int.h"

/*
 * A fast path for the JSON of headers and claims.  json_loadb() reads its
 * input a character at a time through callbacks and costs about 3 us for
 * a typical header and claims set, 7 % of an ES256 verification.  Tokens
 * are nearly always flat objects of plain strings, integers, booleans and
 * arrays of strings, so that shape is parsed here directly into the same
 * jansson values.  Anything else (escapes, bytes outside printable ASCII,
 * reals, nesting, a duplicate member, a syntax error) is left to
 * json_loadb(JSON_REJECT_DUPLICATES), which then accepts or refuses it:
 * the fast path only ever accepts what json_loadb() accepts, with the same
 * result.
 */
struct jfast {
	const unsigned char	*p;
	const unsigned char	*end;
};

static void
jf_ws(struct jfast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' ||
	    *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* A string of printable ASCII without escapes; returns 0 or -1. */
static int
jf_str(struct jfast *f, const char **ret, size_t *ret_len)
{
	const unsigned char *s;

	if (f->p >= f->end || *f->p != '"')
		return -1;
	s = ++f->p;
	while (f->p < f->end && *f->p != '"') {
		if (*f->p < 0x20 || *f->p > 0x7e || *f->p == '\\')
			return -1;
		f->p++;
	}
	if (f->p >= f->end)
		return -1;
	*ret = (const char *)s;
	*ret_len = (size_t)(f->p - s);
	f->p++;
	return 0;
}

/* Returns 1 if the next byte may follow a number or a literal. */
static int
jf_delim(const struct jfast *f)
{
	return f->p < f->end && (*f->p == ',' || *f->p == '}' ||
	    *f->p == ']' || *f->p == ' ' || *f->p == '\t' || *f->p == '\n' ||
	    *f->p == '\r');
}

/* Reads one member value into a new reference, or NULL to fall back. */
static json_t *
jf_value(struct jfast *f)
{
	static const struct {
		const char	*word;
		size_t		 len;
	} lit[] = { { "true", 4 }, { "false", 5 }, { "null", 4 } };
	json_t *a;
	const char *s;
	size_t n, i;
	int64_t x;
	int neg;

	if (f->p >= f->end)
		return NULL;
	if (*f->p == '"') {
		if (jf_str(f, &s, &n) < 0)
			return NULL;
		return json_stringn_nocheck(s, n);
	}
	if (*f->p == '-' || (*f->p >= '0' && *f->p <= '9')) {
		/* -?(0|[1-9][0-9]{0,17}): always within json_int_t. */
		neg = *f->p == '-';
		if (neg)
			f->p++;
		if (f->p >= f->end || *f->p < '0' || *f->p > '9')
			return NULL;
		x = 0;
		for (n = 0; f->p < f->end && *f->p >= '0' && *f->p <= '9';
		    n++, f->p++)
			if (n < 18)
				x = 10 * x + (*f->p - '0');
		if (n > 18 || (n > 1 && f->p[-(ptrdiff_t)n] == '0') ||
		    !jf_delim(f))
			return NULL;
		return json_integer(neg ? -x : x);
	}
	if (*f->p == '[') {
		f->p++;
		if ((a = json_array()) == NULL)
			return NULL;
		jf_ws(f);
		if (f->p < f->end && *f->p == ']') {
			f->p++;
			return a;
		}
		for (;;) {
			if (jf_str(f, &s, &n) < 0 ||
			    json_array_append_new(a,
			    json_stringn_nocheck(s, n)) != 0)
				break;
			jf_ws(f);
			if (f->p < f->end && *f->p == ']') {
				f->p++;
				return a;
			}
			if (f->p >= f->end || *f->p != ',')
				break;
			f->p++;
			jf_ws(f);
		}
		json_decref(a);
		return NULL;
	}
	for (i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
		if ((size_t)(f->end - f->p) <= lit[i].len ||
		    memcmp(f->p, lit[i].word, lit[i].len) != 0)
			continue;
		f->p += lit[i].len;
		if (!jf_delim(f))
			return NULL;
		return i == 0 ? json_true() : i == 1 ? json_false() :
		    json_null();
	}
	return NULL;
}

static json_t *
jf_object(const unsigned char *buf, size_t len)
{
	struct jfast f = { buf, buf + len };
	char key[256];
	const char *s;
	json_t *o, *v;
	size_t n;

	jf_ws(&f);
	if (f.p >= f.end || *f.p != '{' || (o = json_object()) == NULL)
		return NULL;
	f.p++;
	jf_ws(&f);
	if (f.p < f.end && *f.p == '}') {
		f.p++;
		goto end;
	}
	for (;;) {
		if (jf_str(&f, &s, &n) < 0 || n >= sizeof(key))
			goto fail;
		memcpy(key, s, n);
		key[n] = '\0';
		jf_ws(&f);
		if (f.p >= f.end || *f.p != ':')
			goto fail;
		f.p++;
		jf_ws(&f);
		/* A duplicate member: json_loadb() gives the refusal. */
		if (json_object_get(o, key) != NULL ||
		    (v = jf_value(&f)) == NULL)
			goto fail;
		if (json_object_set_new_nocheck(o, key, v) != 0)
			goto fail;
		jf_ws(&f);
		if (f.p < f.end && *f.p == '}') {
			f.p++;
			break;
		}
		if (f.p >= f.end || *f.p != ',')
			goto fail;
		f.p++;
		jf_ws(&f);
	}
end:
	jf_ws(&f);
	if (f.p == f.end)
		return o;
fail:
	json_decref(o);
	return NULL;
}

/* Parses buf as JSON (fast path, else json_loadb()); NULL when refused. */
json_t *
idp_jose_json_load(const unsigned char *buf, size_t len, json_error_t *jerr)
{
	json_t *o;

	if ((o = jf_object(buf, len)) != NULL)
		return o;
	return json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, jerr);
}

