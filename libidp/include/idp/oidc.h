/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenID Connect discovery and the JWKS cache policy.  Pure: parsers take
 * (buf, len), policy functions take now; fetching is the caller's.
 */
#ifndef IDP_OIDC_H
#define IDP_OIDC_H

#include <stddef.h>
#include <stdint.h>

#include <idp/idp.h>
#include <idp/jwk.h>

#define IDP_DISCOVERY_MAX	(256 * 1024)

struct idp_discovery {
	char	*issuer;
	char	*token_endpoint;
	char	*jwks_uri;
	char	**auth_methods;		/* token_endpoint_auth_methods_supported */
	size_t	  n_auth_methods;
	char	**grant_types;		/* grant_types_supported */
	size_t	  n_grant_types;
};

/*
 * Parses a discovery document.  Its issuer must equal expected_issuer
 * exactly (mix-up defence; no trailing-slash leniency), token_endpoint and
 * jwks_uri must be present and https (or http to loopback when allowed
 * and the issuer itself is http).
 * Duplicate JSON keys are rejected.  Returns 0, -EBADMSG, -EACCES (issuer
 * mismatch) or -EPROTO (endpoint scheme), with a reason in err.  Free with
 * idp_discovery_free().
 */
int idp_discovery_parse(const void *buf, size_t len, const char *expected_issuer,
    int allow_http_loopback, struct idp_discovery **ret, struct idp_err *err);
void idp_discovery_free(struct idp_discovery *d);

/* Returns the well-known URL for issuer (caller frees), or NULL. */
char *idp_discovery_url(const char *issuer);

/*
 * JWKS cache policy of one issuer.  Times in ms.  The cache keeps the last
 * good key set when a refresh fails.
 */
struct idp_jwks_cache {
	struct idp_jwks	*keys;		/* last good set, or NULL */
	int64_t		 fetched_at;	/* when keys were fetched */
	int64_t		 expires_at;	/* fetched_at + bounded max-age */
	int64_t		 last_forced;	/* last refetch caused by an unknown kid */
	int64_t		 min_age;	/* lower bound of max-age, default 60 s */
	int64_t		 max_age;	/* upper bound / default, default 10 min */
	int64_t		 cooldown;	/* between unknown-kid refetches, default 30 s */
};

/* Sets the defaults above.  keys starts NULL. */
void idp_jwks_cache_init(struct idp_jwks_cache *c);

/* Frees the key set. */
void idp_jwks_cache_clear(struct idp_jwks_cache *c);

/*
 * Installs a freshly fetched set (ownership taken), with its
 * Cache-Control header (may be NULL): max-age is honoured within
 * [min_age, max_age]; no-store / no-cache mean min_age.
 */
void idp_jwks_cache_put(struct idp_jwks_cache *c, struct idp_jwks *keys,
    const char *cache_control, int64_t now);

/* Returns 1 when the scheduled refresh is due. */
int idp_jwks_cache_stale(const struct idp_jwks_cache *c, int64_t now);

/*
 * Called when a token names a kid the set lacks: returns 1 (and records
 * now) if a refetch is allowed by the cooldown, else 0.
 */
int idp_jwks_cache_unknown_kid(struct idp_jwks_cache *c, int64_t now);

/* Parses a Cache-Control header's max-age in seconds; -1 when absent. */
int64_t idp_cache_control_max_age(const char *v);

#endif
