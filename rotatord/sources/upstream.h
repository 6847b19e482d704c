/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream OIDC issuers: discovery, JWKS cache and token requests, run on
 * the loop through libidp's asynchronous HTTP client.  One struct upstream
 * serves every [issuer] of the running config.
 */
#ifndef ROTATORD_UPSTREAM_H
#define ROTATORD_UPSTREAM_H

#include <stdint.h>

#include <idp/jwk.h>
#include <idp/jwt.h>
#include <idp/oauth.h>

#include "config/config.h"
#include "core/loop.h"

struct upstream;

/* Counters per issuer, for logs, status and metrics. */
struct upstream_stats {
	uint64_t	discovery;	/* requests by kind */
	uint64_t	jwks;
	uint64_t	token;
	uint64_t	failures;	/* any request that did not succeed */
	int64_t		last_ok;	/* wall ms */
	char		last_error[512];
};

/*
 * Result of a token fetch for credential cr: rc 0 and tok (freed after the
 * callback returns), or rc < 0 and a reason.
 */
typedef void (*upstream_token_cb)(void *arg, const struct cfg_cred *cr, int rc,
    const struct idp_token *tok, const char *why);

/* Creates the upstream side on loop l.  Returns 0 or -errno. */
int upstream_new(struct loop *l, struct upstream **ret);

/* Cancels every request (no callbacks) and frees u; accepts NULL. */
void upstream_free(struct upstream *u);

/*
 * Binds the issuers of config c (which must outlive the binding).  Every
 * request in flight is cancelled without its callback; discovery results
 * and JWKS of issuers whose url is unchanged are kept.  Client keys are
 * loaded here.  Returns 0 or -errno with a reason in err.
 */
int upstream_configure(struct upstream *u, const struct config *c,
    struct idp_err *err);

/*
 * Starts getting an access token for oauth credential cr (discovery first
 * when needed); cb runs from the loop when done.  Returns 0, or -errno
 * when nothing was started (cb is then not called).
 */
int upstream_fetch_token(struct upstream *u, const struct cfg_cred *cr,
    upstream_token_cb cb, void *arg);

/*
 * The last good key set of trusted issuer name (borrowed: replaced when
 * a fetch succeeds, so copy what must outlive the loop pass), or NULL.
 */
const struct idp_jwks *upstream_keys(const struct upstream *u,
    const char *name);

/*
 * A caller's token named a kid that trusted issuer name lacks: refetches
 * its JWKS, at most once per jwks_cooldown.  Returns 1 when a fetch (or
 * the discovery before it) is in flight, else 0.
 */
int upstream_unknown_kid(struct upstream *u, const char *name, int64_t now);

/*
 * Calls cb(arg) on the loop each time a JWKS fetch of a trusted issuer
 * ends, with new keys or not.
 */
void upstream_on_keys(struct upstream *u, void (*cb)(void *), void *arg);

/* Returns the counters of issuer name, or NULL. */
const struct upstream_stats *upstream_get_stats(const struct upstream *u,
    const char *name);

#endif
