/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon/: the credential state machine and the API operations; the one
 * place that joins sources, sinks, api and fleet.  Only main.c includes it.
 */
/*
 * The daemon proper: builds a runtime (CAs, signers, credential schedule)
 * from a config, keeps every credential fresh on the loop, publishes
 * through the sink and asks the reloader to tell consumers.
 *
 * Schedule: each credential has a renewal point on the wall clock (from
 * its issued lifetime, read back from what was minted) and a due time on
 * CLOCK_BOOTTIME derived from it; one timerfd fires at the earliest due
 * time.  A wall-clock step re-derives every due time.  Failures retry with
 * exponential backoff and jitter while the previous generation stays
 * published.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <idp/b64.h>
#include <idp/crypto.h>

#include <idp/secret.h>

#include "api/api.h"
#include "api/trust.h"
#include "config/secretref.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/notify.h"
#include "core/sched.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "fleet/fleet.h"
#include "sinks/reload.h"
#include "sinks/sink.h"
#include "sources/mint.h"
#include "sources/upstream.h"

static int runtime_index(struct runtime *);
static void once_check(struct daemon *);

static void
runtime_free(struct runtime *rt)
{
	size_t i;

	if (rt == NULL)
		return;
	for (i = 0; rt->creds != NULL && rt->cfg != NULL &&
	    i < rt->cfg->n_creds; i++)
		file_cache_free(rt->creds[i].cache);
	if (rt->cfg != NULL) {
		for (i = 0; rt->cas != NULL && i < rt->cfg->n_cas; i++)
			ca_state_free(rt->cas[i]);
		for (i = 0; rt->signers != NULL && i < rt->cfg->n_signers; i++)
			signer_state_free(rt->signers[i]);
	}
	free(rt->cas);
	free(rt->signers);
	free(rt->signer_due);
	free(rt->ca_minted);
	free(rt->creds);
	free(rt->names);
	free(rt->index);
	free(rt->jwks);
	sink_close(rt->sink);
	config_free(rt->cfg);
	free(rt);
}

static size_t
ca_index(const struct config *c, const struct cfg_ca *ca)
{
	size_t i;

	for (i = 0; i < c->n_cas; i++)
		if (c->cas[i] == ca)
			return i;
	return 0;
}

static size_t
signer_index(const struct config *c, const struct cfg_signer *sg)
{
	size_t i;

	for (i = 0; i < c->n_signers; i++)
		if (c->signers[i] == sg)
			return i;
	return 0;
}

/* See daemon_int.h. */
const char *
type_name(enum cred_type t)
{
	switch (t) {
	case CRED_X509:		return "x509";
	case CRED_JWT:		return "jwt";
	case CRED_SECRET:	return "secret";
	case CRED_OAUTH:	return "oauth";
	}
	return "?";
}

/*
 * Adopts what is already published for credential i: a generation that
 * was minted from the same configuration and is before its renewal point
 * is reused as it is (same serial, same generation, no reload).  What is
 * believed comes from the state record in state_dir, and only when every
 * published file still matches it (sink_read_current()); anything else
 * mints anew, saying why in one line.
 */
static void
cred_adopt(struct runtime *rt, size_t i, int64_t now_w, int64_t now_m)
{
	struct cred_rt *cr = &rt->creds[i];
	const struct cfg_cred *c = cr->cfg;
	struct sink_current cur;
	char *pem = NULL;
	size_t len;
	int rc;

	cr->due_mono = now_m;
	if ((rc = sink_repair(rt->sink, c->dir)) < 0 && rc != -ENOENT)
		log_warn("credential %s: cannot repair %s/%s: %s", c->name,
		    rt->cfg->output_dir, c->dir, strerror(-rc));
	if ((rc = sink_read_current(rt->sink, c->dir, &cur)) < 0) {
		cr->generation = cur.generation;
		if (rc == -ENOENT && cur.why[0] != '\0')
			log_info("credential %s: not reusing: %s; minting a new "
			    "one", c->name, cur.why);
		else if (rc != -ENOENT)
			log_warn("credential %s: not reusing what is published: "
			    "%s; minting a new one", c->name, cur.why[0] ?
			    cur.why : strerror(-rc));
		return;
	}
	cr->generation = cur.generation;
	if (strcmp(cur.spec, cr->spec) != 0) {
		log_info("credential %s: configuration changed since generation "
		    "%llu, minting a new one", c->name,
		    (unsigned long long)cur.generation);
		return;
	}
	if (c->type == CRED_X509) {
		if (sink_read_file(rt->sink, c->dir, "cert.pem", &pem, &len) < 0 ||
		    mint_leaf_info(pem, len, cr->leaf_sha256, cr->serial,
		    NULL) < 0) {
			free(pem);
			log_warn("credential %s: published certificate unreadable, "
			    "minting a new one", c->name);
			return;
		}
		free(pem);
	}
	cr->published = now_w < cur.not_after * 1000;
	cr->issued_at = cur.issued_at * 1000;
	cr->not_before = cur.not_before * 1000;
	cr->not_after = cur.not_after * 1000;
	cr->renew_wall = cur.renew_at * 1000;
	if (now_w < cr->renew_wall) {
		cr->due_mono = now_m + (cr->renew_wall - now_w);
		log_info("credential %s: reusing generation %llu%s%s, renewal in %llds",
		    c->name, (unsigned long long)cur.generation,
		    cr->serial[0] ? " serial " : "", cr->serial,
		    (long long)((cr->renew_wall - now_w) / 1000));
	}
}

