/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fleet records: how every value rotatord writes under the etcd prefix is
 * authenticated, and how fleet secrets are sealed.  Pure: no I/O, no
 * clock, no logging (fuzzed and unit-tested on their own).
 *
 * etcd is a transport, not a trust root: anyone who can write to it
 * without the fleet key must not be able to change what a host trusts,
 * encrypts, promotes or rotates.  So every value is an envelope
 *
 *   {"v":2,"b":"<body, JSON text>","m":"<base64 HMAC-SHA256>"}
 *
 * whose MAC, under a key derived from key_file for this purpose alone,
 * covers a label, the record's full etcd key and the body's bytes: a
 * record moved to another key (another host, secret, generation or
 * purpose) no longer verifies.  Bodies name their host, secret and
 * generation again, and the reader checks those against the key.  Fleet
 * secrets are additionally sealed (AES-256-GCM, under a second derived
 * key) with the etcd key and the generation as associated data.
 */
#ifndef ROTATORD_FLEETREC_H
#define ROTATORD_FLEETREC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <idp/secret.h>

#define FLEETREC_MAX		(300 * 1024)	/* one value, bytes */
#define FLEETREC_FP_LEN		43		/* base64url of 32 bytes */

/* The keys derived from key_file (HKDF-SHA256, one label each). */
struct fleetrec_keys {
	unsigned char	mac[32];
	unsigned char	seal[32];
};

/* Derives k from the fleet key (ikm, len bytes).  Returns 0 or -errno. */
int fleetrec_derive(const unsigned char *ikm, size_t len,
    struct fleetrec_keys *k);

/*
 * The value to store at etcd key (klen bytes) for body (JSON text), as a
 * new string (free()), or NULL.
 */
char *fleetrec_wrap(const struct fleetrec_keys *k, const char *key,
    size_t klen, const char *body);

/*
 * Checks the value (vlen bytes) found at key and parses its body.
 * Returns 0 and the body object (json_decref()), -EBADMSG for a value
 * that is not an envelope or whose body is not a JSON object, -E2BIG for
 * one over FLEETREC_MAX, -EKEYREJECTED for a MAC that does not verify.
 */
int fleetrec_unwrap(const struct fleetrec_keys *k, const char *key,
    size_t klen, const void *val, size_t vlen, json_t **ret_body);

/*
 * Seals plain (len bytes) for etcd key at generation gen: sets "nonce"
 * and "ct" (base64) in obj.  Returns 0 or -errno.
 */
int fleetrec_seal(const struct fleetrec_keys *k, const char *key, int64_t gen,
    const void *plain, size_t len, json_t *obj);

/*
 * Opens the "nonce"/"ct" members of obj sealed for key at gen.  Returns 0
 * and the plaintext (idp_secret_free()), or -EBADMSG / -EKEYREJECTED.
 */
int fleetrec_open(const struct fleetrec_keys *k, const char *key, int64_t gen,
    const json_t *obj, struct idp_secret **ret);

/*
 * The fingerprint of a generation's plaintext (base64url of its HMAC
 * under the MAC key: nothing about the keys can be learnt from it without
 * the fleet key) into out (FLEETREC_FP_LEN + 1 bytes).  Returns 0 or
 * -errno.
 */
int fleetrec_fp(const struct fleetrec_keys *k, const void *plain, size_t len,
    char out[FLEETREC_FP_LEN + 1]);

/*
 * A string member of body, or NULL when absent or not a string; and an
 * integer member (JSON number, or a decimal string as etcd writes int64),
 * or def.
 */
const char *fleetrec_str(const json_t *body, const char *name);
int64_t fleetrec_int(const json_t *body, const char *name, int64_t def);

#endif
