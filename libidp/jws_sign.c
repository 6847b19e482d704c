/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing compact JWS (RFC 7515) with a key bound to one algorithm, and
 * JWTs over it (idp_jws_sign(), idp_jwt_sign()).  Tokens are built so that
 * our own verifier (jws_verify.c) accepts them; nothing here verifies.
 *
 * Signing caches per key: the base64url protected header, an ECDSA
 * EVP_PKEY_CTX initialised once for EVP_PKEY_sign() of a digest, and for
 * RSA / PSS / Ed25519 an initialised EVP_MD_CTX template copied per token.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <idp/b64.h>
#include <idp/jwt.h>

#include "internal.h"
#include "jws_int.h"

/* Returns 1 for ES256 and ES384. */
int
idp_alg_is_ecdsa(enum idp_alg a)
{
	return a == IDP_ALG_ES256 || a == IDP_ALG_ES384;
}

/* The digest of an ECDSA alg. */
const EVP_MD *
idp_ecdsa_md(enum idp_alg a)
{
	return a == IDP_ALG_ES384 ? idp_md_sha384() : idp_md_sha256();
}

/* Returns the raw signature length of alg with key k. */
size_t
idp_sig_len(const struct idp_key *k)
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
	if (EVP_Digest(msg, len, md, &mdlen, idp_ecdsa_md(k->alg), NULL) != 1)
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
	if ((siglen = idp_sig_len(k)) == 0 || siglen > sizeof(sig))
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
	if (idp_alg_is_ecdsa(k->alg))
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

