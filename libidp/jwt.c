/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWS compact serialization and JWT claims (RFC 7515, 7519), restricted as
 * RFC 8725 asks: the key decides the algorithm, ECDSA signatures are raw
 * r||s of the exact length, and header members that would let the token
 * choose its own key (jku, x5u, jwk, x5c) or change how it is processed
 * (crit, b64) are refused.
 *
 * Signing caches per key: the base64url protected header, an ECDSA
 * EVP_PKEY_CTX initialised once for EVP_PKEY_sign() of a digest, and for
 * RSA / PSS / Ed25519 an initialised EVP_MD_CTX template copied per token.
 *
 * Verifying reuses a per-key context too, but a key set is shared between
 * threads, so that cache is taken with a trylock and a thread that finds it
 * busy builds its own contexts (see internal.h).
 *
 * ECDSA signatures are accepted with high S as well as low S (RFC 7518
 * 3.4 does not ask for low S, and OpenSSL verifies both): the two
 * encodings of one signature are the same signature, and callers that
 * key caches on token bytes use idp_jws_sig_twin() to see both as one.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <idp/b64.h>
#include <idp/jwt.h>

#include "internal.h"

/* The largest signature we make or accept: RSA-8192. */
#define SIG_MAX		(IDP_RSA_MAX_BITS / 8)
/* NumericDate values beyond 9999-12-31T23:59:59Z are refused. */
#define TIME_MAX	INT64_C(253402300799)

/* Header members refused outright (RFC 8725 3.10, RFC 7515 4.1.11, 7797). */
static const char *const refused_hdr[] = {
	"crit", "jku", "x5u", "jwk", "x5c", "b64",
};

static int
alg_is_ecdsa(enum idp_alg a)
{
	return a == IDP_ALG_ES256 || a == IDP_ALG_ES384;
}

static const EVP_MD *
ecdsa_md(enum idp_alg a)
{
	return a == IDP_ALG_ES384 ? idp_md_sha384() : idp_md_sha256();
}

/* Returns the raw signature length of alg with key k. */
static size_t
sig_len(const struct idp_key *k)
{
	switch (k->alg) {
	case IDP_ALG_ES256:
		return 64;
	case IDP_ALG_ES384:
		return 96;
	case IDP_ALG_EDDSA:
		return 64;
	case IDP_ALG_RS256:
	case IDP_ALG_PS256:
		return (size_t)EVP_PKEY_get_size(k->pkey);
	default:
		return 0;
	}
}

/*
 * Converts the DER ECDSA-Sig-Value that OpenSSL produced into fixed-width
 * r||s (w bytes each, left-padded).  Strict: the input is our own signer's
 * output, anything unexpected is an error rather than a guess.
 */
static int
ecdsa_der_to_raw(const unsigned char *der, size_t len, unsigned char *out,
    size_t w)
{
	const unsigned char *p;
	size_t off, seq, ilen, i;

	if (len < 2 || der[0] != 0x30)
		return -EIO;
	if (der[1] < 0x80) {
		seq = der[1];
		off = 2;
	} else if (der[1] == 0x81 && len >= 3) {
		seq = der[2];
		off = 3;
	} else {
		return -EIO;
	}
	if (off + seq != len)
		return -EIO;
	for (i = 0; i < 2; i++) {
		if (len - off < 2 || der[off] != 0x02 || der[off + 1] >= 0x80)
			return -EIO;
		ilen = der[off + 1];
		off += 2;
		if (ilen == 0 || ilen > len - off)
			return -EIO;
		p = der + off;
		off += ilen;
		while (ilen > 0 && *p == 0) {
			p++;
			ilen--;
		}
		if (ilen > w)
			return -EIO;
		memset(out + i * w, 0, w - ilen);
		memcpy(out + i * w + (w - ilen), p, ilen);
	}
	return off == len ? 0 : -EIO;
}

