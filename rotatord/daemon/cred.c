/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cred.c: the credential state machine: mint or fetch what is due, publish
 * or back off, plan the next attempt, arm the one timer.  Its arithmetic is
 * schedule.c's; the loop, signals and reloads of the config are daemon.c's.
 */
/*
 * Schedule: each credential has a renewal point on the wall clock (from
 * its issued lifetime, read back from what was minted) and a due time on
 * CLOCK_BOOTTIME derived from it; one timerfd fires at the earliest due
 * time.  A wall-clock step re-derives every due time.  Failures retry with
 * exponential backoff and jitter while the previous generation stays
 * published.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <idp/crypto.h>
#include <idp/secret.h>

#include "api/api.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/notify.h"
#include "core/sched.h"
#include "daemon/daemon_int.h"
#include "sinks/reload.h"
#include "sinks/sink.h"
#include "sources/mint.h"
#include "sources/upstream.h"

/* Reads the secret keys of the current generation, newest first. */
static size_t
read_prev_keys(struct runtime *rt, const struct cfg_cred *c,
    struct idp_secret **keys, size_t max)
{
	char name[32], *buf;
	size_t n = 0, len;

	for (n = 0; n < max; n++) {
		snprintf(name, sizeof(name), "%zu.key", n);
		if (sink_read_file(rt->sink, c->dir, name, &buf, &len) < 0)
			break;
		keys[n] = idp_secret_dup(buf, len);
		idp_wipe(buf, len);
		free(buf);
		if (keys[n] == NULL)
			break;
	}
	return n;
}

/*
 * Publishes what a rotation of credential i produced (rc 0 and r), or
 * records its failure (rc < 0, reason in err), and plans the next attempt.
 * This is where the outcome is logged.  Returns 0 or -errno.
 */
int
cred_finish(struct daemon *d, size_t i, int rc, struct mint_result *r,
    struct idp_err *err)
{
	struct runtime *rt = d->rt;
	struct cred_rt *cr = &rt->creds[i];
	const struct cfg_cred *c = cr->cfg;
	struct material_meta m;
	int64_t now_w = loop_now_wall(), now_m, renew = 0, delay;
	uint64_t gen = 0;
	size_t j;

	if (rc == 0) {
		renew = sched_renew_point(r->issued_at, r->not_after,
		    c->renew_at, c->jitter, sched_random());
		memset(&m, 0, sizeof(m));
		m.name = c->name;
		m.type = type_name(c->type);
		m.issued_at = r->issued_at / 1000;
		m.not_before = r->not_before / 1000;
		m.not_after = r->not_after / 1000;
		m.renew_at = renew / 1000;
		m.spec = cr->spec;
		rc = sink_publish(rt->sink, c->dir, r->files, r->n_files, &m,
		    c->uid, c->gid, 0755, &gen);
		if (rc < 0)
			idp_err_set(err, rc, "cannot publish to %s/%s: %s",
			    rt->cfg->output_dir, c->dir, strerror(-rc));
	}
	now_m = loop_now_mono();
	if (rc < 0) {
		cr->failures++;
		cr->errors++;
		snprintf(cr->last_error, sizeof(cr->last_error), "%s",
		    err->msg[0] ? err->msg : strerror(-rc));
		schedule_retry(rt->cfg->retry_min, rt->cfg->retry_max,
		    cr->failures, sched_random(), now_m, &delay);
		delay = schedule_retry_cap(delay, rt->cfg->retry_min,
		    cr->published ? cr->not_after - now_w : 0);
		cr->due_mono = now_m + delay;
		if (cr->published && now_w < cr->not_after)
			log_warn("credential %s: %s; keeping generation %llu "
			    "(expires in %llds), retrying in %.1fs", c->name,
			    cr->last_error, (unsigned long long)cr->generation,
			    (long long)((cr->not_after - now_w) / 1000),
			    delay / 1000.0);
		else if (cr->published)
			log_err("credential %s: %s; generation %llu EXPIRED %llds "
			    "ago, retrying in %.1fs", c->name, cr->last_error,
			    (unsigned long long)cr->generation,
			    (long long)((now_w - cr->not_after) / 1000),
			    delay / 1000.0);
		else
			log_err("credential %s: %s; nothing published yet, "
			    "retrying in %.1fs", c->name, cr->last_error,
			    delay / 1000.0);
		if (r != NULL)
			mint_result_clear(r);
		return rc;
	}
	if (cr->failures > 0)
		log_notice("credential %s: recovered after %u failed attempts",
		    c->name, cr->failures);
	cr->failures = 0;
	cr->last_error[0] = '\0';
	cr->published = 1;
	cr->generation = gen;
	cr->issued_at = r->issued_at;
	cr->not_before = r->not_before;
	cr->not_after = r->not_after;
	cr->renew_wall = renew;
	cr->due_mono = schedule_mono(renew, now_w, now_m);
	memcpy(cr->leaf_sha256, r->leaf_sha256, sizeof(cr->leaf_sha256));
	memcpy(cr->serial, r->serial, sizeof(cr->serial));
	if (rc == 1) {
		cr->rotations++;
		log_info("credential %s: published generation %llu (%s), "
		    "expires in %llds, renewal in %.1fs", c->name,
		    (unsigned long long)gen, r->id,
		    (long long)((r->not_after - now_w) / 1000),
		    (renew - now_w) / 1000.0);
		for (j = 0; j < c->n_on_rotate; j++)
			reload_request(d->rl, c->on_rotate[j]->name, c->name);
		if (d->srv != NULL)
			server_notify(d->srv, c->name, gen);
	}
	mint_result_clear(r);
	return 0;
}

