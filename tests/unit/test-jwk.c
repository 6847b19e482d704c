/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys, JWK, JWKS and secret files.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <idp/b64.h>
#include <idp/jwk.h>
#include <idp/secret.h>

#include "util.h"

/* RFC 7638 section 3.1. */
#define RFC7638_N \
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7" \
	"aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXA" \
	"rwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7" \
	"d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lF" \
	"d2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_KID	"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* Keys generated once for the whole file (RSA generation is slow). */
static struct idp_key *keys[IDP_KEY_ED25519 + 1];

static int
setup(void **state)
{
	int t;

	(void)state;
	for (t = IDP_KEY_EC_P256; t <= IDP_KEY_ED25519; t++)
		if (idp_key_generate((enum idp_key_type)t, &keys[t]) != 0)
			return -1;
	return 0;
}

static int
teardown(void **state)
{
	int t;

	(void)state;
	for (t = IDP_KEY_EC_P256; t <= IDP_KEY_ED25519; t++)
		idp_key_free(keys[t]);
	return 0;
}

static json_t *
jload(const char *s)
{
	json_error_t jerr;
	json_t *j = json_loads(s, JSON_DECODE_ANY, &jerr);

	if (j == NULL)
		fail_msg("bad test JSON: %s", jerr.text);
	return j;
}

/* Imports a JWK given as text; returns the rc, freeing any key. */
static int
import_rc(const char *text)
{
	struct idp_key *k = NULL;
	struct idp_err err = { "" };
	json_t *j = jload(text);
	int rc;

	rc = idp_key_from_jwk(j, &k, &err);
	if (rc == 0)
		assert_non_null(k);
	else
		assert_true(err.msg[0] != '\0');
	idp_key_free(k);
	json_decref(j);
	return rc;
}

/* Imports a JWK object after setting member name to the string value. */
static int
import_with(const struct idp_key *base, const char *name, const char *value)
{
	struct idp_key *k = NULL;
	json_t *j;
	int rc;

	assert_int_equal(idp_key_to_jwk(base, &j), 0);
	if (value == NULL)
		json_object_del(j, name);
	else
		json_object_set_new(j, name, json_string(value));
	rc = idp_key_from_jwk(j, &k, NULL);
	idp_key_free(k);
	json_decref(j);
	return rc;
}

static void
test_generate(void **state)
{
	static const enum idp_alg want[] = {
		[IDP_KEY_EC_P256] = IDP_ALG_ES256,
		[IDP_KEY_EC_P384] = IDP_ALG_ES384,
		[IDP_KEY_RSA_2048] = IDP_ALG_RS256,
		[IDP_KEY_RSA_3072] = IDP_ALG_RS256,
		[IDP_KEY_ED25519] = IDP_ALG_EDDSA,
	};
	static const int bits[] = {
		[IDP_KEY_EC_P256] = 256,
		[IDP_KEY_EC_P384] = 384,
		[IDP_KEY_RSA_2048] = 2048,
		[IDP_KEY_RSA_3072] = 3072,
		[IDP_KEY_ED25519] = 256,
	};
	struct idp_key *again;
	int t;

	(void)state;
	for (t = IDP_KEY_EC_P256; t <= IDP_KEY_ED25519; t++) {
		assert_true(idp_key_is_private(keys[t]));
		assert_int_equal(idp_key_type(keys[t]), t);
		assert_int_equal(idp_key_alg(keys[t]), want[t]);
		assert_int_equal(strlen(idp_key_kid(keys[t])), 43);
		assert_int_equal(EVP_PKEY_get_bits(idp_key_evp(keys[t])),
		    bits[t]);
	}
	/* The reused generation context gives a different key each time. */
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &again), 0);
	assert_false(idp_key_equal_public(again, keys[IDP_KEY_EC_P256]));
	assert_string_not_equal(idp_key_kid(again),
	    idp_key_kid(keys[IDP_KEY_EC_P256]));
	idp_key_free(again);
	assert_int_equal(idp_key_generate((enum idp_key_type)0, &again),
	    -EINVAL);
	assert_int_equal(idp_key_generate((enum idp_key_type)99, &again),
	    -EINVAL);
}

