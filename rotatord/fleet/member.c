/* SPDX-License-Identifier: Apache-2.0 */
/*
 * This host's membership: the lease and its keepalives, the
 * registration, the state machine's steps (lease, register, sync, run)
 * and their retries.  The view is view.c's, leading leader.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/sched.h"
#include "fleet/fleet_int.h"

/*
 * Retries of a failed step: 0.5 s doubling up to 2 s, with equal jitter
 * (sched_backoff()).  The cap bounds how long a host cut off from etcd takes to
 * notice that it is back (the regions harness: a region returns and must
 * catch up within 5 s); 100 hosts retrying every 2 s cost etcd 50
 * requests a second.
 */
#define RETRY_MIN_MS	500
#define RETRY_MAX_MS	2000

static void step(struct fleet *);

void
mb_retry(struct fleet *f)
{
	f->failures++;
	loop_timer_set(f->step_t, loop_now_mono() + sched_backoff(RETRY_MIN_MS,
	    RETRY_MAX_MS, f->failures, sched_random()));
}

static void on_register(void *, int, json_t *, const char *);
static void on_reregister(void *, int, json_t *, const char *);

/*
 * This host's registration: its name, region and lease.  With ret_id,
 * the state machine's step (on_register); without, a repair.
 */
int
mb_register_self(struct fleet *f, uint64_t *ret_id)
{
	char *k = fl_key_of(f, "hosts/%s", f->name), ls[32];
	json_t *names = json_array();
	size_t i;
	int rc;

	if (k == NULL) {
		json_decref(names);
		return -ENOMEM;
	}
	for (i = 0; i < f->n_s; i++)
		if (f->s[i].cfg != NULL)
			json_array_append_new(names, json_string(f->s[i].name));
	snprintf(ls, sizeof(ls), "%lld", (long long)f->lease);
	rc = fl_put_record(f, k, json_pack("{s:s,s:s,s:s,s:o}", "host", f->name,
	    "region", f->cfg->region != NULL ? f->cfg->region : "", "lease",
	    ls, "secrets", names), f->lease, ret_id != NULL ? on_register :
	    on_reregister, ret_id);
	free(k);
	return rc;
}

static void
on_reregister(void *arg, int rc, json_t *reply, const char *why)
{
	if (rc < 0)
		rp_fail(arg, "cannot register this host again: %s", why);
}

static void
on_register(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->call = 0;
	if (rc < 0) {
		rp_fail(f, "cannot register this host: %s", why);
		mb_retry(f);
		return;
	}
	f->state = F_SYNC;
	step(f);
}

static void
on_grant(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->call = 0;
	if (rc < 0 || (f->lease = etcd_int(json_object_get(reply, "ID"),
	    0)) <= 0) {
		f->lease = 0;
		rp_fail(f, "cannot get a lease: %s", rc < 0 ? why : "no ID");
		mb_retry(f);
		return;
	}
	f->last_ka = loop_now_mono();
	f->state = F_REGISTER;
	loop_timer_set(f->ka_t, loop_now_mono() + f->ttl / 3);
	step(f);
}

/* Does the step the state is at. */
static void
step(struct fleet *f)
{
	char *end, ttl[32];
	json_t *body;

	if (f->call != 0)
		return;
	switch (f->state) {
	case F_LEASE:
		snprintf(ttl, sizeof(ttl), "%lld", (long long)(f->ttl / 1000));
		if (etcd_call(f->e, "/v3/lease/grant", json_pack("{s:s}", "TTL",
		    ttl), on_grant, f, &f->call) < 0)
			mb_retry(f);
		break;
	case F_REGISTER:
		if (mb_register_self(f, &f->call) < 0)
			mb_retry(f);
		break;
	case F_SYNC:
		etcd_cancel(f->e, f->watch);
		f->watch = 0;
		if ((end = etcd_prefix_end(f->prefix)) == NULL) {
			mb_retry(f);
			break;
		}
		body = json_pack("{s:o,s:o}", "key", fl_b64s(f->prefix),
		    "range_end", fl_b64s(end));
		free(end);
		if (etcd_call(f->e, "/v3/kv/range", body, vw_on_range, f,
		    &f->call) < 0)
			mb_retry(f);
		break;
	case F_RUN:
		if (f->watch == 0)
			vw_watch_start(f);
		break;
	}
}

