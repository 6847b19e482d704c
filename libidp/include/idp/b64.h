/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict base64url (RFC 4648 section 5) without padding, as JOSE uses it,
 * and strict standard base64 (section 4) with padding.  The decoders
 * reject whitespace, any character outside the alphabet, bad lengths and
 * padding and non-zero trailing bits, so each byte string has exactly one
 * accepted encoding.
 */
#ifndef IDP_B64_H
#define IDP_B64_H

#include <stddef.h>

/* Returns the encoded length of n bytes, without the terminating NUL. */
size_t idp_b64url_enc_len(size_t n);

/* Returns the maximum decoded length of an n-character encoding. */
size_t idp_b64url_dec_len(size_t n);

/*
 * Encodes n bytes of in into out, which must hold idp_b64url_enc_len(n) + 1
 * bytes; out is NUL-terminated.  Returns the encoded length.
 */
size_t idp_b64url_encode(const void *in, size_t n, char *out);

/*
 * Decodes n characters of in into out (outsz bytes).  Returns 0 and the
 * decoded length in *ret_len, -EBADMSG for a non-canonical or malformed
 * encoding, -E2BIG if out is too small.
 */
int idp_b64url_decode(const char *in, size_t n, unsigned char *out,
    size_t outsz, size_t *ret_len);

/*
 * As idp_b64url_decode() into a new buffer (NUL-terminated for convenience)
 * that the caller frees with free().
 */
int idp_b64url_decode_alloc(const char *in, size_t n, unsigned char **ret,
    size_t *ret_len);

/* Standard base64 with padding: the encoded length of n bytes, no NUL. */
size_t idp_b64_enc_len(size_t n);

/*
 * Encodes n bytes of in into out (idp_b64_enc_len(n) + 1 bytes), padded,
 * NUL-terminated.  Returns the encoded length.
 */
size_t idp_b64_encode(const void *in, size_t n, char *out);

/*
 * Decodes n characters of standard, padded base64 (n a multiple of 4) into
 * out (outsz bytes, at least n / 4 * 3).  Returns 0 and the length in
 * *ret_len, -EBADMSG for a malformed or non-canonical encoding, -E2BIG if
 * out is too small.
 */
int idp_b64_decode(const char *in, size_t n, unsigned char *out,
    size_t outsz, size_t *ret_len);

#endif
