/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a host of the fleet remembers across restarts, in
 * state_dir/fleet.json (0600, owned by rotatord's user, written with a
 * temporary file, fsync and rename): the highest generation it accepted
 * of each fleet secret with that generation's fingerprint (so that a
 * restarted host refuses an older, replayed generation, or another key
 * under a generation it has seen), the rotate requests it has applied
 * (so that each is applied once, also by a host that was away), and when
 * it first joined (requests older than that were not meant for it).
 */
#ifndef ROTATORD_FLEETSTATE_H
#define ROTATORD_FLEETSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "fleet/fleetrec.h"

#define FLEET_ID_MAX	96	/* a rotate request's id */

struct fleet_hw {
	char		 name[CONFIG_MAX_NAME + 1];
	int64_t		 gen;
	char		 fp[FLEETREC_FP_LEN + 1];
};

struct fleet_applied {
	char		 id[FLEET_ID_MAX + 1];
	int64_t		 at;		/* the request's time, wall ms */
};

struct fleetstate {
	char			*path;
	char			*prefix;
	int64_t			 joined;	/* wall ms */
	struct fleet_hw		*hw;
	size_t			 n_hw;
	struct fleet_applied	*applied;
	size_t			 n_applied;
};

/*
 * Reads state_dir/fleet.json for the fleet at prefix.  A missing file, one
 * for another prefix, or one that cannot be trusted (not a regular file
 * owned by this user with no group or other bits, or malformed) gives a
 * fresh state joined at now; why then says what was wrong ("" for a
 * missing file).  Returns 0 and the state (fleetstate_free()), or
 * -ENOMEM.
 */
int fleetstate_load(const char *state_dir, const char *prefix, int64_t now,
    struct fleetstate **ret, char *why, size_t whylen);

void fleetstate_free(struct fleetstate *st);

/* Writes st out durably.  Returns 0 or -errno. */
int fleetstate_save(const struct fleetstate *st);

/* The high-water mark of secret name (NULL: none yet). */
const struct fleet_hw *fleetstate_hw(const struct fleetstate *st,
    const char *name);

/* Raises secret name's mark to gen / fp (in memory).  Returns 0 or -ENOMEM. */
int fleetstate_set_hw(struct fleetstate *st, const char *name, int64_t gen,
    const char *fp);

/* Has request id been applied here? */
int fleetstate_applied(const struct fleetstate *st, const char *id);

/*
 * Records request id (made at `at`) as applied and forgets those made
 * before `forget_before`.  Returns 0 or -ENOMEM.
 */
int fleetstate_mark_applied(struct fleetstate *st, const char *id, int64_t at,
    int64_t forget_before);

#endif
