/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of libidp's key module share, and nothing outside
 * libidp/ sees (jwk.c the key object, jwk_pem.c PEM, jwk_parse.c JWK and
 * JWKS input, jwks.c the key set and JSON output).  Not installed, and not
 * exported: libidp.so keeps only what idp/jwk.h declares.  The key itself
 * is in internal.h, which jwt.c and x509.c share too.
 */
#ifndef IDP_JWK_INT_H
#define IDP_JWK_INT_H

#include <stddef.h>

#include <openssl/evp.h>

#include <idp/jwk.h>

#include "internal.h"

/* The public numbers of a key, as JWK and RFC 7638 spell them. */
struct pub_parts {
	unsigned char	a[IDP_RSA_MAX_BITS / 8];	/* EC x, RSA n, OKP x */
	size_t		alen;
	unsigned char	b[IDP_EC_MAX_BYTES];		/* EC y, RSA e */
	size_t		blen;
};

/* The coordinate length (32, 48) and JWK crv name of an EC key type. */
size_t		 idp_ec_field_len(enum idp_key_type t);
const char	*idp_ec_crv_name(enum idp_key_type t);
/* Returns 1 for the EC types, the RSA types. */
int		 idp_type_is_ec(enum idp_key_type t);
int		 idp_type_is_rsa(enum idp_key_type t);

/* Reads k's public numbers into pp.  Returns 0, -EBADMSG or -EINVAL. */
int		 idp_pub_parts_get(const struct idp_key *k,
		    struct pub_parts *pp);

/* Checks an RSA public exponent: odd, at least 3, at most 64 bits. */
int		 idp_rsa_e_ok(const unsigned char *e, size_t elen);

/*
 * Wraps pkey (ownership taken on success) in a new key of type t bound to
 * its default alg, named by its thumbprint.  Free with idp_key_free().
 */
int		 idp_key_wrap(EVP_PKEY *pkey, enum idp_key_type type, int priv,
		    struct idp_key **ret);

/* Returns 1 if a key of type t may sign or verify with alg (RFC 8725 3.1). */
int		 idp_alg_fits(enum idp_key_type t, enum idp_alg alg);

#endif
