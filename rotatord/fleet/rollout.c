/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The leader's writes of fleet secrets: a new key accept-only, promoted
 * once every host has it (or ack_timeout passed), each write fenced on the
 * leadership and compared with the record it replaces.  Leader only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/secret.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

#define WAIT_WARN_MS	60000		/* a promotion waiting: say so */

void
ro_write_clear(struct fleet *f)
{
	etcd_cancel(f->e, f->wr.id);
	idp_secret_free(f->wr.plain);
	free(f->wr.key);
	memset(&f->wr, 0, sizeof(f->wr));
}

static void
on_write(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;
	struct write w = f->wr;
	json_t *resp, *kvs;
	struct etcd_kv kv;
	unsigned char *kb = NULL, *vb = NULL;

	f->wr.id = 0;
	if (rc < 0) {
		rp_fail(f, "cannot write a fleet secret: %s", why);
		ro_write_clear(f);
		loop_timer_set(f->duty_t, loop_now_mono() + DUTY_MS);
		return;
	}
	if (json_is_true(json_object_get(reply, "succeeded"))) {
		f->writes++;
		/* Ours now: the watch brings the same document back later. */
		w.s->mod_rev = etcd_int(json_object_get(json_object_get(reply,
		    "header"), "revision"), 0);
		w.s->etcd_gen = w.gen;
		snprintf(w.s->etcd_fp, sizeof(w.s->etcd_fp), "%s", w.fp);
		f->wr.plain = NULL;
		if (sc_secret_take(f, w.s, w.gen, w.fp, w.plain) < 0)
			rp_fail(f, "secret %s: cannot read back generation "
			    "%lld", w.s->name, (long long)w.gen);
		ro_write_clear(f);
		loop_timer_set(f->duty_t, loop_now_mono() + 50);
		return;
	}
	/* Lost a compare: the leadership, or the record moved. */
	resp = json_object_get(reply, "responses");
	kvs = json_object_get(json_object_get(json_array_get(resp, 0),
	    "response_range"), "kvs");
	if (etcd_int(json_object_get(json_array_get(kvs, 0),
	    "create_revision"), 0) != f->leader_rev) {
		ro_write_clear(f);
		ld_step_down(f, "the leader key changed under a write "
		    "(fenced)");
		return;
	}
	kvs = json_object_get(json_object_get(json_array_get(resp, 1),
	    "response_range"), "kvs");
	log_info("cluster: secret %s: etcd held another version than the one "
	    "this write replaced; reading it first", w.s->name);
	if (json_array_size(kvs) == 0) {
		w.s->mod_rev = 0;
		w.s->etcd_gen = 0;
	} else if (etcd_kv_decode(json_array_get(kvs, 0), &kv, &kb, &vb) == 0) {
		vw_apply(f, &kv, 0);
		free(kb);
		if (vb != NULL)
			explicit_bzero(vb, kv.vlen);
		free(vb);
	}
	ro_write_clear(f);
	loop_timer_set(f->duty_t, loop_now_mono() + 50);
}

/*
 * Writes generation gen of s with document plain (taken), fenced on this
 * host's leadership and compared with the record it replaces, together
 * with the requests in extra (an array of txn operations, taken; NULL for
 * none).  Returns 0 or -errno.
 */
static int
secret_write(struct fleet *f, struct fsecret *s, int64_t gen,
    struct idp_secret *plain, json_t *extra)
{
	char fp[FLEETREC_FP_LEN + 1], *sk = NULL, *lk = NULL, rev[32];
	json_t *body = NULL, *val, *cmp, *succ, *fl;
	int rc = -ENOMEM;

