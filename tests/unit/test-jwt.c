/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWS / JWT: sign and verify every algorithm, and the hostile tokens of
 * RFC 8725 and the usual JWT library CVEs, each with its specific errno.
 * Hostile tokens are signed here with OpenSSL directly, independently of
 * libidp's signer, so a valid signature isolates the property under test.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <idp/b64.h>
#include <idp/jwk.h>
#include <idp/jwt.h>

#include "util.h"

#define NOW	INT64_C(1700000000)

enum { K_ES256, K_ES384, K_RS256, K_PS256, K_EDDSA, K_N };

static struct idp_key *priv[K_N];	/* private keys */
static struct idp_jwks *all;		/* public halves of all five */
static struct idp_jwks *one;		/* public half of ES256 only */

static const unsigned char p256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static struct idp_key *
public_copy(const struct idp_key *k)
{
	struct idp_key *pub;
	json_t *j;

	if (idp_key_to_jwk(k, &j) != 0)
		return NULL;
	if (idp_key_from_jwk(j, &pub, NULL) != 0)
		pub = NULL;
	json_decref(j);
	return pub;
}

static int
setup(void **state)
{
	int i;

	(void)state;
	if (idp_key_generate(IDP_KEY_EC_P256, &priv[K_ES256]) != 0 ||
	    idp_key_generate(IDP_KEY_EC_P384, &priv[K_ES384]) != 0 ||
	    idp_key_generate(IDP_KEY_RSA_2048, &priv[K_RS256]) != 0 ||
	    idp_key_generate(IDP_KEY_RSA_2048, &priv[K_PS256]) != 0 ||
	    idp_key_generate(IDP_KEY_ED25519, &priv[K_EDDSA]) != 0)
		return -1;
	if (idp_key_set_alg(priv[K_PS256], IDP_ALG_PS256) != 0)
		return -1;
	all = idp_jwks_new();
	one = idp_jwks_new();
	for (i = 0; i < K_N; i++)
		if (idp_jwks_add(all, public_copy(priv[i])) != 0)
			return -1;
	if (idp_jwks_add(one, public_copy(priv[K_ES256])) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < K_N; i++)
		idp_key_free(priv[i]);
	idp_jwks_free(all);
	idp_jwks_free(one);
	return 0;
}

static char *
b64(const void *p, size_t n)
{
	char *s = malloc(idp_b64url_enc_len(n) + 1);

	assert_non_null(s);
	idp_b64url_encode(p, n, s);
	return s;
}

/* Signs msg with k's private key through OpenSSL, in JOSE form. */
static void
raw_sign(const struct idp_key *k, const char *msg, size_t len,
    unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = idp_key_evp(k);
	enum idp_alg alg = idp_key_alg(k);
	const char *md = alg == IDP_ALG_EDDSA ? NULL :
	    alg == IDP_ALG_ES384 ? "SHA384" : "SHA256";
	unsigned char der[600];
	const unsigned char *p = der;
	size_t dlen = sizeof(der), w;
	ECDSA_SIG *es;

	assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL,
	    pkey, NULL), 1);
	if (alg == IDP_ALG_PS256) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
	}
	assert_int_equal(EVP_DigestSign(mctx, der, &dlen,
	    (const unsigned char *)msg, len), 1);
	EVP_MD_CTX_free(mctx);
	if (alg != IDP_ALG_ES256 && alg != IDP_ALG_ES384) {
		memcpy(sig, der, dlen);
		*siglen = dlen;
		return;
	}
	w = alg == IDP_ALG_ES384 ? 48 : 32;
	es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	assert_non_null(es);
	BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)w);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + w, (int)w);
	ECDSA_SIG_free(es);
	*siglen = 2 * w;
}

/* Returns header.payload for the given JSON texts. */
static char *
signing_input(const char *hdr, const char *payload)
{
	char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
	char *s = malloc(strlen(h) + strlen(p) + 2);

	sprintf(s, "%s.%s", h, p);
	free(h);
	free(p);
	return s;
}

static char *
with_sig(const char *input, const unsigned char *sig, size_t n)
{
	char *sb = b64(sig, n);
	char *s = malloc(strlen(input) + strlen(sb) + 2);

	sprintf(s, "%s.%s", input, sb);
	free(sb);
	return s;
}

/* A token with the given header and payload, validly signed by k. */
static char *
make_tok(const struct idp_key *k, const char *hdr, const char *payload)
{
	unsigned char sig[1024];
	size_t n;
	char *in = signing_input(hdr, payload), *tok;

	raw_sign(k, in, strlen(in), sig, &n);
	tok = with_sig(in, sig, n);
	free(in);
	return tok;
}

/* The standard header for k, with extra members appended. */
static char *
hdr_for(const struct idp_key *k, const char *extra)
{
	static char h[8192];

	snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"%s\"%s%s}",
	    idp_alg_name(idp_key_alg(k)), idp_key_kid(k),
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
	return h;
}

static int
verify(const char *tok, size_t len, const struct idp_jwks *set,
    struct idp_err *err)
{
	struct idp_jws *t = (struct idp_jws *)(uintptr_t)1;
	int rc;

	rc = idp_jws_verify(tok, len, set, &t, err);
	if (rc == 0) {
		assert_non_null(t->header);
		assert_true(json_is_object(t->claims));
		idp_jws_free(t);
	} else {
		assert_ptr_equal(t, (struct idp_jws *)(uintptr_t)1);
	}
	return rc;
}

/* Verifies tok against set and checks that the reason does not quote it. */
static int
vrc(const char *tok, const struct idp_jwks *set)
{
	struct idp_err err = { "" };
	char seg[9];
	int rc;

	rc = verify(tok, strlen(tok), set, &err);
	if (rc != 0) {
		assert_true(err.msg[0] != '\0');
		if (strlen(tok) >= 8) {
			memcpy(seg, tok, 8);
			seg[8] = '\0';
			assert_null(strstr(err.msg, seg));
		}
	}
	return rc;
}

static const char claims[] = "{\"sub\":\"svc\",\"iss\":\"https://i\","
    "\"exp\":1700000600}";

static void
test_sign_verify_every_alg(void **state)
{
	struct idp_jws *t;
	json_t *c;
	char *tok, *tok2;
	size_t len;
	int i;

	(void)state;
	c = json_pack("{s:s, s:I}", "sub", "svc", "exp", (json_int_t)NOW + 60);
	for (i = 0; i < K_N; i++) {
		assert_int_equal(idp_jwt_sign(priv[i], "JWT", c, &tok, &len), 0);
		assert_int_equal(strlen(tok), len);
		assert_int_equal(idp_jws_verify(tok, len, all, &t, NULL), 0);
		assert_string_equal(idp_key_kid(t->key), idp_key_kid(priv[i]));
		assert_string_equal(json_string_value(json_object_get(
		    t->header, "typ")), "JWT");
		assert_string_equal(json_string_value(json_object_get(
		    t->header, "alg")), idp_alg_name(idp_key_alg(priv[i])));
		assert_true(json_equal(t->claims, c));
		assert_int_equal(idp_jwt_check(t, NULL, NOW, NULL), 0);
		idp_jws_free(t);
		/* Signed again: the cached header gives the same first part. */
		assert_int_equal(idp_jwt_sign(priv[i], "JWT", c, &tok2, NULL),
		    0);
		assert_memory_equal(tok, tok2, strchr(tok, '.') - tok + 1);
		assert_int_equal(vrc(tok2, all), 0);
		free(tok2);
		/* Another key's set does not verify it. */
		if (i != K_ES256)
			assert_int_equal(vrc(tok, one), -ENOKEY);
		free(tok);
	}
	json_decref(c);
}