static void
test_pem_round_trip(void **state)
{
	struct idp_secret *pem;
	struct idp_key *k, *pub;
	char *ppem;
	size_t plen;
	int t;

	(void)state;
	for (t = IDP_KEY_EC_P256; t <= IDP_KEY_ED25519; t++) {
		assert_int_equal(idp_key_to_pem(keys[t], &pem), 0);
		assert_non_null(strstr((char *)pem->buf,
		    "-----BEGIN PRIVATE KEY-----"));
		assert_int_equal(strlen((char *)pem->buf), pem->len);
		assert_int_equal(idp_key_from_pem(pem->buf, pem->len, &k, NULL),
		    0);
		assert_true(idp_key_is_private(k));
		assert_int_equal(idp_key_type(k), t);
		assert_true(idp_key_equal_public(k, keys[t]));
		assert_string_equal(idp_key_kid(k), idp_key_kid(keys[t]));
		idp_key_free(k);
		idp_secret_free(pem);

		assert_int_equal(idp_key_public_pem(keys[t], &ppem, &plen), 0);
		assert_int_equal(strlen(ppem), plen);
		assert_non_null(strstr(ppem, "-----BEGIN PUBLIC KEY-----"));
		assert_int_equal(idp_key_from_pem(ppem, plen, &pub, NULL), 0);
		assert_false(idp_key_is_private(pub));
		assert_true(idp_key_equal_public(pub, keys[t]));
		assert_string_equal(idp_key_kid(pub), idp_key_kid(keys[t]));
		/* A public key cannot be written as a private one. */
		assert_int_equal(idp_key_to_pem(pub, &pem), -EINVAL);
		idp_key_free(pub);
		free(ppem);
	}
}

static void
test_pem_hostile(void **state)
{
	static const char garbage[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n"
	    "-----END PRIVATE KEY-----\n";
	struct idp_err err = { "" };
	struct idp_key *k = NULL;
	EVP_PKEY *weak = NULL;
	BIO *bio;
	char *p;
	long n;

	(void)state;
	assert_int_equal(idp_key_from_pem("", 0, &k, &err), -EBADMSG);
	assert_int_equal(idp_key_from_pem(garbage, sizeof(garbage) - 1, &k,
	    &err), -EBADMSG);
	assert_null(k);

	/* RSA-1024 and an encrypted key are refused, without a prompt. */
	weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(weak);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, weak, NULL, NULL, 0,
	    NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_int_equal(idp_key_from_pem(p, (size_t)n, &k, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "1024"));
	BIO_free(bio);
	EVP_PKEY_free(weak);

	weak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, weak,
	    EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"passphrase"), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_int_equal(idp_key_from_pem(p, (size_t)n, &k, &err), -EBADMSG);
	BIO_free(bio);
	EVP_PKEY_free(weak);

	/* Unsupported curve. */
	weak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, weak, NULL, NULL, 0,
	    NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_int_equal(idp_key_from_pem(p, (size_t)n, &k, &err), -EBADMSG);
	BIO_free(bio);
	EVP_PKEY_free(weak);
	assert_null(k);
}