/*
 * Builds a runtime from config c (owned on success and on failure).  Loads
 * or creates every CA and signer, publishes signers, adopts published
 * credentials.  Returns 0 or -errno after logging.
 */
static int
runtime_build(struct config *c, struct runtime **ret)
{
	struct runtime *rt;
	struct idp_err err;
	int64_t now_w = loop_now_wall(), now_m = loop_now_mono();
	size_t i;
	int rc;

	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		config_free(c);
		return -ENOMEM;
	}
	rt->cfg = c;
	if ((c->n_cas && ((rt->cas = calloc(c->n_cas, sizeof(*rt->cas))) ==
	    NULL || (rt->ca_minted = calloc(c->n_cas,
	    sizeof(*rt->ca_minted))) == NULL)) ||
	    (c->n_signers && ((rt->signers = calloc(c->n_signers,
	    sizeof(*rt->signers))) == NULL || (rt->signer_due =
	    calloc(c->n_signers, sizeof(*rt->signer_due))) == NULL)) ||
	    (c->n_creds && (rt->creds = calloc(c->n_creds,
	    sizeof(*rt->creds))) == NULL) ||
	    (rt->names = calloc(c->n_creds + 1, sizeof(*rt->names))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = mint_mkdirs(c->output_dir, 0755)) < 0 ||
	    (rc = mint_mkdirs(c->state_dir, 0700)) < 0 ||
	    (rc = sink_open(c->output_dir, c->state_dir, &rt->sink)) < 0) {
		log_err("cannot open output_dir %s or state_dir %s: %s",
		    c->output_dir, c->state_dir, strerror(-rc));
		goto fail;
	}
	for (i = 0; i < c->n_cas; i++) {
		err.msg[0] = '\0';
		if ((rc = ca_state_load(c, c->cas[i], now_w, &rt->cas[i], &err)) < 0) {
			log_err("ca %s: %s", c->cas[i]->name,
			    err.msg[0] ? err.msg : strerror(-rc));
			goto fail;
		}
	}
	for (i = 0; i < c->n_signers; i++) {
		err.msg[0] = '\0';
		if ((rc = signer_state_load(c, c->signers[i], now_w,
		    &rt->signers[i], &err)) < 0) {
			log_err("signer %s: %s", c->signers[i]->name,
			    err.msg[0] ? err.msg : strerror(-rc));
			goto fail;
		}
		if ((rc = sink_repair(rt->sink, c->signers[i]->dir)) < 0 &&
		    rc != -ENOENT)
			log_warn("signer %s: cannot repair: %s",
			    c->signers[i]->name, strerror(-rc));
		if ((rc = signer_publish(rt, i, NULL)) < 0) {
			log_err("signer %s: cannot publish JWKS: %s",
			    c->signers[i]->name, strerror(-rc));
			goto fail;
		}
	}
	for (i = 0; i < c->n_creds; i++) {
		const struct cfg_cred *cc = c->creds[i];
		char fp[512] = "";

		rt->creds[i].cfg = cc;
		rt->names[i] = cc->name;
		/* What the credential depends on besides its own keys. */
		if (cc->type == CRED_X509)
			snprintf(fp, sizeof(fp), "%s",
			    rt->cas[ca_index(c, cc->ca)]->sha256);
		else if (cc->type == CRED_JWT)
			snprintf(fp, sizeof(fp), "%s %s", cc->signer->issuer,
			    idp_alg_name(cc->signer->alg));
		else if (cc->type == CRED_OAUTH)
			snprintf(fp, sizeof(fp), "%s %s %d %d %s", cc->issuer->url,
			    cc->issuer->client_id, (int)cc->issuer->auth_method,
			    (int)cc->subject_token.source,
			    cc->subject_token.source == CFG_SECRET_LITERAL ? "" :
			    cc->subject_token.arg != NULL ?
			    cc->subject_token.arg : "");
		mint_spec(cc, fp, rt->creds[i].spec);
		cred_adopt(rt, i, now_w, now_m);
	}
	if ((rc = runtime_index(rt)) < 0)
		goto fail;
	*ret = rt;
	return 0;
