/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys from and to PEM: a private key in any unencrypted form OpenSSL
 * reads or an SPKI public key in, refusing what libidp does not support;
 * PKCS#8 (into a secret) and SPKI out.  Encrypted PEM is refused, never
 * prompted for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <idp/jwk.h>
#include <idp/secret.h>

#include "internal.h"
#include "jwk_int.h"

/*
 * Works out the key type of pkey, refusing what libidp does not support
 * (other curves, explicit curve parameters, RSA outside 2048..8192 bits or
 * with an unusual exponent, RSA-PSS-restricted keys).
 */
static int
classify(EVP_PKEY *pkey, enum idp_key_type *ret, struct idp_err *err)
{
	char group[64];
	struct idp_key tmp;
	struct pub_parts pp;
	int bits;

	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
			return idp_err_set(err, -EBADMSG,
			    "EC key without a named curve");
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0)
			*ret = IDP_KEY_EC_P256;
		else if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0)
			*ret = IDP_KEY_EC_P384;
		else
			return idp_err_set(err, -EBADMSG,
			    "unsupported EC curve %s", group);
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*ret = IDP_KEY_ED25519;
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "RSA-PSS")) {
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < IDP_RSA_MIN_BITS || bits > IDP_RSA_MAX_BITS)
			return idp_err_set(err, -EBADMSG,
			    "RSA key of %d bits (need %d to %d)", bits,
			    IDP_RSA_MIN_BITS, IDP_RSA_MAX_BITS);
		memset(&tmp, 0, sizeof(tmp));
		tmp.pkey = pkey;
		tmp.type = IDP_KEY_RSA_2048;
		if (idp_pub_parts_get(&tmp, &pp) < 0 ||
		    !idp_rsa_e_ok(pp.b, pp.blen))
			return idp_err_set(err, -EBADMSG,
			    "RSA key with an unsupported public exponent");
		*ret = bits < 3072 ? IDP_KEY_RSA_2048 : IDP_KEY_RSA_3072;
		return 0;
	}
	return idp_err_set(err, -EBADMSG, "unsupported key type");
}

/*
 * Loads a private key (any PEM form OpenSSL reads unencrypted) or, failing
 * that, an SPKI public key.  Encrypted PEM is refused, never prompted for.
 */
int
idp_key_from_pem(const void *pem, size_t len, struct idp_key **ret,
    struct idp_err *err)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	enum idp_key_type type;
	int priv = 1, rc;

	if (pem == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no PEM");
	if (len > 1024 * 1024) {
		rc = idp_err_set(err, -E2BIG, "PEM larger than 1 MiB");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, idp_pem_no_passphrase, NULL);
	if (pkey == NULL) {
		priv = 0;
		BIO_free(bio);
		if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
			rc = idp_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		pkey = PEM_read_bio_PUBKEY(bio, NULL, idp_pem_no_passphrase,
		    NULL);
	}
	if (pkey == NULL) {
		rc = idp_err_set(err, -EBADMSG,
		    "no unencrypted PEM private key or public key found");
		goto out;
	}
	if ((rc = classify(pkey, &type, err)) < 0)
		goto out;
	/* A corrupted EC or Ed25519 private key would sign garbage. */
	if (priv && !idp_type_is_rsa(type)) {
		if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) ==
		    NULL) {
			rc = idp_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		if (EVP_PKEY_pairwise_check(ctx) != 1) {
			rc = idp_err_set(err, -EBADMSG,
			    "private and public key do not match");
			goto out;
		}
	}
	if ((rc = idp_key_wrap(pkey, type, priv, ret)) < 0) {
		idp_err_set(err, rc, "cannot compute key thumbprint");
		goto out;
	}
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

/*
 * Writes the private key as PKCS#8 PEM.  The BIO is a secure-memory BIO:
 * its buffer is wiped when it grows and when it is freed.
 */
int
idp_key_to_pem(const struct idp_key *k, struct idp_secret **ret)
{
	BIO *bio = NULL;
	struct idp_secret *s;
	char *p;
	long n;
	int rc;

	if (k == NULL || ret == NULL || !k->priv)
		return -EINVAL;
	if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (PEM_write_bio_PKCS8PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		rc = -ENOMEM;
		goto out;
	}
	if ((n = BIO_get_mem_data(bio, &p)) <= 0) {
		rc = -ENOMEM;
		goto out;
	}
	if ((s = idp_secret_dup(p, (size_t)n)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	*ret = s;
	rc = 0;
out:
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

/* Writes the SPKI PEM into a new NUL-terminated buffer (free()). */
int
idp_key_public_pem(const struct idp_key *k, char **ret, size_t *ret_len)
{
	BIO *bio = NULL;
	char *p, *buf;
	long n;
	int rc;

	if (k == NULL || ret == NULL)
		return -EINVAL;
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1 ||
	    (n = BIO_get_mem_data(bio, &p)) <= 0) {
		rc = -ENOMEM;
		goto out;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(buf, p, (size_t)n);
	buf[n] = '\0';
	*ret = buf;
	if (ret_len != NULL)
		*ret_len = (size_t)n;
	rc = 0;
out:
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