static void
test_jwk_round_trip(void **state)
{
	struct idp_key *k;
	json_t *j;
	const char *members[] = { "d", "p", "q", "dp", "dq", "qi" };
	size_t i;
	int t;

	(void)state;
	for (t = IDP_KEY_EC_P256; t <= IDP_KEY_ED25519; t++) {
		assert_int_equal(idp_key_to_jwk(keys[t], &j), 0);
		for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			assert_null(json_object_get(j, members[i]));
		assert_string_equal(json_string_value(json_object_get(j,
		    "use")), "sig");
		assert_string_equal(json_string_value(json_object_get(j,
		    "kid")), idp_key_kid(keys[t]));
		assert_string_equal(json_string_value(json_object_get(j,
		    "alg")), idp_alg_name(idp_key_alg(keys[t])));
		switch (t) {
		case IDP_KEY_EC_P256:
		case IDP_KEY_EC_P384:
			assert_string_equal(json_string_value(json_object_get(j,
			    "kty")), "EC");
			assert_int_equal(strlen(json_string_value(
			    json_object_get(j, "x"))),
			    t == IDP_KEY_EC_P256 ? 43 : 64);
			assert_int_equal(strlen(json_string_value(
			    json_object_get(j, "y"))),
			    t == IDP_KEY_EC_P256 ? 43 : 64);
			break;
		case IDP_KEY_ED25519:
			assert_string_equal(json_string_value(json_object_get(j,
			    "kty")), "OKP");
			assert_string_equal(json_string_value(json_object_get(j,
			    "crv")), "Ed25519");
			break;
		default:
			assert_string_equal(json_string_value(json_object_get(j,
			    "kty")), "RSA");
			assert_string_equal(json_string_value(json_object_get(j,
			    "e")), "AQAB");
			break;
		}
		assert_int_equal(idp_key_from_jwk(j, &k, NULL), 0);
		assert_false(idp_key_is_private(k));
		assert_int_equal(idp_key_type(k), t);
		assert_int_equal(idp_key_alg(k), idp_key_alg(keys[t]));
		assert_true(idp_key_equal_public(k, keys[t]));
		assert_string_equal(idp_key_kid(k), idp_key_kid(keys[t]));
		idp_key_free(k);
		/* Without kid, the thumbprint is computed and is the same. */
		json_object_del(j, "kid");
		assert_int_equal(idp_key_from_jwk(j, &k, NULL), 0);
		assert_string_equal(idp_key_kid(k), idp_key_kid(keys[t]));
		idp_key_free(k);
		json_decref(j);
	}
}

static void
test_rfc7638(void **state)
{
	struct idp_key *k;
	json_t *j;

	(void)state;
	j = jload("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
	    "\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}");
	assert_int_equal(idp_key_from_jwk(j, &k, NULL), 0);
	assert_string_equal(idp_key_kid(k), "2011-04-29");
	assert_int_equal(idp_key_alg(k), IDP_ALG_RS256);
	assert_int_equal(idp_key_type(k), IDP_KEY_RSA_2048);
	idp_key_free(k);
	json_object_del(j, "kid");
	assert_int_equal(idp_key_from_jwk(j, &k, NULL), 0);
	assert_string_equal(idp_key_kid(k), RFC7638_KID);
	idp_key_free(k);
	/* Optional members do not change the thumbprint. */
	json_object_del(j, "alg");
	json_object_set_new(j, "use", json_string("sig"));
	assert_int_equal(idp_key_from_jwk(j, &k, NULL), 0);
	assert_string_equal(idp_key_kid(k), RFC7638_KID);
	assert_int_equal(idp_key_alg(k), IDP_ALG_RS256);
	idp_key_free(k);
	json_decref(j);
}

static void
test_alg_and_kid(void **state)
{
	struct idp_key *rsa = keys[IDP_KEY_RSA_2048];
	char kid[300];

	(void)state;
	assert_int_equal(idp_key_set_alg(rsa, IDP_ALG_PS256), 0);
	assert_int_equal(idp_key_alg(rsa), IDP_ALG_PS256);
	assert_int_equal(idp_key_set_alg(rsa, IDP_ALG_ES256), -EINVAL);
	assert_int_equal(idp_key_set_alg(rsa, IDP_ALG_NONE), -EINVAL);
	assert_int_equal(idp_key_set_alg(rsa, IDP_ALG_RS256), 0);
	assert_int_equal(idp_key_set_alg(keys[IDP_KEY_EC_P256],
	    IDP_ALG_ES384), -EINVAL);
	assert_int_equal(idp_key_set_alg(keys[IDP_KEY_EC_P256],
	    IDP_ALG_PS256), -EINVAL);
	assert_int_equal(idp_key_set_alg(keys[IDP_KEY_EC_P384],
	    IDP_ALG_ES256), -EINVAL);
	assert_int_equal(idp_key_set_alg(keys[IDP_KEY_ED25519],
	    IDP_ALG_ES256), -EINVAL);
	assert_int_equal(idp_key_set_alg(keys[IDP_KEY_ED25519],
	    IDP_ALG_EDDSA), 0);

	memset(kid, 'a', sizeof(kid));
	kid[256] = '\0';
	assert_int_equal(idp_key_set_kid(rsa, kid), -EINVAL);
	kid[255] = '\0';
	assert_int_equal(idp_key_set_kid(rsa, kid), 0);
	assert_string_equal(idp_key_kid(rsa), kid);
	assert_int_equal(idp_key_set_kid(rsa, ""), -EINVAL);
	assert_int_equal(idp_key_set_kid(rsa, "bad\xff"), -EINVAL);
	assert_int_equal(idp_key_set_kid(rsa, "caf\xc3\xa9 \"q\""), 0);
	assert_int_equal(idp_key_set_kid(rsa, "2026-key"), 0);
	assert_string_equal(idp_key_kid(rsa), "2026-key");
}

