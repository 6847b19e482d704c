/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys, JWK and JWKS (RFC 7517, 7518, 7638).
 *
 * A key is an EVP_PKEY bound to one JWS algorithm and named by a kid.  Keys
 * from outside (JWK, PEM) are validated here once, so the signing and
 * verifying code in jwt.c can trust the type and size it finds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <idp/b64.h>
#include <idp/jwk.h>

#include "internal.h"

/* Members that only a private or symmetric JWK has (RFC 7518 6.3.2, 6.4). */
static const char *const jwk_private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

/* Group orders, big-endian, for the r and s range checks in jwt.c. */
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

/* The public numbers of a key, as JWK and RFC 7638 spell them. */
struct pub_parts {
	unsigned char	a[IDP_RSA_MAX_BITS / 8];	/* EC x, RSA n, OKP x */
	size_t		alen;
	unsigned char	b[IDP_EC_MAX_BYTES];		/* EC y, RSA e */
	size_t		blen;
};

static size_t
ec_field_len(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P384 ? 48 : 32;
}

static const char *
ec_crv_name(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P384 ? "P-384" : "P-256";
}

static int
is_ec(enum idp_key_type t)
{
	return t == IDP_KEY_EC_P256 || t == IDP_KEY_EC_P384;
}

static int
is_rsa(enum idp_key_type t)
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