fail:
	runtime_free(rt);
	return rc;
}

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
		delay = sched_backoff(rt->cfg->retry_min, rt->cfg->retry_max,
		    cr->failures, sched_random());
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
		cr->due_mono = now_m + delay;
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
	cr->due_mono = now_m + (renew - now_w);
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
		cr->due_mono = loop_now_mono() + c->issuer->timeout * 3 + 60000;
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
				rt->creds[j].due_mono = now_m;
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

		if (cr->due_mono <= now_m ||
		    (cr->published && cr->failures == 0 && now_w >= cr->renew_wall))
			cred_rotate(d, i);
	}
	now_w = loop_now_wall();
	now_m = loop_now_mono();
	for (i = 0; i < rt->cfg->n_creds; i++)
		if (next == 0 || rt->creds[i].due_mono < next)
			next = rt->creds[i].due_mono;
	for (i = 0; i < rt->cfg->n_cas; i++)
		if (rt->cas[i]->renew_wall != 0) {
			int64_t at = now_m + (rt->cas[i]->renew_wall - now_w);

			if (next == 0 || at < next)
				next = at;
		}
	for (i = 0; i < rt->cfg->n_signers; i++) {
		int64_t at = now_m + (rt->signer_due[i] - now_w);

		if (next == 0 || at < next)
			next = at;
	}
	if (next != 0)
		loop_timer_set(d->timer, next);
	d->wall0 = now_w;
	d->mono0 = now_m;
	daemon_status(d);
	once_check(d);
}

/* Re-derives every due time from the wall-clock renewal points. */
static void
daemon_replan(struct daemon *d)
{
	struct runtime *rt = d->rt;
	int64_t now_w = loop_now_wall(), now_m = loop_now_mono();
	size_t i;

	for (i = 0; i < rt->cfg->n_creds; i++) {
		struct cred_rt *cr = &rt->creds[i];

		if (cr->published && cr->failures == 0)
			cr->due_mono = now_m + (cr->renew_wall - now_w);
	}
	daemon_tick(d);
}

static int64_t
on_timer(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	int64_t step;

	step = sched_clock_step(d->wall0, d->mono0, loop_now_wall(),
	    loop_now_mono());
	if (step > CLOCK_STEP_MS || step < -CLOCK_STEP_MS) {
		log_notice("wall clock moved %+.1fs against the monotonic clock; "
		    "re-planning", step / 1000.0);
		daemon_replan(d);
		return 0;
	}
	daemon_tick(d);
	return 0;		/* daemon_tick() set the next deadline */
}

static void
on_clock(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;

	loop_clockwatch_rearm(fd);
	log_notice("wall clock was set; re-planning every renewal");
	daemon_replan(d);
}

static int64_t
on_watchdog(struct loop *l, void *arg)
{
	struct daemon *d = arg;

	notify_send("WATCHDOG=1");
	return loop_now_mono() + d->wd_ms / 2;
}

/* SIGHUP: a new config replaces the old one only if all of it works. */
/*
 * Re-reads the config: a new config replaces the old one only if all of it
 * works.  Returns 0, or -errno with a reason in why (the running
 * configuration stays).
 */
