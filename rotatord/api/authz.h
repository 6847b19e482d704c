/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authorization: a pure decision, no I/O, no clock.  Who the caller is was
 * established by the server (SO_PEERCRED on the unix socket, a verified
 * bearer JWT on TCP); this module only says what that caller may do,
 * from the [client], [route] and [listen] sections.  Deny by default.
 *
 * A caller matches a [client] when every selector that section sets
 * matches (user AND group AND issuer AND subject AND claims); what it may
 * do is the union over all matching sections.
 */
#ifndef ROTATORD_AUTHZ_H
#define ROTATORD_AUTHZ_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "config/config.h"

enum authz_kind {
	AUTHZ_UNIX = 1,		/* peer credentials of a unix-socket caller */
	AUTHZ_BEARER,		/* a verified JWT */
};

struct authz_caller {
	enum authz_kind	 kind;
	uid_t		 uid;		/* unix */
	gid_t		 gid;		/* unix: primary group */
	const gid_t	*groups;	/* unix: supplementary groups */
	size_t		 n_groups;
	pid_t		 pid;		/* unix */
	const char	*issuer;	/* bearer: name of the [issuer] or [signer] */
	const char	*subject;	/* bearer: sub */
	const json_t	*claims;	/* bearer: the verified claims */
};

enum authz_result {
	AUTHZ_OK = 0,
	AUTHZ_DENIED,		/* no [client] matches, or not allowed */
	AUTHZ_BAD_TARGET,	/* an audience outside token_audiences */
	AUTHZ_BAD_SCOPE,	/* a scope outside token_scopes */
};

/* Returns 1 when who matches client cl. */
int authz_client_matches(const struct cfg_client *cl,
    const struct authz_caller *who);

/* Returns 1 when who may read credential cred. */
int authz_may_read(const struct config *c, const struct authz_caller *who,
    const char *cred);

/*
 * POST /v1/token: may who be minted a token for every audience in aud and
 * every scope in scope (space-separated, may be NULL)?  Each audience and
 * each scope must be in the token_audiences / token_scopes of some
 * matching client.  An empty aud list is AUTHZ_BAD_TARGET.
 */
enum authz_result authz_may_mint(const struct config *c,
    const struct authz_caller *who, const char *const *aud, size_t n_aud,
    const char *scope);

/*
 * GET /v1/authz: finds the [route] with the longest prefix of uri (the
 * path part; the query is ignored) and checks its rules against who (a
 * bearer caller): methods, issuer, every scope (from the "scope" claim,
 * space-separated, or "scp" array), every claim.  Returns AUTHZ_OK with
 * the route's name in *ret_route, or AUTHZ_DENIED with a reason in why.
 * No route matching uri is AUTHZ_DENIED.
 */
enum authz_result authz_route(const struct config *c, const char *uri,
    const char *method, const struct authz_caller *who,
    const char **ret_route, char *why, size_t whylen);

/*
 * Returns 1 when who may read /metrics: any caller of the unix socket
 * (whoever may connect), and a bearer caller only through a matching
 * [client] with metrics = yes.
 */
int authz_may_metrics(const struct config *c, const struct authz_caller *who);

/*
 * Rotatord's own tokens on its own API: returns 1 unless who is a bearer
 * whose token comes from one of rotatord's [signer]s and does not carry
 * [listen] audience in its aud.  (An upstream issuer's audience is checked
 * with its signature; /v1/authz checks the [route]'s instead.)
 */
int authz_api_audience(const struct config *c, const struct authz_caller *who);

/*
 * POST /v1/token with a token that rotatord minted itself (a re-exchange):
 * returns 1 when a matching [client] has token_reexchange = yes, 0 when not
 * (or who's token is not rotatord's: then there is nothing to allow).
 */
int authz_is_reexchange(const struct config *c,
    const struct authz_caller *who);
int authz_may_reexchange(const struct config *c,
    const struct authz_caller *who);

/*
 * The depth of the RFC 8693 "act" chain in claims: 0 without one, 1 for
 * {"act": {...}}, and so on; stops counting past limit (returns limit + 1).
 */
unsigned authz_act_depth(const json_t *claims, unsigned limit);

/* Returns 1 when who may use the admin API (root, or admin_group). */
int authz_is_admin(const struct config *c, const struct authz_caller *who);

/*
 * Returns 1 when claims satisfy name=value: the claim is the string value,
 * or an array containing it (e.g. groups=payments).  Booleans and numbers
 * compare by their JSON text.
 */
int authz_claim_matches(const json_t *claims, const char *name,
    const char *value);

#endif