	if (plain == NULL)
		goto out;
	sk = fl_key_of(f, "secrets/%s", s->name);
	lk = fl_key_of(f, "leader");
	body = json_pack("{s:s,s:I,s:s}", "name", s->name, "gen",
	    (json_int_t)gen, "by", f->name);
	if (sk == NULL || lk == NULL || body == NULL ||
	    (rc = fleetrec_fp(&f->k, plain->buf, plain->len, fp)) < 0 ||
	    (rc = fleetrec_seal(&f->k, sk, gen, plain->buf, plain->len,
	    body)) < 0)
		goto out;
	json_object_set_new(body, "fp", json_string(fp));
	rc = -ENOMEM;
	val = fl_record(f, sk, body);
	body = NULL;
	if (val == NULL)
		goto out;
	snprintf(rev, sizeof(rev), "%lld", (long long)f->leader_rev);
	cmp = json_pack("[{s:o,s:s,s:s,s:s}]", "key", fl_b64s(lk), "target",
	    "CREATE", "result", "EQUAL", "create_revision", rev);
	if (s->mod_rev != 0) {
		snprintf(rev, sizeof(rev), "%lld", (long long)s->mod_rev);
		json_array_append_new(cmp, json_pack("{s:o,s:s,s:s,s:s}", "key",
		    fl_b64s(sk), "target", "MOD", "result", "EQUAL",
		    "mod_revision", rev));
	} else {
		json_array_append_new(cmp, json_pack("{s:o,s:s,s:s,s:s}", "key",
		    fl_b64s(sk), "target", "CREATE", "result", "EQUAL",
		    "create_revision", "0"));
	}
	succ = json_pack("[{s:{s:o,s:o}}]", "requestPut", "key", fl_b64s(sk),
	    "value", val);
	if (extra != NULL)
		json_array_extend(succ, extra);
	fl = json_pack("[{s:{s:o}},{s:{s:o}}]", "requestRange", "key",
	    fl_b64s(lk), "requestRange", "key", fl_b64s(sk));
	if ((rc = etcd_call(f->e, "/v3/kv/txn", json_pack("{s:o,s:o,s:o}",
	    "compare", cmp, "success", succ, "failure", fl), on_write, f,
	    &f->wr.id)) < 0)
		goto out;
	f->wr.s = s;
	f->wr.gen = gen;
	snprintf(f->wr.fp, sizeof(f->wr.fp), "%s", fp);
	f->wr.plain = plain;
	f->wr.key = sk;
	plain = NULL;
	sk = NULL;
out:
	json_decref(extra);
	json_decref(body);
	idp_secret_free(plain);
	free(sk);
	free(lk);
	return rc;
}

/* The highest generation of s anyone has seen: new ones go above it. */
static int64_t
secret_top(const struct fleet *f, const struct fsecret *s)
{
	const struct fleet_hw *hw = fleetstate_hw(f->st, s->name);
	int64_t top = s->gen;

	if (hw != NULL && hw->gen > top)
		top = hw->gen;
	if (s->etcd_gen > top)
		top = s->etcd_gen;
	return top;
}

/* Promotes s's accept-only key; hosts in missing[] are left behind. */
static int
promote(struct fleet *f, struct fsecret *s, const char **missing,
    size_t n_missing, int64_t now)
{
	size_t keep = s->cfg->keep > 0 ? s->cfg->keep : 1, n, i;
	int64_t gen = secret_top(f, s) + 1;
	json_t *extra = json_array();
	char *k;

	n = s->n < keep ? s->n : keep;
	for (i = 0; i < n_missing; i++) {
		if ((k = fl_key_of(f, "stale/%s", missing[i])) == NULL)
			continue;
		json_array_append_new(extra, fl_put_op(f, k, json_pack(
		    "{s:s,s:s,s:I,s:I}", "host", missing[i], "secret", s->name,
		    "gen", (json_int_t)s->gen, "at", (json_int_t)now)));
		free(k);
	}
	if (n_missing > 0)
		log_warn("cluster: secret %s: %zu host(s) did not acknowledge "
		    "generation %lld within %llds (%s%s); promoting without "
		    "them and marking them stale", s->name, n_missing,
		    (long long)s->gen, (long long)(f->ack_timeout / 1000),
		    missing[0], n_missing > 1 ? ", ..." : "");
	else
		log_notice("cluster: secret %s: every host has the new key; "
		    "promoting it", s->name);
	return secret_write(f, s, gen, sc_doc_plain(s, gen, s->keys, s->issued,
	    n, 0), extra);
}

/*
 * An accept-only key is out there: promotes it once every host has taken
 * it, or at ack_timeout without those that have not (every one of them is
 * marked stale, however many).  Returns 1 when a write started, 0 while
 * it waits, -1 on error.
 */
static int
promote_when_taken(struct fleet *f, struct fsecret *s, int64_t now)
{
	const char **missing;
	size_t i, n_missing = 0;
	int rc = 0;

	if ((missing = calloc(f->n_hosts + f->n_left + 1,
	    sizeof(*missing))) == NULL)
		return -1;
	for (i = 0; i < f->n_hosts; i++) {
		if (!hs_host_serves(&f->hosts[i], s->name) ||
		    (strcmp(f->hosts[i].name, f->name) == 0 ?
		    s->applied == s->gen : hs_host_acked(f, s,
		    f->hosts[i].name)))
			continue;
		missing[n_missing++] = f->hosts[i].name;
	}
	for (i = 0; i < f->n_left; i++) {
		if (loop_now_mono() - f->left[i].left >= f->ttl ||
		    !hs_host_serves(&f->left[i], s->name))
			continue;
		missing[n_missing++] = f->left[i].name;
	}
	if (n_missing == 0)
		rc = promote(f, s, NULL, 0, now) < 0 ? -1 : 1;
	else {
		if (s->waiting_since == 0)
			s->waiting_since = s->warned = now;
		if (now - s->waiting_since >= f->ack_timeout)
			rc = promote(f, s, missing, n_missing, now) < 0 ? -1 : 1;
		else if (now - s->warned >= WAIT_WARN_MS) {
			log_warn("cluster: secret %s: host %s%s has not taken "
			    "generation %lld for %llds; the new key waits (at "
			    "most ack_timeout = %llds)", s->name, missing[0],
			    n_missing > 1 ? " (and others)" : "",
			    (long long)s->gen,
			    (long long)((now - s->waiting_since) / 1000),
			    (long long)(f->ack_timeout / 1000));
			s->warned = now;
		}
	}
	free(missing);
	return rc;
}