/* Re-encodes a coordinate of a P-256 JWK with its last byte changed. */
static char *
flip_member(const struct idp_key *k, const char *name, unsigned char xor)
{
	unsigned char buf[64];
	size_t n;
	json_t *j;
	char *out;

	assert_int_equal(idp_key_to_jwk(k, &j), 0);
	assert_int_equal(idp_b64url_decode(json_string_value(json_object_get(j,
	    name)), json_string_length(json_object_get(j, name)), buf,
	    sizeof(buf), &n), 0);
	buf[n - 1] ^= xor;
	out = malloc(idp_b64url_enc_len(n) + 1);
	idp_b64url_encode(buf, n, out);
	json_decref(j);
	return out;
}

static void
test_jwk_hostile(void **state)
{
	struct idp_key *p256 = keys[IDP_KEY_EC_P256];
	struct idp_key *ed = keys[IDP_KEY_ED25519];
	struct idp_key *rsa = keys[IDP_KEY_RSA_2048];
	const char *members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
	char buf[2048], *s;
	size_t i;
	EVP_PKEY *weak;
	BIGNUM *n = NULL;
	unsigned char nb[256];
	char nenc[400];

	(void)state;
	/* Private members, whatever their value. */
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		assert_int_equal(import_with(p256, members[i], "AAAA"),
		    -EBADMSG);
		assert_int_equal(import_with(rsa, members[i], "AAAA"),
		    -EBADMSG);
		assert_int_equal(import_with(ed, members[i], "AAAA"),
		    -EBADMSG);
	}
	/* kty. */
	assert_int_equal(import_with(p256, "kty", NULL), -EBADMSG);
	assert_int_equal(import_with(p256, "kty", "oct"), -EBADMSG);
	assert_int_equal(import_with(p256, "kty", "ec"), -EBADMSG);
	assert_int_equal(import_with(p256, "kty", "RSA"), -EBADMSG);
	assert_int_equal(import_rc("{\"kty\":1,\"crv\":\"P-256\"}"), -EBADMSG);
	assert_int_equal(import_rc("[]"), -EBADMSG);
	assert_int_equal(import_rc("\"EC\""), -EBADMSG);
	/* crv. */
	assert_int_equal(import_with(p256, "crv", "P-521"), -EBADMSG);
	assert_int_equal(import_with(p256, "crv", "secp256k1"), -EBADMSG);
	assert_int_equal(import_with(p256, "crv", NULL), -EBADMSG);
	assert_int_equal(import_with(ed, "crv", "X25519"), -EBADMSG);
	assert_int_equal(import_with(ed, "crv", "Ed448"), -EBADMSG);
	/* A P-256 key that claims P-384: coordinates of the wrong length. */
	assert_int_equal(import_with(p256, "crv", "P-384"), -EBADMSG);
	/* alg must agree with kty and crv; none and HMAC are unknown. */
	assert_int_equal(import_with(p256, "alg", "ES384"), -EBADMSG);
	assert_int_equal(import_with(p256, "alg", "RS256"), -EBADMSG);
	assert_int_equal(import_with(p256, "alg", "EdDSA"), -EBADMSG);
	assert_int_equal(import_with(keys[IDP_KEY_EC_P384], "alg", "ES256"),
	    -EBADMSG);
	assert_int_equal(import_with(rsa, "alg", "ES256"), -EBADMSG);
	assert_int_equal(import_with(ed, "alg", "RS256"), -EBADMSG);
	assert_int_equal(import_with(p256, "alg", "none"), -EBADMSG);
	assert_int_equal(import_with(rsa, "alg", "HS256"), -EBADMSG);
	assert_int_equal(import_with(rsa, "alg", "RS512"), -EBADMSG);
	assert_int_equal(import_with(rsa, "alg", "PS256"), 0);
	assert_int_equal(import_with(rsa, "alg", NULL), 0);
	/* EC coordinates: exact length, strict base64url, on the curve. */
	assert_int_equal(import_with(p256, "x", NULL), -EBADMSG);
	assert_int_equal(import_with(p256, "y", "AAAA"), -EBADMSG);
	/* 33 bytes with a leading zero, 31 bytes, padding, '+'. */
	assert_int_equal(import_with(p256, "x",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"), -EBADMSG);
	assert_int_equal(import_with(p256, "x",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), -EBADMSG);
	assert_int_equal(import_with(p256, "x",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), -EBADMSG);
	assert_int_equal(import_with(p256, "x",
	    "+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), -EBADMSG);
	s = flip_member(p256, "y", 0x01);
	assert_int_equal(import_with(p256, "y", s), -EBADMSG);
	free(s);
	s = flip_member(p256, "x", 0x80);
	assert_int_equal(import_with(p256, "x", s), -EBADMSG);
	free(s);
	/* x = p, the field prime: out of range even if y were to fit. */
	assert_int_equal(import_with(p256, "x",
	    "_____wAAAAEAAAAAAAAAAAAAAAD_______________8"), -EBADMSG);
	/* Ed25519: exactly 32 bytes. */
	assert_int_equal(import_with(ed, "x",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), -EBADMSG);
	assert_int_equal(import_with(ed, "x", NULL), -EBADMSG);
	/* RSA exponents: even, one, missing. */
	assert_int_equal(import_with(rsa, "e", "AQAA"), -EBADMSG);
	assert_int_equal(import_with(rsa, "e", "AQ"), -EBADMSG);
	assert_int_equal(import_with(rsa, "e", "Ag"), -EBADMSG);
	assert_int_equal(import_with(rsa, "e", NULL), -EBADMSG);
	assert_int_equal(import_with(rsa, "e", "Aw"), 0);
	assert_int_equal(import_with(rsa, "n", "AQAB"), -EBADMSG);
	/* An even modulus. */
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"%s\"}",
	    RFC7638_N);
	buf[strlen(buf) - 3] = 'A';	/* ...KgA: low bits of n cleared */
	assert_int_equal(import_rc(buf), -EBADMSG);
	/* RSA-1024. */
	weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(weak);
	assert_int_equal(EVP_PKEY_get_bn_param(weak, OSSL_PKEY_PARAM_RSA_N,
	    &n), 1);
	assert_int_equal(BN_bn2bin(n, nb), 128);
	idp_b64url_encode(nb, 128, nenc);
	assert_int_equal(import_with(rsa, "n", nenc), -EBADMSG);
	BN_free(n);
	EVP_PKEY_free(weak);
	/* kid: not a string, empty, too long. */
	assert_int_equal(import_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
	    "\"kid\":7}"), -EBADMSG);
	assert_int_equal(import_with(ed, "kid", ""), -EBADMSG);
	memset(buf, 'k', 256);
	buf[256] = '\0';
	assert_int_equal(import_with(ed, "kid", buf), -EBADMSG);
	buf[255] = '\0';
	assert_int_equal(import_with(ed, "kid", buf), 0);
	/* A known-good Ed25519 JWK (RFC 8037 A.2). */
	assert_int_equal(import_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"), 0);
	/* Non-string members. */
	assert_int_equal(import_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":[\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"]}"),
	    -EBADMSG);
	assert_int_equal(import_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"alg\":null,"
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
	    -EBADMSG);
}

