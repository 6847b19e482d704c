/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cluster.c: the daemon's side of fleet/ ([cluster]): makes, keeps or drops
 * the fleet on a (re)configuration and answers its callbacks (fleet
 * secrets, rotate --fleet, other hosts' keys).  Only the runtime changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "fleet/fleet.h"
#include "sources/mint.h"

/*
 * Other hosts' keys or CAs changed: the files follow CA_SETTLE_MS after,
 * so that the records of one prefix read or one burst of watch events
 * cost one publish, one renewal and one reload; leaves at most once per
 * CA_REMINT_GAP_MS, so that hosts joining one after another (a fleet
 * starting: every join changes every host's ca.pem) cost a renewal per
 * gap, not one per join on every host.
 */
#define CA_SETTLE_MS	100
#define CA_REMINT_GAP_MS 2000

/* The fleet brought a new key set of fleet secret name: publish it. */
static int
fleet_secret(void *arg, const char *name, struct idp_secret *const *keys,
    size_t n, int64_t issued_at, int64_t not_after)
{
	struct daemon *d = arg;
	struct cred_rt *cr = cred_find(d->rt, name);
	struct mint_result r;
	struct idp_err err;
	int rc;

	if (cr == NULL)
		return -ENOENT;
	err.msg[0] = '\0';
	if ((rc = mint_secret_keys(cr->cfg, keys, n, issued_at, not_after,
	    &r)) < 0)
		return rc;
	rc = cred_finish(d, (size_t)(cr - d->rt->creds), 0, &r, &err);
	/* Renewal is the leader's; nothing local is due. */
	cr->due_mono = loop_now_mono() + FLEET_WAIT_MS;
	daemon_status(d);
	daemon_tick(d);
	return rc;
}

/*
 * Another host's signer keys or CA came or went: verify with them at once
 * (the trust is rebuilt when next needed); the files follow once the
 * burst has settled (fleet_keys_settled()).  A fleet starting up brings
 * one change per host that joins, on every host: handled one by one, each
 * cost a publish of jwks.json and the whole ca.pem built again.  Only
 * what changed is done again: at 100 hosts a CA's change on one host
 * costs every host a leaf, not the fleet's JWKS as well.
 */
static void
fleet_keys(void *arg, int what)
{
	struct daemon *d = arg;

	if (what & FLEET_KEYS_JWKS) {
		trust_dirty(d);
		free(d->rt->jwks);
		d->rt->jwks = NULL;
		server_keys_changed(d->srv);
	}
	d->keys_what |= what;
	if (loop_timer_when(d->keys_t) == 0)
		loop_timer_set(d->keys_t, loop_now_mono() + CA_SETTLE_MS);
}

int64_t
fleet_keys_settled(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	uint64_t h;
	int64_t at;
	char *pem;
	size_t i, j;
	int any = 0, what = d->keys_what;

	d->keys_what = 0;
	/* The published jwks.json of each signer: the fleet's too. */
	for (i = 0; (what & FLEET_KEYS_JWKS) && i < rt->cfg->n_signers; i++)
		if (signer_refresh(d, i) < 0)
			log_warn("signer %s: cannot publish the fleet's JWKS",
			    rt->cfg->signers[i]->name);
	/* A CA's fleet ca.pem changed: its leaves are minted again with it. */
	for (i = 0; (what & FLEET_KEYS_CA) && i < rt->cfg->n_cas; i++) {
		pem = ca_fleet_pem(d, i);
		h = pem != NULL ? fnv1a(pem, strlen(pem)) :
		    fnv1a(rt->cas[i]->trust_pem, rt->cas[i]->trust_len);
		free(pem);
		if (rt->ca_minted[i] == 0)
			rt->ca_minted[i] = fnv1a(rt->cas[i]->trust_pem,
			    rt->cas[i]->trust_len);
		if (h == rt->ca_minted[i])
			continue;
		at = loop_now_mono();
		if (rt->ca_reminted[i] != 0 &&
		    at < rt->ca_reminted[i] + CA_REMINT_GAP_MS)
			at = rt->ca_reminted[i] + CA_REMINT_GAP_MS;
		log_notice("cluster: the fleet's certificates of CA %s changed; "
		    "renewing its certificates%s", rt->cfg->cas[i]->name,
		    at > loop_now_mono() ? " (held: renewed less than 2 s "
		    "ago)" : "");
		rt->ca_reminted[i] = at;
		for (j = 0; j < rt->cfg->n_creds; j++)
			if (rt->creds[j].cfg->ca == rt->cfg->cas[i]) {
				cred_ask(&rt->creds[j], at);
				any = 1;
			}
		rt->ca_minted[i] = h;	/* asked once */
	}
	if (any)
		daemon_tick(d);
	return 0;
}

/* rotate --fleet reached this host. */
static void
fleet_rotate_one(void *arg, const char *name)
{
	struct daemon *d = arg;
	struct cred_rt *cr = cred_find(d->rt, name);

	if (cr == NULL || cr->inflight)
		return;
	cred_ask(cr, 0);
	daemon_tick(d);
}

/* Makes, keeps or drops the fleet for config c (the new runtime's). */
int
fleet_apply(struct daemon *d, const struct config *c)
{
	struct fleet_ops ops = { .secret = fleet_secret,
	    .rotate = fleet_rotate_one, .keys = fleet_keys };
	int rc;

	if (d->flags & DAEMON_ONCE)
		return 0;
	if (d->fleet != NULL && c->cluster.line != 0 &&
	    (rc = fleet_configure(d->fleet, c)) <= 0) {
		if (rc == 0)
			daemon_publish_jwks(d);
		return rc;
	}
	fleet_free(d->fleet);
	d->fleet = NULL;
	if (c->cluster.line == 0)
		return 0;
	ops.arg = d;
	if ((rc = fleet_new(d->loop, c, &ops, &d->fleet)) == 0)
		daemon_publish_jwks(d);
	return rc;
}
