/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 CA creation and leaf minting: checking the request, building the
 * certificate and signing it with the CA key.  What goes into the
 * extensions is x509_ext.c's, the certificate once made x509_cert.c's.
 *
 * Minting is on rotatord's hot path, so the subject public key is set the
 * cheap way: the SubjectPublicKeyInfo is assembled from the key's encoded
 * point with X509_PUBKEY_set0_param().  X509_set_pubkey() would push the
 * key through OpenSSL 3's encoder and decoder, which costs about four times
 * the rest of the certificate (reference/perf-anchors.md).  RSA subjects
 * still use X509_set_pubkey(); their SPKI is not a bare point.  The catch
 * (a minted leaf carries no decoded key) is told in x509_cert.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/x509.h>

#include "internal.h"
#include "x509_int.h"

/* Latest time we write into a certificate: 9999-12-31T23:59:59Z. */
#define TIME_MAX	INT64_C(253402300799)
/* Serial numbers are 16 random bytes with the top bit clear. */
#define SERIAL_BYTES	16

static int
is_ec(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P256 || t == IDP_KEY_EC_P384;
}

/* A random positive serial of at most 127 bits, never zero. */
static int
set_serial(X509 *x)
{
	unsigned char b[SERIAL_BYTES];
	size_t i;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -EIO;
		b[0] &= 0x7f;
		for (i = 0; i < sizeof(b) && b[i] == 0; i++)
			;
	} while (i == sizeof(b));
	/* DER INTEGER content: no leading zero octets for a positive value. */
	if (ASN1_STRING_set(X509_get_serialNumber(x), b + i,
	    (int)(sizeof(b) - i)) != 1)
		return -ENOMEM;
	return 0;
}

/*
 * Sets the SPKI.  EC and Ed25519: from the encoded point, without the
 * encoder round trip.  RSA (and a compressed EC point, which we do not put
 * into certificates): X509_set_pubkey().
 */
static int
set_pubkey(X509 *x, const struct idp_key *k)
{
	unsigned char buf[1 + 2 * IDP_EC_MAX_BYTES], *penc = NULL;
	size_t n = 0;
	int curve;

	/*
	 * OpenSSL 3.0 offers the encoded point of EC keys; its Ed25519 key
	 * management has no ENCODED_PUBLIC_KEY, but the raw public key is
	 * exactly the subjectPublicKey of RFC 8410.
	 */
	if (is_ec(k->type) &&
	    EVP_PKEY_get_octet_string_param(k->pkey,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf), &n) != 1)
		return -EIO;
	if (k->type == IDP_KEY_ED25519 &&
	    EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY,
	    buf, sizeof(buf), &n) != 1)
		return -EIO;
	if (k->type == IDP_KEY_ED25519 && n == 32) {
		if ((penc = OPENSSL_memdup(buf, n)) == NULL)
			return -ENOMEM;
		if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
		    OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL, penc,
		    (int)n) != 1) {
			OPENSSL_free(penc);
			return -EIO;
		}
		return 0;
	}
	if (is_ec(k->type) && n == 1 + 2 * (k->type == IDP_KEY_EC_P384 ?
	    48 : 32) && buf[0] == 0x04) {
		curve = k->type == IDP_KEY_EC_P384 ? NID_secp384r1 :
		    NID_X9_62_prime256v1;
		if ((penc = OPENSSL_memdup(buf, n)) == NULL)
			return -ENOMEM;
		if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
		    OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
		    OBJ_nid2obj(curve), penc, (int)n) != 1) {
			OPENSSL_free(penc);
			return -EIO;
		}
		return 0;
	}
	return X509_set_pubkey(x, k->pkey) == 1 ? 0 : -EIO;
}

static int
set_validity(X509 *x, int64_t nb, int64_t na)
{
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL)
		return -ENOMEM;
	return 0;
}

static int
set_cn(X509_NAME *name, const char *cn, struct idp_err *err)
{
	/* OpenSSL enforces ub-common-name (64 characters) here. */
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1) {
		ERR_clear_error();
		return idp_err_set(err, -EINVAL,
		    "bad common name (UTF-8, 1 to 64 characters)");
	}
	return 0;
}

/*
 * Signs with the CA key through a cached, initialised EVP_MD_CTX template:
 * SHA-256 for P-256 and RSA (PKCS#1 v1.5 whatever the key's JWS binding),
 * SHA-384 for P-384, none for Ed25519.
 */
