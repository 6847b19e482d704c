/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symmetric primitives (idp/crypto.h) on OpenSSL 3's EVP interfaces.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <idp/crypto.h>

#define AEAD_MAX	(1u << 30)

/* Fetched once: EVP_sha256() per call means a provider lookup each time. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

int
idp_sha256(const void *p, size_t n, unsigned char out[IDP_SHA256_LEN])
{
	unsigned int len = 0;
	const EVP_MD *md = sha256();

	if (md == NULL || EVP_Digest(p != NULL ? p : "", n, out, &len, md,
	    NULL) != 1 || len != IDP_SHA256_LEN)
		return -EIO;
	return 0;
}

struct idp_sha256 {
	EVP_MD_CTX	*ctx;
	int		 bad;		/* an update failed since init */
};

struct idp_sha256 *
idp_sha256_new(void)
{
	struct idp_sha256 *h;

	if (sha256() == NULL || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex2(h->ctx, sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void
idp_sha256_free(struct idp_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void
idp_sha256_update(struct idp_sha256 *h, const void *p, size_t n)
{
	if (!h->bad && n > 0 && EVP_DigestUpdate(h->ctx, p, n) != 1)
		h->bad = 1;
}

int
idp_sha256_final(struct idp_sha256 *h, unsigned char out[IDP_SHA256_LEN])
{
	unsigned int len = 0;
	int rc = 0;

	if (h->bad || EVP_DigestFinal_ex(h->ctx, out, &len) != 1 ||
	    len != IDP_SHA256_LEN)
		rc = -EIO;
	h->bad = EVP_DigestInit_ex2(h->ctx, NULL, NULL) != 1;
	return rc;
}

int
idp_random(void *p, size_t n)
{
	if (n > INT_MAX || RAND_bytes(p, (int)n) != 1)
		return -EIO;
	return 0;
}

void
idp_wipe(void *p, size_t n)
{
	if (p != NULL)
		OPENSSL_cleanse(p, n);
}

/* Fetched once: EVP_MAC_fetch() per call would cost a provider lookup. */
static EVP_MAC *hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int
idp_hmac_sha256(const void *key, size_t klen, const struct idp_buf *parts,
    size_t n, unsigned char out[IDP_SHA256_LEN])
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = NULL;
	size_t i, len = 0;
	int rc = -EIO;

	pthread_once(&hmac_once, hmac_fetch);
	if (hmac == NULL)
		return -EIO;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(hmac)) == NULL ||
	    EVP_MAC_init(ctx, key, klen, params) != 1)
		goto out;
	for (i = 0; i < n; i++)
		if (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].p,
		    parts[i].len) != 1)
			goto out;
	if (EVP_MAC_final(ctx, out, &len, IDP_SHA256_LEN) != 1 ||
	    len != IDP_SHA256_LEN)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

int
idp_hkdf_sha256(const void *ikm, size_t ikmlen, const char *salt,
    const char *info, void *out, size_t outlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -EIO;

	if (outlen == 0 || outlen > 255 * IDP_SHA256_LEN)
		return -EINVAL;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)ikm, ikmlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, strlen(salt));
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (ctx = EVP_KDF_CTX_new(kdf)) == NULL ||
	    EVP_KDF_derive(ctx, out, outlen, params) != 1)
		goto out;
	rc = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int
idp_aead_seal(const unsigned char key[IDP_AEAD_KEY_LEN], const void *aad,
    size_t aadlen, const void *plain, size_t len,
    unsigned char nonce[IDP_AEAD_NONCE_LEN], unsigned char *ct)
{
	unsigned char iv[IDP_AEAD_NONCE_LEN];
	EVP_CIPHER_CTX *ctx;
	int n, fin, rc = -EIO;

	if (len > AEAD_MAX || aadlen > AEAD_MAX)
		return -E2BIG;
	if (RAND_bytes(iv, sizeof(iv)) != 1 ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -EIO;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad,
	    (int)aadlen) != 1) ||
	    EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, IDP_AEAD_TAG_LEN,
	    ct + len) != 1)
		goto out;
	memcpy(nonce, iv, sizeof(iv));
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
idp_aead_open(const unsigned char key[IDP_AEAD_KEY_LEN], const void *aad,
    size_t aadlen, const unsigned char nonce[IDP_AEAD_NONCE_LEN],
    const unsigned char *ct, size_t ctlen, unsigned char *plain)
{
	EVP_CIPHER_CTX *ctx;
	size_t len;
	int n, rc = -EKEYREJECTED;

	if (ctlen < IDP_AEAD_TAG_LEN)
		return -EBADMSG;
	len = ctlen - IDP_AEAD_TAG_LEN;
	if (len > AEAD_MAX || aadlen > AEAD_MAX)
		return -E2BIG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -EIO;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad,
	    (int)aadlen) != 1) ||
	    EVP_DecryptUpdate(ctx, plain, &n, ct, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, IDP_AEAD_TAG_LEN,
	    (void *)(ct + len)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n, &n) != 1) {
		OPENSSL_cleanse(plain, len);
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
