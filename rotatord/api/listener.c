/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A listener's life: its MHD daemon in external epoll mode (its epoll fd
 * watched by the loop, a timerfd following MHD_get_timeout()), dormant
 * until the first connection loads libmicrohttpd, drained when replaced;
 * its connections (the unix peer, per-uid counts) and requests.  It owns
 * every suspended request: the parts that suspend some register
 * struct ls_hooks, through which it ends them, and one deadline timer
 * serves them all.  It knows no route: the access handler is
 * s->access.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <idp/crypto.h>

#include "api/server_int.h"
#include "core/log.h"
#include "core/loop.h"

#define MHD_MEMORY_LIMIT	(32 * 1024)	/* per connection; caps headers */
#define LOG_BURST		20		/* MHD messages per 10 s */

static void listener_arm(struct listener *ls);

/* See server_int.h: the hooks of the parts that suspend requests. */
int
ls_hooks_add(struct server *s, const struct ls_hooks *h)
{
	if (s->n_hooks == LS_MAX_HOOKS)
		return -ENOSPC;
	s->hooks[s->n_hooks++] = h;
	return 0;
}

/* ls goes: every part answers the requests it holds suspended there. */
static void
ls_going(struct listener *ls)
{
	struct server *s = ls->srv;
	size_t i;

	for (i = 0; i < s->n_hooks; i++)
		if (s->hooks[i]->going != NULL)
			s->hooks[i]->going(s, ls);
}

/* See server_int.h: one timer for the deadlines of every hook. */
void
ls_deadlines_arm(struct server *s)
{
	int64_t at = 0, t;
	size_t i;

	for (i = 0; i < s->n_hooks; i++)
		if (s->hooks[i]->next != NULL &&
		    (t = s->hooks[i]->next(s)) != 0 && (at == 0 || t < at))
			at = t;
	loop_timer_set(s->deadlines, at);
}

/* The deadline timer: each hook lets go what is due, then MHD runs. */
static int64_t
on_deadline(struct loop *l, void *arg)
{
	struct server *s = arg;
	int64_t now = loop_now_mono();
	size_t i;

	for (i = 0; i < s->n_hooks; i++)
		if (s->hooks[i]->expire != NULL)
			s->hooks[i]->expire(s, now);
	ls_resumed_run(s);
	ls_deadlines_arm(s);
	return 0;
}

/* See server_int.h. */
int
ls_deadlines_start(struct server *s)
{
	if ((s->deadlines = loop_timer_add(s->loop, on_deadline, s)) == NULL)
		return -ENOMEM;
	return 0;
}

/* See server_int.h. */
void
ls_deadlines_stop(struct server *s)
{
	loop_timer_del(s->deadlines);
	s->deadlines = NULL;
}

/*
 * Lets a suspended request go on: MHD handles it again on its next run,
 * which ls_resumed_run() does for a whole batch.  (Arming the listener's
 * timer for each one instead costs two timerfd_settime() calls a request,
 * which in a VM cost more than the signature check.)
 */
void
ls_resume(struct req *rq)
{
	MHD_resume_connection(rq->mc);
	rq->cn->ls->resumed = 1;
}

/*
 * Runs ls's MHD on the next pass of the loop: in external polling mode
 * MHD picks resumed connections up on its next MHD_run() only, and
 * MHD_get_timeout() does not ask for one.
 */
void
ls_run_soon(struct listener *ls)
{
	ls->armed = loop_now_mono();
	loop_timer_set(ls->timer, ls->armed);
}

