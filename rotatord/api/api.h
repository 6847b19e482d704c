/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local HTTP API: server.c and the files it lists (libmicrohttpd,
 * routing, limits, caller identity, audit lines) ask the daemon through
 * struct api_ops.  The
 * server runs in the daemon's loop (libmicrohttpd in external epoll mode),
 * so every callback except verify runs on the loop thread and may read
 * daemon state without locks.  Signature checks of bearer tokens run on
 * verifier threads (work.h) against a trust snapshot (trust.h).
 */
#ifndef ROTATORD_API_H
#define ROTATORD_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <idp/jwt.h>

#include "api/authz.h"
#include "api/trust.h"
#include "config/config.h"
#include "core/loop.h"
#include "store/store.h"

struct api_ops {
	/*
	 * The issuers and keys bearer JWTs are verified against: every
	 * trusted [issuer] and every [signer] (borrowed; the server takes
	 * references with trust_ref()).  NULL when there is none.
	 */
	struct trust *(*trust)(void *arg);
	/*
	 * Verifies a bearer JWT against t (trust_verify(), which the daemon
	 * passes; tests may pass their own).  Runs on verifier threads: it
	 * must only read t.
	 */
	int	(*verify)(const struct trust *t, const char *tok, size_t len,
		    int64_t now_s, struct trust_result *res);
	/*
	 * A token named a key that trusted [issuer] `issuer` does not have:
	 * refetches its JWKS when the cooldown allows.  Returns 1 when a
	 * fetch is in flight (server_keys_changed() follows when it ends),
	 * else 0.
	 */
	int	(*unknown_kid)(void *arg, const char *issuer);
	/* Every credential name, in config order (borrowed, NULL-terminated). */
	const char *const *(*names)(void *arg);
	/*
	 * Current state of cred: -ENOENT when there is no such credential,
	 * 0 with *ret_gen 0 when nothing is published yet.
	 */
	int	(*generation)(void *arg, const char *cred, uint64_t *ret_gen,
		    const char **ret_type, int64_t *ret_not_after);
	/*
	 * File of cred's current generation: a new reference to the
	 * store's blob of it (store/store.h), which the caller drops.
	 * -ENOENT for an unknown credential or file.
	 */
	int	(*read_file)(void *arg, const char *cred, const char *file,
		    struct blob **ret, uint64_t *ret_gen);
	/* meta.json of cred's current generation (new reference). */
	int	(*meta)(void *arg, const char *cred, json_t **ret);
	/*
	 * Mints a JWT from signer `signer` (NULL: the only signer) for
	 * subject sub with audiences aud and scope (may be NULL), valid for
	 * lifetime ms, with the RFC 8693 "act" claim act (NULL: none).  The
	 * caller frees *ret_token.
	 */
	int	(*mint)(void *arg, const char *signer, const char *sub,
		    const char *const *aud, size_t n_aud, const char *scope,
		    const json_t *act, int64_t lifetime, char **ret_token,
		    int64_t *ret_expires_in, char *why, size_t whylen);
	/* Discovery document and JWKS of the signers (borrowed), or NULL. */
	const char *(*discovery)(void *arg, size_t *ret_len);
	const char *(*jwks)(void *arg, size_t *ret_len);
	/*
	 * 1 when ready; else 0 and the names not ready in *ret (new ref).
	 * Either way *ret_degraded may get what still serves but needs an
	 * operator (a renewal failing, etcd out of reach; new ref).
	 */
	int	(*ready)(void *arg, json_t **ret, json_t **ret_degraded);
	/* Writes the daemon's Prometheus metrics (the server adds its own). */
	void	(*metrics)(void *arg, FILE *out);
	/* Admin: status (new ref), rotate (n == 0: all), re-read config. */
	json_t	*(*status)(void *arg);
	int	(*rotate)(void *arg, const char *const *names, size_t n,
		    char *why, size_t whylen);
	int	(*reload_config)(void *arg, char *why, size_t whylen);
	/*
	 * rotate --fleet: every host of the [cluster] rotates names (n 0:
	 * all).  -ENOTSUP without a [cluster].
	 */
	int	(*rotate_fleet)(void *arg, const char *const *names, size_t n,
		    char *why, size_t whylen);
	void	 *arg;
};

struct server;

/*
 * Binds the unix socket (and TCP listener when configured) of c and
 * serves on loop l.  Returns 0 or -errno after logging why.
 */
int server_new(struct loop *l, const struct config *c, const struct api_ops *ops,
    struct server **ret);

/*
 * Switches to config c (the old one may be freed after this returns).
 * Listeners are re-bound only when their [listen] settings changed.
 * Returns 0 or -errno (then the old listeners and config stay).
 */
int server_configure(struct server *s, const struct config *c);

/* Closes listeners and connections; the socket file is removed.  Accepts NULL. */
void server_free(struct server *s);

/* A new generation of cred is published: answers long polls waiting on it. */
void server_notify(struct server *s, const char *cred, uint64_t generation);

/*
 * The trust set changed (keys fetched or a fetch ended, signers rotated):
 * requests held for an unknown key are verified again.
 */
void server_keys_changed(struct server *s);

/* Writes the server's own metrics (requests by route and code). */
void server_metrics(const struct server *s, FILE *out);

#endif
