/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a caller's bearer token is checked against: for every [signer] and
 * every trusted [issuer], its iss, its current keys and what its tokens
 * must carry.
 *
 * A trust set is a snapshot.  The daemon builds one on the loop thread
 * when keys or config change and never modifies it after; verifier
 * threads (work.h) read it while the request they verify for holds a
 * reference.  References are taken and dropped on the loop thread only,
 * so the count needs no atomics.  The keys are shared with their owners
 * by reference (idp_key_ref); a key's verify contexts have their own
 * locks (libidp/internal.h).
 */
#ifndef ROTATORD_TRUST_H
#define ROTATORD_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include <idp/jwk.h>
#include <idp/jwt.h>

struct trust;

/* Returns a new empty set with one reference, or NULL. */
struct trust *trust_new(void);

/*
 * Adds the issuer named name (a [signer] or [issuer] section) whose
 * tokens carry iss.  keys (may be NULL: none fetched yet) go into a new
 * set of the same keys, each shared by reference, so the owner may
 * replace or free its set at any time.  aud (may be NULL) must be among the token's audiences;
 * leeway_s applies to exp, nbf and iat.  upstream is 1 for an [issuer],
 * whose keys can be refetched.  Returns 0 or -errno.
 */
int trust_add(struct trust *t, const char *name, const char *iss,
    const char *aud, int64_t leeway_s, const struct idp_jwks *keys,
    int upstream);

/* Takes one more reference (loop thread only).  Accepts NULL. */
struct trust *trust_ref(struct trust *t);
/* Drops one reference (loop thread only); the last frees t.  Accepts NULL. */
void trust_unref(struct trust *t);

/* The outcome of trust_verify(). */
struct trust_result {
	int		 rc;		/* 0 or -errno, as returned */
	const char	*name;		/* the issuer chosen; lives as long as t */
	int		 upstream;	/* that issuer's keys can be refetched */
	struct idp_jws	*jws;		/* rc 0: the token (idp_jws_free()) */
	char		 why[128];	/* rc < 0: the reason, never the token */
};

/*
 * Verifies compact JWS tok (len bytes) at time now_s (seconds since the
 * epoch): the issuer is chosen by the token's iss, never by kid alone;
 * then signature, exp (required), nbf, iat and aud.  Safe to call from
 * any thread while a reference to t is held.  Returns 0, -EBADMSG
 * (malformed), -EACCES (iss not trusted, wrong aud), -ENOKEY (no key with
 * that kid: res->upstream says whether a refetch may help),
 * -EKEYREJECTED (bad signature) or -EKEYEXPIRED; res is filled either way.
 */
int trust_verify(const struct trust *t, const char *tok, size_t len,
    int64_t now_s, struct trust_result *res);

#endif
