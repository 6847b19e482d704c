/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The certificate object (struct idp_cert): wrapping an X509 with the
 * fields issuing needs, PEM in and out, facts about it, and comparing its
 * key.  Builds no certificate (x509.c does).
 *
 * A certificate minted by x509.c carries no decoded EVP_PKEY (its SPKI is
 * assembled from the key's point), so X509_get0_pubkey() on a freshly
 * minted leaf returns NULL.  Re-parsing the DER would fix that but costs
 * about three times the whole mint (OpenSSL 3.0 sets up its decoder
 * framework for every SubjectPublicKeyInfo), so it is left to callers that
 * need it: idp_cert_load_pubkey().  Everything in this file that needs the
 * key (idp_cert_matches_key) decodes the SPKI on demand instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/x509.h>

#include "internal.h"
#include "x509_int.h"

static int
asn1_time_get(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EBADMSG;
	*ret = (int64_t)timegm(&tm);
	return 0;
}

/* SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 4.2.1.2, method 1). */
int
idp_x509_spki_keyid(X509_PUBKEY *pk, unsigned char *out,
    size_t *ret_len)
{
	const unsigned char *bits;
	unsigned int n;
	int blen;

	if (X509_PUBKEY_get0_param(NULL, &bits, &blen, NULL, pk) != 1 ||
	    blen <= 0)
		return -EBADMSG;
	if (EVP_Digest(bits, (size_t)blen, out, &n, idp_md_sha1(), NULL) != 1)
		return -EIO;
	*ret_len = n;
	return 0;
}

/* Fills the cached fields of a certificate that may issue others. */
int
idp_x509_cert_wrap(X509 *x, struct idp_cert **ret)
{
	struct idp_cert *c;
	const ASN1_OCTET_STRING *ski;
	unsigned char *p = NULL;
	int n, rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	if ((n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &p)) <= 0) {
		rc = -EBADMSG;
		goto fail;
	}
	c->spki = p;
	c->spki_len = (size_t)n;
	/* CA:TRUE, and keyCertSign if there is a keyUsage at all. */
	c->is_ca = X509_check_ca(x) == 1;
	if ((rc = asn1_time_get(X509_get0_notAfter(x), &c->not_after)) < 0)
		goto fail;
	ski = X509_get0_subject_key_id(x);
	if (ski != NULL && ASN1_STRING_length(ski) > 0 &&
	    (size_t)ASN1_STRING_length(ski) <= sizeof(c->ski)) {
		c->ski_len = (size_t)ASN1_STRING_length(ski);
		memcpy(c->ski, ASN1_STRING_get0_data(ski), c->ski_len);
	} else if ((rc = idp_x509_spki_keyid(X509_get_X509_PUBKEY(x), c->ski,
	    &c->ski_len)) < 0) {
		goto fail;
	}
	c->x = x;
	*ret = c;
	return 0;
fail:
	OPENSSL_free(c->spki);
	free(c);
	return rc;
}

/* Re-parses x from DER so that it carries its decoded public key. */
int
idp_x509_reparse(X509 **x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y;
	int n;

	if ((n = i2d_X509(*x, &der)) <= 0)
		return -ENOMEM;
	p = der;
	y = d2i_X509(NULL, &p, n);
	OPENSSL_free(der);
	if (y == NULL)
		return -EIO;
	X509_free(*x);
	*x = y;
	return 0;
}

