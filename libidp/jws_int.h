/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of libidp's JWS / JWT module share, and nothing outside
 * libidp/ sees (jws_sign.c signing, jws_verify.c verifying, jose_json.c
 * the JSON of headers and claims, jwt.c the claims check).  Not installed,
 * and not exported: libidp.so keeps only what idp/jwt.h declares.
 */
#ifndef IDP_JWS_INT_H
#define IDP_JWS_INT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <idp/jwk.h>

#include "internal.h"

/* The largest signature we make or accept: RSA-8192. */
#define SIG_MAX		(IDP_RSA_MAX_BITS / 8)

/* jws_sign.c */

/* Returns 1 for ES256 and ES384. */
int		 idp_alg_is_ecdsa(enum idp_alg a);
/* The digest of an ECDSA alg (SHA-384 for ES384, else SHA-256). */
const EVP_MD	*idp_ecdsa_md(enum idp_alg a);
/* Returns the raw signature length of k's alg, 0 for none. */
size_t		 idp_sig_len(const struct idp_key *k);

/* jose_json.c */

/*
 * Parses buf as JSON (a fast path for flat objects, else json_loadb()
 * with JSON_REJECT_DUPLICATES); a new reference, or NULL when refused.
 */
json_t		*idp_jose_json_load(const unsigned char *buf, size_t len,
		    json_error_t *jerr);

#endif
