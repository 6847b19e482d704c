/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for what an identity provider sends back: each input
 * is tried as an OIDC discovery document, as a token endpoint response
 * (a 200 and a 400), as a JWKS document installed in a JWKS cache, and,
 * NUL-terminated, as a Cache-Control value, a URL for the HTTP policy and
 * an issuer for the well-known URL.  No I/O happens: these are the pure
 * parsers that sit behind libidp/http.c.
 *
 * Build and run from the project root:
 *   make build-fuzz/fuzz-oidc
 *   mkdir -p build-fuzz/corpus-oidc
 *   build-fuzz/fuzz-oidc -max_total_time=20 build-fuzz/corpus-oidc \
 *       tests/data/oidc
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <idp/http.h>
#include <idp/jwk.h>
#include <idp/oauth.h>
#include <idp/oidc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idp_discovery *d = NULL;
	struct idp_token *t = NULL;
	struct idp_jwks *set = NULL;
	struct idp_jwks_cache cache;
	struct idp_err err;
	char *s, *u;

	if (idp_discovery_parse(data, size, "https://idp.example.com", 1, &d,
	    &err) == 0)
		idp_discovery_free(d);
	if (idp_token_parse(200, data, size, &t, &err) == 0)
		idp_token_free(t);
	t = NULL;
	if (idp_token_parse(400, data, size, &t, &err) == 0)
		abort();	/* an error status never yields a token */

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	idp_jwks_cache_init(&cache);
	if (idp_jwks_parse(data, size, 16, &set, &err) == 0)
		idp_jwks_cache_put(&cache, set, s, 1000);
	(void)idp_jwks_cache_stale(&cache, 1000);
	(void)idp_jwks_cache_unknown_kid(&cache, 2000);
	idp_jwks_cache_clear(&cache);

	if (idp_cache_control_max_age(s) < -1)
		abort();
	(void)idp_http_url_allowed(s, 1, &err);
	if ((u = idp_discovery_url(s)) != NULL)
		free(u);
	free(s);
	return 0;
}
