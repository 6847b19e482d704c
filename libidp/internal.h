/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp internals shared between the key files (jwk*.c, jwks.c), the JWS
 * files (jws_*.c) and the certificate files (x509*.c).  Not installed;
 * nothing outside libidp/ may include this file.
 */
#ifndef IDP_INTERNAL_H
#define IDP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/evp.h>

#include <idp/jwk.h>

/* Largest field element / group order of the curves we support (P-384). */
#define IDP_EC_MAX_BYTES	48
/* Largest RSA modulus accepted from outside, in bits. */
#define IDP_RSA_MAX_BITS	8192
#define IDP_RSA_MIN_BITS	2048

#define IDP_VSLOTS	4	/* verify contexts per key, one per thread */

struct idp_key {
	int		 refcnt;
	EVP_PKEY	*pkey;
	enum idp_key_type type;
	enum idp_alg	 alg;
	int		 priv;		/* holds the private half */
	char		 kid[256];

	/*
	 * Signing caches, owned by the key and only touched through a
	 * non-const handle (one thread at a time, see idp/jwk.h).
	 * jws_sign.c: an EVP_PKEY_CTX initialised for EVP_PKEY_sign() of an
	 * ECDSA digest, or an EVP_MD_CTX template (RSA, PSS, Ed25519) that
	 * is copied into sign_work for every signature; the base64url
	 * protected header for the last typ used.
	 */
	EVP_PKEY_CTX	*es_ctx;
	EVP_MD_CTX	*sign_tmpl;
	EVP_MD_CTX	*sign_work;
	char		*hdr_b64;
	size_t		 hdr_len;
	char		*hdr_typ;	/* NULL: header without typ */

	/*
	 * Verifying caches (jws_verify.c).  Verifying takes a const key that
	 * a key set shares between threads (rotatord verifies bearer tokens
	 * on several), so each slot is guarded by its own lock, taken with
	 * trylock only: a thread tries the slots in turn and builds fresh
	 * contexts only when all are held, never waiting.  vctx is
	 * initialised for EVP_PKEY_verify() of a digest (ECDSA, RSA, PSS);
	 * Ed25519 copies the vtmpl EVP_MD_CTX into vwork.
	 */
	struct idp_vslot {
		pthread_mutex_t	 lock;
		EVP_PKEY_CTX	*vctx;
		EVP_MD_CTX	*vtmpl;
		EVP_MD_CTX	*vwork;
	}		 vs[IDP_VSLOTS];

	/* x509.c: certificate signing template and the key's SPKI DER. */
	EVP_MD_CTX	*cert_tmpl;
	EVP_MD_CTX	*cert_work;
	unsigned char	*spki;
	size_t		 spki_len;
};

/* Frees every cache above (after a change of alg or kid, and in free). */
void idp_key_drop_caches(struct idp_key *k);

/* Digest implementations fetched once per process; NULL on failure. */
const EVP_MD *idp_md_sha256(void);
const EVP_MD *idp_md_sha384(void);
const EVP_MD *idp_md_sha1(void);

/* Group order (big-endian, n bytes) of the key's curve, or NULL. */
const unsigned char *idp_ec_order(enum idp_key_type t, size_t *ret_n);

/*
 * PEM passphrase callback that refuses: encrypted PEM fails instead of
 * prompting on a terminal.
 */
int idp_pem_no_passphrase(char *buf, int size, int rwflag, void *u);

/* Writes 2n lower-case hex digits of p and a NUL into out. */
void idp_hex(const unsigned char *p, size_t n, char *out);

#endif
