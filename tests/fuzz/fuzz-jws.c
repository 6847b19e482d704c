/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for libidp's parsers of untrusted JOSE input.  Each
 * input is tried as a compact JWS against a fixed P-256 key set (the key of
 * RFC 7515 A.3, so the seed tests/data/jwt/rfc7515-a3.jwt verifies and the
 * claims path is reached), as a JWKS document, as claims for
 * idp_jwt_check(), and as base64url.
 *
 * Build and run from the project root (make fuzz runs every harness; the
 * build links all of libidp's sources, IDP_SRCS in the Makefile):
 *   make build-fuzz/fuzz-jws
 *   mkdir -p build-fuzz/corpus-jws
 *   build-fuzz/fuzz-jws -max_total_time=20 build-fuzz/corpus-jws tests/data/jwt
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include <idp/b64.h>
#include <idp/jwk.h>
#include <idp/jwt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char a3_jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

static struct idp_jwks *keys;

static const struct idp_jwt_expect expect = {
	.iss = "joe",
	.aud = "rotatord",
	.typ = "JWT",
	.leeway = 60,
	.require_exp = 1,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idp_jws *t = NULL, claims_only;
	struct idp_jwks *set = NULL;
	struct idp_err err;
	unsigned char *dec;
	size_t n;

	if (keys == NULL &&
	    idp_jwks_parse(a3_jwks, sizeof(a3_jwks) - 1, 4, &keys, NULL) != 0)
		abort();

	if (idp_jws_verify((const char *)data, size, keys, &t, &err) == 0) {
		(void)idp_jwt_check(t, &expect, INT64_C(1300819000), &err);
		idp_jws_free(t);
	}

	if (idp_jwks_parse(data, size, 16, &set, &err) == 0) {
		char *dump = NULL;

		if (idp_jwks_dump(set, &dump, NULL) == 0)
			free(dump);
		idp_jwks_free(set);
	}

	claims_only.header = json_loadb((const char *)data, size,
	    JSON_REJECT_DUPLICATES, NULL);
	claims_only.claims = claims_only.header;
	claims_only.key = NULL;
	if (json_is_object(claims_only.claims))
		(void)idp_jwt_check(&claims_only, &expect, INT64_C(1300819000),
		    &err);
	json_decref(claims_only.claims);

	if (idp_b64url_decode_alloc((const char *)data, size, &dec, &n) == 0)
		free(dec);
	return 0;
}