/* step() sets its timer itself when it must try again (mb_retry()). */
int64_t
mb_on_step_timer(struct loop *l, void *arg)
{
	step(arg);
	return 0;
}

/* Starts over: a new lease (the old one is gone), registration, sync. */
static void
restart(struct fleet *f, const char *why)
{
	size_t i;

	ld_step_down(f, why);
	etcd_cancel(f->e, f->call);
	etcd_cancel(f->e, f->watch);
	etcd_cancel(f->e, f->campaign);
	f->call = f->watch = f->campaign = 0;
	f->lease = 0;
	f->state = F_LEASE;
	for (i = 0; i < f->n_s; i++)
		f->s[i].acked = 0;	/* acks went with the lease */
	loop_timer_set(f->ka_t, 0);
	loop_timer_set(f->step_t, loop_now_mono());
}

static void
on_keepalive(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;
	json_t *res;
	size_t i;

	f->ka_call = 0;
	if (rc < 0) {
		rp_fail(f, "lease keepalive: %s", why);
		/* Not renewed for 2/3 of the lease: it may be gone. */
		if (f->leader && loop_now_mono() - f->last_ka > f->ttl * 2 / 3)
			ld_step_down(f, "the lease could not be renewed");
		/*
		 * The member the watch hangs on may be the one that stopped
		 * answering (a stopped or cut-off member keeps the stream
		 * open and silent): watch again, through the next endpoint.
		 */
		if (f->state == F_RUN && f->watch != 0) {
			etcd_cancel(f->e, f->watch);
			f->watch = 0;
			vw_watch_start(f);
		}
		if (f->ack_watch != 0) {
			etcd_cancel(f->e, f->ack_watch);
			f->ack_watch = 0;
			(void)vw_acks_follow(f);
		}
		return;
	}
	res = json_object_get(reply, "result");
	if (etcd_int(json_object_get(res, "TTL"), 0) <= 0) {
		log_warn("cluster: the lease expired; registering again");
		restart(f, "the lease expired");
		return;
	}
	/* Renewed when etcd took it, so no earlier than it was sent. */
	f->last_ka = f->ka_sent;
	/* Stepped down, but the leader key is ours: read it again. */
	if (!f->leader && strcmp(f->leader_name, f->name) == 0 &&
	    f->state == F_RUN && f->call == 0) {
		f->state = F_SYNC;
		step(f);
	}
	/* Publications and acknowledgements that did not go out yet. */
	for (i = 0; i < f->n_s; i++)
		if (f->s[i].gen > 0 && (f->s[i].applied != f->s[i].gen ||
		    f->s[i].acked != f->s[i].gen))
			sc_secret_apply(f, &f->s[i]);
}

/*
 * The next keepalive is due ttl/3 after this one, also when this one is
 * skipped; it is returned, not set first, as nothing here touches this
 * timer (the reply comes later, from the loop).
 *
 * A leader whose lease has not been renewed for 2/3 of the TTL steps
 * down, also while a keepalive is still waiting for its answer: a member
 * that does not answer holds the call until the cluster's timeout, which
 * may be longer than the lease, and another host may lead by then.  So
 * a leader also wakes when that time comes, not only for the next
 * keepalive.
 */
int64_t
mb_on_ka_timer(struct loop *l, void *arg)
{
	struct fleet *f = arg;
	int64_t now, next, stale;
	char id[32];

	if (f->lease == 0)
		return 0;
	now = loop_now_mono();
	next = now + f->ttl / 3;
	if (f->ka_call == 0) {
		snprintf(id, sizeof(id), "%lld", (long long)f->lease);
		if (etcd_call(f->e, "/v3/lease/keepalive", json_pack("{s:s}",
		    "ID", id), on_keepalive, f, &f->ka_call) < 0)
			rp_fail(f, "cannot send a lease keepalive");
		else
			f->ka_sent = now;
	}
	stale = f->last_ka + f->ttl * 2 / 3;
	if (f->leader && now > stale)
		ld_step_down(f, "the lease could not be renewed");
	else if (f->leader && stale + 1 < next)
		next = stale + 1;
	return next;
}
