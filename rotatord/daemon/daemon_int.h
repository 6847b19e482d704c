/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of daemon/ share, and nothing outside daemon/ sees: the
 * daemon, its runtime and each credential's state.  daemon.h stays the
 * interface of main.c.  The files, by duty:
 *
 *   daemon.c    lifecycle, signals, timers, clock watch, config reloads
 *   runtime.c   the runtime built from a config; credentials by name
 *   cred.c      the credential state machine: rotate, publish, back off
 *   schedule.c  its arithmetic, pure: due times, retries, clock steps
 *   signer.c    signer JWKS and CA certificates, own and the fleet's
 *   cluster.c   the fleet's callbacks and its (re)configuration
 *   ops.c       the HTTP API's operations (struct api_ops) and file cache
 *   metrics.c   GET /metrics
 */
#ifndef ROTATORD_DAEMON_INT_H
#define ROTATORD_DAEMON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "daemon/schedule.h"
#include "store/store.h"


/* One credential: its published generation and its schedule. */
struct cred_rt {
	const struct cfg_cred	*cfg;
	char			 spec[65];
	int			 published;	/* a valid generation exists */
	uint64_t		 generation;
	int64_t			 issued_at;	/* wall ms */
	int64_t			 not_before;
	int64_t			 not_after;
	int64_t			 renew_wall;	/* planned renewal, wall ms */
	int64_t			 due_mono;	/* next attempt, boottime ms */
	int			 asked;		/* due_mono was asked for */
	unsigned		 failures;	/* consecutive */
	uint64_t		 rotations;
	uint64_t		 errors;
	char			 leaf_sha256[65];
	char			 serial[64];
	char			 last_error[256];
	int			 inflight;	/* oauth: a token request runs */
	struct genfiles		*files;		/* served by the API, lazily */
};

/* One of another host's JWKS documents of signer `signer`, parsed. */
struct peer_doc {
	size_t			  signer;
	char			 *doc;
	struct idp_jwks		 *set;
	int			  used;
};

/* What was built from one config; a reload builds a new one whole. */
struct runtime {
	struct config		 *cfg;
	struct sink		 *sink;
	struct ca_state		**cas;		/* parallel to cfg->cas */
	struct signer_state	**signers;	/* parallel to cfg->signers */
	int64_t			 *signer_due;	/* wall ms of next JWKS change */
	uint64_t		 *ca_minted;	/* hash of the ca.pem leaves have */
	int64_t			 *ca_reminted;	/* mono: leaves last asked again */
	struct cred_rt		 *creds;	/* parallel to cfg->creds */
	const char		**names;	/* credential names, NULL-terminated */
	uint32_t		 *index;	/* name hash -> creds[] slot + 1 */
	size_t			  index_size;	/* a power of two */
	char			 *jwks;		/* union of the signers' JWKS, lazily */
	size_t			  jwks_len;
	/* Per signer: its keys and the fleet's (signer_keys()), lazily. */
	struct idp_jwks		**keys;
	/* Other hosts' JWKS documents as parsed, kept while they last. */
	struct peer_doc		 *peers;
	size_t			  n_peers;
};

/* The process: the runtime and what outlives it across reloads. */
struct daemon {
	struct runtime		*rt;
	int			 flags;
	struct loop		*loop;
	struct reloader		*rl;
	struct upstream		*up;
	struct server		*srv;		/* the HTTP API, or NULL */
	struct fleet		*fleet;		/* [cluster], or NULL */
	struct trust		*trust;		/* bearer keys; NULL: rebuild */
	struct loop_timer	*timer;		/* the schedule */
	int			 cfd;		/* wall clock watch */
	int			 sfd;		/* signals */
	struct loop_timer	*watchdog;	/* WATCHDOG=1, with WatchdogSec */
	struct loop_timer	*keys_t;	/* fleet_keys_settled() */
	int			 keys_what;	/* FLEET_KEYS_*, until then */
	int64_t			 wd_ms;
	int			 ready;
	int			 once_failed;
	int			 once_rc;	/* --once: exit code, -1 until known */
	int64_t			 wall0, mono0;	/* last clock readings */
};

struct api_ops;
struct idp_err;
struct idp_jwks;
struct mint_result;

/* cred.c */

/*
 * Publishes what a rotation of credential i produced (rc 0 and r), or
 * records its failure (rc < 0, reason in err), and plans the next attempt.
 * This is where the outcome is logged.  Returns 0 or -errno.
 */
int cred_finish(struct daemon *d, size_t i, int rc, struct mint_result *r,
    struct idp_err *err);