static int
sign_ecdsa(struct idp_key *k, const void *msg, size_t len,
    unsigned char *out, size_t *ret_len)
{
	unsigned char md[EVP_MAX_MD_SIZE], der[160];
	unsigned int mdlen;
	size_t derlen = sizeof(der), w = k->alg == IDP_ALG_ES384 ? 48 : 32;
	EVP_PKEY_CTX *ctx;

	if (k->es_ctx == NULL) {
		if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) ==
		    NULL)
			return -ENOMEM;
		if (EVP_PKEY_sign_init(ctx) != 1) {
			EVP_PKEY_CTX_free(ctx);
			return -EIO;
		}
		k->es_ctx = ctx;
	}
	if (EVP_Digest(msg, len, md, &mdlen, ecdsa_md(k->alg), NULL) != 1)
		return -EIO;
	if (EVP_PKEY_sign(k->es_ctx, der, &derlen, md, mdlen) != 1)
		return -EIO;
	if (ecdsa_der_to_raw(der, derlen, out, w) < 0)
		return -EIO;
	*ret_len = 2 * w;
	return 0;
}

/* RSA PKCS#1 v1.5, RSA-PSS and Ed25519 through a copied EVP_MD_CTX. */
static int
sign_tmpl(struct idp_key *k, const void *msg, size_t len, unsigned char *out,
    size_t outsz, size_t *ret_len)
{
	EVP_MD_CTX *tmpl = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const char *mdname = k->alg == IDP_ALG_EDDSA ? NULL : "SHA2-256";
	size_t n = outsz;

	if (k->sign_tmpl == NULL) {
		if ((tmpl = EVP_MD_CTX_new()) == NULL)
			return -ENOMEM;
		if (EVP_DigestSignInit_ex(tmpl, &pctx, mdname, NULL, NULL,
		    k->pkey, NULL) != 1)
			goto fail;
		if (k->alg == IDP_ALG_RS256 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
			goto fail;
		if (k->alg == IDP_ALG_PS256 &&
		    (EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
		    RSA_PSS_SALTLEN_DIGEST) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, idp_md_sha256()) != 1))
			goto fail;
		if (k->sign_work == NULL &&
		    (k->sign_work = EVP_MD_CTX_new()) == NULL)
			goto fail;
		k->sign_tmpl = tmpl;
	}
	if (EVP_MD_CTX_copy_ex(k->sign_work, k->sign_tmpl) != 1)
		return -EIO;
	if (EVP_DigestSign(k->sign_work, out, &n, msg, len) != 1)
		return -EIO;
	*ret_len = n;
	return 0;
fail:
	EVP_MD_CTX_free(tmpl);
	return -EIO;
}

/*
 * Returns the cached base64url protected header for (alg, kid, typ),
 * building it on a miss.  The members are in lexicographic order, so the
 * header is byte-for-byte the same for the same inputs.
 */