/* Our verifier accepts the independent signer's output, for every alg. */
static void
test_independent_signer(void **state)
{
	char *tok;
	int i;

	(void)state;
	for (i = 0; i < K_N; i++) {
		tok = make_tok(priv[i], hdr_for(priv[i], NULL), claims);
		assert_int_equal(vrc(tok, all), 0);
		free(tok);
	}
}

/*
 * Our ECDSA signer's r||s verifies with OpenSSL directly.  Hundreds of
 * signatures make r or s with leading zero bytes (about 1 in 128 each),
 * exercising the left padding.
 */
static void
test_ecdsa_raw_form(void **state)
{
	struct idp_jws *t;
	unsigned char sig[96], der[128], *p;
	size_t n;
	ECDSA_SIG *es;
	EVP_MD_CTX *mctx;
	char *tok, *dot;
	int i, j, dlen, small = 0;

	(void)state;
	/*
	 * ES256 runs until at least 3 short values were seen (expected after
	 * about 400 signatures; the bound makes a miss a 1e-15 event).
	 */
	for (j = K_ES256; j <= K_ES384; j++)
		for (i = 0; j == K_ES256 ? (i < 200 || small < 3) && i < 20000 :
		    i < 60; i++) {
			assert_int_equal(idp_jws_sign(priv[j], NULL, "{}", 2,
			    &tok, NULL), 0);
			dot = strrchr(tok, '.');
			assert_int_equal(idp_b64url_decode(dot + 1,
			    strlen(dot + 1), sig, sizeof(sig), &n), 0);
			assert_int_equal(n, j == K_ES256 ? 64 : 96);
			if (sig[0] == 0 || sig[n / 2] == 0)
				small++;
			es = ECDSA_SIG_new();
			ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)n / 2, NULL),
			    BN_bin2bn(sig + n / 2, (int)n / 2, NULL));
			p = der;
			dlen = i2d_ECDSA_SIG(es, &p);
			ECDSA_SIG_free(es);
			mctx = EVP_MD_CTX_new();
			assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL,
			    j == K_ES256 ? "SHA256" : "SHA384", NULL, NULL,
			    idp_key_evp(priv[j]), NULL), 1);
			assert_int_equal(EVP_DigestVerify(mctx, der,
			    (size_t)dlen, (unsigned char *)tok,
			    (size_t)(dot - tok)), 1);
			EVP_MD_CTX_free(mctx);
			assert_int_equal(idp_jws_verify(tok, strlen(tok), all,
			    &t, NULL), 0);
			assert_null(json_object_get(t->header, "typ"));
			idp_jws_free(t);
			free(tok);
		}
	assert_true(small >= 3);
}

static void
test_header_cache(void **state)
{
	struct idp_key *rsa;
	struct idp_jwks *set;
	struct idp_jws *t;
	char *a, *b;

	(void)state;
	assert_int_equal(idp_jws_sign(priv[K_ES256], "JWT", "{}", 2, &a, NULL),
	    0);
	assert_int_equal(idp_jws_sign(priv[K_ES256], NULL, "{}", 2, &b, NULL),
	    0);
	assert_memory_not_equal(a, b, strchr(a, '.') - a);
	free(b);
	assert_int_equal(idp_jws_sign(priv[K_ES256], "at+jwt", "{}", 2, &b,
	    NULL), 0);
	assert_int_equal(idp_jws_verify(b, strlen(b), all, &t, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(t->header,
	    "typ")), "at+jwt");
	idp_jws_free(t);
	free(a);
	free(b);

	/* A new kid and alg show up in the header at once. */
	assert_int_equal(idp_key_generate(IDP_KEY_RSA_2048, &rsa), 0);
	assert_int_equal(idp_jws_sign(rsa, "JWT", "{}", 2, &a, NULL), 0);
	free(a);
	/* A kid that needs JSON escaping goes through intact. */
	assert_int_equal(idp_key_set_kid(rsa, "k-\"2026\"\\/\xc3\xa9"), 0);
	assert_int_equal(idp_key_set_alg(rsa, IDP_ALG_PS256), 0);
	assert_int_equal(idp_jws_sign(rsa, "JWT", "{}", 2, &a, NULL), 0);
	set = idp_jwks_new();
	assert_int_equal(idp_jwks_add(set, public_copy(rsa)), 0);
	assert_int_equal(idp_jws_verify(a, strlen(a), set, &t, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(t->header,
	    "kid")), "k-\"2026\"\\/\xc3\xa9");
	assert_string_equal(json_string_value(json_object_get(t->header,
	    "alg")), "PS256");
	idp_jws_free(t);
	free(a);
	idp_jwks_free(set);
	idp_key_free(rsa);
}

static void
test_sign_errors(void **state)
{
	const struct idp_key *pub = idp_jwks_get(one, 0);
	char *tok = NULL, *big;
	json_t *arr = json_array();

	(void)state;
	assert_int_equal(idp_jws_sign((struct idp_key *)(uintptr_t)pub, NULL,
	    "{}", 2, &tok, NULL), -EINVAL);
	assert_int_equal(idp_jwt_sign(priv[K_ES256], NULL, arr, &tok, NULL),
	    -EINVAL);
	assert_int_equal(idp_jws_sign(priv[K_ES256], "\xff", "{}", 2, &tok,
	    NULL), -EINVAL);
	big = calloc(1, IDP_JWT_MAX_LEN);
	memset(big, 'a', IDP_JWT_MAX_LEN - 1);
	assert_int_equal(idp_jws_sign(priv[K_ES256], NULL, big,
	    IDP_JWT_MAX_LEN - 1, &tok, NULL), -E2BIG);
	assert_null(tok);
	free(big);
	json_decref(arr);
}

