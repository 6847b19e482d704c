/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 CA creation and leaf minting.
 *
 * Minting is on rotatord's hot path, so the subject public key is set the
 * cheap way: the SubjectPublicKeyInfo is assembled from the key's encoded
 * point with X509_PUBKEY_set0_param().  X509_set_pubkey() would push the
 * key through OpenSSL 3's encoder and decoder, which costs about four times
 * the rest of the certificate (reference/perf-anchors.md).  RSA subjects
 * still use X509_set_pubkey(); their SPKI is not a bare point.
 *
 * The catch: a certificate built that way carries no decoded EVP_PKEY, so
 * X509_get0_pubkey() on a freshly minted leaf returns NULL.  Re-parsing the
 * DER would fix that but costs about three times the whole mint (OpenSSL
 * 3.0 sets up its decoder framework for every SubjectPublicKeyInfo), so it
 * is left to callers that need it: idp_cert_load_pubkey().  Everything in
 * this file that needs the key (idp_cert_matches_key) decodes the SPKI on
 * demand instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/x509.h>

#include "internal.h"

/* Latest time we write into a certificate: 9999-12-31T23:59:59Z. */
#define TIME_MAX	INT64_C(253402300799)
/* Serial numbers are 16 random bytes with the top bit clear. */
#define SERIAL_BYTES	16

struct idp_cert {
	X509		*x;
	int		 is_ca;
	int64_t		 not_after;
	unsigned char	 ski[EVP_MAX_MD_SIZE];	/* keyid for AKI of its leaves */
	size_t		 ski_len;
	unsigned char	*spki;			/* SubjectPublicKeyInfo DER */
	size_t		 spki_len;
};