static int
hdr_get(struct idp_key *k, const char *typ)
{
	json_t *h = NULL;
	char *json = NULL, *b64 = NULL, *typ_copy = NULL;
	size_t n;
	int rc;

	if (k->hdr_b64 != NULL &&
	    ((typ == NULL && k->hdr_typ == NULL) ||
	    (typ != NULL && k->hdr_typ != NULL && strcmp(typ, k->hdr_typ) == 0)))
		return 0;
	if ((h = json_pack("{s:s, s:s}", "alg", idp_alg_name(k->alg),
	    "kid", k->kid)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (typ != NULL) {
		/* json_string() refuses invalid UTF-8. */
		if (json_object_set_new(h, "typ", json_string(typ)) != 0) {
			rc = -EINVAL;
			goto out;
		}
		if ((typ_copy = strdup(typ)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((json = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	n = strlen(json);
	if ((b64 = malloc(idp_b64url_enc_len(n) + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	free(k->hdr_b64);
	free(k->hdr_typ);
	k->hdr_len = idp_b64url_encode(json, n, b64);
	k->hdr_b64 = b64;
	k->hdr_typ = typ_copy;
	b64 = NULL;
	typ_copy = NULL;
	rc = 0;
out:
	free(b64);
	free(typ_copy);
	free(json);
	json_decref(h);
	return rc;
}

/*
 * Signs header.payload.  The token is built in one allocation and never
 * exceeds IDP_JWT_MAX_LEN, so whatever we sign, our verifier accepts.
 */
int
idp_jws_sign(struct idp_key *k, const char *typ, const char *payload_json,
    size_t payload_len, char **ret, size_t *ret_len)
{
	unsigned char sig[SIG_MAX];
	size_t plen, slen, siglen, total, off;
	char *tok = NULL;
	int rc;

	if (k == NULL || payload_json == NULL || ret == NULL)
		return -EINVAL;
	if (!k->priv || idp_alg_name(k->alg) == NULL)
		return -EINVAL;
	if (payload_len > IDP_JWT_MAX_LEN)
		return -E2BIG;
	if ((siglen = sig_len(k)) == 0 || siglen > sizeof(sig))
		return -EINVAL;
	if ((rc = hdr_get(k, typ)) < 0)
		goto out;
	plen = idp_b64url_enc_len(payload_len);
	slen = idp_b64url_enc_len(siglen);
	total = k->hdr_len + 1 + plen + 1 + slen;
	if (total > IDP_JWT_MAX_LEN) {
		rc = -E2BIG;
		goto out;
	}
	if ((tok = malloc(total + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(tok, k->hdr_b64, k->hdr_len);
	off = k->hdr_len;
	tok[off++] = '.';
	off += idp_b64url_encode(payload_json, payload_len, tok + off);
	if (alg_is_ecdsa(k->alg))
		rc = sign_ecdsa(k, tok, off, sig, &siglen);
	else
		rc = sign_tmpl(k, tok, off, sig, sizeof(sig), &siglen);
	if (rc < 0)
		goto out;
	if (idp_b64url_enc_len(siglen) != slen) {
		rc = -EIO;
		goto out;
	}
	tok[off++] = '.';
	off += idp_b64url_encode(sig, siglen, tok + off);
	*ret = tok;
	if (ret_len != NULL)
		*ret_len = off;
	tok = NULL;
	rc = 0;
out:
	free(tok);
	if (rc < 0)
		ERR_clear_error();
	return rc;
}

int
idp_jwt_sign(struct idp_key *k, const char *typ, const json_t *claims,
    char **ret, size_t *ret_len)
{
	char *json;
	int rc;

	if (!json_is_object(claims))
		return -EINVAL;
	if ((json = json_dumps(claims, JSON_COMPACT)) == NULL)
		return -ENOMEM;
	rc = idp_jws_sign(k, typ, json, strlen(json), ret, ret_len);
	free(json);
	return rc;
}

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
	const EVP_MD *md = alg_is_ecdsa(k->alg) ? ecdsa_md(k->alg) :
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
	if (EVP_Digest(msg, len, md, &mdlen, ecdsa_md(k->alg), NULL) != 1)
		return -ENOMEM;
	return verify_digest(k, md, mdlen, der, dlen);
}

static int
verify_rsa(const struct idp_key *k, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (siglen != sig_len(k))
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
	if (alg_is_ecdsa(alg))
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
 * A fast path for the JSON of headers and claims.  json_loadb() reads its
 * input a character at a time through callbacks and costs about 3 us for
 * a typical header and claims set, 7 % of an ES256 verification.  Tokens
 * are nearly always flat objects of plain strings, integers, booleans and
 * arrays of strings, so that shape is parsed here directly into the same
 * jansson values.  Anything else (escapes, bytes outside printable ASCII,
 * reals, nesting, a duplicate member, a syntax error) is left to
 * json_loadb(JSON_REJECT_DUPLICATES), which then accepts or refuses it:
 * the fast path only ever accepts what json_loadb() accepts, with the same
 * result.
 */
struct jfast {
	const unsigned char	*p;
	const unsigned char	*end;
};

static void
jf_ws(struct jfast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' ||
	    *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* A string of printable ASCII without escapes; returns 0 or -1. */
static int
jf_str(struct jfast *f, const char **ret, size_t *ret_len)
{
	const unsigned char *s;

	if (f->p >= f->end || *f->p != '"')
		return -1;
	s = ++f->p;
	while (f->p < f->end && *f->p != '"') {
		if (*f->p < 0x20 || *f->p > 0x7e || *f->p == '\\')
			return -1;
		f->p++;
	}
	if (f->p >= f->end)
		return -1;
	*ret = (const char *)s;
	*ret_len = (size_t)(f->p - s);
	f->p++;
	return 0;
}

/* Returns 1 if the next byte may follow a number or a literal. */
static int
jf_delim(const struct jfast *f)
{
	return f->p < f->end && (*f->p == ',' || *f->p == '}' ||
	    *f->p == ']' || *f->p == ' ' || *f->p == '\t' || *f->p == '\n' ||
	    *f->p == '\r');
}

/* Reads one member value into a new reference, or NULL to fall back. */
static json_t *
jf_value(struct jfast *f)
{
	static const struct {
		const char	*word;
		size_t		 len;
	} lit[] = { { "true", 4 }, { "false", 5 }, { "null", 4 } };
	json_t *a;
	const char *s;
	size_t n, i;
	int64_t x;
	int neg;

	if (f->p >= f->end)
		return NULL;
	if (*f->p == '"') {
		if (jf_str(f, &s, &n) < 0)
			return NULL;
		return json_stringn_nocheck(s, n);
	}
	if (*f->p == '-' || (*f->p >= '0' && *f->p <= '9')) {
		/* -?(0|[1-9][0-9]{0,17}): always within json_int_t. */
		neg = *f->p == '-';
		if (neg)
			f->p++;
		if (f->p >= f->end || *f->p < '0' || *f->p > '9')
			return NULL;
		x = 0;
		for (n = 0; f->p < f->end && *f->p >= '0' && *f->p <= '9';
		    n++, f->p++)
			if (n < 18)
				x = 10 * x + (*f->p - '0');
		if (n > 18 || (n > 1 && f->p[-(ptrdiff_t)n] == '0') ||
		    !jf_delim(f))
			return NULL;
		return json_integer(neg ? -x : x);
	}
	if (*f->p == '[') {
		f->p++;
		if ((a = json_array()) == NULL)
			return NULL;
		jf_ws(f);
		if (f->p < f->end && *f->p == ']') {
			f->p++;
			return a;
		}
		for (;;) {
			if (jf_str(f, &s, &n) < 0 ||
			    json_array_append_new(a,
			    json_stringn_nocheck(s, n)) != 0)
				break;
			jf_ws(f);
			if (f->p < f->end && *f->p == ']') {
				f->p++;
				return a;
			}
			if (f->p >= f->end || *f->p != ',')
				break;
			f->p++;
			jf_ws(f);
		}
		json_decref(a);
		return NULL;
	}
	for (i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
		if ((size_t)(f->end - f->p) <= lit[i].len ||
		    memcmp(f->p, lit[i].word, lit[i].len) != 0)
			continue;
		f->p += lit[i].len;
		if (!jf_delim(f))
			return NULL;
		return i == 0 ? json_true() : i == 1 ? json_false() :
		    json_null();
	}
	return NULL;
}

static json_t *
jf_object(const unsigned char *buf, size_t len)
{
	struct jfast f = { buf, buf + len };
	char key[256];
	const char *s;
	json_t *o, *v;
	size_t n;

	jf_ws(&f);
	if (f.p >= f.end || *f.p != '{' || (o = json_object()) == NULL)
		return NULL;
	f.p++;
	jf_ws(&f);
	if (f.p < f.end && *f.p == '}') {
		f.p++;
		goto end;
	}
	for (;;) {
		if (jf_str(&f, &s, &n) < 0 || n >= sizeof(key))
			goto fail;
		memcpy(key, s, n);
		key[n] = '\0';
		jf_ws(&f);
		if (f.p >= f.end || *f.p != ':')
			goto fail;
		f.p++;
		jf_ws(&f);
		/* A duplicate member: json_loadb() gives the refusal. */
		if (json_object_get(o, key) != NULL ||
		    (v = jf_value(&f)) == NULL)
			goto fail;
		if (json_object_set_new_nocheck(o, key, v) != 0)
			goto fail;
		jf_ws(&f);
		if (f.p < f.end && *f.p == '}') {
			f.p++;
			break;
		}
		if (f.p >= f.end || *f.p != ',')
			goto fail;
		f.p++;
		jf_ws(&f);
	}
end:
	jf_ws(&f);
	if (f.p == f.end)
		return o;
fail:
	json_decref(o);
	return NULL;
}

/* Parses buf as JSON (fast path, else json_loadb()); NULL when refused. */
static json_t *
jose_json_load(const unsigned char *buf, size_t len, json_error_t *jerr)
{
	json_t *o;

	if ((o = jf_object(buf, len)) != NULL)
		return o;
	return json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, jerr);
}

int
idp_jws_verify(const char *tok, size_t len, const struct idp_jwks *keys,
    struct idp_jws **ret, struct idp_err *err)
{
	unsigned char hbuf[IDP_JWT_MAX_HEADER + 1], sig[SIG_MAX];
	unsigned char *pbuf = NULL;
	const char *d1, *d2, *alg_s, *kid_s;
	size_t hlen, plen, slen, n, pn = 0, siglen, i;
	json_t *hdr = NULL, *claims = NULL, *v;
	json_error_t jerr;
	const struct idp_key *k;
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

	/* Protected header: strict base64url, bounded, duplicate-free JSON. */
	if (idp_b64url_dec_len(hlen) > IDP_JWT_MAX_HEADER)
		return idp_err_set(err, -E2BIG, "header longer than %d bytes",
		    IDP_JWT_MAX_HEADER);
	if (idp_b64url_decode(tok, hlen, hbuf, sizeof(hbuf), &n) < 0)
		return idp_err_set(err, -EBADMSG,
		    "header is not strict base64url");
	hdr = jose_json_load(hbuf, n, &jerr);
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

	/* The key: by kid, or the only key of the set when there is none. */
	v = json_object_get(hdr, "kid");
	if (v != NULL) {
		if (!json_is_string(v)) {
			rc = idp_err_set(err, -EBADMSG,
			    "header kid is not a string");
			goto out;
		}
		kid_s = json_string_value(v);
		if (strlen(kid_s) != json_string_length(v) ||
		    (k = idp_jwks_find(keys, kid_s)) == NULL) {
			rc = idp_err_set(err, -ENOKEY, "no key with this kid");
			goto out;
		}
	} else {
		if (idp_jwks_count(keys) != 1) {
			rc = idp_err_set(err, -ENOKEY,
			    "token has no kid and the key set holds %zu keys",
			    idp_jwks_count(keys));
			goto out;
		}
		k = idp_jwks_get(keys, 0);
	}
	if (alg != k->alg) {
		rc = idp_err_set(err, -EKEYREJECTED,
		    "alg %s does not match the key's alg %s",
		    idp_alg_name(alg), idp_alg_name(k->alg));
		goto out;
	}

	/* Signature over the first two segments, before reading claims. */
	rc = idp_b64url_decode(d2 + 1, slen, sig, sizeof(sig), &siglen);
	if (rc == -E2BIG) {
		rc = idp_err_set(err, -EKEYREJECTED, "bad signature (too long)");
		goto out;
	}
	if (rc < 0) {
		rc = idp_err_set(err, -EBADMSG,
		    "signature is not strict base64url");
		goto out;
	}
	if (idp_sig_verify(k, alg, tok, (size_t)(d2 - tok), sig, siglen) != 0) {
		rc = idp_err_set(err, -EKEYREJECTED, "bad signature");
		goto out;
	}

	/* Claims: strict base64url, a duplicate-free JSON object. */
	if (idp_b64url_decode_alloc(d1 + 1, plen, &pbuf, &pn) < 0) {
		rc = idp_err_set(err, -EBADMSG,
		    "payload is not strict base64url");
		goto out;
	}
	claims = jose_json_load(pbuf, pn, &jerr);
	if (claims == NULL || !json_is_object(claims)) {
		rc = idp_err_set(err, -EBADMSG,
		    "claims are not a JSON object without duplicate members");
		goto out;
	}
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
	if (pbuf != NULL) {
		OPENSSL_cleanse(pbuf, pn);
		free(pbuf);
	}
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
	if (!alg_is_ecdsa(alg) || sig == NULL || out == NULL)
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

/*
 * Reads a NumericDate claim.  Returns 1 and the value (rounded towards the
 * stricter side: down for exp, up for nbf and iat), 0 when absent, or
 * -EBADMSG for anything but a number in [0, year 9999].
 */
static int
claim_time(const json_t *claims, const char *name, int round_up,
    int64_t *ret)
{
	json_t *v = json_object_get(claims, name);
	json_int_t i;
	double d;
	int64_t t;

	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i < 0 || i > TIME_MAX)
			return -EBADMSG;
		*ret = (int64_t)i;
		return 1;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!isfinite(d) || d < 0 || d > (double)TIME_MAX)
			return -EBADMSG;
		t = (int64_t)d;		/* truncation: floor for d >= 0 */
		if (round_up && (double)t < d)
			t++;
		*ret = t;
		return 1;
	}
	return -EBADMSG;
}

/* Returns 1 if the JSON string v equals s (byte for byte). */
static int
json_str_eq(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	    memcmp(json_string_value(v), s, n) == 0;
}

/* Strips "application/" from a media type without another '/'. */
static const char *
typ_short(const char *s)
{
	static const char app[] = "application/";

	if (strncasecmp(s, app, sizeof(app) - 1) == 0 &&
	    strchr(s + sizeof(app) - 1, '/') == NULL)
		return s + sizeof(app) - 1;
	return s;
}

int
idp_jwt_check(const struct idp_jws *t, const struct idp_jwt_expect *e,
    int64_t now, struct idp_err *err)
{
	static const struct idp_jwt_expect none;
	const char *str_claims[] = { "iss", "sub", "jti" };
	int64_t exp, nbf, iat, leeway;
	json_t *c, *v, *a;
	size_t i;
	int rc, found;

	if (t == NULL || t->claims == NULL)
		return idp_err_set(err, -EINVAL, "no token");
	if (e == NULL)
		e = &none;
	leeway = e->leeway;
	if (now < 0 || now > TIME_MAX || leeway < 0 || leeway > TIME_MAX)
		return idp_err_set(err, -EINVAL, "bad time or leeway");
	c = t->claims;

	/* Types of the registered claims, checked whether expected or not. */
	for (i = 0; i < sizeof(str_claims) / sizeof(str_claims[0]); i++) {
		v = json_object_get(c, str_claims[i]);
		if (v != NULL && !json_is_string(v))
			return idp_err_set(err, -EBADMSG,
			    "claim %s is not a string", str_claims[i]);
	}
	v = json_object_get(c, "aud");
	if (v != NULL && !json_is_string(v)) {
		if (!json_is_array(v))
			return idp_err_set(err, -EBADMSG,
			    "claim aud is not a string or an array");
		json_array_foreach(v, i, a)
			if (!json_is_string(a))
				return idp_err_set(err, -EBADMSG,
				    "claim aud holds a non-string");
	}

	if ((rc = claim_time(c, "exp", 0, &exp)) < 0)
		return idp_err_set(err, rc, "claim exp is not a valid time");
	if (rc == 0 && e->require_exp)
		return idp_err_set(err, -EBADMSG, "token has no exp");
	if (rc == 1 && exp <= now - leeway)
		return idp_err_set(err, -EKEYEXPIRED, "token expired");
	if ((rc = claim_time(c, "nbf", 1, &nbf)) < 0)
		return idp_err_set(err, rc, "claim nbf is not a valid time");
	if (rc == 1 && nbf > now + leeway)
		return idp_err_set(err, -EKEYEXPIRED, "token not yet valid");
	if ((rc = claim_time(c, "iat", 1, &iat)) < 0)
		return idp_err_set(err, rc, "claim iat is not a valid time");
	if (rc == 1 && iat > now + leeway)
		return idp_err_set(err, -EKEYEXPIRED,
		    "token issued in the future");

	if (e->iss != NULL && !json_str_eq(json_object_get(c, "iss"), e->iss))
		return idp_err_set(err, -EACCES, "issuer mismatch");
	if (e->aud != NULL) {
		v = json_object_get(c, "aud");
		found = json_str_eq(v, e->aud);
		if (json_is_array(v))
			json_array_foreach(v, i, a)
				if (json_str_eq(a, e->aud))
					found = 1;
		if (!found)
			return idp_err_set(err, -EACCES, "audience mismatch");
	}
	if (e->typ != NULL) {
		v = t->header != NULL ? json_object_get(t->header, "typ") : NULL;
		if (v != NULL && !json_is_string(v))
			return idp_err_set(err, -EBADMSG,
			    "header typ is not a string");
		if (v == NULL || strlen(json_string_value(v)) !=
		    json_string_length(v) ||
		    strcasecmp(typ_short(json_string_value(v)),
		    typ_short(e->typ)) != 0)
			return idp_err_set(err, -EACCES, "token type mismatch");
	}
	return 0;
}
