/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symmetric primitives for callers that should not touch OpenSSL
 * themselves: SHA-256, HMAC-SHA256 over several parts, HKDF-SHA256
 * (RFC 5869) and AES-256-GCM with a random 96-bit nonce.  Every function
 * returns 0 or a negative errno and writes its outputs only on success.
 */
#ifndef IDP_CRYPTO_H
#define IDP_CRYPTO_H

#include <stddef.h>

#define IDP_SHA256_LEN		32
#define IDP_AEAD_KEY_LEN	32
#define IDP_AEAD_NONCE_LEN	12
#define IDP_AEAD_TAG_LEN	16

/* One piece of a message given in parts. */
struct idp_buf {
	const void	*p;
	size_t		 len;
};

/* SHA-256 of n bytes at p into out.  Returns 0 or -EIO. */
int idp_sha256(const void *p, size_t n, unsigned char out[IDP_SHA256_LEN]);

/*
 * HMAC-SHA256 under key (klen bytes) of the concatenation of parts[0..n).
 * Returns 0 or -EIO.
 */
int idp_hmac_sha256(const void *key, size_t klen, const struct idp_buf *parts,
    size_t n, unsigned char out[IDP_SHA256_LEN]);

/*
 * HKDF-SHA256 (RFC 5869): outlen bytes of key material from ikm, with the
 * salt and info strings (NUL-terminated, may be "").  Returns 0, -EINVAL
 * (outlen 0 or over 255 * 32) or -EIO.
 */
int idp_hkdf_sha256(const void *ikm, size_t ikmlen, const char *salt,
    const char *info, void *out, size_t outlen);

/*
 * AES-256-GCM: seals len bytes of plain under key with associated data
 * aad, a fresh random nonce into nonce and the ciphertext with its tag
 * (len + IDP_AEAD_TAG_LEN bytes) into ct.  Returns 0, -E2BIG (len over
 * 1 GiB) or -EIO.
 */
int idp_aead_seal(const unsigned char key[IDP_AEAD_KEY_LEN], const void *aad,
    size_t aadlen, const void *plain, size_t len,
    unsigned char nonce[IDP_AEAD_NONCE_LEN], unsigned char *ct);

/*
 * Opens ct (ctlen bytes, tag last) sealed by idp_aead_seal() into plain
 * (ctlen - IDP_AEAD_TAG_LEN bytes).  Returns 0, -EBADMSG (too short) or
 * -EKEYREJECTED (wrong key, nonce, aad or a modified ciphertext; plain is
 * then wiped).
 */
int idp_aead_open(const unsigned char key[IDP_AEAD_KEY_LEN], const void *aad,
    size_t aadlen, const unsigned char nonce[IDP_AEAD_NONCE_LEN],
    const unsigned char *ct, size_t ctlen, unsigned char *plain);

#endif