static void
test_hostile_alg(void **state)
{
	const struct idp_key *es = priv[K_ES256];
	const char *nones[] = { "none", "None", "NONE", "nOnE" };
	unsigned char mac[32];
	unsigned int maclen;
	char h[512], *in, *tok, *pem;
	size_t i, plen;

	(void)state;
	/* alg none, with and without a signature. */
	for (i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
		    nones[i], idp_key_kid(es));
		in = signing_input(h, claims);
		tok = malloc(strlen(in) + 2);
		sprintf(tok, "%s.", in);
		assert_int_equal(vrc(tok, one), -EKEYREJECTED);
		free(tok);
		free(in);
		tok = make_tok(es, h, claims);
		assert_int_equal(vrc(tok, one), -EKEYREJECTED);
		free(tok);
	}
	/* HS256 keyed with the public key's PEM: the classic confusion. */
	assert_int_equal(idp_key_public_pem(es, &pem, &plen), 0);
	snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"kid\":\"%s\"}",
	    idp_key_kid(es));
	in = signing_input(h, claims);
	HMAC(EVP_sha256(), pem, (int)plen, (unsigned char *)in, strlen(in),
	    mac, &maclen);
	tok = with_sig(in, mac, maclen);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	free(in);
	free(pem);
	/* Unknown algs, and alg of the wrong type. */
	snprintf(h, sizeof(h), "{\"alg\":\"ES512\",\"kid\":\"%s\"}",
	    idp_key_kid(es));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	snprintf(h, sizeof(h), "{\"alg\":\"es256\",\"kid\":\"%s\"}",
	    idp_key_kid(es));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	snprintf(h, sizeof(h), "{\"alg\":256,\"kid\":\"%s\"}", idp_key_kid(es));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	snprintf(h, sizeof(h), "{\"kid\":\"%s\"}", idp_key_kid(es));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	/* A real alg that is not the key's. */
	snprintf(h, sizeof(h), "{\"alg\":\"ES384\",\"kid\":\"%s\"}",
	    idp_key_kid(es));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	/* RS256 on a PS256-bound key and PS256 on an RS256-bound key. */
	snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"%s\"}",
	    idp_key_kid(priv[K_PS256]));
	tok = make_tok(priv[K_PS256], h, claims);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	snprintf(h, sizeof(h), "{\"alg\":\"PS256\",\"kid\":\"%s\"}",
	    idp_key_kid(priv[K_RS256]));
	tok = make_tok(priv[K_RS256], h, claims);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	/* idp_sig_verify itself only accepts the key's alg. */
	assert_int_equal(idp_sig_verify(idp_jwks_get(one, 0), IDP_ALG_ES384,
	    "x", 1, mac, 32), -EKEYREJECTED);
	assert_int_equal(idp_sig_verify(idp_jwks_get(one, 0), IDP_ALG_NONE,
	    "x", 1, mac, 32), -EKEYREJECTED);
}

static void
test_hostile_kid(void **state)
{
	const struct idp_key *es = priv[K_ES256];
	char h[512], *tok;

	(void)state;
	/* Unknown kid. */
	snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"unknown\"}");
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, all), -ENOKEY);
	/* A kid that matches nothing, against a set of one key. */
	assert_int_equal(vrc(tok, one), -ENOKEY);
	free(tok);
	/* No kid: fine with exactly one key, refused with several. */
	tok = make_tok(es, "{\"alg\":\"ES256\"}", claims);
	assert_int_equal(vrc(tok, one), 0);
	assert_int_equal(vrc(tok, all), -ENOKEY);
	free(tok);
	/* kid not a string; kid of another key. */
	tok = make_tok(es, "{\"alg\":\"ES256\",\"kid\":1}", claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
	    idp_key_kid(priv[K_ES384]));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	/* Injection in kid: matched as an opaque string, never as a path. */
	{
		const char *kids[] = { "../../dev/null", "/etc/passwd",
		    "' OR '1'='1", "%00", "kid\\u0000x" };
		size_t i;

		for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
			snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
			    kids[i]);
			tok = make_tok(es, h, claims);
			assert_int_equal(vrc(tok, all), i == 4 ? -EBADMSG : -ENOKEY);
			free(tok);
		}
	}
	/* An empty set. */
	{
		struct idp_jwks *none = idp_jwks_new();

		tok = make_tok(es, hdr_for(es, NULL), claims);
		assert_int_equal(vrc(tok, none), -ENOKEY);
		free(tok);
		tok = make_tok(es, "{\"alg\":\"ES256\"}", claims);
		assert_int_equal(vrc(tok, none), -ENOKEY);
		free(tok);
		idp_jwks_free(none);
	}
}

static void
test_hostile_headers(void **state)
{
	const struct idp_key *es = priv[K_ES256];
	const char *extras[] = {
		"\"jku\":\"https://evil/jwks\"",
		"\"x5u\":\"https://evil/cert\"",
		"\"jwk\":{\"kty\":\"EC\"}",
		"\"x5c\":[\"MIIB\"]",
		"\"crit\":[\"exp\"]",
		"\"crit\":[]",
		"\"b64\":false",
		"\"b64\":true",
	};
	char h[IDP_JWT_MAX_HEADER + 64], *tok;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		tok = make_tok(es, hdr_for(es, extras[i]), claims);
		assert_int_equal(vrc(tok, one), -EBADMSG);
		free(tok);
	}
	/* Unknown members that change nothing are ignored. */
	tok = make_tok(es, hdr_for(es, "\"cty\":\"x\",\"zzz\":1"), claims);
	assert_int_equal(vrc(tok, one), 0);
	free(tok);
	/* Duplicate members, not-an-object, not JSON, not UTF-8. */
	snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"alg\":\"ES256\","
	    "\"kid\":\"%s\"}", idp_key_kid(es));
	tok = make_tok(es, h, claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, "\"typ\":\"JWT\",\"typ\":\"JWT\""),
	    claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, "[\"ES256\"]", claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, "{\"alg\":\"ES256\"", claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, "\"x\":\"\xc3\x28\""), claims);
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	/* Header size: exactly IDP_JWT_MAX_HEADER passes, one more fails. */
	n = strlen(hdr_for(es, "\"p\":\"\""));
	memset(h, 'x', IDP_JWT_MAX_HEADER - n);
	strcpy(h + IDP_JWT_MAX_HEADER - n, "\"");
	{
		char extra[sizeof(h) + 16];

		snprintf(extra, sizeof(extra), "\"p\":\"%s", h);
		assert_int_equal(strlen(hdr_for(es, extra)),
		    IDP_JWT_MAX_HEADER);
		tok = make_tok(es, hdr_for(es, extra), claims);
		assert_int_equal(vrc(tok, one), 0);
		free(tok);
		snprintf(extra, sizeof(extra), "\"p\":\"x%s", h);
		tok = make_tok(es, hdr_for(es, extra), claims);
		assert_int_equal(vrc(tok, one), -E2BIG);
		free(tok);
	}
}

static char *
tok_with_raw_sig(const unsigned char *sig, size_t n)
{
	char *in = signing_input(hdr_for(priv[K_ES256], NULL), claims);
	char *tok = with_sig(in, sig, n);

	free(in);
	return tok;
}

