/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys (RFC 7517, 7518, 7638): the key object, its generation, thumbprint,
 * accessors and lifetime, and the helpers internal.h offers the rest of
 * libidp.  Reading keys from outside is jwk_pem.c's and jwk_parse.c's,
 * writing them out jwk_pem.c's and jwks.c's; this file parses nothing.
 *
 * A key is an EVP_PKEY bound to one JWS algorithm and named by a kid.  Keys
 * from outside (JWK, PEM) are validated once, when they are read, so the
 * signing and verifying code of the JWS files can trust the type and size
 * it finds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <idp/b64.h>
#include <idp/jwk.h>

#include "internal.h"
#include "jwk_int.h"

/* Group orders, big-endian, for the r and s range checks of jws_verify.c. */
static const unsigned char p256_order[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const unsigned char p384_order[48] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
	0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a,
	0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};

const unsigned char *
idp_ec_order(enum idp_key_type t, size_t *ret_n)
{
	switch (t) {
	case IDP_KEY_EC_P256:
		*ret_n = sizeof(p256_order);
		return p256_order;
	case IDP_KEY_EC_P384:
		*ret_n = sizeof(p384_order);
		return p384_order;
	default:
		return NULL;
	}
}

/*
 * Digests are fetched once: EVP_sha256() and friends make OpenSSL 3 look
 * the implementation up again on every use.
 */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha1;

static void
md_fetch(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

const EVP_MD *
idp_md_sha256(void)
{
	pthread_once(&md_once, md_fetch);
	return md_sha256;
}

const EVP_MD *
idp_md_sha384(void)
{
	pthread_once(&md_once, md_fetch);
	return md_sha384;
}

const EVP_MD *
idp_md_sha1(void)
{
	pthread_once(&md_once, md_fetch);
	return md_sha1;
}

int
idp_pem_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

void
idp_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* The key module's shared helpers: see jwk_int.h. */
size_t
idp_ec_field_len(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P384 ? 48 : 32;
}

const char *
idp_ec_crv_name(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P384 ? "P-384" : "P-256";
}

int
idp_type_is_ec(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P256 || t == IDP_KEY_EC_P384;
}

int
idp_type_is_rsa(enum idp_key_type t)
{
	return t == IDP_KEY_RSA_2048 || t == IDP_KEY_RSA_3072;
}

/* Copies a BIGNUM param into out: fixed width when width > 0, else minimal. */
static int
bn_param(const EVP_PKEY *pkey, const char *name, unsigned char *out,
    size_t outsz, size_t width, size_t *ret_len)
{
	BIGNUM *bn = NULL;
	size_t n;
	int rc = -EBADMSG;

	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
		goto out;
	n = (size_t)BN_num_bytes(bn);
	if (width > 0) {
		if (n > width || width > outsz)
			goto out;
		if (BN_bn2binpad(bn, out, (int)width) != (int)width)
			goto out;
		n = width;
	} else {
		if (n > outsz || (size_t)BN_bn2bin(bn, out) != n)
			goto out;
	}
	*ret_len = n;
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

/* Reads k's public numbers into pp; see jwk_int.h. */
int
idp_pub_parts_get(const struct idp_key *k, struct pub_parts *pp)
{
	size_t w;

	memset(pp, 0, sizeof(*pp));
	if (idp_type_is_ec(k->type)) {
		w = idp_ec_field_len(k->type);
		if (bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, pp->a,
		    sizeof(pp->a), w, &pp->alen) < 0 ||
		    bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, pp->b,
		    sizeof(pp->b), w, &pp->blen) < 0)
			return -EBADMSG;
		return 0;
	}
	if (idp_type_is_rsa(k->type)) {
		if (bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, pp->a,
		    sizeof(pp->a), 0, &pp->alen) < 0 ||
		    bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, pp->b,
		    sizeof(pp->b), 0, &pp->blen) < 0)
			return -EBADMSG;
		return 0;
	}
	if (k->type == IDP_KEY_ED25519) {
		pp->alen = 32;
		if (EVP_PKEY_get_raw_public_key(k->pkey, pp->a, &pp->alen) != 1 ||
		    pp->alen != 32)
			return -EBADMSG;
		return 0;
	}
	return -EINVAL;
}

/*
 * Computes the RFC 7638 thumbprint: SHA-256 over the required members in
 * lexicographic order without whitespace, base64url-encoded.
 */