int
daemon_reconfigure(struct daemon *d, char *why, size_t whylen)
{
	struct config *nc = NULL;
	struct runtime *nrt = NULL, *old = d->rt;
	struct idp_err uerr;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, i, j, nerr = 0;
	FILE *ef;
	int rc;

	log_notice("reloading %s", old->cfg->path);
	notify_send("RELOADING=1");
	if ((ef = open_memstream(&buf, &len)) == NULL) {
		rc = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	rc = config_load(old->cfg->path, ef, &nc);
	fclose(ef);
	if (rc < 0) {
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save), nerr++)
			log_err("%s", line);
		snprintf(why, whylen, "%zu errors in %s (see the log)", nerr,
		    old->cfg->path);
		goto out;
	}
	/* env: variables named for the first time leave the environment. */
	secretref_take_env(nc);
	if ((rc = runtime_build(nc, &nrt)) < 0) {
		snprintf(why, whylen, "%s", strerror(-rc));
		goto out;
	}
	/* Keep counters of credentials that stay. */
	for (i = 0; i < nrt->cfg->n_creds; i++)
		for (j = 0; j < old->cfg->n_creds; j++)
			if (strcmp(nrt->creds[i].cfg->name,
			    old->creds[j].cfg->name) == 0) {
				nrt->creds[i].rotations = old->creds[j].rotations;
				nrt->creds[i].errors = old->creds[j].errors;
			}
	if ((rc = reload_configure(d->rl, nrt->cfg)) < 0) {
		snprintf(why, whylen, "%s", strerror(-rc));
		runtime_free(nrt);
		goto out;
	}
	if (d->srv != NULL && (rc = server_configure(d->srv, nrt->cfg)) < 0) {
		snprintf(why, whylen, "HTTP API: %s", strerror(-rc));
		reload_configure(d->rl, old->cfg);
		runtime_free(nrt);
		goto out;
	}
	uerr.msg[0] = '\0';
	if ((rc = upstream_configure(d->up, nrt->cfg, &uerr)) < 0) {
		snprintf(why, whylen, "%s", uerr.msg[0] ? uerr.msg :
		    strerror(-rc));
		reload_configure(d->rl, old->cfg);
		if (d->srv != NULL)
			server_configure(d->srv, old->cfg);
		runtime_free(nrt);
		goto out;
	}
	log_setup(nrt->cfg->log_level, nrt->cfg->log_format == LOG_FORMAT_JSON);
	d->rt = nrt;
	trust_dirty(d);
	/* The fleet follows (it points into the config); a failure is logged. */
	if (fleet_apply(d, nrt->cfg) < 0)
		log_err("cluster: not joined after the reload; fix the "
		    "[cluster] section and reload again");
	runtime_free(old);
	log_notice("configuration reloaded: %zu credentials",
	    nrt->cfg->n_creds);
	daemon_tick(d);
out:
	if (rc < 0)
		log_err("config reload failed: %s; keeping the running "
		    "configuration", why);
	free(buf);
	notify_send("READY=1");
	return rc;
}

static void
on_signal(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;
	size_t i;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP: {
			char why[256];

			daemon_reconfigure(d, why, sizeof(why));
			break;
		}
		case SIGUSR1:
			log_notice("SIGUSR1: rotating every credential now");
			for (i = 0; i < d->rt->cfg->n_creds; i++)
				if (!d->rt->creds[i].inflight)
					d->rt->creds[i].due_mono = 0;
			daemon_tick(d);
			break;
		case SIGTERM:
		case SIGINT:
			log_notice("SIG%s: stopping; published files stay in place",
			    sigabbrev_np(si.ssi_signo));
			notify_send("STOPPING=1");
			loop_quit(l, 0);
			return;
		}
	}
}

static const char *
cb_leaf(void *arg, const char *name)
{
	struct daemon *d = arg;
	struct cred_rt *cr = cred_find(d->rt, name);

	return cr != NULL && cr->leaf_sha256[0] ? cr->leaf_sha256 : NULL;
}

static const char *
cb_sni(void *arg, const char *name)
{
	struct daemon *d = arg;
	const struct cfg_cred *c = config_find_cred(d->rt->cfg, name);

	if (c == NULL)
		return NULL;
	if (c->n_dns > 0)
		return c->dns[0];
	return c->common_name;
}

/*
 * --once: done when no token request runs and no reload is owed; any
 * failure ends it at once with 1 (no retries in this mode).
 */
static void
once_check(struct daemon *d)
{
	size_t i;

	if (!(d->flags & DAEMON_ONCE) || d->once_rc >= 0)
		return;
	for (i = 0; i < d->rt->cfg->n_creds; i++) {
		if (d->rt->creds[i].failures > 0)
			d->once_failed = 1;
		else if (d->rt->creds[i].inflight)
			return;
	}
	if (!d->once_failed && reload_busy(d->rl))
		return;
	d->once_rc = d->once_failed ? 1 : 0;
	loop_quit(d->loop, d->once_rc);
}

static void
cb_done(void *arg, const char *target, int ok)
{
	struct daemon *d = arg;

	if (!ok)
		d->once_failed = 1;
	once_check(d);
}

/* ---- the HTTP API's view of the daemon (struct api_ops) ---------------- */

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Builds the name index: the API looks credentials up per request. */
static int
runtime_index(struct runtime *rt)
{
	size_t i, size = 16, j;

	while (size < 2 * rt->cfg->n_creds)
		size *= 2;
	if ((rt->index = calloc(size, sizeof(*rt->index))) == NULL)
		return -ENOMEM;
	rt->index_size = size;
	for (i = 0; i < rt->cfg->n_creds; i++) {
		j = name_hash(rt->creds[i].cfg->name) & (size - 1);
		while (rt->index[j] != 0)
			j = (j + 1) & (size - 1);
		rt->index[j] = (uint32_t)i + 1;
	}
	return 0;
}

