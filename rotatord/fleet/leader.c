/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leadership: the leader key (who leads; a forged one removed), the
 * campaign, stepping down, the duty timer and the leader's housekeeping.
 * New generations are rollout.c's; the lease is member.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

void
ld_step_down(struct fleet *f, const char *why)
{
	if (!f->leader)
		return;
	f->leader = 0;
	f->leader_rev = 0;
	vw_acks_stop(f);
	ro_write_clear(f);
	etcd_cancel(f->e, f->clean);
	f->clean = 0;
	loop_timer_set(f->duty_t, 0);
	log_notice("cluster: no longer leading the fleet: %s", why);
}

static void
on_clear_forged(void *arg, int rc, json_t *reply, const char *why)
{
	if (rc < 0)
		rp_fail(arg, "cannot remove a forged leader key: %s", why);
}

/*
 * A leader key that is not authentic holds the place nobody can take:
 * remove exactly that version of it (the deletion comes back through the
 * watch, and then a host campaigns).
 */
static void
leader_clear_forged(struct fleet *f)
{
	char *lk = fl_key_of(f, "leader"), rev[32];
	json_t *cmp, *del;

	if (lk == NULL || f->forged_leader == 0) {
		free(lk);
		return;
	}
	snprintf(rev, sizeof(rev), "%lld", (long long)f->forged_leader);
	cmp = json_pack("[{s:o,s:s,s:s,s:s}]", "key", fl_b64s(lk), "target",
	    "MOD", "result", "EQUAL", "mod_revision", rev);
	del = json_pack("[{s:{s:o}}]", "requestDeleteRange", "key",
	    fl_b64s(lk));
	free(lk);
	(void)etcd_call(f->e, "/v3/kv/txn", json_pack("{s:o,s:o}", "compare",
	    cmp, "success", del), on_clear_forged, f, NULL);
}

/* "leader" = {host, lease}, bound to that lease. */
void
ld_leader_rec(struct fleet *f, const struct etcd_kv *kv)
{
	const char *h;
	json_t *body;
	int64_t lease;

	if (kv->is_delete) {
		f->leader_name[0] = '\0';
		f->forged_leader = 0;
		ld_step_down(f, "the leader key is gone");
		if (f->state == F_RUN)
			ld_campaign(f);
		return;
	}
	body = fl_open_record(f, RF_LEADER, kv);
	h = fleetrec_str(body, "host");
	lease = fleetrec_int(body, "lease", 0);
	if (body == NULL || h == NULL || !fl_good_name(h, strlen(h), 64) ||
	    lease == 0 || lease != kv->lease) {
		if (body != NULL)
			rp_refuse(f, RF_LEADER, kv, "a leader key not bound to "
			    "the lease it names");
		json_decref(body);
		f->leader_name[0] = '\0';
		ld_step_down(f, "the leader key is not authentic");
		f->forged_leader = kv->mod_rev;
		if (f->state == F_RUN)
			leader_clear_forged(f);
		return;
	}
	f->forged_leader = 0;
	snprintf(f->leader_name, sizeof(f->leader_name), "%s", h);
	json_decref(body);
	if (strcmp(f->leader_name, f->name) != 0) {
		ld_step_down(f, "another host holds the leader key");
	} else if (!f->leader && f->lease != 0 && lease == f->lease &&
	    f->campaign == 0) {
		/*
		 * Still ours (same lease): lead again, after a step down for
		 * keepalives that did not get through while the lease lived.
		 */
		f->leader = 1;
		f->leader_rev = kv->create_rev;
		log_notice("cluster: leading the fleet again (the leader key "
		    "is still this host's)");
	} else if (f->leader && kv->create_rev != f->leader_rev) {
		ld_step_down(f, "the leader key was made again");
	}
}

static void
on_clean(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	size_t i;

	f->clean = 0;
	if (rc < 0) {
		rp_fail(f, "cannot remove an old fleet record: %s", why);
		return;
	}
	if (!json_is_true(json_object_get(reply, "succeeded"))) {
		/*
		 * Fenced off, or (a stale mark) this host's record of the
		 * secret was behind: ask again once the watch has caught up,
		 * not at once.
		 */
		for (i = 0; i < f->n_stales; i++)
			f->stales[i].asked = 0;
		loop_timer_set(f->duty_t, loop_now_mono() + 1000);
		return;
	}
	loop_timer_set(f->duty_t, loop_now_mono() + 50);
}

/*
 * Deletes key (and everything under it with prefix), fenced; with s, only
 * while etcd's record of s is the one this host holds (its mod revision).
 */
static int
clean(struct fleet *f, const char *key, int prefix, const struct fsecret *s)
{
	char *sk;
	char *lk = fl_key_of(f, "leader"), *end = prefix ?
	    etcd_prefix_end(key) : NULL, rev[32];
	json_t *cmp, *del;

	if (lk == NULL || (prefix && end == NULL)) {
		free(lk);
		free(end);
		return -ENOMEM;
	}
	snprintf(rev, sizeof(rev), "%lld", (long long)f->leader_rev);
	cmp = json_pack("[{s:o,s:s,s:s,s:s}]", "key", fl_b64s(lk), "target",
	    "CREATE", "result", "EQUAL", "create_revision", rev);
	if (s != NULL && (sk = fl_key_of(f, "secrets/%s", s->name)) != NULL) {
		snprintf(rev, sizeof(rev), "%lld", (long long)s->mod_rev);
		json_array_append_new(cmp, json_pack("{s:o,s:s,s:s,s:s}", "key",
		    fl_b64s(sk), "target", "MOD", "result", "EQUAL",
		    "mod_revision", rev));
		free(sk);
	}
	del = json_pack("[{s:{s:o}}]", "requestDeleteRange", "key",
	    fl_b64s(key));
	if (end != NULL)
		json_object_set_new(json_object_get(json_array_get(del, 0),
		    "requestDeleteRange"), "range_end", fl_b64s(end));
	free(lk);
	free(end);
	return etcd_call(f->e, "/v3/kv/txn", json_pack("{s:o,s:o}", "compare",
	    cmp, "success", del), on_clean, f, &f->clean);
}