/* One secret's next step, if any.  Returns 1 when a write started. */
int
ro_duty(struct fleet *f, struct fsecret *s, int64_t now)
{
	struct idp_secret *keys[FLEET_MAX_KEYS], *fresh = NULL;
	struct idp_secret *fillers[FLEET_MAX_KEYS] = { NULL };
	int64_t issued[FLEET_MAX_KEYS], gen;
	const struct rotreq *req;
	json_t *extra;
	size_t n = 0, i, keep;
	char *k;
	int rc;

	if (s->cfg == NULL)
		return 0;
	keep = s->cfg->keep > 0 ? s->cfg->keep : 1;
	/* etcd must hold what this host holds (deleted, replayed, forged). */
	if (s->gen > 0 && (s->etcd_gen != s->gen ||
	    strcmp(s->etcd_fp, s->fp) != 0)) {
		if (s->etcd_gen < s->gen) {
			log_notice("cluster: secret %s: etcd does not hold "
			    "generation %lld; writing it again", s->name,
			    (long long)s->gen);
			return secret_write(f, s, s->gen, idp_secret_dup(
			    s->plain->buf, s->plain->len), NULL) < 0 ? -1 : 1;
		}
		gen = secret_top(f, s) + 1;
		log_notice("cluster: secret %s: etcd holds a generation this "
		    "host refused; writing its own keys as generation %lld",
		    s->name, (long long)gen);
		return secret_write(f, s, gen, sc_doc_plain(s, gen, s->keys,
		    s->issued, s->n, s->active), NULL) < 0 ? -1 : 1;
	}
	if (s->gen > 0 && s->n > 0 && s->active != 0)
		return promote_when_taken(f, s, now);
	req = rq_secret_pending(f, s);
	if (s->gen > 0 && s->n > 0 && req == NULL &&
	    now < s->issued[0] + (int64_t)((double)s->cfg->lifetime *
	    s->cfg->renew_at))
		return 0;
	/* A new key: accepted first, except the very first one. */
	if ((rc = idp_secret_random(s->cfg->bytes, &fresh)) < 0)
		return -1;
	keys[n] = fresh;
	issued[n++] = now;
	for (i = 0; i < s->n && i < keep; i++) {
		keys[n] = s->keys[i];
		issued[n++] = s->issued[i];
	}
	/*
	 * The first generation fills every slot (keep files), with random
	 * keys nothing encrypts with, as a local secret does: consumers such
	 * as nginx need every file from the start.
	 */
	for (i = 0; s->n == 0 && n < keep && n < FLEET_MAX_KEYS; i++) {
		if (idp_secret_random(s->cfg->bytes, &fillers[i]) < 0)
			break;
		keys[n] = fillers[i];
		issued[n++] = now;
	}
	gen = secret_top(f, s) + 1;
	/* Every request waiting for it is done by this generation. */
	extra = json_array();
	for (i = 0; i < f->n_reqs; i++) {
		if (!rq_names(&f->reqs[i], s->name) ||
		    rq_done_known(f, f->reqs[i].id, s->name) ||
		    (k = fl_key_of(f, "done/%s/%s", f->reqs[i].id,
		    s->name)) == NULL)
			continue;
		json_array_append_new(extra, fl_put_op(f, k, json_pack(
		    "{s:s,s:s,s:I}", "id", f->reqs[i].id, "name", s->name,
		    "gen", (json_int_t)gen)));
		free(k);
	}
	rc = secret_write(f, s, gen, sc_doc_plain(s, gen, keys, issued, n,
	    s->n > 0 ? 1 : 0), extra);
	idp_secret_free(fresh);
	for (i = 0; i < FLEET_MAX_KEYS; i++)
		idp_secret_free(fillers[i]);
	if (rc < 0)
		return -1;
	log_notice("cluster: secret %s: new key (fleet generation %lld)%s%s%s",
	    s->name, (long long)gen, s->n > 0 ? ", accept-only until every "
	    "host has it" : "", req != NULL ? ", for rotate request " : "",
	    req != NULL ? req->id : "");
	return 1;
}