static void
test_hostile_signatures(void **state)
{
	const struct idp_key *es = priv[K_ES256];
	unsigned char sig[600], bad[600], der[128], *p;
	size_t n, i;
	char *in, *tok, *s;
	ECDSA_SIG *e;
	BIGNUM *ns;
	int dlen;

	(void)state;
	in = signing_input(hdr_for(es, NULL), claims);
	raw_sign(es, in, strlen(in), sig, &n);
	assert_int_equal(n, 64);
	tok = with_sig(in, sig, n);
	assert_int_equal(vrc(tok, one), 0);
	free(tok);

	/* The DER form that OpenSSL produces natively. */
	e = ECDSA_SIG_new();
	ECDSA_SIG_set0(e, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32,
	    NULL));
	p = der;
	dlen = i2d_ECDSA_SIG(e, &p);
	tok = with_sig(in, der, (size_t)dlen);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);

	/* High-S twin (n - s): valid ECDSA; JWS does not require low-S. */
	ns = BN_bin2bn(p256_n, 32, NULL);
	BN_sub(ns, ns, ECDSA_SIG_get0_s(e));
	memcpy(bad, sig, 32);
	BN_bn2binpad(ns, bad + 32, 32);
	tok = with_sig(in, bad, 64);
	assert_int_equal(vrc(tok, one), 0);
	free(tok);
	BN_free(ns);
	ECDSA_SIG_free(e);

	/* 63, 65 and 0 bytes; truncated; a leading zero byte added. */
	tok = with_sig(in, sig, 63);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	memcpy(bad, sig, 64);
	bad[64] = 0;
	tok = with_sig(in, bad, 65);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	bad[0] = 0;
	memcpy(bad + 1, sig, 64);
	tok = with_sig(in, bad, 65);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	tok = with_sig(in, sig, 0);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	tok = with_sig(in, sig, 60);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	tok = with_sig(in, sig, 64);
	tok[strlen(tok) - 2] = '\0';	/* 84 chars: 63 bytes */
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	tok[strlen(tok) - 3] = '\0';	/* 81 chars: 1 mod 4 */
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);

	/* r = 0, s = 0, both 0, r = n, s = n, r = n + r (overflowing w). */
	memset(bad, 0, 64);
	memcpy(bad + 32, sig + 32, 32);
	s = tok_with_raw_sig(bad, 64);
	assert_int_equal(vrc(s, one), -EKEYREJECTED);
	free(s);
	memcpy(bad, sig, 32);
	memset(bad + 32, 0, 32);
	s = tok_with_raw_sig(bad, 64);
	assert_int_equal(vrc(s, one), -EKEYREJECTED);
	free(s);
	memset(bad, 0, 64);
	s = tok_with_raw_sig(bad, 64);
	assert_int_equal(vrc(s, one), -EKEYREJECTED);
	free(s);
	memcpy(bad, p256_n, 32);
	memcpy(bad + 32, sig + 32, 32);
	s = tok_with_raw_sig(bad, 64);
	assert_int_equal(vrc(s, one), -EKEYREJECTED);
	free(s);
	memcpy(bad, sig, 32);
	memcpy(bad + 32, p256_n, 32);
	s = tok_with_raw_sig(bad, 64);
	assert_int_equal(vrc(s, one), -EKEYREJECTED);
	free(s);
	memset(bad, 0xff, 64);
	s = tok_with_raw_sig(bad, 64);
	assert_int_equal(vrc(s, one), -EKEYREJECTED);
	free(s);

	/* Every single-bit flip of a valid signature. */
	for (i = 0; i < 64 * 8; i += 7) {
		memcpy(bad, sig, 64);
		bad[i / 8] ^= (unsigned char)(1u << (i % 8));
		s = tok_with_raw_sig(bad, 64);
		assert_int_equal(vrc(s, one), -EKEYREJECTED);
		free(s);
	}
	/* Far too long. */
	memset(bad, 1, sizeof(bad));
	{
		unsigned char *huge = calloc(1, 2000);

		tok = with_sig(in, huge, 2000);
		assert_int_equal(vrc(tok, one), -EKEYREJECTED);
		free(tok);
		free(huge);
	}
	/* A valid signature over a different payload. */
	tok = with_sig(in, sig, 64);
	p = (unsigned char *)strchr(tok, '.') + 1;
	*p = *p == 'e' ? 'f' : 'e';
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	free(in);

	/* Another key's signature; RSA and Ed25519 lengths. */
	tok = make_tok(priv[K_ES384], hdr_for(es, NULL), claims);
	assert_int_equal(vrc(tok, one), -EKEYREJECTED);
	free(tok);
	in = signing_input(hdr_for(priv[K_RS256], NULL), claims);
	raw_sign(priv[K_RS256], in, strlen(in), sig, &n);
	tok = with_sig(in, sig, n - 1);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	free(in);
	in = signing_input(hdr_for(priv[K_EDDSA], NULL), claims);
	raw_sign(priv[K_EDDSA], in, strlen(in), sig, &n);
	tok = with_sig(in, sig, 63);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	memcpy(bad, sig, 64);
	bad[64] = 0;
	tok = with_sig(in, bad, 65);
	assert_int_equal(vrc(tok, all), -EKEYREJECTED);
	free(tok);
	free(in);
}

/* tok with its signature segment replaced by sig (a C string). */
static char *
tok_resigned(const char *tok, const char *sig)
{
	const char *dot = strrchr(tok, '.');
	char *s;

	assert_non_null(dot);
	assert_true(asprintf(&s, "%.*s.%s", (int)(dot - tok), tok,
	    sig) > 0);
	return s;
}

/*
 * idp_jws_sig_twin(): for signatures made by libidp's own signer, the twin
 * is (r, n - s) by an independent BIGNUM computation, verifies with
 * idp_jws_verify() like the original (ECDSA is malleable and JWS accepts
 * both), differs from it, and its own twin is the original again.  Enough
 * signatures for s to start with 0x00 and 0xff bytes now and then.
 */
