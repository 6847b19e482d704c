/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp on its own: generate a key, sign a JWT, publish the JWKS, verify
 * the token against it.  Built by tests/integration/test_libidp.py against
 * the installed headers, library and idp.pc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/jwk.h>
#include <idp/jwt.h>

int
main(void)
{
	struct idp_key *k = NULL;
	struct idp_jwks *set = NULL, *parsed = NULL;
	struct idp_jws *t = NULL;
	struct idp_jwt_expect e = { .iss = "https://example.test", .aud = "x" };
	const char *claims = "{\"iss\":\"https://example.test\",\"aud\":\"x\","
	    "\"sub\":\"s\",\"exp\":4102444800}";
	char *tok = NULL, *jwks = NULL;
	size_t len, jlen;

	if (idp_key_generate(IDP_KEY_EC_P256, &k) < 0 ||
	    idp_jws_sign(k, "JWT", claims, strlen(claims), &tok, &len) < 0 ||
	    (set = idp_jwks_new()) == NULL ||
	    idp_jwks_add(set, idp_key_ref(k)) < 0 ||
	    idp_jwks_dump(set, &jwks, &jlen) < 0 ||
	    idp_jwks_parse(jwks, jlen, 8, &parsed, NULL) < 0 ||
	    idp_jws_verify(tok, len, parsed, &t, NULL) < 0 ||
	    idp_jwt_check(t, &e, 1700000000, NULL) < 0) {
		fprintf(stderr, "libidp example failed\n");
		return 1;
	}
	printf("verified %s\n", idp_key_kid(k));
	idp_jws_free(t);
	idp_jwks_free(parsed);
	idp_jwks_free(set);
	idp_key_free(k);
	free(tok);
	free(jwks);
	return 0;
}
