/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict, table-driven base64 (RFC 4648): base64url without padding
 * (section 5), as JOSE uses it, and the standard alphabet with padding
 * (section 4), as etcd's JSON gateway and JSON documents use it.
 *
 * Every byte string has exactly one accepted encoding: whitespace,
 * characters outside the alphabet, misplaced or missing padding, a bad
 * length and non-zero trailing bits are all refused.  JOSE relies on this:
 * a signature or key must not have two spellings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <idp/b64.h>
#include <idp/idp.h>

static const char url_enc[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_enc[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for each alphabet, 0x80 for everything else. */
#define XX	0x80
static const unsigned char url_dec[256] = {
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, XX, XX, XX,
	XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, 63,
	XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
};
static const unsigned char std_dec[256] = {
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, XX, XX, XX,
	XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX,
	XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
};
#undef XX

/*
 * Returns the encoded length of n bytes.  Lengths whose encoding would not
 * fit a size_t return SIZE_MAX, which no caller can allocate.
 */
size_t
idp_b64url_enc_len(size_t n)
{
	size_t r = n % 3;

	if (n / 3 > (SIZE_MAX - 4) / 4)
		return SIZE_MAX;
	return n / 3 * 4 + (r == 0 ? 0 : r + 1);
}

/* Returns the largest decoded length of n characters. */
size_t
idp_b64url_dec_len(size_t n)
{
	size_t r = n % 4;

	return n / 4 * 3 + (r > 1 ? r - 1 : 0);
}

/*
 * Encodes n bytes of in into out with the alphabet tab, padded to a
 * multiple of 4 when pad; NUL-terminates.  Returns the encoded length.
 */
static size_t
encode(const char tab[64], int pad, const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	char *o = out;
	uint32_t v;

	while (n >= 3) {
		v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		o[0] = tab[v >> 18];
		o[1] = tab[(v >> 12) & 0x3f];
		o[2] = tab[(v >> 6) & 0x3f];
		o[3] = tab[v & 0x3f];
		p += 3;
		o += 4;
		n -= 3;
	}
	if (n == 2) {
		v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8;
		o[0] = tab[v >> 18];
		o[1] = tab[(v >> 12) & 0x3f];
		o[2] = tab[(v >> 6) & 0x3f];
		o += 3;
		if (pad)
			*o++ = '=';
	} else if (n == 1) {
		v = (uint32_t)p[0] << 16;
		o[0] = tab[v >> 18];
		o[1] = tab[(v >> 12) & 0x3f];
		o += 2;
		if (pad) {
			*o++ = '=';
			*o++ = '=';
		}
	}
	*o = '\0';
	return (size_t)(o - out);
}

size_t
idp_b64url_encode(const void *in, size_t n, char *out)
{
	return encode(url_enc, 0, in, n, out);
}

size_t
idp_b64_enc_len(size_t n)
{
	if (n / 3 >= (SIZE_MAX - 4) / 4)
		return SIZE_MAX;
	return (n + 2) / 3 * 4;
}

size_t
idp_b64_encode(const void *in, size_t n, char *out)
{
	return encode(std_enc, 1, in, n, out);
}

/*
 * Decodes n characters without padding strictly with the table tab.
 * Nothing is written past outsz; on failure out may hold a partial result,
 * which the caller must ignore.
 */
static int
decode(const unsigned char tab[256], const char *in, size_t n,
    unsigned char *out, size_t outsz, size_t *ret_len)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char *o = out;
	size_t rem = n % 4, full = n / 4, need, i;
	uint32_t a, b, c, d;

	if (rem == 1)
		return -EBADMSG;
	need = idp_b64url_dec_len(n);
	if (need > outsz)
		return -E2BIG;

	for (i = 0; i < full; i++) {
		a = tab[p[0]];
		b = tab[p[1]];
		c = tab[p[2]];
		d = tab[p[3]];
		/* One test catches any of the four being outside the alphabet. */
		if ((a | b | c | d) & 0x80)
			return -EBADMSG;
		a = a << 18 | b << 12 | c << 6 | d;
		o[0] = (unsigned char)(a >> 16);
		o[1] = (unsigned char)(a >> 8);
		o[2] = (unsigned char)a;
		p += 4;
		o += 3;
	}
	if (rem == 2) {
		a = tab[p[0]];
		b = tab[p[1]];
		/* 12 bits carry 8: the low 4 bits of the last digit must be 0. */
		if (((a | b) & 0x80) || (b & 0x0f) != 0)
			return -EBADMSG;
		o[0] = (unsigned char)(a << 2 | b >> 4);
		o += 1;
	} else if (rem == 3) {
		a = tab[p[0]];
		b = tab[p[1]];
		c = tab[p[2]];
		/* 18 bits carry 16: the low 2 bits of the last digit must be 0. */
		if (((a | b | c) & 0x80) || (c & 0x03) != 0)
			return -EBADMSG;
		a = a << 18 | b << 12 | c << 6;
		o[0] = (unsigned char)(a >> 16);
		o[1] = (unsigned char)(a >> 8);
		o += 2;
	}
	*ret_len = (size_t)(o - out);
	return 0;
}

int
idp_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz,
    size_t *ret_len)
{
	return decode(url_dec, in, n, out, outsz, ret_len);
}

/*
 * The standard alphabet: a multiple of 4 characters, the last group padded
 * with one or two '=' exactly when it carries 2 or 1 bytes.
 */
int
idp_b64_decode(const char *in, size_t n, unsigned char *out, size_t outsz,
    size_t *ret_len)
{
	size_t pad = 0;

	if (n % 4 != 0)
		return -EBADMSG;
	if (n > 0 && in[n - 1] == '=')
		pad = n > 1 && in[n - 2] == '=' ? 2 : 1;
	return decode(std_dec, in, n - pad, out, outsz, ret_len);
}

/* Decodes into a new NUL-terminated buffer the caller frees with free(). */
int
idp_b64url_decode_alloc(const char *in, size_t n, unsigned char **ret,
    size_t *ret_len)
{
	unsigned char *buf;
	size_t need, len;
	int rc;

	if (n % 4 == 1)
		return -EBADMSG;
	need = idp_b64url_dec_len(n);
	if ((buf = malloc(need + 1)) == NULL)
		return -ENOMEM;
	if ((rc = idp_b64url_decode(in, n, buf, need, &len)) < 0) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}
