/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verifying compact JWS (RFC 7515), restricted as RFC 8725 asks: the key
 * decides the algorithm, ECDSA signatures are raw r||s of the exact
 * length, and header members that would let the token choose its own key
 * (jku, x5u, jwk, x5c) or change how it is processed (crit, b64) are
 * refused.  Claims are parsed here but judged in jwt.c; nothing here signs.
 *
 * Verifying reuses a per-key context, but a key set is shared between
 * threads, so that cache is taken with a trylock and a thread that finds it
 * busy builds its own contexts (see internal.h).
 *
 * ECDSA signatures are accepted with high S as well as low S (RFC 7518
 * 3.4 does not ask for low S, and OpenSSL verifies both): the two
 * encodings of one signature are the same signature, and callers that
 * key caches on token bytes use idp_jws_sig_twin() to see both as one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <idp/b64.h>
#include <idp/jwt.h>

#include "internal.h"
#include "jws_int.h"

/* Header members refused outright (RFC 8725 3.10, RFC 7515 4.1.11, 7797). */
static const char *const refused_hdr[] = {
	"crit", "jku", "x5u", "jwk", "x5c", "b64",
};

/* Returns 1 if the w-byte big-endian v is in [1, order - 1]. */
static int
scalar_ok(const unsigned char *v, const unsigned char *order, size_t w)
{
	unsigned char any = 0;
	size_t i;

	for (i = 0; i < w; i++)
		any |= v[i];
	return any != 0 && memcmp(v, order, w) < 0;
}

/*
 * Returns a new context initialised for EVP_PKEY_verify() of a digest with
 * k's algorithm: the padding, salt length and MGF1 digest that RFC 7518
 * fixes, and the digest, so the provider also checks its length.
 */
static EVP_PKEY_CTX *
vctx_new(const struct idp_key *k)
{
	EVP_PKEY_CTX *ctx;
	const EVP_MD *md = idp_alg_is_ecdsa(k->alg) ? idp_ecdsa_md(k->alg) :
	    idp_md_sha256();

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) != 1)
		goto fail;
	if (k->alg == IDP_ALG_RS256 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
		goto fail;
	/* Salt of exactly the digest length (RFC 7518 3.5), MGF1-SHA-256. */
	if (k->alg == IDP_ALG_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, idp_md_sha256()) != 1))
		goto fail;
	return ctx;
fail:
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

/*
 * Takes a free verify slot of k (trylock, in turn), or returns NULL when
 * every slot is held by another thread.  The key is const to callers;
 * its slots are the one part that changes, each under its own lock.
 */
static struct idp_vslot *
vslot_take(const struct idp_key *k)
{
	struct idp_key *mk = (struct idp_key *)(uintptr_t)k;
	size_t i;

	for (i = 0; i < IDP_VSLOTS; i++)
		if (pthread_mutex_trylock(&mk->vs[i].lock) == 0)
			return &mk->vs[i];
	return NULL;
}

/* Verifies sig over a digest with a cached context, else a fresh one. */
static int
verify_digest(const struct idp_key *k, const unsigned char *md, size_t mdlen,
    const unsigned char *sig, size_t siglen)
{
	struct idp_vslot *vs;
	EVP_PKEY_CTX *ctx = NULL, *fresh = NULL;
	int r;

	if ((vs = vslot_take(k)) != NULL) {
		if (vs->vctx == NULL)
			vs->vctx = vctx_new(k);
		ctx = vs->vctx;
	}
	if (ctx == NULL)
		ctx = fresh = vctx_new(k);
	r = ctx != NULL ? EVP_PKEY_verify(ctx, sig, siglen, md, mdlen) : -1;
	if (vs != NULL)
		pthread_mutex_unlock(&vs->lock);
	EVP_PKEY_CTX_free(fresh);
	return r == 1 ? 0 : -EKEYREJECTED;
}

/*
 * Appends the DER INTEGER of the w-byte big-endian positive v at out and
 * returns its length: leading zero octets dropped, one 0x00 added when the
 * top bit is set.  v is not zero (scalar_ok()), and w is at most 48, so the
 * length fits one octet.
 */