static void
test_sig_twin(void **state)
{
	unsigned char raw[96], traw[96];
	char twin[129], back[129], *tok, *ttok, *sig;
	struct idp_jws *t;
	const BIGNUM *order;
	BIGNUM *bs, *bt;
	EC_GROUP *g;
	size_t n, tn, w;
	int i, j, rc;

	(void)state;
	for (j = K_ES256; j <= K_ES384; j++) {
		w = j == K_ES256 ? 32 : 48;
		g = EC_GROUP_new_by_curve_name(j == K_ES256 ?
		    NID_X9_62_prime256v1 : NID_secp384r1);
		assert_non_null(g);
		order = EC_GROUP_get0_order(g);
		for (i = 0; i < 64; i++) {
			assert_int_equal(idp_jws_sign(priv[j], NULL, claims,
			    strlen(claims), &tok, NULL), 0);
			sig = strrchr(tok, '.') + 1;
			rc = idp_jws_sig_twin(idp_key_alg(priv[j]), sig,
			    strlen(sig), twin, sizeof(twin));
			assert_int_equal(rc, j == K_ES256 ? 86 : 128);
			assert_int_equal(strlen(twin), (size_t)rc);
			assert_string_not_equal(twin, sig);

			/* r kept, s' = n - s, both w bytes. */
			assert_int_equal(idp_b64url_decode(sig, strlen(sig),
			    raw, sizeof(raw), &n), 0);
			assert_int_equal(idp_b64url_decode(twin, strlen(twin),
			    traw, sizeof(traw), &tn), 0);
			assert_int_equal(n, 2 * w);
			assert_int_equal(tn, 2 * w);
			assert_memory_equal(raw, traw, w);
			bs = BN_bin2bn(raw + w, (int)w, NULL);
			bt = BN_bin2bn(traw + w, (int)w, NULL);
			assert_non_null(bs);
			assert_non_null(bt);
			assert_int_equal(BN_add(bs, bs, bt), 1);
			assert_int_equal(BN_cmp(bs, order), 0);
			BN_free(bs);
			BN_free(bt);

			/* Both encodings verify. */
			assert_int_equal(idp_jws_verify(tok, strlen(tok), all,
			    &t, NULL), 0);
			idp_jws_free(t);
			ttok = tok_resigned(tok, twin);
			assert_int_equal(vrc(ttok, all), 0);

			/* The twin of the twin is the original. */
			assert_int_equal(idp_jws_sig_twin(idp_key_alg(priv[j]),
			    twin, strlen(twin), back, sizeof(back)), rc);
			assert_string_equal(back, sig);

			/* A one-bit change of the twin does not verify. */
			twin[5] = twin[5] == 'A' ? 'B' : 'A';
			free(ttok);
			ttok = tok_resigned(tok, twin);
			assert_int_equal(vrc(ttok, all), -EKEYREJECTED);
			free(ttok);
			free(tok);
		}
		EC_GROUP_free(g);
	}
}

/* idp_jws_sig_twin() refuses what has no twin or is no signature. */
static void
test_sig_twin_errors(void **state)
{
	static const enum idp_alg none[] = {
		IDP_ALG_NONE, IDP_ALG_RS256, IDP_ALG_PS256, IDP_ALG_EDDSA,
		(enum idp_alg)99,
	};
	unsigned char sig[96], bad[100];
	char out[200], *b, *tok, *s;
	size_t n, i;

	(void)state;
	assert_int_equal(idp_jws_sign(priv[K_ES256], NULL, claims,
	    strlen(claims), &tok, NULL), 0);
	s = strrchr(tok, '.') + 1;
	assert_int_equal(idp_b64url_decode(s, strlen(s), sig, sizeof(sig),
	    &n), 0);
	assert_int_equal(n, 64);

	/* Not ECDSA: even 64 bytes that would be a fine ES256 signature. */
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		assert_int_equal(idp_jws_sig_twin(none[i], s, strlen(s), out,
		    sizeof(out)), -EINVAL);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, NULL, 0, out,
	    sizeof(out)), -EINVAL);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, s, strlen(s), NULL,
	    sizeof(out)), -EINVAL);

	/* Lengths: the other curve's, one byte short or long, 0, huge. */
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES384, s, strlen(s), out,
	    sizeof(out)), -EBADMSG);
	for (i = 0; i <= 65; i += (i == 0 ? 63 : 1)) {
		memcpy(bad, sig, 64);
		bad[64] = 0x01;
		b = b64(bad, i);
		assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, b, strlen(b),
		    out, sizeof(out)), i == 64 ? 86 : -EBADMSG);
		free(b);
	}
	memset(bad, 0x01, sizeof(bad));
	b = b64(bad, 96);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, b, strlen(b), out,
	    sizeof(out)), -EBADMSG);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES384, b, strlen(b), out,
	    sizeof(out)), 128);
	free(b);
	b = b64(bad, 100);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES384, b, strlen(b), out,
	    sizeof(out)), -EBADMSG);
	free(b);

	/* Not strict base64url: padding, '+', a non-canonical last digit. */
	snprintf(out, sizeof(out), "%s==", s);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, out, strlen(out),
	    out + 100, 100), -EBADMSG);
	b = strdup(s);
	b[10] = '+';
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, b, strlen(b), out,
	    sizeof(out)), -EBADMSG);
	memcpy(b, s, strlen(s));
	/* 86 chars carry 64 bytes and 4 spare bits, which must be 0. */
	b[85] = b[85] == 'B' ? 'C' : 'B';
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, b, strlen(b), out,
	    sizeof(out)), -EBADMSG);
	free(b);

	/* r or s of 0 or n (no signature has them). */
	for (i = 0; i < 4; i++) {
		memcpy(bad, sig, 64);
		if (i < 2)
			memset(bad + 32 * i, 0, 32);
		else
			memcpy(bad + 32 * (i - 2), p256_n, 32);
		b = b64(bad, 64);
		assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, b, strlen(b),
		    out, sizeof(out)), -EBADMSG);
		free(b);
	}
	/* s = 1 and s = n - 1 are each other's twins. */
	memcpy(bad, sig, 32);
	memset(bad + 32, 0, 32);
	bad[63] = 1;
	b = b64(bad, 64);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, b, strlen(b), out,
	    sizeof(out)), 86);
	free(b);
	memcpy(bad + 32, p256_n, 32);
	bad[63]--;
	b = b64(bad, 64);
	assert_string_equal(out, b);
	free(b);

	/* The output buffer: 87 bytes fit, 86 do not (the NUL). */
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, s, strlen(s), out,
	    87), 86);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, s, strlen(s), out,
	    86), -ENOSPC);
	assert_int_equal(idp_jws_sig_twin(IDP_ALG_ES256, s, strlen(s), out,
	    0), -ENOSPC);
	free(tok);
}