/* See daemon_int.h. */
struct cred_rt *
cred_find(struct runtime *rt, const char *name)
{
	size_t j;

	if (rt->index == NULL)
		return NULL;
	for (j = name_hash(name) & (rt->index_size - 1); rt->index[j] != 0;
	    j = (j + 1) & (rt->index_size - 1))
		if (strcmp(rt->creds[rt->index[j] - 1].cfg->name, name) == 0)
			return &rt->creds[rt->index[j] - 1];
	return NULL;
}

static void
on_keys(void *arg)
{
	struct daemon *d = arg;

	trust_dirty(d);
	server_keys_changed(d->srv);
}

static void
flush_logs(void *arg)
{
	log_flush();
}

int
daemon_new(struct config *c, int flags, struct daemon **ret)
{
	struct reload_ops ops = {
		.leaf_sha256 = cb_leaf, .sni = cb_sni, .done = cb_done,
	};
	struct daemon *d;
	struct idp_err err;
	sigset_t set;
	int rc;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		config_free(c);
		return -ENOMEM;
	}
	d->flags = flags;
	d->once_rc = -1;
	d->cfd = d->sfd = -1;
	ops.arg = d;
	if ((rc = loop_new(&d->loop)) < 0 ||
	    (rc = reload_new(d->loop, &ops, c->retry_min, c->retry_max,
	    &d->rl)) < 0 ||
	    (rc = upstream_new(d->loop, &d->up)) < 0) {
		config_free(c);
		goto fail;
	}
	upstream_on_keys(d->up, on_keys, d);
	if ((rc = runtime_build(c, &d->rt)) < 0 ||
	    (rc = reload_configure(d->rl, d->rt->cfg)) < 0)
		goto fail;
	err.msg[0] = '\0';
	if ((rc = upstream_configure(d->up, d->rt->cfg, &err)) < 0) {
		log_err("%s", err.msg[0] ? err.msg : strerror(-rc));
		goto fail;
	}
	if ((rc = fleet_apply(d, d->rt->cfg)) < 0)
		goto fail;
	/* --once publishes and leaves: no API for it. */
	if (!(flags & DAEMON_ONCE) && (d->rt->cfg->listen.unix_path != NULL ||
	    d->rt->cfg->listen.tcp_host != NULL)) {
		struct api_ops aops = daemon_api;

		aops.arg = d;
		if ((rc = server_new(d->loop, d->rt->cfg, &aops, &d->srv)) < 0)
			goto fail;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (d->cfd = loop_clockwatch_new()) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = loop_add(d->loop, d->sfd, EPOLLIN, on_signal, d)) < 0 ||
	    (rc = loop_add(d->loop, d->cfd, EPOLLIN, on_clock, d)) < 0)
		goto fail;
	if ((d->timer = loop_timer_add(d->loop, on_timer, d)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((d->wd_ms = notify_watchdog_ms()) > 0) {
		if ((d->watchdog = loop_timer_add(d->loop, on_watchdog,
		    d)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		loop_timer_set(d->watchdog, loop_now_mono() + d->wd_ms / 2);
	}
	d->wall0 = loop_now_wall();
	d->mono0 = loop_now_mono();
	/* Audit lines of one loop pass go out in one write. */
	log_batch(1);
	loop_on_idle(d->loop, flush_logs, NULL);
	daemon_tick(d);
	*ret = d;
	return 0;
fail:
	daemon_free(d);
	return rc;
}

int
daemon_run(struct daemon *d)
{
	int rc;

	if ((d->flags & DAEMON_ONCE) && d->once_rc >= 0)
		return d->once_rc;
	rc = loop_run(d->loop);
	if (d->flags & DAEMON_ONCE)
		return d->once_rc >= 0 ? d->once_rc : 1;
	return rc < 0 ? 1 : rc;
}

void
daemon_free(struct daemon *d)
{
	if (d == NULL)
		return;
	log_batch(0);
	fleet_free(d->fleet);
	server_free(d->srv);
	trust_unref(d->trust);
	reload_free(d->rl);
	upstream_free(d->up);
	runtime_free(d->rt);
	if (d->sfd >= 0)
		close(d->sfd);
	loop_timer_del(d->timer);
	loop_timer_del(d->watchdog);
	if (d->cfd >= 0)
		close(d->cfd);
	loop_free(d->loop);
	free(d);
}