static int
is_ec(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P256 || t == IDP_KEY_EC_P384;
}

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
static int
spki_keyid(X509_PUBKEY *pk, unsigned char *out, size_t *ret_len)
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
static int
cert_wrap(X509 *x, struct idp_cert **ret)
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
	} else if ((rc = spki_keyid(X509_get_X509_PUBKEY(x), c->ski,
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
add_ext(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_APPEND) == 1 ?
	    0 : -ENOMEM;
}

static int
add_basic_constraints(X509 *x, int ca)
{
	BASIC_CONSTRAINTS *bc;
	int rc = -ENOMEM;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		return -ENOMEM;
	if (ca) {
		bc->ca = 1;
		if ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    ASN1_INTEGER_set(bc->pathlen, 0) != 1)
			goto out;
	}
	rc = add_ext(x, NID_basic_constraints, bc, 1);
out:
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

static int
add_key_usage(X509 *x, const int *bits, size_t n)
{
	ASN1_BIT_STRING *ku;
	size_t i;
	int rc = -ENOMEM;

	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (ASN1_BIT_STRING_set_bit(ku, bits[i], 1) != 1)
			goto out;
	rc = add_ext(x, NID_key_usage, ku, 1);
out:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

static int
add_octets_ext(X509 *x, int nid, const unsigned char *p, size_t n)
{
	ASN1_OCTET_STRING *os;
	int rc = -ENOMEM;

	if ((os = ASN1_OCTET_STRING_new()) == NULL)
		return -ENOMEM;
	if (ASN1_OCTET_STRING_set(os, p, (int)n) == 1)
		rc = add_ext(x, nid, os, 0);
	ASN1_OCTET_STRING_free(os);
	return rc;
}

static int
add_akid(X509 *x, const unsigned char *keyid, size_t n)
{
	AUTHORITY_KEYID *akid;
	int rc = -ENOMEM;

	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		return -ENOMEM;
	if ((akid->keyid = ASN1_OCTET_STRING_new()) != NULL &&
	    ASN1_OCTET_STRING_set(akid->keyid, keyid, (int)n) == 1)
		rc = add_ext(x, NID_authority_key_identifier, akid, 0);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

static int
add_eku(X509 *x, int usage)
{
	EXTENDED_KEY_USAGE *eku;
	int rc = -ENOMEM;

	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		return -ENOMEM;
	if ((usage & IDP_USAGE_SERVER) &&
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) <= 0)
		goto out;
	if ((usage & IDP_USAGE_CLIENT) &&
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) <= 0)
		goto out;
	rc = add_ext(x, NID_ext_key_usage, eku, 0);
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/*
 * A DNS SAN: 1..253 characters of letters, digits, '-' and '_' in labels
 * of 1..63 that neither start nor end with '-', no leading or trailing
 * dot; "*" allowed as the whole leftmost label.
 */
static int
dns_ok(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (ch == '-' && label == 0)
			return 0;
		if (ch == '*') {
			if (i != 0 || (n > 1 && s[1] != '.'))
				return 0;
		} else if (!((ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_')) {
			return 0;
		}
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-' && !(n == 1 && s[0] == '*');
}

/* A URI SAN: printable ASCII without spaces, with a scheme. */
static int
uri_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t i;

	if (colon == NULL || colon == s || strlen(s) > 2048)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	for (i = 0; s + i < colon; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (i > 0 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
		    s[i] == '-' || s[i] == '.'))))
			return 0;
	return 1;
}

static int
push_name(GENERAL_NAMES *gens, int type, const void *p, size_t n)
{
	GENERAL_NAME *g = NULL;
	ASN1_STRING *s = NULL;

	if (type == GEN_IPADD)
		s = ASN1_OCTET_STRING_new();
	else
		s = ASN1_IA5STRING_new();
	if (s == NULL || ASN1_STRING_set(s, p, (int)n) != 1 ||
	    (g = GENERAL_NAME_new()) == NULL)
		goto fail;
	GENERAL_NAME_set0_value(g, type, s);
	s = NULL;
	if (sk_GENERAL_NAME_push(gens, g) <= 0)
		goto fail;
	return 0;
fail:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(g);
	return -ENOMEM;
}

static int
add_san(X509 *x, const struct idp_cert_req *req, int crit,
    struct idp_err *err)
{
	GENERAL_NAMES *gens;
	unsigned char ip[16];
	size_t i;
	int rc;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < req->n_dns; i++) {
		if (req->dns[i] == NULL || !dns_ok(req->dns[i])) {
			rc = idp_err_set(err, -EINVAL, "bad DNS name \"%s\"",
			    req->dns[i] == NULL ? "(null)" : req->dns[i]);
			goto out;
		}
		if ((rc = push_name(gens, GEN_DNS, req->dns[i],
		    strlen(req->dns[i]))) < 0)
			goto out;
	}
	for (i = 0; i < req->n_ip; i++) {
		if (req->ip[i] == NULL) {
			rc = idp_err_set(err, -EINVAL, "bad IP address");
			goto out;
		}
		if (inet_pton(AF_INET, req->ip[i], ip) == 1)
			rc = push_name(gens, GEN_IPADD, ip, 4);
		else if (inet_pton(AF_INET6, req->ip[i], ip) == 1)
			rc = push_name(gens, GEN_IPADD, ip, 16);
		else
			rc = idp_err_set(err, -EINVAL,
			    "bad IP address \"%s\"", req->ip[i]);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < req->n_uri; i++) {
		if (req->uri[i] == NULL || !uri_ok(req->uri[i])) {
			rc = idp_err_set(err, -EINVAL, "bad URI \"%s\"",
			    req->uri[i] == NULL ? "(null)" : req->uri[i]);
			goto out;
		}
		if ((rc = push_name(gens, GEN_URI, req->uri[i],
		    strlen(req->uri[i]))) < 0)
			goto out;
	}
	rc = 0;
	if (sk_GENERAL_NAME_num(gens) > 0)
		rc = add_ext(x, NID_subject_alt_name, gens, crit);
out:
	GENERAL_NAMES_free(gens);
	return rc;
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

/* Re-parses x from DER so that it carries its decoded public key. */
static int
reparse(X509 **x)
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
	    (rc = spki_keyid(X509_get_X509_PUBKEY(x), keyid, &keyid_len)) < 0 ||
	    (rc = add_basic_constraints(x, 1)) < 0 ||
	    (rc = add_key_usage(x, ku, 2)) < 0 ||
	    (rc = add_octets_ext(x, NID_subject_key_identifier, keyid,
	    keyid_len)) < 0 ||
	    (rc = add_akid(x, keyid, keyid_len)) < 0) {
		rc = idp_err_set(err, rc < 0 ? rc : -ENOMEM,
		    "cannot build CA certificate");
		goto out;
	}
	if ((rc = cert_sign(x, key)) < 0) {
		idp_err_set(err, rc, "cannot sign CA certificate");
		goto out;
	}
	/* A CA is made rarely and then used a lot: give it its decoded key. */
	if ((rc = reparse(&x)) < 0 || (rc = cert_wrap(x, ret)) < 0) {
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
	    (rc = add_basic_constraints(x, 0)) < 0 ||
	    (rc = subject->type == IDP_KEY_RSA_2048 ||
	    subject->type == IDP_KEY_RSA_3072 ? add_key_usage(x, ku_rsa, 2) :
	    add_key_usage(x, ku_sig, 1)) < 0 ||
	    (rc = add_eku(x, req->usage)) < 0) {
		rc = idp_err_set(err, rc < 0 ? rc : -ENOMEM,
		    "cannot build certificate");
		goto out;
	}
	/* An empty subject needs a critical SAN (RFC 5280 4.2.1.6). */
	if ((rc = add_san(x, req, req->common_name == NULL ||
	    req->common_name[0] == '\0', err)) < 0)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = spki_keyid(X509_get_X509_PUBKEY(x), c->ski,
	    &c->ski_len)) < 0 ||
	    (rc = add_octets_ext(x, NID_subject_key_identifier, c->ski,
	    c->ski_len)) < 0 ||
	    (rc = add_akid(x, ca->ski, ca->ski_len)) < 0) {
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
	if ((rc = cert_wrap(x, ret)) < 0) {
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
	if ((rc = reparse(&c->x)) < 0)
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