static void
test_hostile_structure(void **state)
{
	const struct idp_key *es = priv[K_ES256];
	char *tok, *t2, *big;
	size_t len;

	(void)state;
	tok = make_tok(es, hdr_for(es, NULL), claims);
	len = strlen(tok);
	t2 = malloc(len + 16);

	assert_int_equal(vrc("", one), -EBADMSG);
	assert_int_equal(vrc(".", one), -EBADMSG);
	/* A 1 MiB token is refused before anything is decoded. */
	big = malloc((1 << 20) + 1);
	memset(big, 'A', 1 << 20);
	big[100] = big[200] = '.';
	big[1 << 20] = '\0';
	assert_int_equal(vrc(big, one), -E2BIG);
	free(big);
	big = NULL;
	/* The "psychic signature" of CVE-2022-21449: DER r = s = 0. */
	{
		static const unsigned char psychic[] = { 0x30, 0x06, 0x02, 0x01,
		    0x00, 0x02, 0x01, 0x00 };
		char *in = signing_input(hdr_for(es, NULL), claims);

		t2 = with_sig(in, psychic, sizeof(psychic));
		assert_int_equal(vrc(t2, one), -EKEYREJECTED);
		free(t2);
		free(in);
		t2 = malloc(len + 16);
	}
	assert_int_equal(vrc("..", one), -EBADMSG);
	assert_int_equal(vrc("a.b", one), -EBADMSG);
	/* Two segments: the token without its signature part. */
	memcpy(t2, tok, (size_t)(strrchr(tok, '.') - tok));
	t2[strrchr(tok, '.') - tok] = '\0';
	assert_int_equal(vrc(t2, one), -EBADMSG);
	/* Four and five segments. */
	sprintf(t2, "%s.", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	sprintf(t2, "%s.AA", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	sprintf(t2, "%s..", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	/* Whitespace around and inside; a Bearer prefix. */
	sprintf(t2, " %s", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	sprintf(t2, "%s\n", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	sprintf(t2, "%s ", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	sprintf(t2, "Bearer %s", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	memcpy(t2, tok, len + 1);
	t2[10] = ' ';
	assert_int_equal(vrc(t2, one), -EBADMSG);
	/* An embedded NUL within the length. */
	memcpy(t2, tok, len + 1);
	t2[len - 3] = '\0';
	assert_int_equal(verify(t2, len, one, NULL), -EBADMSG);
	/* Padding on the signature. */
	sprintf(t2, "%s=", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	sprintf(t2, "%s==", tok);
	assert_int_equal(vrc(t2, one), -EBADMSG);
	free(t2);
	free(tok);

	/* Padding on header and payload, validly signed: still refused. */
	{
		char *h = malloc(4096), *p = malloc(4096), *in, *x;
		unsigned char sig[64];
		size_t n;
		const char *hd = hdr_for(es, NULL);

		idp_b64url_encode(hd, strlen(hd), h);
		idp_b64url_encode("{\"a\":1}", 7, p);	/* 10 chars */
		assert_int_equal(strlen(p) % 4, 2);
		in = malloc(8192);
		sprintf(in, "%s.%s==", h, p);
		raw_sign(es, in, strlen(in), sig, &n);
		x = with_sig(in, sig, n);
		assert_int_equal(vrc(x, one), -EBADMSG);
		free(x);
		/* Standard base64 alphabet in the payload. */
		sprintf(in, "%s.e30+", h);
		raw_sign(es, in, strlen(in), sig, &n);
		x = with_sig(in, sig, n);
		assert_int_equal(vrc(x, one), -EBADMSG);
		free(x);
		free(in);
		free(h);
		free(p);
	}

	/* Claims: duplicate member, not an object, not JSON, empty. */
	tok = make_tok(es, hdr_for(es, NULL), "{\"sub\":\"a\",\"sub\":\"b\"}");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, NULL), "{\"exp\":1,\"exp\":2}");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, NULL), "[1]");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, NULL), "\"x\"");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, NULL), "{\"a\":");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, NULL), "");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);
	tok = make_tok(es, hdr_for(es, NULL), "{} {}");
	assert_int_equal(vrc(tok, one), -EBADMSG);
	free(tok);

	/* Length: over the maximum is -E2BIG before anything else. */
	big = malloc(IDP_JWT_MAX_LEN + 2);
	memset(big, 'A', IDP_JWT_MAX_LEN + 1);
	big[IDP_JWT_MAX_LEN + 1] = '\0';
	assert_int_equal(vrc(big, one), -E2BIG);
	free(big);
}

/* A valid token of exactly IDP_JWT_MAX_LEN bytes passes. */
static void
test_max_length(void **state)
{
	char *payload, *tok;
	size_t plen, len = 0;
	int found = 0;

	(void)state;
	payload = malloc(IDP_JWT_MAX_LEN);
	for (plen = 11500; plen < 12400 && !found; plen++) {
		memset(payload, 'x', plen);
		memcpy(payload, "{\"p\":\"", 6);
		memcpy(payload + plen - 2, "\"}", 2);
		tok = NULL;
		if (idp_jws_sign(priv[K_ES256], NULL, payload, plen, &tok,
		    &len) == 0 && len == IDP_JWT_MAX_LEN) {
			assert_int_equal(vrc(tok, one), 0);
			found = 1;
		}
		free(tok);
	}
	assert_true(found);
	/* One more byte and the signer refuses too. */
	memset(payload, 'x', 12400);
	memcpy(payload, "{\"p\":\"", 6);
	memcpy(payload + 12398, "\"}", 2);
	assert_int_equal(idp_jws_sign(priv[K_ES256], NULL, payload, 12400,
	    &tok, &len), -E2BIG);
	free(payload);
}

/* Checks claims (as JSON text) with header typ hdr_typ (NULL: none). */
static int
check(const char *claims_json, const char *hdr_typ,
    const struct idp_jwt_expect *e, int64_t now, const char *want_msg)
{
	struct idp_jws t;
	struct idp_err err = { "" };
	int rc;

	t.claims = json_loads(claims_json, 0, NULL);
	assert_non_null(t.claims);
	t.header = json_pack("{s:s}", "alg", "ES256");
	if (hdr_typ != NULL)
		json_object_set_new(t.header, "typ", json_string(hdr_typ));
	t.key = NULL;
	rc = idp_jwt_check(&t, e, now, &err);
	if (want_msg != NULL)
		assert_string_equal(err.msg, want_msg);
	json_decref(t.claims);
	json_decref(t.header);
	return rc;
}