static int
pub_parts_get(const struct idp_key *k, struct pub_parts *pp)
{
	size_t w;

	memset(pp, 0, sizeof(*pp));
	if (is_ec(k->type)) {
		w = ec_field_len(k->type);
		if (bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, pp->a,
		    sizeof(pp->a), w, &pp->alen) < 0 ||
		    bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, pp->b,
		    sizeof(pp->b), w, &pp->blen) < 0)
			return -EBADMSG;
		return 0;
	}
	if (is_rsa(k->type)) {
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
	if ((rc = pub_parts_get(k, &pp)) < 0)
		return rc;
	idp_b64url_encode(pp.a, pp.alen, a);
	if (pp.blen > 0)
		idp_b64url_encode(pp.b, pp.blen, b);
	if (is_ec(k->type))
		n = snprintf(json, sizeof(json),
		    "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		    ec_crv_name(k->type), a, b);
	else if (is_rsa(k->type))
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
static int
rsa_e_ok(const unsigned char *e, size_t elen)
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
		if (pub_parts_get(&tmp, &pp) < 0 || !rsa_e_ok(pp.b, pp.blen))
			return idp_err_set(err, -EBADMSG,
			    "RSA key with an unsupported public exponent");
		*ret = bits < 3072 ? IDP_KEY_RSA_2048 : IDP_KEY_RSA_3072;
		return 0;
	}
	return idp_err_set(err, -EBADMSG, "unsupported key type");
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
static int
key_wrap(EVP_PKEY *pkey, enum idp_key_type type, int priv,
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
	if ((rc = key_wrap(pkey, t, 1, ret)) < 0)
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
	if (priv && !is_rsa(type)) {
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
	if ((rc = key_wrap(pkey, type, priv, ret)) < 0) {
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
static int
alg_fits(enum idp_key_type t, enum idp_alg alg)
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
	if (k == NULL || !alg_fits(k->type, alg))
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

/* Builds the public JWK; never includes private members. */
int
idp_key_to_jwk(const struct idp_key *k, json_t **ret)
{
	struct pub_parts pp;
	char a[IDP_RSA_MAX_BITS / 6 + 4], b[IDP_EC_MAX_BYTES * 2];
	const char *alg;
	json_t *j;
	int rc;

	if (k == NULL || ret == NULL)
		return -EINVAL;
	if ((alg = idp_alg_name(k->alg)) == NULL)
		return -EINVAL;
	if ((rc = pub_parts_get(k, &pp)) < 0)
		return rc;
	idp_b64url_encode(pp.a, pp.alen, a);
	if (pp.blen > 0)
		idp_b64url_encode(pp.b, pp.blen, b);
	if (is_ec(k->type))
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "EC", "crv", ec_crv_name(k->type), "x", a, "y", b,
		    "kid", k->kid, "alg", alg, "use", "sig");
	else if (is_rsa(k->type))
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "RSA", "n", a, "e", b,
		    "kid", k->kid, "alg", alg, "use", "sig");
	else
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "OKP", "crv", "Ed25519", "x", a,
		    "kid", k->kid, "alg", alg, "use", "sig");
	if (j == NULL)
		return -ENOMEM;
	*ret = j;
	return 0;
}

/*
 * Reads a base64url member.  exact > 0 demands exactly that many decoded
 * bytes (EC coordinates, Ed25519 keys).  Returns -EBADMSG when missing or
 * malformed.
 */
static int
jwk_b64(const json_t *jwk, const char *name, unsigned char *out,
    size_t outsz, size_t exact, size_t *ret_len, struct idp_err *err)
{
	json_t *v;
	const char *s;
	size_t slen, n;

	v = json_object_get(jwk, name);
	if (!json_is_string(v)) {
		idp_err_set(err, -EBADMSG,
		    "JWK member \"%s\" missing or not a string", name);
		return -EBADMSG;
	}
	s = json_string_value(v);
	slen = json_string_length(v);
	if ((exact > 0 && slen != idp_b64url_enc_len(exact)) ||
	    idp_b64url_decode(s, slen, out, outsz, &n) < 0 ||
	    (exact > 0 && n != exact)) {
		idp_err_set(err, -EBADMSG, "JWK member \"%s\" is not strict "
		    "base64url of the right length", name);
		return -EBADMSG;
	}
	*ret_len = n;
	return 0;
}

/* Returns the string member name, NULL if absent, -EBADMSG via *bad. */
static const char *
jwk_str(const json_t *jwk, const char *name, int *bad)
{
	json_t *v = json_object_get(jwk, name);

	if (v == NULL)
		return NULL;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static int
ec_from_jwk(const json_t *jwk, enum idp_key_type t, EVP_PKEY **ret,
    struct idp_err *err)
{
	unsigned char pt[1 + 2 * IDP_EC_MAX_BYTES];
	size_t w = ec_field_len(t), n;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL, *cctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	pt[0] = 0x04;
	if ((rc = jwk_b64(jwk, "x", pt + 1, w, w, &n, err)) < 0 ||
	    (rc = jwk_b64(jwk, "y", pt + 1 + w, w, w, &n, err)) < 0)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)ec_crv_name(t), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    pt, 1 + 2 * w);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* oct2point refuses coordinates >= p and points off the curve. */
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		rc = idp_err_set(err, -EBADMSG, "EC point is not on the curve");
		goto out;
	}
	if ((cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_public_check(cctx) != 1) {
		rc = idp_err_set(err, -EBADMSG, "EC public key is invalid");
		goto out;
	}
	*ret = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Note: -EOPNOTSUPP marks a key that is well-formed but too large. */
static int
rsa_from_jwk(const json_t *jwk, EVP_PKEY **ret, enum idp_key_type *ret_type,
    struct idp_err *err)
{
	unsigned char *nb = NULL, eb[16];
	size_t nlen, elen;
	json_t *v;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int bits, rc;

	/*
	 * One byte of slack for a (tolerated) leading zero octet.  A modulus
	 * too long for that is well-formed but unsupported: JWKS skips it.
	 */
	v = json_object_get(jwk, "n");
	if (json_is_string(v) && json_string_length(v) >
	    idp_b64url_enc_len(IDP_RSA_MAX_BITS / 8 + 1)) {
		rc = idp_err_set(err, -EOPNOTSUPP,
		    "RSA modulus larger than %d bits", IDP_RSA_MAX_BITS);
		goto out;
	}
	if ((nb = malloc(IDP_RSA_MAX_BITS / 8 + 1)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = jwk_b64(jwk, "n", nb, IDP_RSA_MAX_BITS / 8 + 1, 0, &nlen,
	    err)) < 0)
		goto out;
	if ((rc = jwk_b64(jwk, "e", eb, sizeof(eb), 0, &elen, err)) < 0)
		goto out;
	if (!rsa_e_ok(eb, elen)) {
		rc = idp_err_set(err, -EBADMSG,
		    "RSA public exponent must be odd, >= 3 and < 2^64");
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < IDP_RSA_MIN_BITS) {
		rc = idp_err_set(err, -EBADMSG,
		    "RSA modulus of %d bits (need at least %d)", bits,
		    IDP_RSA_MIN_BITS);
		goto out;
	}
	if (bits > IDP_RSA_MAX_BITS) {
		rc = idp_err_set(err, -EOPNOTSUPP,
		    "RSA modulus larger than %d bits", IDP_RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(n) || BN_cmp(e, n) >= 0) {
		rc = idp_err_set(err, -EBADMSG, "RSA modulus is invalid");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		rc = idp_err_set(err, -EBADMSG, "RSA public key is invalid");
		goto out;
	}
	*ret_type = bits < 3072 ? IDP_KEY_RSA_2048 : IDP_KEY_RSA_3072;
	*ret = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	return rc;
}

static int
okp_from_jwk(const json_t *jwk, EVP_PKEY **ret, struct idp_err *err)
{
	unsigned char x[32];
	size_t n;
	EVP_PKEY *pkey;
	int rc;

	if ((rc = jwk_b64(jwk, "x", x, sizeof(x), sizeof(x), &n, err)) < 0)
		return rc;
	pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, n);
	if (pkey == NULL)
		return idp_err_set(err, -EBADMSG, "Ed25519 key is invalid");
	*ret = pkey;
	return 0;
}

/*
 * Imports a public JWK.  Returns -EOPNOTSUPP for a well-formed key libidp
 * does not support (another kty, curve or alg), which idp_jwks_parse()
 * skips, and -EBADMSG for a malformed or contradictory one.
 */
static int
jwk_import(const json_t *jwk, struct idp_key **ret, struct idp_err *err)
{
	const char *kty, *crv, *alg_s, *kid;
	enum idp_key_type type = 0;
	enum idp_alg alg = IDP_ALG_NONE;
	EVP_PKEY *pkey = NULL;
	struct idp_key *k = NULL;
	size_t i;
	int bad = 0, rc;

	if (!json_is_object(jwk))
		return idp_err_set(err, -EBADMSG, "JWK is not an object");
	for (i = 0; i < sizeof(jwk_private_members) /
	    sizeof(jwk_private_members[0]); i++)
		if (json_object_get(jwk, jwk_private_members[i]) != NULL)
			return idp_err_set(err, -EBADMSG,
			    "JWK carries private member \"%s\"",
			    jwk_private_members[i]);
	kty = jwk_str(jwk, "kty", &bad);
	crv = jwk_str(jwk, "crv", &bad);
	alg_s = jwk_str(jwk, "alg", &bad);
	kid = jwk_str(jwk, "kid", &bad);
	if (bad)
		return idp_err_set(err, -EBADMSG,
		    "JWK kty, crv, alg or kid is not a string");
	if (kty == NULL)
		return idp_err_set(err, -EBADMSG, "JWK without kty");
	if (kid != NULL && (kid[0] == '\0' || strlen(kid) >= sizeof(k->kid)))
		return idp_err_set(err, -EBADMSG,
		    "JWK kid is empty or longer than %zu bytes",
		    sizeof(k->kid) - 1);

	if (strcmp(kty, "EC") == 0) {
		if (crv == NULL)
			return idp_err_set(err, -EBADMSG, "EC JWK without crv");
		if (strcmp(crv, "P-256") == 0)
			type = IDP_KEY_EC_P256;
		else if (strcmp(crv, "P-384") == 0)
			type = IDP_KEY_EC_P384;
		else
			return idp_err_set(err, -EOPNOTSUPP,
			    "unsupported EC curve");
	} else if (strcmp(kty, "RSA") == 0) {
		type = IDP_KEY_RSA_2048;	/* refined by the modulus size */
	} else if (strcmp(kty, "OKP") == 0) {
		if (crv == NULL)
			return idp_err_set(err, -EBADMSG,
			    "OKP JWK without crv");
		if (strcmp(crv, "Ed25519") != 0)
			return idp_err_set(err, -EOPNOTSUPP,
			    "unsupported OKP curve");
		type = IDP_KEY_ED25519;
	} else {
		return idp_err_set(err, -EOPNOTSUPP, "unsupported kty");
	}

	if (alg_s != NULL) {
		if (idp_alg_parse(alg_s, &alg) < 0)
			return idp_err_set(err, -EOPNOTSUPP,
			    "unsupported alg");
		if (!alg_fits(type, alg))
			return idp_err_set(err, -EBADMSG,
			    "JWK alg does not match its kty or crv");
	}

	if (is_ec(type))
		rc = ec_from_jwk(jwk, type, &pkey, err);
	else if (is_rsa(type))
		rc = rsa_from_jwk(jwk, &pkey, &type, err);
	else
		rc = okp_from_jwk(jwk, &pkey, err);
	if (rc < 0)
		goto out;
	if ((rc = key_wrap(pkey, type, 0, &k)) < 0) {
		idp_err_set(err, rc, "cannot compute key thumbprint");
		goto out;
	}
	pkey = NULL;
	if (alg != IDP_ALG_NONE)
		k->alg = alg;
	if (kid != NULL)
		memcpy(k->kid, kid, strlen(kid) + 1);
	*ret = k;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

int
idp_key_from_jwk(const json_t *jwk, struct idp_key **ret,
    struct idp_err *err)
{
	int rc;

	if (ret == NULL)
		return -EINVAL;
	rc = jwk_import(jwk, ret, err);
	return rc == -EOPNOTSUPP ? -EBADMSG : rc;
}

struct idp_jwks {
	struct idp_key	**keys;
	size_t		  n;
	size_t		  cap;
};

struct idp_jwks *
idp_jwks_new(void)
{
	return calloc(1, sizeof(struct idp_jwks));
}

/*
 * Takes ownership of k on success; on failure the caller keeps it.  A kid
 * already in the set is refused with -EEXIST, so lookups are unambiguous.
 */
int
idp_jwks_add(struct idp_jwks *set, struct idp_key *k)
{
	struct idp_key **keys;
	size_t cap;

	if (set == NULL || k == NULL)
		return -EINVAL;
	if (idp_jwks_find(set, k->kid) != NULL)
		return -EEXIST;
	if (set->n == set->cap) {
		cap = set->cap == 0 ? 4 : set->cap * 2;
		if (cap > SIZE_MAX / sizeof(*keys))
			return -ENOMEM;
		if ((keys = realloc(set->keys, cap * sizeof(*keys))) == NULL)
			return -ENOMEM;
		set->keys = keys;
		set->cap = cap;
	}
	set->keys[set->n++] = k;
	return 0;
}

size_t
idp_jwks_count(const struct idp_jwks *set)
{
	return set == NULL ? 0 : set->n;
}

const struct idp_key *
idp_jwks_get(const struct idp_jwks *set, size_t i)
{
	if (set == NULL || i >= set->n)
		return NULL;
	return set->keys[i];
}

const struct idp_key *
idp_jwks_find(const struct idp_jwks *set, const char *kid)
{
	size_t i;

	if (set == NULL || kid == NULL)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (strcmp(set->keys[i]->kid, kid) == 0)
			return set->keys[i];
	return NULL;
}

void
idp_jwks_free(struct idp_jwks *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		idp_key_free(set->keys[i]);
	free(set->keys);
	free(set);
}

/*
 * Returns 1 if a JWKS entry is meant for something other than verifying
 * signatures: "use" other than "sig", or "key_ops" without "verify".
 */
static int
jwk_not_for_sig(const json_t *jwk, int *bad)
{
	json_t *use, *ops, *op;
	size_t i;
	int verify = 0;

	use = json_object_get(jwk, "use");
	if (use != NULL) {
		if (!json_is_string(use)) {
			*bad = 1;
			return 0;
		}
		if (strcmp(json_string_value(use), "sig") != 0)
			return 1;
	}
	ops = json_object_get(jwk, "key_ops");
	if (ops != NULL) {
		if (!json_is_array(ops)) {
			*bad = 1;
			return 0;
		}
		json_array_foreach(ops, i, op) {
			if (!json_is_string(op)) {
				*bad = 1;
				return 0;
			}
			if (strcmp(json_string_value(op), "verify") == 0)
				verify = 1;
		}
		if (!verify)
			return 1;
	}
	return 0;
}

/*
 * Parses a JWKS.  max_keys bounds the "keys" array before any key is
 * imported, so a hostile document cannot make us import thousands of RSA
 * keys.  Skipped entries still count towards it.
 */
int
idp_jwks_parse(const void *buf, size_t len, size_t max_keys,
    struct idp_jwks **ret, struct idp_err *err)
{
	json_t *root = NULL, *keys, *jwk;
	json_error_t jerr;
	struct idp_jwks *set = NULL;
	struct idp_key *k = NULL;
	struct idp_err kerr;
	size_t i, j;
	int bad, rc;

	if (buf == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no JWKS");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = idp_err_set(err, -EBADMSG,
		    "JWKS is not valid JSON (line %d, column %d)", jerr.line,
		    jerr.column);
		goto out;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(keys)) {
		rc = idp_err_set(err, -EBADMSG,
		    "JWKS is not an object with a \"keys\" array");
		goto out;
	}
	if (json_array_size(keys) > max_keys) {
		rc = idp_err_set(err, -E2BIG, "JWKS has %zu keys, limit %zu",
		    json_array_size(keys), max_keys);
		goto out;
	}
	if ((set = idp_jwks_new()) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		if (!json_is_object(jwk)) {
			rc = idp_err_set(err, -EBADMSG,
			    "JWKS key %zu is not an object", i);
			goto out;
		}
		for (j = 0; j < sizeof(jwk_private_members) /
		    sizeof(jwk_private_members[0]); j++)
			if (json_object_get(jwk, jwk_private_members[j])) {
				rc = idp_err_set(err, -EBADMSG,
				    "JWKS key %zu carries private member "
				    "\"%s\"", i, jwk_private_members[j]);
				goto out;
			}
		bad = 0;
		if (jwk_not_for_sig(jwk, &bad))
			continue;
		if (bad) {
			rc = idp_err_set(err, -EBADMSG,
			    "JWKS key %zu: malformed use or key_ops", i);
			goto out;
		}
		kerr.msg[0] = '\0';
		rc = jwk_import(jwk, &k, &kerr);
		if (rc == -EOPNOTSUPP)
			continue;
		if (rc < 0) {
			idp_err_set(err, rc, "JWKS key %zu: %s", i, kerr.msg);
			goto out;
		}
		if ((rc = idp_jwks_add(set, k)) < 0) {
			if (rc == -EEXIST)
				rc = idp_err_set(err, -EBADMSG,
				    "JWKS key %zu: duplicate kid", i);
			else
				idp_err_set(err, rc, "out of memory");
			goto out;
		}
		k = NULL;
	}
	*ret = set;
	set = NULL;
	rc = 0;
out:
	idp_key_free(k);
	idp_jwks_free(set);
	json_decref(root);
	return rc;
}

/* Serializes {"keys":[...]} compactly; the caller frees *ret with free(). */
int
idp_jwks_dump(const struct idp_jwks *set, char **ret, size_t *ret_len)
{
	json_t *root = NULL, *arr, *jwk;
	char *s;
	size_t i;
	int rc;

	if (set == NULL || ret == NULL)
		return -EINVAL;
	if ((root = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(root, "keys", arr) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < set->n; i++) {
		if ((rc = idp_key_to_jwk(set->keys[i], &jwk)) < 0)
			goto out;
		if (json_array_append_new(arr, jwk) != 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((s = json_dumps(root, JSON_COMPACT)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	*ret = s;
	if (ret_len != NULL)
		*ret_len = strlen(s);
	rc = 0;
out:
	json_decref(root);
	return rc;
}