/* An access token arrived (or did not) for an oauth credential. */
static void
on_oauth_token(void *arg, const struct cfg_cred *c, int rc,
    const struct idp_token *tok, const char *why)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	struct mint_result r;
	struct idp_err err;
	size_t i;

	/* Fetches are cancelled when the runtime changes; be sure anyway. */
	for (i = 0; i < rt->cfg->n_creds; i++)
		if (rt->creds[i].cfg == c)
			break;
	if (i == rt->cfg->n_creds)
		return;
	rt->creds[i].inflight = 0;
	err.msg[0] = '\0';
	memset(&r, 0, sizeof(r));
	if (rc < 0)
		idp_err_set(&err, rc, "%s", why != NULL ? why : strerror(-rc));
	else
		rc = mint_oauth(c, tok, loop_now_wall(), &r, &err);
	cred_finish(d, i, rc, rc == 0 ? &r : NULL, &err);
	daemon_tick(d);
}

/* Mints and publishes credential i now (oauth: starts the request). */
static int
cred_rotate(struct daemon *d, size_t i)
{
	struct runtime *rt = d->rt;
	struct cred_rt *cr = &rt->creds[i];
	const struct cfg_cred *c = cr->cfg;
	struct idp_secret *prev[16] = { NULL };
	struct mint_result r;
	struct idp_err err;
	int64_t now_w = loop_now_wall();
	size_t n_prev = 0, j;
	int rc = -EINVAL;

	cr->asked = 0;

	err.msg[0] = '\0';
	memset(&r, 0, sizeof(r));
	switch (c->type) {
	case CRED_X509: {
		size_t ci = ca_index(rt->cfg, c->ca);
		struct ca_state *ca = rt->cas[ci];
		char *trust = ca->trust_pem, *fleet_pem = ca_fleet_pem(d, ci);
		size_t trust_len = ca->trust_len;

		/* In a fleet, ca.pem holds every host's certificates of it. */
		if (fleet_pem != NULL) {
			ca->trust_pem = fleet_pem;
			ca->trust_len = strlen(fleet_pem);
		}
		rt->ca_minted[ci] = fnv1a(ca->trust_pem, ca->trust_len);
		rc = mint_x509(rt->cfg, c, ca, now_w, &r, &err);
		ca->trust_pem = trust;
		ca->trust_len = trust_len;
		free(fleet_pem);
		break;
	}
	case CRED_JWT:
		rc = mint_jwt(rt->cfg, c,
		    rt->signers[signer_index(rt->cfg, c->signer)], now_w, &r, &err);
		break;
	case CRED_SECRET:
		if (c->fleet && d->fleet != NULL) {
			/* The fleet's leader makes it; it arrives by watch. */
			cr->due_mono = loop_now_mono() + FLEET_WAIT_MS;
			return 0;
		}
		n_prev = read_prev_keys(rt, c, prev, c->keep > 1 ? c->keep - 1 : 0);
		rc = mint_secret(c, prev, n_prev, now_w, &r, &err);
		for (j = 0; j < n_prev; j++)
			idp_secret_free(prev[j]);
		break;
	case CRED_OAUTH:
		if (cr->inflight)
			return 0;
		if ((rc = upstream_fetch_token(d->up, c, on_oauth_token, d)) < 0) {
			idp_err_set(&err, rc, "cannot ask issuer %s: %s",
			    c->issuer->name, strerror(-rc));
			break;
		}
		/* The answer arrives through on_oauth_token(); not due before. */
		cr->inflight = 1;
		cr->due_mono = schedule_oauth_wait(c->issuer->timeout,
		    loop_now_mono());
		return 0;
	}
	return cred_finish(d, i, rc, rc == 0 ? &r : NULL, &err);
}

/*
 * Sends READY=1 once and the current STATUS= line.  Ready means the first
 * attempt at every credential has ended: published, or failed (and
 * retrying).  An oauth credential whose first token request is still
 * running holds it back, so that READY=1 (and the "ready:" line) never
 * comes before a token that was about to arrive.
 */