/* Returns a JWK text for key k with optional extra members. */
static char *
jwk_text(const struct idp_key *k, const char *extra_name,
    const char *extra_value)
{
	json_t *j;
	char *s;

	assert_int_equal(idp_key_to_jwk(k, &j), 0);
	if (extra_name != NULL) {
		if (extra_value == NULL)
			json_object_del(j, extra_name);
		else
			json_object_set_new(j, extra_name,
			    json_string(extra_value));
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static int
parse_rc(const char *doc, size_t max, size_t *ret_count)
{
	struct idp_jwks *set = NULL;
	struct idp_err err = { "" };
	int rc;

	rc = idp_jwks_parse(doc, strlen(doc), max, &set, &err);
	if (rc == 0 && ret_count != NULL)
		*ret_count = idp_jwks_count(set);
	if (rc != 0) {
		assert_null(set);
		assert_true(err.msg[0] != '\0');
	}
	idp_jwks_free(set);
	return rc;
}

static void
test_jwks(void **state)
{
	char *ec = jwk_text(keys[IDP_KEY_EC_P256], NULL, NULL);
	char *rsa = jwk_text(keys[IDP_KEY_RSA_2048], NULL, NULL);
	char *ed = jwk_text(keys[IDP_KEY_ED25519], NULL, NULL);
	char *enc = jwk_text(keys[IDP_KEY_EC_P384], "use", "enc");
	char *rs512 = jwk_text(keys[IDP_KEY_RSA_3072], "alg", "RS512");
	char *nokid = jwk_text(keys[IDP_KEY_EC_P256], "kid", NULL);
	char *ec2 = jwk_text(keys[IDP_KEY_EC_P384], "kid", "same");
	char *ed2 = jwk_text(keys[IDP_KEY_ED25519], "kid", "same");
	char *priv = jwk_text(keys[IDP_KEY_EC_P384], "d", "AAAA");
	char doc[16384];
	struct idp_jwks *set;
	const struct idp_key *k;
	size_t count = 0;
	char *dump;

	(void)state;
	/* Three usable keys; enc, RS512, P-521, oct and X25519 skipped. */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s,%s,%s,%s,"
	    "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},"
	    "{\"kty\":\"oct\",\"alg\":\"HS256\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},"
	    "{\"kty\":\"RSA\",\"key_ops\":[\"encrypt\"],\"n\":\"AA\"}"
	    "]}", ec, rsa, ed, enc, rs512);
	assert_int_equal(parse_rc(doc, 16, &count), 0);
	assert_int_equal(count, 3);
	assert_int_equal(idp_jwks_parse(doc, strlen(doc), 16, &set, NULL), 0);
	k = idp_jwks_find(set, idp_key_kid(keys[IDP_KEY_RSA_2048]));
	assert_non_null(k);
	assert_true(idp_key_equal_public(k, keys[IDP_KEY_RSA_2048]));
	assert_false(idp_key_is_private(k));
	assert_null(idp_jwks_find(set, idp_key_kid(keys[IDP_KEY_EC_P384])));
	assert_null(idp_jwks_find(set, "nope"));
	assert_non_null(idp_jwks_get(set, 2));
	assert_null(idp_jwks_get(set, 3));
	/* dump -> parse gives the same keys. */
	assert_int_equal(idp_jwks_dump(set, &dump, NULL), 0);
	assert_null(strstr(dump, "\"d\""));
	assert_int_equal(parse_rc(dump, 3, &count), 0);
	assert_int_equal(count, 3);
	free(dump);
	idp_jwks_free(set);

	/* Limit on the array, at and past the maximum. */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s,%s]}", ec, rsa, ed);
	assert_int_equal(parse_rc(doc, 3, &count), 0);
	assert_int_equal(parse_rc(doc, 2, NULL), -E2BIG);
	assert_int_equal(parse_rc("{\"keys\":[]}", 0, &count), 0);
	assert_int_equal(count, 0);

	/* Duplicate kid, including the same key twice without a kid. */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", ec2, ed2);
	assert_int_equal(parse_rc(doc, 8, NULL), -EBADMSG);
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", nokid, nokid);
	assert_int_equal(parse_rc(doc, 8, NULL), -EBADMSG);
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", nokid, ec);
	assert_int_equal(parse_rc(doc, 8, NULL), -EBADMSG);

	/* Duplicate JSON members, in the set and in a key. */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s],\"keys\":[]}", ec);
	assert_int_equal(parse_rc(doc, 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("{\"keys\":[{\"kty\":\"OKP\",\"kty\":\"OKP\","
	    "\"crv\":\"Ed25519\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}", 8,
	    NULL), -EBADMSG);

	/* A private key in the set fails the whole set. */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", ec, priv);
	assert_int_equal(parse_rc(doc, 8, NULL), -EBADMSG);

	/* Malformed sets and keys. */
	assert_int_equal(parse_rc("", 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("{", 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("[]", 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("{}", 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("{\"keys\":{}}", 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("{\"keys\":[1]}", 8, NULL), -EBADMSG);
	assert_int_equal(parse_rc("{\"keys\":[{\"kty\":\"EC\",\"use\":1}]}", 8,
	    NULL), -EBADMSG);
	assert_int_equal(parse_rc("{\"keys\":[]} x", 8, NULL), -EBADMSG);
	/* Supported kty with a broken key: not skipped. */
	assert_int_equal(parse_rc("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"AA\",\"y\":\"AA\"}]}", 8, NULL), -EBADMSG);

	free(ec);
	free(rsa);
	free(ed);
	free(enc);
	free(rs512);
	free(nokid);
	free(ec2);
	free(ed2);
	free(priv);
}

static void
test_jwks_ownership(void **state)
{
	struct idp_jwks *set = idp_jwks_new();
	struct idp_key *a, *b;
	struct idp_secret *pem;

	(void)state;
	assert_non_null(set);
	assert_int_equal(idp_jwks_count(set), 0);
	/* The set holds its own reference; ours stays usable. */
	assert_int_equal(idp_jwks_add(set,
	    idp_key_ref(keys[IDP_KEY_EC_P256])), 0);
	assert_int_equal(idp_jwks_count(set), 1);
	assert_ptr_equal(idp_jwks_find(set, idp_key_kid(keys[IDP_KEY_EC_P256])),
	    keys[IDP_KEY_EC_P256]);
	/* Same kid again: refused, the caller keeps ownership. */
	assert_int_equal(idp_key_to_pem(keys[IDP_KEY_EC_P256], &pem), 0);
	assert_int_equal(idp_key_from_pem(pem->buf, pem->len, &a, NULL), 0);
	idp_secret_free(pem);
	assert_int_equal(idp_jwks_add(set, a), -EEXIST);
	assert_int_equal(idp_key_set_kid(a, "other"), 0);
	assert_int_equal(idp_jwks_add(set, a), 0);
	assert_int_equal(idp_key_generate(IDP_KEY_ED25519, &b), 0);
	assert_int_equal(idp_jwks_add(set, b), 0);
	assert_int_equal(idp_jwks_count(set), 3);
	assert_int_equal(idp_jwks_add(set, NULL), -EINVAL);
	idp_jwks_free(set);
	idp_jwks_free(NULL);
	/* keys[P256] survived the set. */
	assert_int_equal(strlen(idp_key_kid(keys[IDP_KEY_EC_P256])), 43);
}

/* Secret files. */

static char tmpdir[64];

static char *
tmp_file(const char *name, const char *content, size_t len, mode_t mode)
{
	static char path[128];

	return ut_put(path, sizeof(path), tmpdir, name, content, len, mode);
}

static void
read_expect(const char *content, int flags, const char *want)
{
	struct idp_secret *s = NULL;
	char *path = tmp_file("s", content, strlen(content), 0600);

	assert_int_equal(idp_secret_read_file(path, 100, flags, &s, NULL), 0);
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->buf, want, s->len);
	assert_int_equal(s->buf[s->len], '\0');
	idp_secret_free(s);
}

static void
test_secret_file(void **state)
{
	struct idp_secret *s = (struct idp_secret *)(uintptr_t)1;
	struct idp_err err = { "" };
	char path[160], big[101];
	char *p;

	(void)state;
	p = ut_tmpdir("test-jwk", 0);
	assert_non_null(p);
	ut_snprintf(tmpdir, sizeof(tmpdir), "%s", p);
	free(p);

	read_expect("hunter2\n", IDP_SECRET_STRIP_NL, "hunter2");
	read_expect("hunter2\r\n", IDP_SECRET_STRIP_NL, "hunter2");
	read_expect("hunter2\n\n", IDP_SECRET_STRIP_NL, "hunter2\n");
	read_expect("hunter2\r", IDP_SECRET_STRIP_NL, "hunter2\r");
	read_expect("hunter2\n", 0, "hunter2\n");
	read_expect("\n", IDP_SECRET_STRIP_NL, "");
	read_expect("", IDP_SECRET_STRIP_NL, "");
	read_expect("hunter2", IDP_SECRET_STRICT_MODE, "hunter2");

	/* The maximum is inclusive. */
	memset(big, 'x', sizeof(big));
	p = tmp_file("big", big, 100, 0600);
	assert_int_equal(idp_secret_read_file(p, 100, 0, &s, &err), 0);
	assert_int_equal(s->len, 100);
	idp_secret_free(s);
	s = (struct idp_secret *)(uintptr_t)1;
	p = tmp_file("big", big, 101, 0600);
	assert_int_equal(idp_secret_read_file(p, 100, 0, &s, &err), -E2BIG);
	assert_ptr_equal(s, (struct idp_secret *)(uintptr_t)1);

	/* Modes: group or other bits refused in strict mode only. */
	p = tmp_file("m", "k", 1, 0640);
	assert_int_equal(idp_secret_read_file(p, 100, IDP_SECRET_STRICT_MODE,
	    &s, &err), -EPERM);
	assert_non_null(strstr(err.msg, p));
	assert_null(strstr(err.msg, "\"k\""));
	p = tmp_file("m", "k", 1, 0602);
	assert_int_equal(idp_secret_read_file(p, 100, IDP_SECRET_STRICT_MODE,
	    &s, &err), -EPERM);
	p = tmp_file("m", "k", 1, 0644);
	assert_int_equal(idp_secret_read_file(p, 100, 0, &s, &err), 0);
	idp_secret_free(s);
	s = (struct idp_secret *)(uintptr_t)1;

	/* Relative path, symlink, directory, FIFO (must not block), missing. */
	assert_int_equal(idp_secret_read_file("etc/x", 100, 0, &s, &err),
	    -EINVAL);
	snprintf(path, sizeof(path), "%s/link", tmpdir);
	assert_int_equal(symlink(p, path), 0);
	assert_int_equal(idp_secret_read_file(path, 100, 0, &s, &err),
	    -ELOOP);
	unlink(path);
	assert_int_equal(idp_secret_read_file(tmpdir, 100, 0, &s, &err),
	    -EINVAL);
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(idp_secret_read_file(path, 100, 0, &s, &err),
	    -EINVAL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	assert_int_equal(idp_secret_read_file(path, 100, 0, &s, &err),
	    -ENOENT);
	assert_ptr_equal(s, (struct idp_secret *)(uintptr_t)1);

	assert_int_equal(ut_rm_rf(tmpdir), 0);
}

static void
test_secret_misc(void **state)
{
	struct idp_secret *a, *b;

	(void)state;
	assert_int_equal(idp_secret_random(32, &a), 0);
	assert_int_equal(a->len, 32);
	assert_int_equal(a->buf[32], '\0');
	b = idp_secret_dup(a->buf, a->len);
	assert_true(idp_secret_equal(a->buf, a->len, b->buf, b->len));
	b->buf[31] ^= 1;
	assert_false(idp_secret_equal(a->buf, a->len, b->buf, b->len));
	assert_false(idp_secret_equal(a->buf, a->len, b->buf, 31));
	assert_true(idp_secret_equal("", 0, "", 0));
	/* A difference in any one bit of any byte, in words and tails. */
	{
		unsigned char x[41], y[41];
		size_t n, i, bit;

		for (i = 0; i < sizeof(x); i++)
			x[i] = (unsigned char)(i * 37 + 11);
		for (n = 1; n <= sizeof(x); n++) {
			memcpy(y, x, n);
			assert_true(idp_secret_equal(x, n, y, n));
			for (i = 0; i < n; i++)
				for (bit = 0; bit < 8; bit++) {
					y[i] ^= (unsigned char)(1u << bit);
					assert_false(idp_secret_equal(x, n, y,
					    n));
					y[i] ^= (unsigned char)(1u << bit);
				}
		}
		/* Unaligned starts compare the same bytes. */
		assert_true(idp_secret_equal(x + 1, 33, x + 1, 33));
		memcpy(y, x + 3, 33);
		assert_true(idp_secret_equal(x + 3, 33, y, 33));
	}
	idp_secret_free(a);
	idp_secret_free(b);
	idp_secret_free(NULL);
	a = idp_secret_new(0);
	assert_non_null(a);
	assert_int_equal(a->buf[0], '\0');
	idp_secret_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_pem_hostile),
		cmocka_unit_test(test_jwk_round_trip),
		cmocka_unit_test(test_rfc7638),
		cmocka_unit_test(test_alg_and_kid),
		cmocka_unit_test(test_jwk_hostile),
		cmocka_unit_test(test_jwks),
		cmocka_unit_test(test_jwks_ownership),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_secret_misc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
