/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet: hosts that share one etcd cluster (README "Fleet", and the
 * comment at the top of fleet.c for how records are authenticated and
 * generations rolled out).
 *
 * Each host registers under PREFIX/hosts/NAME with a lease and watches
 * the prefix (the leader alone also other hosts' acknowledgements,
 * PREFIX/acks/: view.c).  One host, elected through a lease-bound PREFIX/leader key,
 * makes the shared secrets (`fleet = yes`) and writes them, sealed under
 * a key derived from the fleet key every host has, to PREFIX/secrets/NAME
 * with a transaction fenced on its leadership and compared with the
 * record it replaces.  A new key goes out in two phases: first
 * accept-only, then, once every registered host has acknowledged it
 * (PREFIX/acks/NAME/HOST) or ack_timeout has passed, promoted to the key
 * that encrypts.  `rotatorctl rotate --fleet` writes a request
 * (PREFIX/rotate/ID) that every host applies once.  Every value is
 * authenticated with the fleet key: a writer to etcd without it can
 * change nothing a host trusts.
 */
#ifndef ROTATORD_FLEET_H
#define ROTATORD_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <idp/secret.h>

#include "config/config.h"
#include "core/loop.h"

#define FLEET_MAX_KEYS	17	/* keep (at most 16) + one accept-only */

struct fleet;

#define FLEET_KEYS_JWKS	0x1
#define FLEET_KEYS_CA	0x2

struct fleet_ops {
	/*
	 * The key set of fleet secret `name` changed: publish keys[0..n) in
	 * that order (keys[0] encrypts), the first issued at issued_at and
	 * valid until not_after (wall ms).  Returns 0 when published (the
	 * host then acknowledges it) or -errno.
	 */
	int	(*secret)(void *arg, const char *name,
		    struct idp_secret *const *keys, size_t n, int64_t issued_at,
		    int64_t not_after);
	/* rotate --fleet reached this host: rotate credential name now. */
	void	(*rotate)(void *arg, const char *name);
	/*
	 * Another host's signer keys (what & FLEET_KEYS_JWKS) or CA
	 * certificates (what & FLEET_KEYS_CA) came or went (see
	 * fleet_peer_jwks(), fleet_peer_ca()).
	 */
	void	(*keys)(void *arg, int what);
	void	 *arg;
};

/*
 * Joins the fleet of c's [cluster] on loop l: reads the fleet key, then
 * registers, reads and watches in the background.  Returns 0 or -errno
 * after logging why (a bad key file; etcd being down is not an error).
 */
int fleet_new(struct loop *l, const struct config *c,
    const struct fleet_ops *ops, struct fleet **ret);

/*
 * Uses config c from now on.  Returns 1 when its [cluster] differs from
 * the running one (the caller makes a new fleet), else 0.
 */
int fleet_configure(struct fleet *f, const struct config *c);

/* Leaves (the lease is revoked, so another host leads at once); accepts NULL. */
void fleet_free(struct fleet *f);

/*
 * Asks every host to rotate names[0..n) (n 0: every credential).  The
 * request is written to etcd; returns 0 once it is sent, or -errno with a
 * reason in why.
 */
int fleet_rotate(struct fleet *f, const char *const *names, size_t n,
    char *why, size_t whylen);

/*
 * Publishes this host's public keys of signer `signer` (a JWKS document)
 * to the fleet, under PREFIX/pub/HOST/jwks/SIGNER, to be kept until
 * `until` (wall ms) even after this host is gone: tokens it signed stay
 * verifiable everywhere until they expire.  Written now when connected,
 * else once connected.  Returns 0 or -errno.
 */
int fleet_publish_jwks(struct fleet *f, const char *signer, const char *doc,
    int64_t until);

/* The same for the certificates (PEM) of CA `ca`, until they expire. */
int fleet_publish_ca(struct fleet *f, const char *ca, const char *pem,
    int64_t until);

/* The PEM documents the other hosts published for CA `ca` (as below). */
size_t fleet_peer_ca(const struct fleet *f, const char *ca, const char **docs,
    size_t max);

/*
 * The JWKS documents the other hosts published for signer, as borrowed
 * strings in docs[0..max) (valid until the loop runs again).  Returns how
 * many there are.
 */
size_t fleet_peer_jwks(const struct fleet *f, const char *signer,
    const char **docs, size_t max);

/* The fleet's state for rotatorctl status (new object). */
json_t *fleet_status(const struct fleet *f);

/* Prometheus lines of the fleet. */
void fleet_metrics(const struct fleet *f, FILE *out);

/*
 * Whether this host is marked stale (the leader went on without it); it
 * reads the fleet again and is not ready until it has caught up.
 */
int fleet_stale(const struct fleet *f);

/*
 * 1 when this host is cut off from the fleet: not in sync with etcd, or
 * its lease not renewed for a whole lease_ttl.
 */
int fleet_degraded(const struct fleet *f);

#endif