static int
cert_sign(X509 *x, struct idp_key *ca_key)
{
	EVP_MD_CTX *tmpl = NULL;
	const char *md;

	if (ca_key->cert_tmpl == NULL) {
		switch (ca_key->type) {
		case IDP_KEY_EC_P384:
			md = "SHA2-384";
			break;
		case IDP_KEY_ED25519:
			md = NULL;
			break;
		default:
			md = "SHA2-256";
			break;
		}
		if ((tmpl = EVP_MD_CTX_new()) == NULL)
			return -ENOMEM;
		if (EVP_DigestSignInit_ex(tmpl, NULL, md, NULL, NULL,
		    ca_key->pkey, NULL) != 1) {
			EVP_MD_CTX_free(tmpl);
			return -EIO;
		}
		if (ca_key->cert_work == NULL &&
		    (ca_key->cert_work = EVP_MD_CTX_new()) == NULL) {
			EVP_MD_CTX_free(tmpl);
			return -ENOMEM;
		}
		ca_key->cert_tmpl = tmpl;
	}
	if (EVP_MD_CTX_copy_ex(ca_key->cert_work, ca_key->cert_tmpl) != 1)
		return -EIO;
	if (X509_sign_ctx(x, ca_key->cert_work) <= 0)
		return -EIO;
	return 0;
}

static int
times_ok(int64_t nb, int64_t na)
{
	return nb >= 0 && na > nb && na <= TIME_MAX;
}

int
idp_cert_ca_create(struct idp_key *key, const char *common_name,
    int64_t not_before, int64_t not_after, struct idp_cert **ret,
    struct idp_err *err)
{
	static const int ku[] = { 5 /* keyCertSign */, 6 /* cRLSign */ };
	X509 *x = NULL;
	unsigned char keyid[EVP_MAX_MD_SIZE];
	size_t keyid_len;
	int rc;

	if (key == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no CA key");
	if (!key->priv)
		return idp_err_set(err, -EINVAL, "CA key has no private half");
	if (common_name == NULL || common_name[0] == '\0')
		return idp_err_set(err, -EINVAL, "CA needs a common name");
	if (!times_ok(not_before, not_after))
		return idp_err_set(err, -EINVAL, "bad CA validity period");
	if ((x = X509_new()) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = set_cn(X509_get_subject_name(x), common_name, err)) < 0)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    (rc = set_serial(x)) < 0 ||
	    (rc = set_validity(x, not_before, not_after)) < 0 ||
	    (rc = set_pubkey(x, key)) < 0 ||
	    (rc = idp_x509_spki_keyid(X509_get_X509_PUBKEY(x), keyid,
	    &keyid_len)) < 0 ||
	    (rc = idp_x509_add_basic_constraints(x, 1)) < 0 ||
	    (rc = idp_x509_add_key_usage(x, ku, 2)) < 0 ||
	    (rc = idp_x509_add_octets_ext(x, NID_subject_key_identifier, keyid,
	    keyid_len)) < 0 ||
	    (rc = idp_x509_add_akid(x, keyid, keyid_len)) < 0) {
		rc = idp_err_set(err, rc < 0 ? rc : -ENOMEM,
		    "cannot build CA certificate");
		goto out;
	}
	if ((rc = cert_sign(x, key)) < 0) {
		idp_err_set(err, rc, "cannot sign CA certificate");
		goto out;
	}
	/* A CA is made rarely and then used a lot: give it its decoded key. */
	if ((rc = idp_x509_reparse(&x)) < 0 ||
	    (rc = idp_x509_cert_wrap(x, ret)) < 0) {
		idp_err_set(err, rc, "cannot re-read CA certificate");
		goto out;
	}
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* Returns 0 if ca_key holds the key of ca. */
static int
ca_key_matches(const struct idp_cert *ca, struct idp_key *ca_key)
{
	unsigned char *p = NULL;
	EVP_PKEY *pk;
	int n;

	if (ca_key->spki == NULL) {
		if ((n = i2d_PUBKEY(ca_key->pkey, &p)) <= 0)
			return -ENOMEM;
		ca_key->spki = malloc((size_t)n);
		if (ca_key->spki == NULL) {
			OPENSSL_free(p);
			return -ENOMEM;
		}
		memcpy(ca_key->spki, p, (size_t)n);
		ca_key->spki_len = (size_t)n;
		OPENSSL_free(p);
	}
	if (ca_key->spki_len == ca->spki_len &&
	    memcmp(ca_key->spki, ca->spki, ca->spki_len) == 0)
		return 0;
	/* Same key, other encoding (e.g. a compressed point)? */
	pk = X509_get0_pubkey(ca->x);
	return pk != NULL && EVP_PKEY_eq(pk, ca_key->pkey) == 1 ? 0 : -EINVAL;
}