static int
key_thumbprint(const struct idp_key *k, char *out, size_t outsz)
{
	struct pub_parts pp;
	char a[IDP_RSA_MAX_BITS / 6 + 4], b[IDP_EC_MAX_BYTES * 2];
	char json[sizeof(a) + sizeof(b) + 64];
	unsigned char md[32];
	int n, rc;

	if (outsz < 44)
		return -EINVAL;
	if ((rc = idp_pub_parts_get(k, &pp)) < 0)
		return rc;
	idp_b64url_encode(pp.a, pp.alen, a);
	if (pp.blen > 0)
		idp_b64url_encode(pp.b, pp.blen, b);
	if (idp_type_is_ec(k->type))
		n = snprintf(json, sizeof(json),
		    "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		    idp_ec_crv_name(k->type), a, b);
	else if (idp_type_is_rsa(k->type))
		n = snprintf(json, sizeof(json),
		    "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
	else
		n = snprintf(json, sizeof(json),
		    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", a);
	if (n < 0 || (size_t)n >= sizeof(json))
		return -EINVAL;
	if (EVP_Digest(json, (size_t)n, md, NULL, idp_md_sha256(), NULL) != 1)
		return -ENOMEM;
	idp_b64url_encode(md, sizeof(md), out);
	return 0;
}

/* Checks an RSA public exponent: odd, at least 3, at most 64 bits. */
int
idp_rsa_e_ok(const unsigned char *e, size_t elen)
{
	while (elen > 0 && e[0] == 0) {
		e++;
		elen--;
	}
	if (elen == 0 || elen > 8 || (e[elen - 1] & 1) == 0)
		return 0;
	if (elen == 1 && e[0] < 3)
		return 0;
	return 1;
}

static int
vslots_init(struct idp_key *k)
{
	size_t i;

	for (i = 0; i < IDP_VSLOTS; i++)
		if (pthread_mutex_init(&k->vs[i].lock, NULL) != 0) {
			while (i-- > 0)
				pthread_mutex_destroy(&k->vs[i].lock);
			return -ENOMEM;
		}
	return 0;
}

static void
vslots_destroy(struct idp_key *k)
{
	size_t i;

	for (i = 0; i < IDP_VSLOTS; i++)
		pthread_mutex_destroy(&k->vs[i].lock);
}

/* Wraps pkey (ownership taken on success) in a new key with its thumbprint. */
int
idp_key_wrap(EVP_PKEY *pkey, enum idp_key_type type, int priv,
    struct idp_key **ret)
{
	struct idp_key *k;
	int rc;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -ENOMEM;
	if (vslots_init(k) < 0) {
		free(k);
		return -ENOMEM;
	}
	k->refcnt = 1;
	k->pkey = pkey;
	k->type = type;
	k->alg = idp_key_type_default_alg(type);
	k->priv = priv;
	if ((rc = key_thumbprint(k, k->kid, sizeof(k->kid))) < 0) {
		vslots_destroy(k);
		free(k);
		return rc;
	}
	*ret = k;
	return 0;
}

/*
 * Key generation contexts, one per type, reused: OpenSSL 3 keygen through
 * a fresh context costs about twice as much.  A thread takes the context
 * out of its slot for the duration of one generation, so two threads never
 * share one; a thread that finds the slot empty makes its own.
 */
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY_CTX *gen_ctx[IDP_KEY_ED25519 + 1];

static EVP_PKEY_CTX *
gen_ctx_new(enum idp_key_type t)
{
	EVP_PKEY_CTX *ctx = NULL;
	const char *name;

	switch (t) {
	case IDP_KEY_EC_P256:
	case IDP_KEY_EC_P384:
		name = "EC";
		break;
	case IDP_KEY_RSA_2048:
	case IDP_KEY_RSA_3072:
		name = "RSA";
		break;
	case IDP_KEY_ED25519:
		name = "ED25519";
		break;
	default:
		return NULL;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_keygen_init(ctx) != 1)
		goto fail;
	if (t == IDP_KEY_EC_P256 &&
	    EVP_PKEY_CTX_set_group_name(ctx, "P-256") != 1)
		goto fail;
	if (t == IDP_KEY_EC_P384 &&
	    EVP_PKEY_CTX_set_group_name(ctx, "P-384") != 1)
		goto fail;
	if (t == IDP_KEY_RSA_2048 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1)
		goto fail;
	if (t == IDP_KEY_RSA_3072 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 3072) != 1)
		goto fail;
	return ctx;
fail:
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

/* Generates a new private key of type t.  Free with idp_key_free(). */
int
idp_key_generate(enum idp_key_type t, struct idp_key **ret)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	int rc;

	if (t < IDP_KEY_EC_P256 || t > IDP_KEY_ED25519 || ret == NULL)
		return -EINVAL;
	pthread_mutex_lock(&gen_lock);
	ctx = gen_ctx[t];
	gen_ctx[t] = NULL;
	pthread_mutex_unlock(&gen_lock);
	if (ctx == NULL && (ctx = gen_ctx_new(t)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_PKEY_generate(ctx, &pkey) != 1) {
		rc = -EIO;
		goto out;
	}
	if ((rc = idp_key_wrap(pkey, t, 1, ret)) < 0)
		goto out;
	pkey = NULL;
	rc = 0;
out:
	if (ctx != NULL) {
		pthread_mutex_lock(&gen_lock);
		if (gen_ctx[t] == NULL) {
			gen_ctx[t] = ctx;
			ctx = NULL;
		}
		pthread_mutex_unlock(&gen_lock);
		EVP_PKEY_CTX_free(ctx);
	}
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

void
idp_key_drop_caches(struct idp_key *k)
{
	size_t i;

	EVP_PKEY_CTX_free(k->es_ctx);
	k->es_ctx = NULL;
	EVP_MD_CTX_free(k->sign_tmpl);
	k->sign_tmpl = NULL;
	EVP_MD_CTX_free(k->sign_work);
	k->sign_work = NULL;
	free(k->hdr_b64);
	k->hdr_b64 = NULL;
	k->hdr_len = 0;
	free(k->hdr_typ);
	k->hdr_typ = NULL;
	for (i = 0; i < IDP_VSLOTS; i++) {
		EVP_PKEY_CTX_free(k->vs[i].vctx);
		k->vs[i].vctx = NULL;
		EVP_MD_CTX_free(k->vs[i].vtmpl);
		k->vs[i].vtmpl = NULL;
		EVP_MD_CTX_free(k->vs[i].vwork);
		k->vs[i].vwork = NULL;
	}
	EVP_MD_CTX_free(k->cert_tmpl);
	k->cert_tmpl = NULL;
	EVP_MD_CTX_free(k->cert_work);
	k->cert_work = NULL;
	free(k->spki);
	k->spki = NULL;
	k->spki_len = 0;
}

/* Takes one more reference to k; each reference ends with idp_key_free(). */
struct idp_key *
idp_key_ref(struct idp_key *k)
{
	if (k != NULL)
		__atomic_add_fetch(&k->refcnt, 1, __ATOMIC_RELAXED);
	return k;
}

/* Drops a reference; the last one frees the key and its caches. */
void
idp_key_free(struct idp_key *k)
{
	if (k == NULL)
		return;
	if (__atomic_sub_fetch(&k->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	idp_key_drop_caches(k);
	vslots_destroy(k);
	EVP_PKEY_free(k->pkey);
	free(k);
}

int
idp_key_is_private(const struct idp_key *k)
{
	return k != NULL && k->priv;
}

enum idp_key_type
idp_key_type(const struct idp_key *k)
{
	return k->type;
}

enum idp_alg
idp_key_alg(const struct idp_key *k)
{
	return k->alg;
}

/* Returns 1 if a key of type t may sign or verify with alg (RFC 8725 3.1). */
int
idp_alg_fits(enum idp_key_type t, enum idp_alg alg)
{
	switch (t) {
	case IDP_KEY_EC_P256:
		return alg == IDP_ALG_ES256;
	case IDP_KEY_EC_P384:
		return alg == IDP_ALG_ES384;
	case IDP_KEY_RSA_2048:
	case IDP_KEY_RSA_3072:
		return alg == IDP_ALG_RS256 || alg == IDP_ALG_PS256;
	case IDP_KEY_ED25519:
		return alg == IDP_ALG_EDDSA;
	}
	return 0;
}

int
idp_key_set_alg(struct idp_key *k, enum idp_alg alg)
{
	if (k == NULL || !idp_alg_fits(k->type, alg))
		return -EINVAL;
	if (alg != k->alg) {
		idp_key_drop_caches(k);
		k->alg = alg;
	}
	return 0;
}

const char *
idp_key_kid(const struct idp_key *k)
{
	return k->kid;
}

int
idp_key_set_kid(struct idp_key *k, const char *kid)
{
	json_t *j;
	size_t n;

	if (k == NULL || kid == NULL)
		return -EINVAL;
	n = strlen(kid);
	if (n == 0 || n >= sizeof(k->kid))
		return -EINVAL;
	/* It goes into JSON headers and JWKs: it must be valid UTF-8. */
	if ((j = json_string(kid)) == NULL)
		return -EINVAL;
	json_decref(j);
	if (strcmp(kid, k->kid) != 0) {
		idp_key_drop_caches(k);
		memcpy(k->kid, kid, n + 1);
	}
	return 0;
}

void *
idp_key_evp(const struct idp_key *k)
{
	return k->pkey;
}

int
idp_key_equal_public(const struct idp_key *a, const struct idp_key *b)
{
	int r;

	if (a == NULL || b == NULL)
		return 0;
	r = EVP_PKEY_eq(a->pkey, b->pkey);
	ERR_clear_error();
	return r == 1;
}
