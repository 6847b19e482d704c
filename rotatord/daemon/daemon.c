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
 * daemon.c: the lifecycle (new, run, free), the loop's signals, timers and
 * clock watch, reloads of the config and --once.  The other files of
 * daemon/ are named in daemon_int.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api/api.h"
#include "api/trust.h"
#include "config/secretref.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/notify.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "fleet/fleet.h"
#include "sinks/reload.h"
#include "sources/upstream.h"


static int64_t
on_timer(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	int64_t step;

	if (schedule_clock_stepped(d->wall0, d->mono0, loop_now_wall(),
	    loop_now_mono(), &step)) {
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
					cred_ask(&d->rt->creds[i], 0);
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
void
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
	/*
	 * Lines below warning go out in batches from here on: one write per
	 * 64 KiB at start (a line per credential adopted), then one per loop
	 * pass for the audit lines (flush_logs()).
	 */
	log_batch(1);
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
	if ((d->timer = loop_timer_add(d->loop, on_timer, d)) == NULL ||
	    (d->keys_t = loop_timer_add(d->loop, fleet_keys_settled,
	    d)) == NULL) {
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
	log_flush();
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
	loop_timer_del(d->keys_t);
	if (d->cfd >= 0)
		close(d->cfd);
	loop_free(d->loop);
	free(d);
}
