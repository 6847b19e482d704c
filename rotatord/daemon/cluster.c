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
 * A CA's fleet certificates changed: its leaves are minted this long
 * after, so that the records of one prefix read or one burst of watch
 * events (hosts joining) cost one renewal and one reload.
 */
#define CA_SETTLE_MS	100

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

/* Another host's signer keys came or went: verify with them too. */
static void
fleet_keys(void *arg)
{
	struct daemon *d = arg;

	struct runtime *rt = d->rt;
	uint64_t h;
	char *pem;
	size_t i, j;
	int any = 0;

	trust_dirty(d);
	free(rt->jwks);
	rt->jwks = NULL;
	server_keys_changed(d->srv);
	/* The published jwks.json of each signer: the fleet's too. */
	for (i = 0; i < rt->cfg->n_signers; i++)
		if (signer_refresh(d, i) < 0)
			log_warn("signer %s: cannot publish the fleet's JWKS",
			    rt->cfg->signers[i]->name);
	/* A CA's fleet ca.pem changed: its leaves are minted again with it. */
	for (i = 0; i < rt->cfg->n_cas; i++) {
		pem = ca_fleet_pem(d, i);
		h = pem != NULL ? fnv1a(pem, strlen(pem)) :
		    fnv1a(rt->cas[i]->trust_pem, rt->cas[i]->trust_len);
		free(pem);
		if (rt->ca_minted[i] == 0)
			rt->ca_minted[i] = fnv1a(rt->cas[i]->trust_pem,
			    rt->cas[i]->trust_len);
		if (h == rt->ca_minted[i])
			continue;
		log_notice("cluster: the fleet's certificates of CA %s changed; "
		    "renewing its certificates", rt->cfg->cas[i]->name);
		for (j = 0; j < rt->cfg->n_creds; j++)
			if (rt->creds[j].cfg->ca == rt->cfg->cas[i]) {
				/* Soon, once: more hosts' may follow in a sync. */
				cred_ask(&rt->creds[j],
				    loop_now_mono() + CA_SETTLE_MS);
				any = 1;
			}
		rt->ca_minted[i] = h;	/* asked once */
	}
	if (any)
		daemon_tick(d);
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