/* The leader's housekeeping: stale marks of hosts back, old requests. */
static void
housekeeping(struct fleet *f, int64_t now)
{
	struct fsecret *s;
	size_t i;
	char *k;

	if (f->clean != 0)
		return;
	for (i = 0; i < f->n_stales; i++) {
		struct stale *x = &f->stales[i];

		s = sc_secret_find(f, x->secret, strlen(x->secret));
		if (x->asked || (hs_host_find(f, x->host,
		    strlen(x->host)) != NULL && (s == NULL || s->gen == 0 ||
		    !hs_host_acked(f, s, x->host))))
			continue;
		if ((k = fl_key_of(f, "stale/%s", x->host)) == NULL)
			continue;
		x->asked = 1;
		log_info("cluster: host %s has caught up (or left); no longer "
		    "stale", x->host);
		/*
		 * Compared with the secret's record: a leader whose own view
		 * is behind (a stale host that came to lead before it read
		 * the fleet again) must not take an old ack for caught up.
		 */
		(void)clean(f, k, 0, s != NULL && s->mod_rev != 0 ? s : NULL);
		free(k);
		return;		/* one at a time */
	}
	for (i = 0; i < f->n_reqs; i++) {
		struct rotreq *r = &f->reqs[i];

		if (r->asked || r->at >= now - ROTATE_KEEP_MS)
			continue;
		r->asked = 1;
		if ((k = fl_key_of(f, "done/%s/", r->id)) != NULL) {
			char *end = etcd_prefix_end(k);

			if (end != NULL)
				(void)etcd_call(f->e, "/v3/kv/deleterange",
				    json_pack("{s:o,s:o}", "key", fl_b64s(k),
				    "range_end", fl_b64s(end)), pk_on_pub_put,
				    f, NULL);
			free(end);
			free(k);
		}
		if ((k = fl_key_of(f, "rotate/%s", r->id)) != NULL) {
			(void)clean(f, k, 0, NULL);
			free(k);
		}
		return;
	}
}

void
ld_duties(struct fleet *f)
{
	int64_t now = loop_now_wall();
	size_t i;

	if (!f->leader || f->state != F_RUN)
		return;
	pk_pubs_expire(f, now);
	/* Nothing is decided from acknowledgements not read yet. */
	if (!vw_acks_follow(f)) {
		loop_timer_set(f->duty_t, loop_now_mono() + DUTY_MS);
		return;
	}
	housekeeping(f, now);
	if (f->wr.id != 0)
		return;
	for (i = 0; i < f->n_s; i++)
		switch (ro_duty(f, &f->s[i], now)) {
		case 0:
			continue;
		case 1:
			return;		/* one write at a time */
		default:
			rp_fail(f, "secret %s: cannot write the next "
			    "generation", f->s[i].name);
			loop_timer_set(f->duty_t, loop_now_mono() + DUTY_MS);
			return;
		}
	loop_timer_set(f->duty_t, loop_now_mono() + DUTY_MS);
}

/*
 * ld_duties() sets its timer again, or leaves that to its write
 * (on_write()).
 */
int64_t
ld_on_duty_timer(struct loop *l, void *arg)
{
	ld_duties(arg);
	return 0;
}

static void
on_campaign(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->campaign = 0;
	if (rc < 0) {
		rp_fail(f, "campaign for leader: %s", why);
		return;
	}
	if (json_is_true(json_object_get(reply, "succeeded"))) {
		f->leader = 1;
		f->leader_rev = etcd_int(json_object_get(json_object_get(reply,
		    "header"), "revision"), 0);
		snprintf(f->leader_name, sizeof(f->leader_name), "%s", f->name);
		log_notice("cluster: leading the fleet (%zu hosts)",
		    f->n_hosts);
		ld_duties(f);
	}
	/* Lost: the winner's key arrives through the watch. */
}

/* Takes the leader key if nobody holds it. */
void
ld_campaign(struct fleet *f)
{
	json_t *cmp, *put;
	char *lk, ls[32];

	if (f->campaign != 0 || f->leader || f->lease == 0 ||
	    f->leader_name[0] != '\0' || f->forged_leader != 0 ||
	    (lk = fl_key_of(f, "leader")) == NULL)
		return;
	snprintf(ls, sizeof(ls), "%lld", (long long)f->lease);
	cmp = json_pack("[{s:o,s:s,s:s,s:s}]", "key", fl_b64s(lk), "target",
	    "CREATE", "result", "EQUAL", "create_revision", "0");
	put = fl_put_op(f, lk, json_pack("{s:s,s:s}", "host", f->name, "lease",
	    ls));
	if (put != NULL)
		json_object_set_new(json_object_get(put, "requestPut"), "lease",
		    json_string(ls));
	free(lk);
	if (put == NULL || etcd_call(f->e, "/v3/kv/txn", json_pack(
	    "{s:o,s:[o]}", "compare", cmp, "success", put), on_campaign, f,
	    &f->campaign) < 0)
		rp_fail(f, "cannot campaign for leader");
}
