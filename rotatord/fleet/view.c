/* SPDX-License-Identifier: Apache-2.0 */
/*
 * This host's view of the prefix: the read of all of it, the watch from
 * the revision after, and vw_apply() handing each key to its reader.
 * Calls etcd only to read and watch: what a key means, and what to
 * write back, is its reader's business.
 *
 * Two ranges.  Every host's acknowledgement (acks/SECRET/HOST) matters
 * to the leader alone, so the watch every host holds starts after acks/
 * (at PREFIX "acks0": nothing rotatord writes sorts before acks/), and
 * only the leader also follows [PREFIX, PREFIX "acks0"), with its own
 * resume revision.  Otherwise each of N hosts' acknowledgements would
 * reach all N hosts: N^2 watch events per rotation.  A host that comes to
 * lead reads that range before it decides anything from it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

/* One key of the prefix (from the first read, a watch or a txn answer). */
void
vw_apply(struct fleet *f, const struct etcd_kv *kv, int live)
{
	size_t pl = strlen(f->prefix), n;
	const char *k;

	if (kv->klen < pl || memcmp(kv->key, f->prefix, pl) != 0)
		return;
	k = kv->key + pl;
	n = kv->klen - pl;
	if (n == 6 && memcmp(k, "leader", 6) == 0)
		ld_leader_rec(f, kv);
	else if (n > 6 && memcmp(k, "hosts/", 6) == 0)
		hs_host_rec(f, kv, k + 6, n - 6);
	else if (n > 5 && memcmp(k, "acks/", 5) == 0)
		hs_ack_rec(f, kv, k + 5, n - 5);
	else if (n > 4 && memcmp(k, "pub/", 4) == 0)
		pk_pub_rec(f, kv, k + 4, n - 4);
	else if (n > 8 && memcmp(k, "secrets/", 8) == 0)
		sc_secret_rec(f, kv, k + 8, n - 8);
	else if (n > 7 && memcmp(k, "rotate/", 7) == 0)
		rq_rec(f, kv, k + 7, n - 7);
	else if (n > 5 && memcmp(k, "done/", 5) == 0)
		rq_done_rec(f, kv, k + 5, n - 5);
	else if (n > 6 && memcmp(k, "stale/", 6) == 0)
		hs_stale_rec(f, kv, k + 6, n - 6);
	else if (!kv->is_delete)
		rp_refuse(f, RF_OTHER, kv, "not a key rotatord writes");
	if (live && f->leader)
		ld_duties(f);
}

static void on_watch_event(void *, const struct etcd_kv *);
static void on_watch_end(void *, int, int64_t, const char *);

void
vw_watch_start(struct fleet *f)
{
	char *end = etcd_prefix_end(f->prefix), *from = fl_key_of(f, "acks0");
	int rc = -ENOMEM;

	if (end != NULL && from != NULL)
		rc = etcd_watch(f->e, from, end, f->rev + 1,
		    on_watch_event, on_watch_end, f, &f->watch);
	free(end);
	free(from);
	if (rc < 0) {
		rp_fail(f, "cannot watch: %s", strerror(-rc));
		f->state = F_SYNC;
		mb_retry(f);
	}
}

static void
on_watch_event(void *arg, const struct etcd_kv *kv)
{
	struct fleet *f = arg;

	if (kv->mod_rev > f->rev)
		f->rev = kv->mod_rev;
	vw_apply(f, kv, 1);
}

static void
on_watch_end(void *arg, int rc, int64_t compact_rev, const char *why)
{
	struct fleet *f = arg;

	f->watch = 0;
	if (rc == -ESTALE) {
		/* Missed history: read everything again. */
		log_notice("cluster: watch fell behind a compaction; reading "
		    "the prefix again");
		f->state = F_SYNC;
		loop_timer_set(f->step_t, loop_now_mono());
		return;
	}
	rp_fail(f, "%s", why);
	f->state = F_SYNC;
	mb_retry(f);
}

/* ---- acks/, followed by the leader ------------------------------------ */

static void
on_acks_event(void *arg, const struct etcd_kv *kv)
{
	struct fleet *f = arg;

	if (kv->mod_rev > f->ack_rev)
		f->ack_rev = kv->mod_rev;
	vw_apply(f, kv, 1);
}

static void
on_acks_end(void *arg, int rc, int64_t compact_rev, const char *why)
{
	struct fleet *f = arg;

	f->ack_watch = 0;
	if (rc == -ESTALE) {
		log_notice("cluster: the watch of acknowledgements fell behind "
		    "a compaction; reading them again");
		f->acks_ok = 0;
	} else {
		rp_fail(f, "acknowledgements: %s", why);
	}
	/* The duty timer follows them again (vw_acks_follow()). */
}

static void
on_acks_range(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;
	json_t *kv;
	struct etcd_kv ekv;
	unsigned char *k, *v;
	size_t i;

	f->ack_call = 0;
	if (rc < 0) {
		rp_fail(f, "cannot read the acknowledgements: %s", why);
		return;
	}
	f->ack_rev = etcd_int(json_object_get(json_object_get(reply, "header"),
	    "revision"), 0);
	f->n_acks = 0;
	json_array_foreach(json_object_get(reply, "kvs"), i, kv) {
		if (etcd_kv_decode(kv, &ekv, &k, &v) < 0)
			continue;
		vw_apply(f, &ekv, 0);
		explicit_bzero(v, ekv.vlen);
		free(v);
		free(k);
	}
	f->acks_ok = 1;
	ld_duties(f);
}

