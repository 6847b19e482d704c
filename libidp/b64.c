/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict, table-driven base64url without padding (RFC 4648 section 5).
 *
 * Every byte string has exactly one accepted encoding: padding, whitespace,
 * characters outside the url alphabet, a length of 1 mod 4 and non-zero
 * trailing bits are all refused.  JOSE relies on this: a signature or key
 * must not have two spellings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <idp/b64.h>
#include <idp/idp.h>

static const char enc_tab[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for the url alphabet, 0x80 for everything else. */
#define XX	0x80
static const unsigned char dec_tab[256] = {
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

/* Encodes n bytes of in into out (enc_len(n) + 1 bytes, NUL-terminated). */
size_t
idp_b64url_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	char *o = out;
	uint32_t v;

	while (n >= 3) {
		v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		o[0] = enc_tab[v >> 18];
		o[1] = enc_tab[(v >> 12) & 0x3f];
		o[2] = enc_tab[(v >> 6) & 0x3f];
		o[3] = enc_tab[v & 0x3f];
		p += 3;
		o += 4;
		n -= 3;
	}
	if (n == 2) {
		v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8;
		o[0] = enc_tab[v >> 18];
		o[1] = enc_tab[(v >> 12) & 0x3f];
		o[2] = enc_tab[(v >> 6) & 0x3f];
		o += 3;
	} else if (n == 1) {
		v = (uint32_t)p[0] << 16;
		o[0] = enc_tab[v >> 18];
		o[1] = enc_tab[(v >> 12) & 0x3f];
		o += 2;
	}
	*o = '\0';
	return (size_t)(o - out);
}

/*
 * Decodes strictly.  Nothing is written past outsz; on failure out may hold
 * a partial result, which the caller must ignore.
 */
int
idp_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz,
    size_t *ret_len)
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
		a = dec_tab[p[0]];
		b = dec_tab[p[1]];
		c = dec_tab[p[2]];
		d = dec_tab[p[3]];
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
		a = dec_tab[p[0]];
		b = dec_tab[p[1]];
		/* 12 bits carry 8: the low 4 bits of the last digit must be 0. */
		if (((a | b) & 0x80) || (b & 0x0f) != 0)
			return -EBADMSG;
		o[0] = (unsigned char)(a << 2 | b >> 4);
		o += 1;
	} else if (rem == 3) {
		a = dec_tab[p[0]];
		b = dec_tab[p[1]];
		c = dec_tab[p[2]];
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
