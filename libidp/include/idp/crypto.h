/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symmetric primitives for callers that should not touch OpenSSL
 * themselves: SHA-256 (one-shot and incremental), HMAC-SHA256 over several
 * parts, HKDF-SHA256 (RFC 5869), AES-256-GCM with a random 96-bit nonce,
 * random bytes and wiping.  Every function that can fail returns 0 or a
 * negative errno and writes its outputs only on success.
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
 * Incremental SHA-256, one context reused for many messages: new, then
 * update any number of times, then final (which writes the digest and
 * starts the next message).  A context is used by one thread at a time.
 * new returns NULL when out of memory; final returns 0 or -EIO (also when
 * an update since the last final failed).
 */
struct idp_sha256;
struct idp_sha256 *idp_sha256_new(void);
void idp_sha256_free(struct idp_sha256 *h);
void idp_sha256_update(struct idp_sha256 *h, const void *p, size_t n);
int idp_sha256_final(struct idp_sha256 *h, unsigned char out[IDP_SHA256_LEN]);

/* n bytes from the CSPRNG into p.  Returns 0 or -EIO. */
int idp_random(void *p, size_t n);

/* Wipes n bytes at p in a way the compiler cannot remove; p may be NULL. */
void idp_wipe(void *p, size_t n);

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