/* Sends READY=1 once (when every first attempt has ended) and STATUS=. */
void daemon_status(struct daemon *d);

/* Rotates whatever is due and arms the timer for the next due time. */
void daemon_tick(struct daemon *d);

/* Re-derives every due time from the wall-clock renewal points, then ticks. */
void daemon_replan(struct daemon *d);
/*
 * Asks for cr's rotation at boottime ms at (0: now), unless one is due
 * sooner; a re-plan (the wall clock set) keeps the request until it runs.
 */
void cred_ask(struct cred_rt *cr, int64_t at);

/* daemon.c */

/*
 * --once: quits the loop when no token request runs and no reload is
 * owed; any failure ends it at once with 1.  No-op without DAEMON_ONCE.
 */
void once_check(struct daemon *d);

/*
 * Re-reads the config: a new config replaces the old one only if all of it
 * works.  Returns 0, or -errno with a reason in why (the running
 * configuration stays).
 */
int daemon_reconfigure(struct daemon *d, char *why, size_t whylen);

/* cluster.c */

/* Makes, keeps or drops the fleet for config c (the new runtime's). */
int fleet_apply(struct daemon *d, const struct config *c);

/*
 * d->keys_t: CA_SETTLE_MS after other hosts' keys or CAs changed, the
 * fleet's jwks.json published and the CAs' leaves asked again, once for
 * a whole burst of changes.
 */
int64_t fleet_keys_settled(struct loop *l, void *arg);

/* metrics.c */

/* api_ops.metrics (arg: the daemon): writes the Prometheus text to out. */
void api_metrics(void *arg, FILE *out);

/* runtime.c */

/*
 * Builds a runtime from config c (owned on success and on failure).  Loads
 * or creates every CA and signer, publishes signers, adopts published
 * credentials.  Returns 0 and the runtime in *ret (runtime_free()), or
 * -errno after logging.
 */
int runtime_build(struct config *c, struct runtime **ret);

/* Frees rt with its config and sink; published files stay.  Accepts NULL. */
void runtime_free(struct runtime *rt);

/* Returns the index of ca in c->cas (0 if absent). */
size_t ca_index(const struct config *c, const struct cfg_ca *ca);

/* Returns the index of sg in c->signers (0 if absent). */
size_t signer_index(const struct config *c, const struct cfg_signer *sg);

/* Returns the name of credential type t, as meta.json and the API spell it. */
const char *type_name(enum cred_type t);

/* Returns the state of the credential called name in rt, or NULL. */
struct cred_rt *cred_find(struct runtime *rt, const char *name);

/* signer.c */

/* A 64-bit FNV-1a hash: tells whether a ca.pem changed. */
uint64_t fnv1a(const char *p, size_t n);

/*
 * CA ci's certificates with the other hosts' of the same CA appended
 * (each certificate once), as a new string (free()); NULL when there are
 * none (or outside a fleet): then this host's own.
 */
char *ca_fleet_pem(struct daemon *d, size_t ci);

/*
 * Publishes signer i's JWKS and discovery document (no-op if unchanged)
 * and sets rt->signer_due[i]; jwks (may be NULL: the signer's own) is the
 * JWKS to publish, in a fleet the union of every host's keys of this
 * signer.  Returns 0 or -errno.
 */
int signer_publish(struct runtime *rt, size_t i, const char *jwks);

/*
 * Signer i's keys: this host's, plus in a fleet the other hosts' (a kid
 * already present is not added twice).  A new set (idp_jwks_free()) of
 * references to the keys of a set built once per change of them (a
 * fleet of 100 hosts: 100 documents parsed and 200 EC keys imported;
 * every host does that at each change of any host's keys).
 */
struct idp_jwks *signer_keys(struct daemon *d, size_t i);
/* Signer keys changed (own or the fleet's): signer_keys() builds anew. */
void signer_keys_dirty(struct runtime *rt);

/*
 * Publishes signer i with the fleet's keys of it (own only outside one).
 * Returns 0 or -errno.
 */
int signer_refresh(struct daemon *d, size_t i);

/*
 * Gives the fleet this host's signer keys, kept after this host is gone
 * for as long as a token it signed may live (two key lifetimes), and its
 * CA certificates.  No-op outside a fleet.
 */
void daemon_publish_jwks(struct daemon *d);

/* ops.c */

/* The API's operations; server_new() gets a copy with .arg set. */
extern const struct api_ops daemon_api;


/*
 * Drops the trust set; it is rebuilt when next asked for (keys were
 * fetched, a signer rotated, or the config changed).
 */
void trust_dirty(struct daemon *d);

#endif
