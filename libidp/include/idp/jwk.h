/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys and JWK / JWKS (RFC 7517, 7518, 7638).
 *
 * struct idp_key is an opaque handle around an OpenSSL key, bound to exactly
 * one JWS algorithm (RFC 8725 3.1) and named by its RFC 7638 thumbprint
 * unless a kid is set explicitly.  It caches the contexts signing needs, so
 * one key must not be used by two threads at once.
 */
#ifndef IDP_JWK_H
#define IDP_JWK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <idp/idp.h>
#include <idp/secret.h>

enum idp_key_type {
	IDP_KEY_EC_P256 = 1,
	IDP_KEY_EC_P384,
	IDP_KEY_RSA_2048,
	IDP_KEY_RSA_3072,
	IDP_KEY_ED25519,
};

enum idp_alg {
	IDP_ALG_NONE = 0,	/* never accepted; the zero value means "unset" */
	IDP_ALG_ES256,
	IDP_ALG_ES384,
	IDP_ALG_RS256,
	IDP_ALG_PS256,
	IDP_ALG_EDDSA,
};

struct idp_key;
struct idp_jwks;

/* Parses "ec-p256" etc.  Returns 0 or -EINVAL. */
int idp_key_type_parse(const char *s, enum idp_key_type *ret);
/* Returns the config spelling of t ("ec-p256"), or NULL. */
const char *idp_key_type_name(enum idp_key_type t);
/* Parses "ES256" etc. (case-sensitive, "none" refused).  Returns 0 or -EINVAL. */
int idp_alg_parse(const char *s, enum idp_alg *ret);
/* Returns the JOSE name of a ("ES256"), or NULL. */
const char *idp_alg_name(enum idp_alg a);
/* Returns the algorithm a key type signs with by default (ES256 for P-256...). */
enum idp_alg idp_key_type_default_alg(enum idp_key_type t);

/* Generates a new private key of type t.  Free with idp_key_free(). */
int idp_key_generate(enum idp_key_type t, struct idp_key **ret);

/*
 * Loads a private key (PKCS#8 or traditional PEM) or a public key (SPKI
 * PEM).  The algorithm is the type's default.  Returns 0, -EBADMSG.
 */
int idp_key_from_pem(const void *pem, size_t len, struct idp_key **ret,
    struct idp_err *err);

/* Writes the private key as unencrypted PKCS#8 PEM into a new secret. */
int idp_key_to_pem(const struct idp_key *k, struct idp_secret **ret);

/* Writes the public key as SPKI PEM; the caller frees *ret with free(). */
int idp_key_public_pem(const struct idp_key *k, char **ret, size_t *ret_len);

/* Frees k; accepts NULL. */
void idp_key_free(struct idp_key *k);

/*
 * Added: keys are reference-counted.  Returns k with one more reference
 * (each reference is dropped with idp_key_free()), so a key can be both
 * kept by its owner and handed to idp_jwks_add().  Accepts NULL.
 */
struct idp_key *idp_key_ref(struct idp_key *k);

/* Returns 1 if k holds a private key. */
int idp_key_is_private(const struct idp_key *k);
/* Returns the key type. */
enum idp_key_type idp_key_type(const struct idp_key *k);
/* Returns the algorithm the key is bound to. */
enum idp_alg idp_key_alg(const struct idp_key *k);
/* Binds k to alg; -EINVAL if the key cannot do alg (e.g. PS256 on EC). */
int idp_key_set_alg(struct idp_key *k, enum idp_alg alg);
/* Returns the kid (RFC 7638 SHA-256 thumbprint, base64url) or the one set. */
const char *idp_key_kid(const struct idp_key *k);
/* Overrides the kid (copied; at most 255 bytes).  Returns 0 or -errno. */
int idp_key_set_kid(struct idp_key *k, const char *kid);
/* Returns the underlying EVP_PKEY * (as void *, borrowed) for OpenSSL users. */
void *idp_key_evp(const struct idp_key *k);
/* Returns 1 if both handles hold the same public key. */
int idp_key_equal_public(const struct idp_key *a, const struct idp_key *b);

/*
 * Returns the public JWK of k as a new jansson object with kty, crv/n/e/x/y,
 * kid, alg and use "sig".  Private members are never included.
 */
int idp_key_to_jwk(const struct idp_key *k, json_t **ret);

/*
 * Builds a public key from a JWK object.  kty and alg must agree; RSA keys
 * under 2048 bits, EC points not on the curve, private members and unknown
 * kty are refused with -EBADMSG.  When alg is absent the key type's default
 * applies (RSA: RS256).
 */
int idp_key_from_jwk(const json_t *jwk, struct idp_key **ret,
    struct idp_err *err);

/*
 * Parses a JWKS document (buf, len) into a key set.  At most max_keys keys
 * (-E2BIG beyond); duplicate JSON members rejected; keys with use other than
 * "sig", unsupported kty or alg are skipped; a duplicate kid is -EBADMSG.
 * Free with idp_jwks_free().
 */
int idp_jwks_parse(const void *buf, size_t len, size_t max_keys,
    struct idp_jwks **ret, struct idp_err *err);

/* Returns a new empty key set, or NULL. */
struct idp_jwks *idp_jwks_new(void);
/*
 * Adds a reference to k (the set takes ownership of k).  Returns 0 or -errno;
 * on error the caller still owns k.  A kid already in the set is -EEXIST.
 */
int idp_jwks_add(struct idp_jwks *set, struct idp_key *k);
/* Returns the number of keys. */
size_t idp_jwks_count(const struct idp_jwks *set);
/* Returns key i (borrowed). */
const struct idp_key *idp_jwks_get(const struct idp_jwks *set, size_t i);
/* Returns the key with kid (borrowed), or NULL. */
const struct idp_key *idp_jwks_find(const struct idp_jwks *set, const char *kid);
/* Serializes the public keys as a JWKS document; caller frees with free(). */
int idp_jwks_dump(const struct idp_jwks *set, char **ret, size_t *ret_len);
/* Frees set and its keys; accepts NULL. */
void idp_jwks_free(struct idp_jwks *set);

#endif