static void
test_check_times(void **state)
{
	struct idp_jwt_expect e = { 0 }, lee = { .leeway = 5 };
	struct idp_jwt_expect req = { .require_exp = 1 };

	(void)state;
	assert_int_equal(check("{\"exp\":1700000001}", NULL, &e, NOW, NULL), 0);
	assert_int_equal(check("{\"exp\":1700000000}", NULL, &e, NOW,
	    "token expired"), -EKEYEXPIRED);
	assert_int_equal(check("{\"exp\":1699999999}", NULL, &e, NOW, NULL),
	    -EKEYEXPIRED);
	assert_int_equal(check("{\"exp\":1699999996}", NULL, &lee, NOW, NULL),
	    0);
	assert_int_equal(check("{\"exp\":1699999995}", NULL, &lee, NOW, NULL),
	    -EKEYEXPIRED);
	/* Fractional NumericDates round towards the stricter side. */
	assert_int_equal(check("{\"exp\":1700000000.5}", NULL, &e, NOW, NULL),
	    -EKEYEXPIRED);
	assert_int_equal(check("{\"exp\":1700000001.5}", NULL, &e, NOW, NULL),
	    0);
	assert_int_equal(check("{\"nbf\":1700000000.5}", NULL, &e, NOW, NULL),
	    -EKEYEXPIRED);
	assert_int_equal(check("{\"exp\":1.7000006e9}", NULL, &e, NOW, NULL),
	    0);

	assert_int_equal(check("{\"nbf\":1700000000}", NULL, &e, NOW, NULL), 0);
	assert_int_equal(check("{\"nbf\":1700000001}", NULL, &e, NOW,
	    "token not yet valid"), -EKEYEXPIRED);
	assert_int_equal(check("{\"nbf\":1700000005}", NULL, &lee, NOW, NULL),
	    0);
	assert_int_equal(check("{\"nbf\":1700000006}", NULL, &lee, NOW, NULL),
	    -EKEYEXPIRED);
	assert_int_equal(check("{\"iat\":1700000000}", NULL, &e, NOW, NULL), 0);
	assert_int_equal(check("{\"iat\":1700000001}", NULL, &e, NOW,
	    "token issued in the future"), -EKEYEXPIRED);
	assert_int_equal(check("{\"iat\":1700000005}", NULL, &lee, NOW, NULL),
	    0);
	assert_int_equal(check("{\"iat\":1700000006}", NULL, &lee, NOW, NULL),
	    -EKEYEXPIRED);

	/* Wrong types and ranges. */
	assert_int_equal(check("{\"exp\":\"1700000600\"}", NULL, &e, NOW,
	    "claim exp is not a valid time"), -EBADMSG);
	assert_int_equal(check("{\"exp\":null}", NULL, &e, NOW, NULL),
	    -EBADMSG);
	assert_int_equal(check("{\"exp\":true}", NULL, &e, NOW, NULL),
	    -EBADMSG);
	assert_int_equal(check("{\"exp\":[1700000600]}", NULL, &e, NOW, NULL),
	    -EBADMSG);
	assert_int_equal(check("{\"exp\":-1}", NULL, &e, NOW, NULL), -EBADMSG);
	assert_int_equal(check("{\"exp\":1e300}", NULL, &e, NOW, NULL),
	    -EBADMSG);
	assert_int_equal(check("{\"exp\":253402300800}", NULL, &e, NOW, NULL),
	    -EBADMSG);
	assert_int_equal(check("{\"exp\":253402300799}", NULL, &e, NOW, NULL),
	    0);
	assert_int_equal(check("{\"nbf\":\"0\"}", NULL, &e, NOW, NULL),
	    -EBADMSG);
	assert_int_equal(check("{\"iat\":{}}", NULL, &e, NOW, NULL), -EBADMSG);
	/* exp required. */
	assert_int_equal(check("{}", NULL, &req, NOW, "token has no exp"),
	    -EBADMSG);
	assert_int_equal(check("{}", NULL, &e, NOW, NULL), 0);
	assert_int_equal(check("{}", NULL, NULL, NOW, NULL), 0);
	/* Bad arguments. */
	lee.leeway = -1;
	assert_int_equal(check("{}", NULL, &lee, NOW, NULL), -EINVAL);
	assert_int_equal(check("{}", NULL, &e, -1, NULL), -EINVAL);
	assert_int_equal(idp_jwt_check(NULL, &e, NOW, NULL), -EINVAL);
}

static void
test_check_iss_aud_typ(void **state)
{
	struct idp_jwt_expect e = { .iss = "https://idp.example",
	    .aud = "payments", .typ = "at+jwt" };
	struct idp_jwt_expect iss = { .iss = "https://idp.example" };
	struct idp_jwt_expect aud = { .aud = "payments" };
	struct idp_jwt_expect typ = { .typ = "at+jwt" };
	struct idp_jwt_expect apptyp = { .typ = "application/at+jwt" };

	(void)state;
	assert_int_equal(check("{\"iss\":\"https://idp.example\","
	    "\"aud\":\"payments\"}", "at+jwt", &e, NOW, NULL), 0);
	/* iss: exact. */
	assert_int_equal(check("{\"iss\":\"https://idp.example/\"}", NULL, &iss,
	    NOW, "issuer mismatch"), -EACCES);
	assert_int_equal(check("{\"iss\":\"https://IDP.example\"}", NULL, &iss,
	    NOW, NULL), -EACCES);
	assert_int_equal(check("{\"iss\":\"https://idp.exampl\"}", NULL, &iss,
	    NOW, NULL), -EACCES);
	assert_int_equal(check("{}", NULL, &iss, NOW, NULL), -EACCES);
	assert_int_equal(check("{\"iss\":[\"https://idp.example\"]}", NULL,
	    &iss, NOW, NULL), -EBADMSG);
	assert_int_equal(check("{\"iss\":null}", NULL, &iss, NOW, NULL),
	    -EBADMSG);
	/* aud: string or array of strings. */
	assert_int_equal(check("{\"aud\":\"payments\"}", NULL, &aud, NOW, NULL),
	    0);
	assert_int_equal(check("{\"aud\":\"payment\"}", NULL, &aud, NOW,
	    "audience mismatch"), -EACCES);
	assert_int_equal(check("{\"aud\":[\"a\",\"payments\"]}", NULL, &aud,
	    NOW, NULL), 0);
	assert_int_equal(check("{\"aud\":[\"a\",\"b\"]}", NULL, &aud, NOW,
	    NULL), -EACCES);
	assert_int_equal(check("{\"aud\":[]}", NULL, &aud, NOW, NULL),
	    -EACCES);
	assert_int_equal(check("{}", NULL, &aud, NOW, NULL), -EACCES);
	assert_int_equal(check("{\"aud\":[\"payments\",1]}", NULL, &aud, NOW,
	    NULL), -EBADMSG);
	assert_int_equal(check("{\"aud\":[[\"payments\"]]}", NULL, &aud, NOW,
	    NULL), -EBADMSG);
	assert_int_equal(check("{\"aud\":{\"payments\":1}}", NULL, &aud, NOW,
	    NULL), -EBADMSG);
	/* Even unchecked, a malformed aud or sub is refused. */
	assert_int_equal(check("{\"aud\":7}", NULL, NULL, NOW, NULL), -EBADMSG);
	assert_int_equal(check("{\"sub\":7}", NULL, NULL, NOW, NULL), -EBADMSG);
	/* typ: case-insensitive, with or without "application/". */
	assert_int_equal(check("{}", "at+jwt", &typ, NOW, NULL), 0);
	assert_int_equal(check("{}", "AT+JWT", &typ, NOW, NULL), 0);
	assert_int_equal(check("{}", "application/at+jwt", &typ, NOW, NULL), 0);
	assert_int_equal(check("{}", "Application/At+JWT", &typ, NOW, NULL), 0);
	assert_int_equal(check("{}", "at+jwt", &apptyp, NOW, NULL), 0);
	assert_int_equal(check("{}", "JWT", &typ, NOW, "token type mismatch"),
	    -EACCES);
	assert_int_equal(check("{}", "application/x/at+jwt", &typ, NOW, NULL),
	    -EACCES);
	assert_int_equal(check("{}", NULL, &typ, NOW, NULL), -EACCES);
	{
		struct idp_jws t;

		t.claims = json_object();
		t.header = json_pack("{s:i}", "typ", 1);
		assert_int_equal(idp_jwt_check(&t, &typ, NOW, NULL), -EBADMSG);
		json_decref(t.claims);
		json_decref(t.header);
	}
}

/*
 * Threads verifying against one shared key set: the per-key verify cache
 * is taken with a trylock, so contention must only cost speed.  Good and
 * bad tokens alternate so a failed verify is seen not to poison a cached
 * context.  (Assertions stay on the main thread; workers count.)
 */