/* PEM without a BIO: 64-character lines of base64 between the markers. */
int
idp_cert_to_pem(const struct idp_cert *c, char **ret, size_t *ret_len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	unsigned char *der = NULL;
	char *pem, *o;
	size_t len, off, chunk, lines;
	int n;

	if (c == NULL || ret == NULL)
		return -EINVAL;
	if ((n = i2d_X509(c->x, &der)) <= 0)
		return -ENOMEM;
	len = (size_t)n;
	lines = (len + 47) / 48;
	if ((pem = malloc(sizeof(head) + lines * 65 + sizeof(tail))) == NULL) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	o = pem;
	memcpy(o, head, sizeof(head) - 1);
	o += sizeof(head) - 1;
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < 48 ? len - off : 48;
		o += EVP_EncodeBlock((unsigned char *)o, der + off, (int)chunk);
		*o++ = '\n';
	}
	memcpy(o, tail, sizeof(tail));
	o += sizeof(tail) - 1;
	OPENSSL_free(der);
	*ret = pem;
	if (ret_len != NULL)
		*ret_len = (size_t)(o - pem);
	return 0;
}

int
idp_cert_from_pem(const void *pem, size_t len, struct idp_cert **ret)
{
	BIO *bio;
	X509 *x;
	int rc;

	if (pem == NULL || ret == NULL)
		return -EINVAL;
	if (len > 1024 * 1024)
		return -E2BIG;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return -ENOMEM;
	x = PEM_read_bio_X509(bio, NULL, idp_pem_no_passphrase, NULL);
	BIO_free(bio);
	if (x == NULL) {
		ERR_clear_error();
		return -EBADMSG;
	}
	if ((rc = idp_x509_cert_wrap(x, ret)) < 0) {
		X509_free(x);
		ERR_clear_error();
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	return 0;
}

int
idp_cert_get_info(const struct idp_cert *c, struct idp_cert_info *ret)
{
	struct idp_cert_info info;
	const ASN1_INTEGER *sn;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t n, off = 0;
	int rc;

	if (c == NULL || ret == NULL)
		return -EINVAL;
	memset(&info, 0, sizeof(info));
	if ((rc = asn1_time_get(X509_get0_notBefore(c->x),
	    &info.not_before)) < 0 ||
	    (rc = asn1_time_get(X509_get0_notAfter(c->x), &info.not_after)) < 0)
		return rc;
	sn = X509_get0_serialNumber(c->x);
	n = (size_t)ASN1_STRING_length(sn);
	if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
		info.serial[off++] = '-';
	if (n == 0 || off + 2 * n + 1 > sizeof(info.serial))
		return -EBADMSG;
	idp_hex(ASN1_STRING_get0_data(sn), n, info.serial + off);
	if (X509_digest(c->x, idp_md_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return -ENOMEM;
	idp_hex(md, mdlen, info.sha256);
	info.is_ca = c->is_ca;
	*ret = info;
	return 0;
}

/*
 * Compares the certificate's public key with key.  A freshly minted leaf
 * has no decoded key (see the top of this file), so its SPKI is decoded
 * here for the comparison.
 */
int
idp_cert_matches_key(const struct idp_cert *c, const struct idp_key *key)
{
	const unsigned char *p;
	EVP_PKEY *pk, *tmp = NULL;
	int r;

	if (c == NULL || key == NULL)
		return 0;
	if ((pk = X509_get0_pubkey(c->x)) == NULL) {
		p = c->spki;
		pk = tmp = d2i_PUBKEY(NULL, &p, (long)c->spki_len);
	}
	r = pk != NULL && EVP_PKEY_eq(pk, key->pkey) == 1;
	EVP_PKEY_free(tmp);
	ERR_clear_error();
	return r;
}

int
idp_cert_load_pubkey(struct idp_cert *c)
{
	int rc;

	if (c == NULL)
		return -EINVAL;
	if (X509_get0_pubkey(c->x) != NULL)
		return 0;
	ERR_clear_error();
	if ((rc = idp_x509_reparse(&c->x)) < 0)
		return rc;
	return X509_get0_pubkey(c->x) != NULL ? 0 : -EBADMSG;
}

void *
idp_cert_x509(const struct idp_cert *c)
{
	return c == NULL ? NULL : c->x;
}

void
idp_cert_free(struct idp_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->x);
	OPENSSL_free(c->spki);
	free(c);
}