static size_t
der_uint(unsigned char *out, const unsigned char *v, size_t w)
{
	size_t pad;

	while (w > 1 && *v == 0) {
		v++;
		w--;
	}
	pad = (*v & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (unsigned char)(w + pad);
	out[2] = 0x00;
	memcpy(out + 2 + pad, v, w);
	return 2 + pad + w;
}

static int
verify_ecdsa(const struct idp_key *k, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	unsigned char md[EVP_MAX_MD_SIZE], der[2 + 2 * (3 + IDP_EC_MAX_BYTES)];
	const unsigned char *order;
	unsigned int mdlen;
	size_t w, dlen;

	if ((order = idp_ec_order(k->type, &w)) == NULL)
		return -EKEYREJECTED;
	/* IEEE P1363 form of exactly 2w bytes, as RFC 7518 3.4 requires. */
	if (siglen != 2 * w || w > IDP_EC_MAX_BYTES)
		return -EKEYREJECTED;
	/* r and s in [1, n-1]; OpenSSL checks again, this is cheap. */
	if (!scalar_ok(sig, order, w) || !scalar_ok(sig + w, order, w))
		return -EKEYREJECTED;
	/*
	 * The ECDSA-Sig-Value that EVP_PKEY_verify() takes, written directly:
	 * at most 2 + 2 * 51 = 104 octets, so a one-octet SEQUENCE length.
	 * (ECDSA_SIG and i2d_ECDSA_SIG cost two BIGNUMs and two encodings.)
	 */
	dlen = 2;
	dlen += der_uint(der + dlen, sig, w);
	dlen += der_uint(der + dlen, sig + w, w);
	der[0] = 0x30;
	der[1] = (unsigned char)(dlen - 2);
	if (EVP_Digest(msg, len, md, &mdlen, idp_ecdsa_md(k->alg), NULL) != 1)
		return -ENOMEM;
	return verify_digest(k, md, mdlen, der, dlen);
}

static int
verify_rsa(const struct idp_key *k, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (siglen != idp_sig_len(k))
		return -EKEYREJECTED;
	if (EVP_Digest(msg, len, md, &mdlen, idp_md_sha256(), NULL) != 1)
		return -ENOMEM;
	return verify_digest(k, md, mdlen, sig, siglen);
}

/* Returns a new EVP_MD_CTX initialised for one-shot Ed25519 verifying. */
static EVP_MD_CTX *
ed_tmpl_new(const struct idp_key *k)
{
	EVP_MD_CTX *m;

	if ((m = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, k->pkey,
	    NULL) != 1) {
		EVP_MD_CTX_free(m);
		return NULL;
	}
	return m;
}

/* PureEdDSA hashes the message itself: a template is copied per call. */
static int
verify_eddsa(const struct idp_key *k, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	struct idp_vslot *vs;
	EVP_MD_CTX *work = NULL, *fresh = NULL;
	int r = -1;

	if (siglen != 64)
		return -EKEYREJECTED;
	if ((vs = vslot_take(k)) != NULL) {
		if (vs->vtmpl == NULL)
			vs->vtmpl = ed_tmpl_new(k);
		if (vs->vwork == NULL)
			vs->vwork = EVP_MD_CTX_new();
		if (vs->vtmpl != NULL && vs->vwork != NULL &&
		    EVP_MD_CTX_copy_ex(vs->vwork, vs->vtmpl) == 1)
			work = vs->vwork;
	}
	if (work == NULL)
		work = fresh = ed_tmpl_new(k);
	if (work != NULL)
		r = EVP_DigestVerify(work, sig, siglen, msg, len);
	if (vs != NULL)
		pthread_mutex_unlock(&vs->lock);
	EVP_MD_CTX_free(fresh);
	return r == 1 ? 0 : -EKEYREJECTED;
}

/*
 * Verifies a JOSE signature.  alg must be the key's bound algorithm: a
 * token never gets to pick how its key is used.
 */
int
idp_sig_verify(const struct idp_key *k, enum idp_alg alg, const void *msg,
    size_t msg_len, const void *sig, size_t sig_len)
{
	int rc;

	if (k == NULL || (msg == NULL && msg_len > 0) ||
	    (sig == NULL && sig_len > 0))
		return -EINVAL;
	if (alg == IDP_ALG_NONE || alg != k->alg)
		return -EKEYREJECTED;
	if (sig_len == 0 || sig_len > SIG_MAX)
		return -EKEYREJECTED;
	if (idp_alg_is_ecdsa(alg))
		rc = verify_ecdsa(k, msg, msg_len, sig, sig_len);
	else if (alg == IDP_ALG_EDDSA)
		rc = verify_eddsa(k, msg, msg_len, sig, sig_len);
	else
		rc = verify_rsa(k, msg, msg_len, sig, sig_len);
	if (rc < 0)
		ERR_clear_error();
	/* Only a verified signature returns 0; every failure is a rejection. */
	return rc == 0 ? 0 : -EKEYREJECTED;
}

/* Returns 1 if s spells "none" in any case. */
static int
alg_is_none(const char *s)
{
	return strcasecmp(s, "none") == 0;
}

/*
 * Decodes the protected header (strict base64url, bounded, duplicate-free
 * JSON) and reads its alg, refusing "none" and the members that are not
 * accepted.  On success *ret_hdr is a new reference.
 */
static int
jws_header(const char *tok, size_t hlen, json_t **ret_hdr,
    enum idp_alg *ret_alg, struct idp_err *err)
{
	unsigned char hbuf[IDP_JWT_MAX_HEADER + 1];
	const char *alg_s;
	size_t n, i;
	json_t *hdr = NULL, *v;
	json_error_t jerr;
	enum idp_alg alg;
	int rc;

	/* Protected header: strict base64url, bounded, duplicate-free JSON. */
	if (idp_b64url_dec_len(hlen) > IDP_JWT_MAX_HEADER)
		return idp_err_set(err, -E2BIG, "header longer than %d bytes",
		    IDP_JWT_MAX_HEADER);
	if (idp_b64url_decode(tok, hlen, hbuf, sizeof(hbuf), &n) < 0)
		return idp_err_set(err, -EBADMSG,
		    "header is not strict base64url");
	hdr = idp_jose_json_load(hbuf, n, &jerr);
	if (hdr == NULL || !json_is_object(hdr)) {
		rc = idp_err_set(err, -EBADMSG,
		    "header is not a JSON object without duplicate members");
		goto out;
	}
	v = json_object_get(hdr, "alg");
	if (!json_is_string(v)) {
		rc = idp_err_set(err, -EBADMSG, "header has no string alg");
		goto out;
	}
	alg_s = json_string_value(v);
	if (alg_is_none(alg_s)) {
		rc = idp_err_set(err, -EKEYREJECTED, "alg none refused");
		goto out;
	}
	if (strlen(alg_s) != json_string_length(v) ||
	    idp_alg_parse(alg_s, &alg) < 0) {
		rc = idp_err_set(err, -EKEYREJECTED, "unsupported alg");
		goto out;
	}
	for (i = 0; i < sizeof(refused_hdr) / sizeof(refused_hdr[0]); i++)
		if (json_object_get(hdr, refused_hdr[i]) != NULL) {
			rc = idp_err_set(err, -EBADMSG,
			    "header member \"%s\" is not accepted",
			    refused_hdr[i]);
			goto out;
		}
	*ret_hdr = hdr;
	*ret_alg = alg;
	hdr = NULL;
	rc = 0;
out:
	json_decref(hdr);
	return rc;
}

/*
 * The key: by kid, or the only key of the set when there is none; its
 * bound alg must be the header's.
 */
static int
jws_key(const json_t *hdr, const struct idp_jwks *keys, enum idp_alg alg,
    const struct idp_key **ret, struct idp_err *err)
{
	const struct idp_key *k;
	const char *kid_s;
	json_t *v;

	v = json_object_get(hdr, "kid");
	if (v != NULL) {
		if (!json_is_string(v))
			return idp_err_set(err, -EBADMSG,
			    "header kid is not a string");
		kid_s = json_string_value(v);
		if (strlen(kid_s) != json_string_length(v) ||
		    (k = idp_jwks_find(keys, kid_s)) == NULL)
			return idp_err_set(err, -ENOKEY,
			    "no key with this kid");
	} else {
		if (idp_jwks_count(keys) != 1)
			return idp_err_set(err, -ENOKEY,
			    "token has no kid and the key set holds %zu keys",
			    idp_jwks_count(keys));
		k = idp_jwks_get(keys, 0);
	}
	if (alg != k->alg)
		return idp_err_set(err, -EKEYREJECTED,
		    "alg %s does not match the key's alg %s",
		    idp_alg_name(alg), idp_alg_name(k->alg));
	*ret = k;
	return 0;
}

/*
 * The signature (slen bytes after d2) over the first two segments of tok,
 * checked before the claims are read.
 */
static int
jws_signature(const struct idp_key *k, enum idp_alg alg, const char *tok,
    const char *d2, size_t slen, struct idp_err *err)
{
	unsigned char sig[SIG_MAX];
	size_t siglen;
	int rc;

	rc = idp_b64url_decode(d2 + 1, slen, sig, sizeof(sig), &siglen);
	if (rc == -E2BIG)
		return idp_err_set(err, -EKEYREJECTED,
		    "bad signature (too long)");
	if (rc < 0)
		return idp_err_set(err, -EBADMSG,
		    "signature is not strict base64url");
	if (idp_sig_verify(k, alg, tok, (size_t)(d2 - tok), sig, siglen) != 0)
		return idp_err_set(err, -EKEYREJECTED, "bad signature");
	return 0;
}

/*
 * Claims: strict base64url, a duplicate-free JSON object.  On success
 * *ret is a new reference; the decoded bytes are wiped.
 */
static int
jws_claims(const char *p, size_t plen, json_t **ret, struct idp_err *err)
{
	unsigned char *pbuf = NULL;
	size_t pn = 0;
	json_t *claims = NULL;
	json_error_t jerr;
	int rc;

	if (idp_b64url_decode_alloc(p, plen, &pbuf, &pn) < 0) {
		rc = idp_err_set(err, -EBADMSG,
		    "payload is not strict base64url");
		goto out;
	}
	claims = idp_jose_json_load(pbuf, pn, &jerr);
	if (claims == NULL || !json_is_object(claims)) {
		rc = idp_err_set(err, -EBADMSG,
		    "claims are not a JSON object without duplicate members");
		goto out;
	}
	*ret = claims;
	claims = NULL;
	rc = 0;
out:
	if (pbuf != NULL) {
		OPENSSL_cleanse(pbuf, pn);
		free(pbuf);
	}
	json_decref(claims);
	return rc;
}

/*
 * Verifies a compact JWS against keys and parses its claims (see
 * idp/jwt.h).  Free *ret with idp_jws_free().
 */
int
idp_jws_verify(const char *tok, size_t len, const struct idp_jwks *keys,
    struct idp_jws **ret, struct idp_err *err)
{
	const char *d1, *d2;
	size_t hlen, plen, slen;
	json_t *hdr = NULL, *claims = NULL;
	const struct idp_key *k = NULL;
	struct idp_jws *t = NULL;
	enum idp_alg alg;
	int rc;

	if (tok == NULL || keys == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no token or no keys");
	if (len > IDP_JWT_MAX_LEN)
		return idp_err_set(err, -E2BIG, "token longer than %d bytes",
		    IDP_JWT_MAX_LEN);

	/* Exactly three segments. */
	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return idp_err_set(err, -EBADMSG,
		    "not a compact JWS (need exactly three segments)");
	hlen = (size_t)(d1 - tok);
	plen = (size_t)(d2 - d1 - 1);
	slen = len - (size_t)(d2 + 1 - tok);
	if (hlen == 0)
		return idp_err_set(err, -EBADMSG, "empty header");

	if ((rc = jws_header(tok, hlen, &hdr, &alg, err)) < 0 ||
	    (rc = jws_key(hdr, keys, alg, &k, err)) < 0 ||
	    (rc = jws_signature(k, alg, tok, d2, slen, err)) < 0 ||
	    (rc = jws_claims(d1 + 1, plen, &claims, err)) < 0)
		goto out;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	t->header = hdr;
	t->claims = claims;
	t->key = k;
	hdr = claims = NULL;
	*ret = t;
	rc = 0;
out:
	json_decref(hdr);
	json_decref(claims);
	return rc;
}

/*
 * Writes the other encoding (s' = n - s) of an ES256 / ES384 signature
 * segment into out; returns its length or -errno (see idp/jwt.h).
 */
int
idp_jws_sig_twin(enum idp_alg alg, const char *sig, size_t len, char *out,
    size_t outsz)
{
	unsigned char raw[2 * IDP_EC_MAX_BYTES], *s;
	const unsigned char *order;
	size_t w, n, i;
	int d, borrow = 0;

	/* RSA and EdDSA (S < L is checked) have one encoding only. */
	if (!idp_alg_is_ecdsa(alg) || sig == NULL || out == NULL)
		return -EINVAL;
	order = idp_ec_order(alg == IDP_ALG_ES384 ? IDP_KEY_EC_P384 :
	    IDP_KEY_EC_P256, &w);
	if (order == NULL || w > IDP_EC_MAX_BYTES)
		return -EINVAL;
	/* The bounds idp_jws_verify() applies before it asks OpenSSL. */
	if (idp_b64url_decode(sig, len, raw, sizeof(raw), &n) < 0 ||
	    n != 2 * w || !scalar_ok(raw, order, w) ||
	    !scalar_ok(raw + w, order, w))
		return -EBADMSG;
	if (idp_b64url_enc_len(2 * w) + 1 > outsz)
		return -ENOSPC;
	/* s := n - s, big-endian, w bytes; s in [1, n-1] keeps it there. */
	s = raw + w;
	for (i = w; i-- > 0;) {
		d = (int)order[i] - (int)s[i] - borrow;
		borrow = d < 0;
		s[i] = (unsigned char)(d + (borrow ? 256 : 0));
	}
	n = idp_b64url_encode(raw, 2 * w, out);
	out[n] = '\0';
	return (int)n;
}

void
idp_jws_free(struct idp_jws *t)
{
	if (t == NULL)
		return;
	json_decref(t->header);
	json_decref(t->claims);
	free(t);
}