/* Reads the peer credentials of a unix connection.  Returns 0 or -errno. */
int
ls_peer_load(struct conn *cn, struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci;
	struct peer *p = &cn->peer;
	struct ucred uc;
	socklen_t sl = sizeof(uc), gl = 0;
	char path[64], exe[EXE_MAX], sb[EXE_MAX];
	ssize_t n;
	int fd;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return -EBADF;
	fd = ci->connect_fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) < 0)
		return -errno;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
	/* Supplementary groups (Linux 4.13+); without them: none. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &gl) < 0 &&
	    errno == ERANGE && gl > 0 && gl <= 65536 * sizeof(gid_t)) {
		if ((p->groups = malloc(gl)) == NULL)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups,
		    &gl) == 0)
			p->n_groups = gl / sizeof(gid_t);
	}
	/* Best effort, for the audit line only (never for decisions). */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)uc.pid);
	if (uc.pid > 0 && (n = readlink(path, exe, sizeof(exe) - 1)) > 0)
		exe[n] = '\0';
	else
		snprintf(exe, sizeof(exe), "?");
	snprintf(p->desc, sizeof(p->desc), "uid=%u pid=%d exe=%s",
	    (unsigned)uc.uid, (int)uc.pid, txt_safe(sb, sizeof(sb), exe,
	    EXE_MAX - 8));
	p->done = 1;
	return 0;
}

/*
 * Ends rq (the hooks take it off any long poll or verification), frees
 * its body and clears it for the next request.  Once per request: the
 * completion callback's reset makes the next request's a no-op.
 */
void
ls_req_reset(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;
	struct conn *cn = rq->cn;
	struct MHD_Connection *mc = rq->mc;
	size_t i;

	if (!rq->used)
		return;			/* clear since its last reset */
	for (i = 0; i < s->n_hooks; i++)
		if (s->hooks[i]->req_end != NULL)
			s->hooks[i]->req_end(rq);
	free(rq->form);
	if (rq->body != NULL) {
		idp_wipe(rq->body, rq->body_cap);
		free(rq->body);
	}
	memset(rq, 0, sizeof(*rq));
	rq->cn = cn;
	rq->mc = mc;
}

static void
on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq != NULL)
		ls_req_reset(rq);
	*con_cls = NULL;
}

/* The open-connection count of uid on ls, added when absent; NULL: OOM. */
static struct uid_count *
uid_slot(struct listener *ls, uid_t uid)
{
	struct uid_count *u;
	size_t i;

	for (i = 0; i < ls->n_uids; i++)
		if (ls->uids[i].uid == uid)
			return &ls->uids[i];
	if (ls->n_uids == ls->cap_uids) {
		size_t cap = ls->cap_uids ? ls->cap_uids * 2 : 8;

		if ((u = reallocarray(ls->uids, cap, sizeof(*u))) == NULL)
			return NULL;
		ls->uids = u;
		ls->cap_uids = cap;
	}
	u = &ls->uids[ls->n_uids++];
	u->uid = uid;
	u->n = 0;
	return u;
}

/*
 * A new connection on the unix socket: who it is (read now, once), and
 * whether its uid is within [listen] per_uid_limit.  One member of the
 * socket's group cannot take every connection: over the limit, the
 * connection is shut down at once, before it can hold a slot.  root is
 * not limited.
 */
static void
uid_admit(struct listener *ls, struct conn *cn, struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci;
	unsigned limit = ls->srv->cfg->listen.per_uid_limit;
	struct uid_count *u;
	int64_t now;

	if (ls_peer_load(cn, mc) < 0 || cn->peer.uid == 0 || limit == 0)
		return;
	if ((u = uid_slot(ls, cn->peer.uid)) == NULL)
		return;
	if (u->n < limit) {
		u->n++;
		cn->counted = 1;
		return;
	}
	cn->refused = 1;
	ls->srv->uid_refused++;
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		(void)shutdown(ci->connect_fd, SHUT_RDWR);
	now = loop_now_mono();
	if (ls->uid_logged == 0 || now - ls->uid_logged >= 10000) {
		ls->uid_logged = now;
		log_notice("http: unix: uid %u has %u connections open "
		    "([listen] per_uid_limit): refusing more (%s)",
		    (unsigned)cn->peer.uid, u->n, cn->peer.desc);
	}
}

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct listener *ls = cls;
	struct conn *cn;
	size_t i;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* NULL on failure: http_access() then closes the connection. */
		if ((cn = calloc(1, sizeof(*cn))) != NULL) {
			cn->ls = ls;
			cn->rq.cn = cn;
			cn->rq.mc = mc;
			if (ls->is_unix)
				uid_admit(ls, cn, mc);
		}
		*socket_context = cn;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if ((cn = *socket_context) == NULL)
			return;
		for (i = 0; cn->counted && i < ls->n_uids; i++)
			if (ls->uids[i].uid == cn->peer.uid && ls->uids[i].n > 0) {
				ls->uids[i].n--;
				break;
			}
		ls_req_reset(&cn->rq);
		tc_conn_forget(cn);
		free(cn->peer.groups);
		free(cn);
		*socket_context = NULL;
	}
}

