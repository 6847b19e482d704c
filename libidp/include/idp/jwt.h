/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWS compact serialization (RFC 7515) and JWT (RFC 7519) signing and
 * verification, restricted by RFC 8725: the key decides the algorithm,
 * "none" and HMAC are never accepted, ECDSA signatures are raw r||s of the
 * exact length, crit is refused unless understood, and jku / x5u / jwk / x5c
 * are never trusted.  No I/O, no clock: time is passed in.
 */
#ifndef IDP_JWT_H
#define IDP_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <idp/idp.h>
#include <idp/jwk.h>

#define IDP_JWT_MAX_LEN		16384	/* whole compact token */
#define IDP_JWT_MAX_HEADER	2048	/* decoded header JSON */

/*
 * Signs header.payload with k (a private key): the protected header is
 * {"alg":..,"kid":..,"typ":typ} (typ omitted when NULL) and payload_json is
 * used verbatim (payload_len bytes).  Returns 0 and a new NUL-terminated
 * token in *ret (free with free()), or -errno.
 */
int idp_jws_sign(struct idp_key *k, const char *typ, const char *payload_json,
    size_t payload_len, char **ret, size_t *ret_len);

/* As idp_jws_sign() with the claims object serialized compactly. */
int idp_jwt_sign(struct idp_key *k, const char *typ, const json_t *claims,
    char **ret, size_t *ret_len);

/*
 * Verifies a raw signature over msg with public key k and alg (the JOSE
 * wire form: r||s for ECDSA).  Returns 0 or -EKEYREJECTED.
 */
int idp_sig_verify(const struct idp_key *k, enum idp_alg alg,
    const void *msg, size_t msg_len, const void *sig, size_t sig_len);

/* A verified token: header and claims as jansson objects (owned). */
struct idp_jws {
	json_t		*header;
	json_t		*claims;
	const struct idp_key *key;	/* the key that verified it (borrowed) */
};

/*
 * Verifies a compact JWS against keys: the header's kid selects the key
 * (without a kid, a set of exactly one key is tried), the header alg must
 * equal the key's alg.  Returns 0 and the parsed token in *ret (free with
 * idp_jws_free()), -EBADMSG, -EKEYREJECTED or -E2BIG; and -ENOKEY (added)
 * when no key in the set matches the kid (or the token has no kid and the
 * set does not hold exactly one key), the cue to refresh a cached JWKS.
 */
int idp_jws_verify(const char *tok, size_t len, const struct idp_jwks *keys,
    struct idp_jws **ret, struct idp_err *err);

/* Frees t; accepts NULL. */
void idp_jws_free(struct idp_jws *t);

/*
 * ECDSA signatures are malleable: (r, s) and (r, n - s) verify alike, and
 * RFC 7518 does not ask for low S, so idp_jws_verify() accepts both.  This
 * exists so that a verified-token cache can key both encodings of one
 * signature as one entry (else a caller that flips S gets a second entry,
 * or a miss that looks like a new token).  It writes the base64url
 * signature segment of the other encoding of sig (len bytes, the third
 * segment of a token signed with alg, raw JOSE R || S) into out
 * (NUL-terminated, outsz bytes) and returns its length (86 for ES256, 128
 * for ES384); the twin of the twin is sig again.  Returns -EINVAL when
 * alg is not ES256 or ES384 (no other alg has a second encoding) or sig
 * or out is NULL; -EBADMSG for a signature that is not 2w bytes (w = 32,
 * 48) of strict base64url with r and s in [1, n-1]; -ENOSPC when outsz is
 * short.  Pure: no key, no verification.
 */
int idp_jws_sig_twin(enum idp_alg alg, const char *sig, size_t len,
    char *out, size_t outsz);

/* What a JWT's claims must satisfy; NULL / 0 members are not checked. */
struct idp_jwt_expect {
	const char	*iss;		/* exact match */
	const char	*aud;		/* one of aud (string or array) */
	const char	*typ;		/* header typ, e.g. "at+jwt" (RFC 9068) */
	int64_t		 leeway;	/* seconds allowed on exp / nbf / iat */
	int		 require_exp;
};

/*
 * Checks the claims of a verified token at time now (seconds since the
 * epoch).  Returns 0, -EKEYEXPIRED (exp, nbf, iat), -EACCES (iss, aud,
 * typ) or -EBADMSG (claims of the wrong JSON type).
 */
int idp_jwt_check(const struct idp_jws *t, const struct idp_jwt_expect *e,
    int64_t now, struct idp_err *err);

#endif