struct worker {
	char	*good[K_N];
	char	*bad[K_N];
	int	 errors;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct idp_jws *t;
	int i, j;

	for (i = 0; i < 60; i++)
		for (j = 0; j < K_N; j++) {
			if (j == K_RS256 || j == K_PS256 ? i % 4 != 0 : 0)
				continue;
			if (idp_jws_verify(w->good[j], strlen(w->good[j]), all,
			    &t, NULL) != 0)
				w->errors++;
			else
				idp_jws_free(t);
			if (idp_jws_verify(w->bad[j], strlen(w->bad[j]), all,
			    &t, NULL) != -EKEYREJECTED)
				w->errors++;
		}
	return NULL;
}

static void
test_threads(void **state)
{
	struct worker w = { { NULL }, { NULL }, 0 }, ws[4];
	pthread_t th[4];
	char *dot;
	int i, j;

	(void)state;
	for (j = 0; j < K_N; j++) {
		assert_int_equal(idp_jws_sign(priv[j], "JWT", claims,
		    strlen(claims), &w.good[j], NULL), 0);
		w.bad[j] = strdup(w.good[j]);
		dot = strrchr(w.bad[j], '.');
		dot[3] = dot[3] == 'A' ? 'B' : 'A';
	}
	for (i = 0; i < 4; i++) {
		ws[i] = w;
		assert_int_equal(pthread_create(&th[i], NULL, worker_run,
		    &ws[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(ws[i].errors, 0);
	}
	for (j = 0; j < K_N; j++) {
		free(w.good[j]);
		free(w.bad[j]);
	}
}

/* Reads a fixture from tests/data/jwt (tests run from the project root). */
static char *
fixture(const char *name, size_t *ret_len)
{
	char path[256], *buf;

	ut_snprintf(path, sizeof(path), "tests/data/jwt/%s", name);
	if ((buf = ut_read_file(path, 0, ret_len)) == NULL)
		fail_msg("cannot read %s (run from the project root)", path);
	return buf;
}

/*
 * RFC 7515 appendix A.3: an ES256 JWS from another implementation, with
 * the spec's public key.  Its s happens to be high: JWS does not require
 * low-S, and neither do we.
 */
static void
test_rfc7515_a3(void **state)
{
	struct idp_jwt_expect e = { .iss = "joe", .require_exp = 1 };
	struct idp_jwks *set;
	struct idp_jws *t;
	struct idp_err err;
	char *tok, *jwks;
	size_t tlen, jlen;

	(void)state;
	tok = fixture("rfc7515-a3.jwt", &tlen);
	jwks = fixture("rfc7515-a3.jwks.json", &jlen);
	assert_int_equal(idp_jwks_parse(jwks, jlen, 4, &set, &err), 0);
	assert_int_equal(idp_jwks_count(set), 1);
	assert_int_equal(idp_jws_verify(tok, tlen, set, &t, &err), 0);
	assert_string_equal(json_string_value(json_object_get(t->claims,
	    "iss")), "joe");
	assert_true(json_is_true(json_object_get(t->claims,
	    "http://example.com/is_root")));
	assert_int_equal(idp_jwt_check(t, &e, INT64_C(1300819379), &err), 0);
	assert_int_equal(idp_jwt_check(t, &e, INT64_C(1300819380), &err),
	    -EKEYEXPIRED);
	e.iss = "jane";
	assert_int_equal(idp_jwt_check(t, &e, INT64_C(1300819379), &err),
	    -EACCES);
	idp_jws_free(t);
	/* One flipped signature bit. */
	tok[tlen - 5] = tok[tlen - 5] == 'N' ? 'M' : 'N';
	assert_int_equal(idp_jws_verify(tok, tlen, set, &t, &err),
	    -EKEYREJECTED);
	assert_string_equal(err.msg, "bad signature");
	idp_jwks_free(set);
	free(tok);
	free(jwks);

	/* The JWKS fixtures: a mixed set, and one that leaks a secret. */
	jwks = fixture("jwks-mixed.json", &jlen);
	assert_int_equal(idp_jwks_parse(jwks, jlen, 8, &set, &err), 0);
	assert_int_equal(idp_jwks_count(set), 3);
	assert_non_null(idp_jwks_find(set, "a3"));
	assert_non_null(idp_jwks_find(set, "2011-04-29"));
	assert_non_null(idp_jwks_find(set, "rfc8037"));
	assert_int_equal(idp_jwks_parse(jwks, jlen, 4, &set, &err), -E2BIG);
	idp_jwks_free(set);
	free(jwks);
	jwks = fixture("jwks-oct-secret.json", &jlen);
	assert_int_equal(idp_jwks_parse(jwks, jlen, 8, &set, &err), -EBADMSG);
	free(jwks);
}

/* End to end: a token from the signer, verified and checked. */
static void
test_end_to_end(void **state)
{
	struct idp_jwt_expect e = { .iss = "https://rotatord.internal",
	    .aud = "payments", .typ = "JWT", .require_exp = 1 };
	struct idp_jws *t;
	struct idp_err err;
	json_t *c;
	char *tok;

	(void)state;
	c = json_pack("{s:s, s:[s,s], s:I, s:I, s:I}",
	    "iss", "https://rotatord.internal", "aud", "x", "payments",
	    "iat", (json_int_t)NOW, "nbf", (json_int_t)NOW,
	    "exp", (json_int_t)NOW + 3600);
	assert_int_equal(idp_jwt_sign(priv[K_EDDSA], "JWT", c, &tok, NULL), 0);
	assert_int_equal(idp_jws_verify(tok, strlen(tok), all, &t, &err), 0);
	assert_int_equal(idp_jwt_check(t, &e, NOW, &err), 0);
	assert_int_equal(idp_jwt_check(t, &e, NOW + 3599, &err), 0);
	assert_int_equal(idp_jwt_check(t, &e, NOW + 3600, &err), -EKEYEXPIRED);
	assert_string_equal(err.msg, "token expired");
	assert_int_equal(idp_jwt_check(t, &e, NOW - 1, &err), -EKEYEXPIRED);
	idp_jws_free(t);
	idp_jws_free(NULL);
	free(tok);
	json_decref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify_every_alg),
		cmocka_unit_test(test_independent_signer),
		cmocka_unit_test(test_ecdsa_raw_form),
		cmocka_unit_test(test_header_cache),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_hostile_alg),
		cmocka_unit_test(test_hostile_kid),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_hostile_signatures),
		cmocka_unit_test(test_sig_twin),
		cmocka_unit_test(test_sig_twin_errors),
		cmocka_unit_test(test_hostile_structure),
		cmocka_unit_test(test_max_length),
		cmocka_unit_test(test_check_times),
		cmocka_unit_test(test_check_iss_aud_typ),
		cmocka_unit_test(test_end_to_end),
		cmocka_unit_test(test_rfc7515_a3),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