void
daemon_status(struct daemon *d)
{
	struct runtime *rt = d->rt;
	size_t i, ok = 0, failing = 0, waiting = 0;

	for (i = 0; i < rt->cfg->n_creds; i++) {
		if (rt->creds[i].published)
			ok++;
		if (rt->creds[i].failures > 0)
			failing++;
		else if (rt->creds[i].inflight && !rt->creds[i].published)
			waiting++;
	}
	if (!d->ready && waiting == 0) {
		d->ready = 1;
		log_notice("ready: %zu of %zu credentials published", ok,
		    rt->cfg->n_creds);
		notify_send("READY=1");
	}
	notify_status("%zu of %zu credentials published, %zu failing", ok,
	    rt->cfg->n_creds, failing);
}

/* Rotates whatever is due and arms the timer for the next due time. */
void
daemon_tick(struct daemon *d)
{
	struct runtime *rt = d->rt;
	int64_t now_w = loop_now_wall(), now_m = loop_now_mono(), next = 0;
	struct idp_err err;
	size_t i, j;
	int rc;

	/* CA rollover: a new CA, then every leaf of it re-minted. */
	for (i = 0; i < rt->cfg->n_cas; i++) {
		struct ca_state *ns = NULL;

		if (rt->cas[i]->renew_wall == 0 || now_w < rt->cas[i]->renew_wall)
			continue;
		err.msg[0] = '\0';
		if ((rc = ca_state_load(rt->cfg, rt->cfg->cas[i], now_w, &ns,
		    &err)) < 0) {
			log_err("ca %s: rollover failed: %s; retrying in 60s",
			    rt->cfg->cas[i]->name, err.msg);
			rt->cas[i]->renew_wall = now_w + 60000;
			continue;
		}
		ca_state_free(rt->cas[i]);
		rt->cas[i] = ns;
		for (j = 0; j < rt->cfg->n_creds; j++)
			if (rt->creds[j].cfg->ca == rt->cfg->cas[i]) {
				mint_spec(rt->creds[j].cfg, ns->sha256,
				    rt->creds[j].spec);
				cred_ask(&rt->creds[j], now_m);
			}
	}
	/* Signer key rotation and retired keys leaving the JWKS. */
	for (i = 0; i < rt->cfg->n_signers; i++) {
		struct signer_state *ns = NULL;

		if (now_w < rt->signer_due[i])
			continue;
		err.msg[0] = '\0';
		if ((rc = signer_state_load(rt->cfg, rt->cfg->signers[i], now_w,
		    &ns, &err)) < 0 || (signer_state_free(rt->signers[i]),
		    rt->signers[i] = ns, trust_dirty(d),
		    (rc = signer_refresh(d, i)) < 0)) {
			log_err("signer %s: key rotation failed: %s; retrying in 60s",
			    rt->cfg->signers[i]->name,
			    err.msg[0] ? err.msg : strerror(-rc));
			rt->signer_due[i] = now_w + 60000;
		}
	}
	/* New or retired signer keys reach the fleet (unchanged: no write). */
	daemon_publish_jwks(d);
	for (i = 0; i < rt->cfg->n_creds; i++) {
		struct cred_rt *cr = &rt->creds[i];

		if (schedule_cred_due(cr->due_mono, cr->published, cr->failures,
		    cr->renew_wall, now_w, now_m))
			cred_rotate(d, i);
	}
	now_w = loop_now_wall();
	now_m = loop_now_mono();
	for (i = 0; i < rt->cfg->n_creds; i++)
		next = schedule_earliest(next, rt->creds[i].due_mono);
	for (i = 0; i < rt->cfg->n_cas; i++)
		if (rt->cas[i]->renew_wall != 0)
			next = schedule_earliest(next, schedule_mono(
			    rt->cas[i]->renew_wall, now_w, now_m));
	for (i = 0; i < rt->cfg->n_signers; i++)
		next = schedule_earliest(next, schedule_mono(rt->signer_due[i],
		    now_w, now_m));
	if (next != 0)
		loop_timer_set(d->timer, next);
	d->wall0 = now_w;
	d->mono0 = now_m;
	daemon_status(d);
	once_check(d);
}

/* Re-derives every due time from the wall-clock renewal points. */
void
daemon_replan(struct daemon *d)
{
	struct runtime *rt = d->rt;
	int64_t now_w = loop_now_wall(), now_m = loop_now_mono();
	size_t i;

	for (i = 0; i < rt->cfg->n_creds; i++) {
		struct cred_rt *cr = &rt->creds[i];

		if (!cr->published || cr->failures != 0)
			continue;
		/* A rotation asked for (a CA changed, rotate) still runs. */
		cr->due_mono = schedule_replanned(cr->due_mono, cr->asked,
		    schedule_mono(cr->renew_wall, now_w, now_m));
	}
	daemon_tick(d);
}

void
cred_ask(struct cred_rt *cr, int64_t at)
{
	if (!cr->asked || at < cr->due_mono)
		cr->due_mono = at;
	cr->asked = 1;
}