int
vw_acks_follow(struct fleet *f)
{
	char *to;
	json_t *body;

	if (!f->leader || f->state != F_RUN || f->ack_call != 0 ||
	    (f->acks_ok && f->ack_watch != 0))
		return f->acks_ok;
	if ((to = fl_key_of(f, "acks0")) == NULL)
		return f->acks_ok;
	if (f->acks_ok) {
		if (etcd_watch(f->e, f->prefix, to, f->ack_rev + 1,
		    on_acks_event, on_acks_end, f, &f->ack_watch) < 0)
			rp_fail(f, "cannot watch the acknowledgements");
	} else {
		body = json_pack("{s:o,s:o}", "key", fl_b64s(f->prefix),
		    "range_end", fl_b64s(to));
		if (etcd_call(f->e, "/v3/kv/range", body, on_acks_range, f,
		    &f->ack_call) < 0)
			rp_fail(f, "cannot read the acknowledgements");
	}
	free(to);
	return f->acks_ok;
}

void
vw_acks_stop(struct fleet *f)
{
	etcd_cancel(f->e, f->ack_watch);
	etcd_cancel(f->e, f->ack_call);
	f->ack_watch = f->ack_call = 0;
	f->acks_ok = 0;
}

/* Forgets what the prefix said (before reading it again). */
static void
forget_view(struct fleet *f)
{
	size_t i;

	for (i = 0; i < f->n_hosts; i++)
		free(f->hosts[i].secrets);
	f->n_hosts = 0;
	f->n_acks = 0;
	f->n_dones = 0;
	f->n_stales = 0;
	for (i = 0; i < f->n_reqs; i++)
		rq_free(&f->reqs[i]);
	f->n_reqs = 0;
	pk_pubs_clear(f->pubs, &f->n_pubs);
	for (i = 0; i < f->n_s; i++) {
		f->s[i].mod_rev = 0;
		f->s[i].etcd_gen = 0;
		f->s[i].etcd_fp[0] = '\0';
	}
}

void
vw_on_range(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;
	json_t *kvs, *kv;
	struct etcd_kv ekv;
	unsigned char *k, *v;
	size_t i;
	int had_leader = 0, was_stale = f->self_stale;

	f->call = 0;
	if (rc < 0) {
		rp_fail(f, "cannot read the prefix: %s", why);
		mb_retry(f);
		return;
	}
	f->rev = etcd_int(json_object_get(json_object_get(reply, "header"),
	    "revision"), 0);
	/* What was known before is replaced by what is there now. */
	forget_view(f);
	f->self_stale = 0;
	f->forged_leader = 0;
	f->state = F_RUN;	/* so that repairs may go out while reading */
	kvs = json_object_get(reply, "kvs");
	f->syncing = 1;
	json_array_foreach(kvs, i, kv) {
		if (etcd_kv_decode(kv, &ekv, &k, &v) < 0)
			continue;
		if (ekv.klen == strlen(f->prefix) + 6 &&
		    memcmp(ekv.key + strlen(f->prefix), "leader", 6) == 0)
			had_leader = 1;
		vw_apply(f, &ekv, 0);
		explicit_bzero(v, ekv.vlen);
		free(v);
		free(k);
	}
	f->syncing = 0;
	if (!had_leader) {
		f->leader_name[0] = '\0';
		ld_step_down(f, "no leader key");
	}
	if (was_stale && !f->self_stale)
		log_notice("cluster: this host is no longer stale");
	f->failures = 0;
	f->last_error[0] = '\0';
	log_info("cluster: in sync with etcd at revision %lld (%zu hosts, "
	    "leader %s)", (long long)f->rev, f->n_hosts,
	    f->leader_name[0] ? f->leader_name : "none");
	vw_watch_start(f);
	/* The acknowledgements just read are the leader's from here on. */
	vw_acks_stop(f);
	if (f->leader) {
		f->acks_ok = 1;
		f->ack_rev = f->rev;
		(void)vw_acks_follow(f);
	} else {
		f->n_acks = 0;	/* they would only grow old */
	}
	/* This host's keys again (they may have expired meanwhile). */
	for (i = 0; i < f->n_own; i++)
		f->own[i].written = 0;
	pk_own_write(f);
	/* Acknowledgements the lease took with it. */
	for (i = 0; i < f->n_s; i++)
		if (f->s[i].gen > 0) {
			f->s[i].acked = 0;
			sc_secret_apply(f, &f->s[i]);
		}
	if (f->ops.keys != NULL)
		f->ops.keys(f->ops.arg, FLEET_KEYS_JWKS | FLEET_KEYS_CA);
	if (!had_leader || f->forged_leader != 0)
		ld_campaign(f);
	else if (f->leader)
		ld_duties(f);
}
