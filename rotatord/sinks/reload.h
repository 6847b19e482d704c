/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debounced consumer reloads.  Each [reload] target is a small state
 * machine driven by the loop:
 *
 *   idle -> pending (debounce) -> check -> reload -> verify -> idle
 *                     \______________ failure: backoff, retry ____/
 *
 * Requests that arrive while a target is busy are merged and run once
 * more when it is done, so N credentials changing together cause one
 * reload.  Children are spawned (argv, no shell) and reaped through a
 * pidfd; nothing here blocks the loop for longer than one TLS handshake
 * with a short timeout.
 */
#ifndef ROTATORD_RELOAD_H
#define ROTATORD_RELOAD_H

#include <stdint.h>

#include "config/config.h"
#include "core/loop.h"

struct reloader;

/* What the reloader asks of its owner (single-threaded, from the loop). */
struct reload_ops {
	/* Current leaf SHA-256 (hex) of credential cred, or NULL. */
	const char	*(*leaf_sha256)(void *arg, const char *cred);
	/* The TLS server name to ask for when verifying cred, or NULL. */
	const char	*(*sni)(void *arg, const char *cred);
	/* Called after each finished attempt (ok = 1) or failure (0). */
	void		 (*done)(void *arg, const char *target, int ok);
	void		*arg;
};

/* Per-target counters, for status and metrics. */
struct reload_stats {
	uint64_t	ok;
	uint64_t	failed;
	int64_t		last_ok;	/* wall ms, 0 = never */
	int		pending;	/* a reload is owed */
	char		last_error[160];
};

/* Creates a reloader on loop l.  Returns 0 or -errno; free with reload_free(). */
int reload_new(struct loop *l, const struct reload_ops *ops,
    int64_t retry_min, int64_t retry_max, struct reloader **ret);

/*
 * Sets the targets from a (new) config, matching old state by name: owed
 * reloads of targets that still exist are kept.  The config must outlive
 * the reloader's use of it (until the next reload_configure()).
 */
int reload_configure(struct reloader *r, const struct config *c);

/* Records that credential cred changed and target must reload. */
void reload_request(struct reloader *r, const char *target, const char *cred);

/* Returns the stats of target, or NULL. */
const struct reload_stats *reload_get_stats(const struct reloader *r,
    const char *target);

/* Returns 1 while any target has a reload owed or running. */
int reload_busy(const struct reloader *r);

/* Frees r, killing children still running; accepts NULL. */
void reload_free(struct reloader *r);

#endif