int
idp_cert_mint(const struct idp_cert *ca, struct idp_key *ca_key,
    const struct idp_key *subject, const struct idp_cert_req *req,
    struct idp_cert **ret, struct idp_err *err)
{
	static const int ku_sig[] = { 0 /* digitalSignature */ };
	static const int ku_rsa[] = { 0, 2 /* keyEncipherment */ };
	struct idp_cert *c = NULL;
	X509 *x = NULL;
	unsigned char *p = NULL;
	int64_t not_after;
	int n, rc;

	if (ca == NULL || ca_key == NULL || subject == NULL || req == NULL ||
	    ret == NULL)
		return idp_err_set(err, -EINVAL, "missing argument");
	if (!ca->is_ca)
		return idp_err_set(err, -EINVAL, "issuer is not a CA");
	if (!ca_key->priv)
		return idp_err_set(err, -EINVAL, "CA key has no private half");
	if ((rc = ca_key_matches(ca, ca_key)) < 0) {
		idp_err_set(err, rc, "CA key does not match the CA certificate");
		goto out;
	}
	if (req->usage == 0 ||
	    (req->usage & ~(IDP_USAGE_SERVER | IDP_USAGE_CLIENT)) != 0)
		return idp_err_set(err, -EINVAL, "bad certificate usage");
	if ((req->n_dns > 0 && req->dns == NULL) ||
	    (req->n_ip > 0 && req->ip == NULL) ||
	    (req->n_uri > 0 && req->uri == NULL))
		return idp_err_set(err, -EINVAL, "missing SAN array");
	if ((req->common_name == NULL || req->common_name[0] == '\0') &&
	    req->n_dns + req->n_ip + req->n_uri == 0)
		return idp_err_set(err, -EINVAL,
		    "certificate needs a common name or a SAN");
	/* A leaf never outlives its CA: notAfter is clamped (read it back). */
	not_after = req->not_after < ca->not_after ? req->not_after :
	    ca->not_after;
	if (!times_ok(req->not_before, not_after))
		return idp_err_set(err, -EINVAL,
		    "bad validity period (or the CA expires before it)");

	if ((x = X509_new()) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (req->common_name != NULL && req->common_name[0] != '\0' &&
	    (rc = set_cn(X509_get_subject_name(x), req->common_name, err)) < 0)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->x)) != 1 ||
	    (rc = set_serial(x)) < 0 ||
	    (rc = set_validity(x, req->not_before, not_after)) < 0 ||
	    (rc = set_pubkey(x, subject)) < 0 ||
	    (rc = idp_x509_add_basic_constraints(x, 0)) < 0 ||
	    (rc = subject->type == IDP_KEY_RSA_2048 ||
	    subject->type == IDP_KEY_RSA_3072 ?
	    idp_x509_add_key_usage(x, ku_rsa, 2) :
	    idp_x509_add_key_usage(x, ku_sig, 1)) < 0 ||
	    (rc = idp_x509_add_eku(x, req->usage)) < 0) {
		rc = idp_err_set(err, rc < 0 ? rc : -ENOMEM,
		    "cannot build certificate");
		goto out;
	}
	/* An empty subject needs a critical SAN (RFC 5280 4.2.1.6). */
	if ((rc = idp_x509_add_san(x, req, req->common_name == NULL ||
	    req->common_name[0] == '\0', err)) < 0)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = idp_x509_spki_keyid(X509_get_X509_PUBKEY(x), c->ski,
	    &c->ski_len)) < 0 ||
	    (rc = idp_x509_add_octets_ext(x, NID_subject_key_identifier, c->ski,
	    c->ski_len)) < 0 ||
	    (rc = idp_x509_add_akid(x, ca->ski, ca->ski_len)) < 0) {
		idp_err_set(err, rc, "cannot build certificate");
		goto out;
	}
	if ((rc = cert_sign(x, ca_key)) < 0) {
		idp_err_set(err, rc, "cannot sign certificate");
		goto out;
	}
	if ((n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &p)) <= 0) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	c->spki = p;
	c->spki_len = (size_t)n;
	c->is_ca = 0;
	c->not_after = not_after;
	c->x = x;
	*ret = c;
	c = NULL;
	x = NULL;
	rc = 0;
out:
	if (c != NULL) {
		OPENSSL_free(c->spki);
		free(c);
	}
	X509_free(x);
	if (rc < 0)
		ERR_clear_error();
	return rc;
}