/*
 * MHD's own messages.  While a daemon starts they are errors; after that
 * clients cause them (closed connections, oversized headers), so they are
 * debug lines, except hitting a connection limit (notice), and at most
 * LOG_BURST of those per 10 s.
 */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct listener *ls = cls;
	struct server *s = ls->srv;
	int64_t now = loop_now_mono();
	char buf[512];
	int prio;
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (ls->d == NULL) {
		log_err("http: %s", buf);
		return;
	}
	prio = strstr(buf, "limit") != NULL ? LOG_NOTICE : LOG_DEBUG;
	if (prio == LOG_DEBUG) {
		log_debug("http: %s: %s", ls->is_unix ? "unix" : "tcp", buf);
		return;
	}
	if (now - s->log_window >= 10000) {
		if (s->log_dropped > 0)
			log_notice("http: %u more libmicrohttpd messages "
			    "dropped", s->log_dropped);
		s->log_window = now;
		s->log_count = 0;
		s->log_dropped = 0;
	}
	if (++s->log_count > LOG_BURST) {
		s->log_dropped++;
		return;
	}
	log_msg(prio, "http: %s: %s", ls->is_unix ? "unix" : "tcp", buf);
}

/* Runs MHD, then re-arms its timer, or ends a drained listener. */
static void
listener_run(struct listener *ls)
{
	const union MHD_DaemonInfo *di;

	MHD_run(ls->d);
	if (ls->draining) {
		di = MHD_get_daemon_info(ls->d,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if ((di != NULL && di->num_connections == 0) ||
		    loop_now_mono() >= ls->drain_until) {
			ls_destroy(ls);
			return;
		}
	}
	listener_arm(ls);
}

/* Runs MHD for every listener with resumed connections (loop thread). */
void
ls_resumed_run(void *arg)
{
	struct server *s = arg;
	struct listener *ls, *next;

	for (ls = s->listeners; ls != NULL; ls = next) {
		next = ls->next;
		if (ls->resumed && ls->d != NULL) {
			ls->resumed = 0;
			listener_run(ls);	/* may free a drained ls */
		}
	}
}

static void
on_mhd_io(struct loop *l, int fd, uint32_t events, void *arg)
{
	listener_run(arg);
}

static int64_t
on_mhd_timer(struct loop *l, void *arg)
{
	struct listener *ls = arg;

	ls->armed = 0;
	listener_run(ls);		/* re-arms from MHD_get_timeout() */
	return 0;
}

/*
 * Arms ls's timer from MHD_get_timeout() (0 while MHD has work pending).
 * The timer is only moved earlier: firing early costs one idle MHD_run,
 * moving it on every request would cost a syscall each.
 */
static void
listener_arm(struct listener *ls)
{
	MHD_UNSIGNED_LONG_LONG t;
	int64_t at = 0;

	if (MHD_get_timeout(ls->d, &t) == MHD_YES)
		at = loop_now_mono() + (t > INT32_MAX ? INT32_MAX : (int64_t)t);
	if (ls->draining && (at == 0 || ls->drain_until < at))
		at = ls->drain_until;
	if (at == 0 || (ls->armed != 0 && ls->armed <= at))
		return;
	loop_timer_set(ls->timer, at);
	ls->armed = at;
}

/* Stops ls's daemon (no long poll may stay suspended) and frees it. */
void
ls_destroy(struct listener *ls)
{
	struct server *s = ls->srv;
	struct listener **pp;

	for (pp = &s->listeners; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ls) {
			*pp = ls->next;
			break;
		}
	if (ls->d != NULL) {
		if (ls->n_waiting > 0 || ls->n_verifying > 0) {
			ls_going(ls);
			MHD_run(ls->d);		/* lets them leave suspension */
		}
		loop_del(s->loop, ls->epfd);
		MHD_stop_daemon(ls->d);
	}
	if (ls->lfd >= 0) {
		loop_del(s->loop, ls->lfd);
		close(ls->lfd);
	}
	loop_timer_del(ls->timer);
	ls_free(ls);
}

void
ls_free(struct listener *ls)
{
	free(ls->uids);
	free(ls->path);
	free(ls->host);
	free(ls->port);
	free(ls);
}

/*
 * Stops accepting on ls and lets its connections finish: held long polls
 * are answered now, idle keep-alive connections close within the
 * timeout, and whatever is left is closed then.  The listening socket is
 * closed (a new daemon on the same address holds a duplicate of it).
 */
void
ls_drain(struct listener *ls)
{
	int fd;

	/* Dormant or dead: no connection to let finish. */
	if (ls->d == NULL) {
		ls_destroy(ls);
		return;
	}
	fd = MHD_quiesce_daemon(ls->d);
	if (fd >= 0)
		close(fd);
	ls->draining = 1;
	ls->drain_until = loop_now_mono() + (int64_t)ls->timeout_s * 1000 +
	    1000;
	ls_going(ls);
	ls->armed = 0;
	loop_timer_set(ls->timer, loop_now_mono());
}

/*
 * Starts an MHD daemon on listening socket lfd (taken over, also on
 * failure) for ls, and registers it with the loop.  Returns 0 or -errno.
 */
static int
listener_boot(struct listener *ls, int lfd)
{
	struct server *s = ls->srv;
	const union MHD_DaemonInfo *di;
	int rc;

	ls->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, s->access, ls,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, ls,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_CONNECTION_LIMIT, ls->max_conn,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, ls->per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, ls->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, ls,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, ls,
	    MHD_OPTION_END);
	if (ls->d == NULL) {
		/* MHD does not close a socket it was given when it fails. */
		close(lfd);
		log_err("http: cannot start libmicrohttpd on %s",
		    ls->is_unix ? ls->path : ls->port);
		return -EIO;
	}
	di = MHD_get_daemon_info(ls->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL) {
		MHD_stop_daemon(ls->d);
		ls->d = NULL;
		return -EIO;
	}
	ls->epfd = di->epoll_fd;
	if ((ls->timer = loop_timer_add(s->loop, on_mhd_timer, ls)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = loop_add(s->loop, ls->epfd, EPOLLIN, on_mhd_io, ls)) < 0)
		goto fail;
	listener_arm(ls);
	return 0;
fail:
	loop_timer_del(ls->timer);
	ls->timer = NULL;
	MHD_stop_daemon(ls->d);
	ls->d = NULL;
	return rc;
}

/*
 * The first connection to a dormant listener: loads libmicrohttpd and
 * starts the daemon, which accepts it.  Without the library the API
 * stays off (logged); credentials are kept fresh all the same.
 */
static void
on_dormant(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct listener *ls = arg;
	const char *why = NULL;

	loop_del(l, fd);
	ls->lfd = -1;
	if (rot_mhd_load(&why) < 0) {
		log_err("http: %s; the API on %s is not served", why,
		    ls->is_unix ? ls->path : ls->port);
		close(fd);
		return;
	}
	log_debug("http: libmicrohttpd loaded for the first connection");
	if (listener_boot(ls, fd) == 0)
		listener_run(ls);
}

/*
 * Serves ls on listening socket lfd (taken over, also on failure): at
 * once when libmicrohttpd is loaded, else dormant until a client
 * connects.  Returns 0 or -errno.
 */
int
ls_start(struct listener *ls, int lfd)
{
	int rc;

	if (rot_mhd_loaded())
		return listener_boot(ls, lfd);
	if ((rc = loop_add(ls->srv->loop, lfd, EPOLLIN, on_dormant, ls)) < 0) {
		close(lfd);
		return rc;
	}
	ls->lfd = lfd;
	return 0;
}
