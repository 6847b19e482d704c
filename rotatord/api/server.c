/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/: the local HTTP API (listeners, handlers, token cache, authz, trust).
 * Reaches the daemon only through struct api_ops; must not include
 * daemon/, sources/, sinks/ or fleet/.
 */
/*
 * The local HTTP API (README.md, Local HTTP API) on libmicrohttpd, inside the
 * daemon's epoll loop.  Each MHD daemon (one on the unix socket, one on
 * TCP when configured) runs in external epoll mode: its epoll fd is
 * watched by our loop, a timerfd follows MHD_get_timeout(), and there are
 * no MHD threads, so every api_ops callback runs on the loop thread.
 *
 * This file routes, enforces limits, says who the caller is (SO_PEERCRED
 * on the unix socket, cached once per connection; a bearer JWT on TCP,
 * through a verified-token cache) and writes the audit lines.  What a
 * caller may do is authz.c's decision; what exists is the daemon's.
 *
 * libmicrohttpd rules followed here (shared/reference/perf-anchors.md,
 * anchors-reliability.md section 4):
 * - the first access-handler call of a request only sets *con_cls; a
 *   response queued then makes MHD close the connection (4-7x slower).
 *   The one exception is a 413 for an announced body over max_body,
 *   on a connection that must close anyway;
 * - no MHD_PostProcessor: bodies are read here, at most max_body bytes,
 *   and form bodies parsed by form_parse();
 * - connection, per-IP, timeout and memory (32 KiB: caps the headers)
 *   limits are always set;
 * - no connection is left suspended when a daemon stops.
 *
 * libmicrohttpd itself is loaded on the first connection (mhd_dl.h):
 * until then a listener is "dormant", its socket bound and watched by
 * the loop, so a daemon whose API nobody calls does not carry the pages
 * of libmicrohttpd and GnuTLS.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>
#include <idp/b64.h>
#include <idp/crypto.h>

#include "api/authz.h"
#include "api/mhd_dl.h"
#include "api/server_int.h"
#include "api/trust.h"
#include "config/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/work.h"

#define MHD_MEMORY_LIMIT	(32 * 1024)	/* per connection; caps headers */
#define LOG_BURST		20		/* MHD messages per 10 s */


static void listener_arm(struct listener *ls);
static void ls_going(struct listener *ls);

/* ------------------------------------------------------------------ */
/* Callers                                                              */

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

/* ------------------------------------------------------------------ */
/* Routing                                                              */

/* The route of url: the metrics label, and what dispatch() runs. */
static enum route
classify(const char *url, int is_unix)
{
	const char *p;

	if (strncmp(url, "/v1/", 4) != 0) {
		if (strcmp(url, "/healthz") == 0)
			return R_HEALTHZ;
		if (strcmp(url, "/readyz") == 0)
			return R_READYZ;
		if (strcmp(url, "/metrics") == 0)
			return R_METRICS;
		if (strcmp(url, "/.well-known/openid-configuration") == 0)
			return R_DISCOVERY;
		return R_OTHER;
	}
	p = url + 4;
	if (strcmp(p, "jwks") == 0)
		return R_JWKS;
	if (strcmp(p, "credentials") == 0)
		return R_CRED_LIST;
	if (strncmp(p, "credentials/", 12) == 0)
		return strchr(p + 12, '/') != NULL ? R_CRED_FILE : R_CRED;
	if (strcmp(p, "token") == 0)
		return R_TOKEN;
	if (strcmp(p, "authz") == 0)
		return R_AUTHZ;
	/* The admin API is not served on TCP at all. */
	if (strncmp(p, "admin/", 6) == 0 && is_unix)
		return R_ADMIN;
	return R_OTHER;
}

static enum MHD_Result
dispatch(struct req *rq, const char *url, const char *method)
{
	struct caller cl;
	enum MHD_Result ret;
	const char *p, *slash, *h;
	char name[MAX_NAME + 1];
	size_t n;

	/*
	 * Every /v1/ request carries "Rotatord-Request: 1" (a naive proxy
	 * or SSRF cannot add it) except the JWKS, a public document read by
	 * generic clients.
	 */
	if (strncmp(url, "/v1/", 4) == 0 && rq->route != R_JWKS) {
		h = MHD_lookup_connection_value(rq->mc, MHD_HEADER_KIND,
		    "Rotatord-Request");
		if (h == NULL || strcmp(h, "1") != 0)
			return resp_error(rq, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "the header \"Rotatord-Request: "
			    "1\" is required");
	}
	switch (rq->route) {
	case R_OTHER:
		return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such endpoint");
	case R_TOKEN:
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return resp_405(rq, "POST");
		return h_token(rq);
	case R_ADMIN:
		return h_admin(rq, url + 10, method);
	default:
		break;
	}
	if (!txt_is_get(method))
		return resp_405(rq, "GET, HEAD");
	switch (rq->route) {
	case R_HEALTHZ:
		return resp_queue(rq, MHD_HTTP_OK, MHD_create_response_from_buffer(3,
		    (void *)"ok\n", MHD_RESPMEM_PERSISTENT));
	case R_READYZ:
		return h_readyz(rq);
	case R_METRICS:
		if (rq->cn->ls->is_unix)
			return h_metrics(rq);
		/* On TCP only for a [client] with metrics = yes. */
		if (caller_get(rq, &cl, &ret) < 0)
			return ret;
		if (!authz_may_metrics(rq->cn->ls->srv->cfg, &cl.who)) {
			log_notice("audit: metrics by %s denied: no [client] "
			    "with metrics = yes", cl.desc);
			caller_done(&cl);
			return resp_error(rq, MHD_HTTP_FORBIDDEN,
			    "access_denied", "/metrics on TCP needs a "
			    "[client] with metrics = yes");
		}
		caller_done(&cl);
		return h_metrics(rq);
	case R_DISCOVERY:
		return h_signer_doc(rq, 0);
	case R_JWKS:
		return h_signer_doc(rq, 1);
	case R_AUTHZ:
		return h_authz(rq);
	default:
		break;
	}
	/* The credential routes. */
	if (caller_get(rq, &cl, &ret) < 0)
		return ret;
	if (rq->route == R_CRED_LIST)
		ret = h_cred_list(rq, &cl);
	else {
		p = url + strlen("/v1/credentials/");
		slash = strchr(p, '/');
		n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (n > MAX_NAME) {
			caller_done(&cl);
			return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
			    "no such credential");
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (slash == NULL)
			ret = h_cred(rq, &cl, name);
		else
			ret = h_cred_file(rq, &cl, name, slash + 1);
	}
	caller_done(&cl);
	return ret;
}

/* Frees the request's body and clears it for the next request. */
void
ls_req_reset(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;
	struct conn *cn = rq->cn;
	struct MHD_Connection *mc = rq->mc;
	size_t i;

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

/* Keeps n more body bytes (POST only; others are counted and dropped). */
static int
body_add(struct req *rq, const char *method, const char *data, size_t n)
{
	size_t ncap;
	char *nb;

	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return 0;
	if (rq->body_len + n + 1 > rq->body_cap) {
		for (ncap = rq->body_cap ? rq->body_cap : 1024;
		    ncap < rq->body_len + n + 1; ncap *= 2)
			;
		if ((nb = malloc(ncap)) == NULL)
			return -ENOMEM;
		if (rq->body != NULL) {
			memcpy(nb, rq->body, rq->body_len);
			idp_wipe(rq->body, rq->body_cap);
			free(rq->body);
		}
		rq->body = nb;
		rq->body_cap = ncap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
	return 0;
}

/* The MHD access handler. */
enum MHD_Result
http_access(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct listener *ls = cls;
	const union MHD_ConnectionInfo *ci;
	const char *cl;
	struct conn *cn;
	struct req *rq = *con_cls;

	if (rq == NULL) {
		/*
		 * First call, headers only: set up and return.  Queuing a
		 * response here makes MHD close the connection after it.
		 */
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci == NULL || (cn = ci->socket_context) == NULL ||
		    cn->refused)
			return MHD_NO;
		rq = &cn->rq;
		ls_req_reset(rq);
		rq->mc = mc;
		rq->route = classify(url, ls->is_unix);
		*con_cls = rq;
		/*
		 * The one exception to the rule: a body announced larger than
		 * max_body is refused before it is sent (MHD refuses to queue
		 * once the body flows).  The connection closes after this
		 * error anyway, so there is no keep-alive to lose.
		 */
		cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (errno = 0, strtoull(cl, NULL, 10) >
		    ls->srv->cfg->listen.max_body || errno == ERANGE))
			return resp_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
			    "invalid_request", "the body is larger than %zu "
			    "bytes", ls->srv->cfg->listen.max_body);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rq->queued)
			return MHD_YES;		/* the rest is dropped */
		rq->seen += n;
		if (rq->seen > ls->srv->cfg->listen.max_body) {
			/* A chunked body too large: MHD can only close. */
			log_debug("http: request body over %zu bytes, closing",
			    ls->srv->cfg->listen.max_body);
			resp_count(ls->srv, rq->route, MHD_HTTP_CONTENT_TOO_LARGE);
			rq->queued = 1;
			return MHD_NO;
		}
		if (body_add(rq, method, upload_data, n) < 0)
			return resp_queue(rq, 500, NULL);
		return MHD_YES;
	}
	if (rq->queued)
		return MHD_YES;
	return dispatch(rq, url, method);
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

/* ------------------------------------------------------------------ */
/* Listeners                                                            */

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
	loop_timer_at(s->wfd, at);
}

static void
on_deadline(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct server *s = arg;
	int64_t now = loop_now_mono();
	size_t i;

	loop_timer_ack(fd);
	for (i = 0; i < s->n_hooks; i++)
		if (s->hooks[i]->expire != NULL)
			s->hooks[i]->expire(s, now);
	ls_resumed_run(s);
	ls_deadlines_arm(s);
}

/* See server_int.h. */
int
ls_deadlines_start(struct server *s)
{
	int rc;

	if ((s->wfd = loop_timer_new()) < 0) {
		rc = s->wfd;
		s->wfd = -1;
		return rc;
	}
	if ((rc = loop_add(s->loop, s->wfd, EPOLLIN, on_deadline, s)) < 0) {
		close(s->wfd);
		s->wfd = -1;
		return rc;
	}
	return 0;
}

/* See server_int.h. */
void
ls_deadlines_stop(struct server *s)
{
	if (s->wfd >= 0) {
		loop_del(s->loop, s->wfd);
		close(s->wfd);
		s->wfd = -1;
	}
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
	loop_timer_at(ls->tfd, ls->armed);
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

static void
on_mhd_timer(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct listener *ls = arg;

	loop_timer_ack(fd);
	ls->armed = 0;
	listener_run(ls);
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
	if (loop_timer_at(ls->tfd, at) == 0)
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
	if (ls->tfd >= 0) {
		loop_del(s->loop, ls->tfd);
		close(ls->tfd);
	}
	free(ls->uids);
	free(ls->path);
	free(ls->host);
	free(ls->port);
	free(ls);
}

/* Removes ls's socket file if it is still the one ls made. */
void
bind_unlink(struct listener *ls)
{
	struct stat st;

	if (ls->path != NULL && lstat(ls->path, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && st.st_dev == ls->dev &&
	    st.st_ino == ls->ino)
		unlink(ls->path);
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
	loop_timer_at(ls->tfd, loop_now_mono());
}

/* Is a unix socket at path accepting connections? */
static int
unix_alive(const struct sockaddr_un *sa)
{
	int fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return 0;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	rc = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return rc;
}

/*
 * Creates the listening unix socket at path with mode and group (-1:
 * unchanged).  A stale socket file is replaced; any other file, or a
 * socket someone still listens on, is not.  Returns the fd (and the
 * file's identity) or -errno after logging.
 */
static int
unix_listen(const char *path, mode_t mode, gid_t group, dev_t *ret_dev,
    ino_t *ret_ino)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("http: socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("http: %s exists and is not a socket; not "
			    "replacing it", path);
			return -EEXIST;
		}
		if (unix_alive(&sa)) {
			log_err("http: %s: another process listens there", path);
			return -EADDRINUSE;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			log_err("http: cannot remove stale socket %s: %s", path,
			    strerror(errno));
			return rc;
		}
	} else if (errno != ENOENT) {
		rc = -errno;
		log_err("http: %s: %s", path, strerror(errno));
		return rc;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		goto fail;
	/*
	 * bind() creates the file with the socket inode's mode minus the
	 * umask: narrowing it first means the file is never more open than
	 * mode, even before the chmod that sets it exactly.
	 */
	if (fchmod(fd, mode) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    chmod(path, mode) < 0 ||
	    (group != (gid_t)-1 && lchown(path, (uid_t)-1, group) < 0) ||
	    listen(fd, SOMAXCONN) < 0)
		goto fail;
	*ret_dev = st.st_dev;
	*ret_ino = st.st_ino;
	return fd;
fail:
	rc = -errno;
	log_err("http: cannot listen on %s: %s", path, strerror(errno));
	if (fd >= 0) {
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		close(fd);
	}
	return rc;
}

/* Binds and listens on numeric host:port.  Returns the fd or -errno. */
static int
tcp_listen(const char *host, const char *port)
{
	struct addrinfo hints, *ai = NULL;
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_err("http: bad address %s:%s: %s", host, port,
		    gai_strerror(rc));
		return -EINVAL;
	}
	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		log_err("http: cannot listen on %s:%s: %s", host, port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	return fd;
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
	if ((ls->tfd = loop_timer_new()) < 0) {
		rc = ls->tfd;
		goto fail;
	}
	if ((rc = loop_add(s->loop, ls->epfd, EPOLLIN, on_mhd_io, ls)) < 0)
		goto fail;
	if ((rc = loop_add(s->loop, ls->tfd, EPOLLIN, on_mhd_timer, ls)) < 0) {
		loop_del(s->loop, ls->epfd);
		goto fail;
	}
	listener_arm(ls);
	return 0;
fail:
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

/* A listener (not started) with the settings of l for one socket kind. */
static struct listener *
listener_alloc(struct server *s, const struct cfg_listen *l, int is_unix)
{
	struct listener *ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return NULL;
	ls->srv = s;
	ls->is_unix = is_unix;
	ls->epfd = ls->tfd = ls->lfd = -1;
	ls->max_conn = l->max_connections > 0 ? l->max_connections : 512;
	ls->per_ip = is_unix ? 0 : l->per_ip_limit;
	ls->timeout_s = l->timeout > 0 ? (unsigned)((l->timeout + 999) / 1000) :
	    10;
	/* Long polls may use 3/4 of the connections; the rest stay free. */
	ls->max_waiting = ls->max_conn - ls->max_conn / 4;
	if (ls->max_waiting == 0)
		ls->max_waiting = 1;
	ls->mode = l->unix_mode;
	ls->group = l->unix_group;
	if (is_unix)
		ls->path = strdup(l->unix_path);
	else {
		ls->host = strdup(l->tcp_host);
		ls->port = strdup(l->tcp_port);
	}
	if (is_unix ? ls->path == NULL : ls->host == NULL || ls->port == NULL) {
		free(ls->path);
		free(ls->host);
		free(ls->port);
		free(ls);
		return NULL;
	}
	return ls;
}

/* The live (not draining) listener of a kind, or NULL. */
static struct listener *
listener_live(struct server *s, int is_unix)
{
	struct listener *ls;

	for (ls = s->listeners; ls != NULL; ls = ls->next)
		if (!ls->draining && ls->is_unix == is_unix)
			return ls;
	return NULL;
}

/* Do the connection limits of old and a new [listen] l differ? */
static int
limits_differ(const struct listener *old, const struct cfg_listen *l,
    int is_unix)
{
	struct listener tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.max_conn = l->max_connections > 0 ? l->max_connections : 512;
	tmp.per_ip = is_unix ? 0 : l->per_ip_limit;
	tmp.timeout_s = l->timeout > 0 ? (unsigned)((l->timeout + 999) / 1000) :
	    10;
	return old->max_conn != tmp.max_conn || old->per_ip != tmp.per_ip ||
	    old->timeout_s != tmp.timeout_s;
}

/*
 * What configuring one socket kind (unix or tcp) to l needs: nothing
 * (*ret NULL, *ret_drain NULL), or a new listener to start and an old one
 * to drain once every new listener started.  Returns 0 or -errno (nothing
 * changed then).
 */
static int
plan_kind(struct server *s, const struct cfg_listen *l, int is_unix,
    struct listener **ret, struct listener **ret_drain)
{
	struct listener *old = listener_live(s, is_unix), *ls;
	const union MHD_DaemonInfo *di;
	int want, same_addr, fd, rc;

	*ret = NULL;
	*ret_drain = NULL;
	want = is_unix ? l->unix_path != NULL : l->tcp_host != NULL &&
	    l->tcp_port != NULL;
	if (!want) {
		*ret_drain = old;
		return 0;
	}
	same_addr = old != NULL && (is_unix ? strcmp(old->path,
	    l->unix_path) == 0 : strcmp(old->host, l->tcp_host) == 0 &&
	    strcmp(old->port, l->tcp_port) == 0);
	if (same_addr && !limits_differ(old, l, is_unix))
		return 0;
	if ((ls = listener_alloc(s, l, is_unix)) == NULL)
		return -ENOMEM;
	if (same_addr) {
		/*
		 * Same address, new limits: the new daemon gets a duplicate of
		 * the listening socket, the old one drains; nothing is
		 * re-bound and no connection attempt is refused meanwhile.
		 */
		if (old->d != NULL) {
			di = MHD_get_daemon_info(old->d,
			    MHD_DAEMON_INFO_LISTEN_FD);
			fd = di != NULL ? fcntl(di->listen_fd, F_DUPFD_CLOEXEC,
			    3) : -1;
		} else
			fd = old->lfd >= 0 ? fcntl(old->lfd, F_DUPFD_CLOEXEC,
			    3) : -1;
		if (fd < 0) {
			rc = -errno;
			goto fail;
		}
		ls->dev = old->dev;
		ls->ino = old->ino;
	} else if (is_unix) {
		if ((fd = unix_listen(ls->path, ls->mode, ls->group, &ls->dev,
		    &ls->ino)) < 0) {
			rc = fd;
			goto fail;
		}
	} else if ((fd = tcp_listen(ls->host, ls->port)) < 0) {
		rc = fd;
		goto fail;
	}
	if ((rc = ls_start(ls, fd)) < 0) {
		if (is_unix && !same_addr)
			bind_unlink(ls);
		goto fail;
	}
	*ret = ls;
	*ret_drain = old;
	return 0;
fail:
	free(ls->uids);
	free(ls->path);
	free(ls->host);
	free(ls->port);
	free(ls);
	return rc;
}

/* Undoes a planned listener that was started but is not wanted after all. */
static void
plan_undo(struct server *s, struct listener *ls, const struct listener *old)
{
	if (ls == NULL)
		return;
	if (ls->is_unix && (old == NULL || strcmp(old->path, ls->path) != 0))
		bind_unlink(ls);
	ls->next = s->listeners;
	s->listeners = ls;
	ls_destroy(ls);
}

/*
 * Makes the listeners match [listen] of c: all new ones start first;
 * only then are old ones drained (and their socket files removed).
 */
int
bind_apply(struct server *s, const struct config *c)
{
	struct listener *nu = NULL, *du = NULL, *nt = NULL, *dt = NULL;
	int rc;

	if ((rc = plan_kind(s, &c->listen, 1, &nu, &du)) < 0)
		return rc;
	if ((rc = plan_kind(s, &c->listen, 0, &nt, &dt)) < 0) {
		plan_undo(s, nu, du);
		return rc;
	}
	/* A kept socket file whose mode or group changed: set in place. */
	if (c->listen.unix_path != NULL && (nu == NULL || (du != NULL &&
	    strcmp(du->path, nu->path) == 0))) {
		struct listener *old = du != NULL ? du : listener_live(s, 1);

		if (old != NULL && (old->mode != c->listen.unix_mode ||
		    old->group != c->listen.unix_group)) {
			if (chmod(old->path, c->listen.unix_mode) < 0 ||
			    (c->listen.unix_group != (gid_t)-1 &&
			    lchown(old->path, (uid_t)-1,
			    c->listen.unix_group) < 0)) {
				rc = -errno;
				log_err("http: cannot change the mode or group "
				    "of %s: %s", old->path, strerror(errno));
				plan_undo(s, nu, du);
				plan_undo(s, nt, dt);
				return rc;
			}
			old->mode = c->listen.unix_mode;
			old->group = c->listen.unix_group;
		}
	}
	if (du != NULL) {
		if (nu == NULL || strcmp(du->path, nu->path) != 0)
			bind_unlink(du);
		ls_drain(du);
	}
	if (dt != NULL)
		ls_drain(dt);
	if (nu != NULL) {
		nu->next = s->listeners;
		s->listeners = nu;
		log_info("http: listening on %s", nu->path);
	}
	if (nt != NULL) {
		nt->next = s->listeners;
		s->listeners = nt;
		log_info("http: listening on %s:%s", nt->host, nt->port);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* API                                                                  */

/* See api.h: binds the listeners of c and serves on loop l. */
int
server_new(struct loop *l, const struct config *c, const struct api_ops *ops,
    struct server **ret)
{
	struct server *s;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->loop = l;
	s->ops = *ops;
	s->cfg = c;
	s->access = http_access;
	s->wfd = -1;
	/*
	 * The parts that hold requests suspended register their hooks in
	 * this order: a listener going answers its long polls first.
	 */
	if ((rc = ls_deadlines_start(s)) < 0 || (rc = lp_start(s)) < 0 ||
	    (rc = vf_start(s, c)) < 0)
		goto fail;
	if ((rc = bind_apply(s, c)) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	server_free(s);
	return rc;
}

/* See api.h: all new listeners start before any old one drains. */
int
server_configure(struct server *s, const struct config *c)
{
	int rc;

	if ((rc = bind_apply(s, c)) < 0)
		return rc;
	s->cfg = c;
	/*
	 * Trust may have changed (issuers, signers): verified tokens are
	 * checked again.  Requests in flight hold their own references.
	 * Credentials may have been replaced: their responses are made anew.
	 */
	tc_clear(s);
	h_cred_cache_clear(s, NULL);
	s->epoch++;
	return 0;
}

/* See api.h: held long polls are answered (304) before MHD stops. */
void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	s->stopping = 1;
	while (s->listeners != NULL) {
		bind_unlink(s->listeners);
		ls_destroy(s->listeners);
	}
	/* Every request has left; the last done() calls find no waiters. */
	vf_stop(s);
	ls_deadlines_stop(s);
	tc_clear(s);
	h_cred_cache_clear(s, NULL);
	idp_sha256_free(s->sha256);
	free(s);
}

/*
 * See api.h: a key set changed (an issuer's JWKS, a signer's keys, the
 * fleet's).  What was verified under the old set is forgotten, so that a
 * token whose key left the set is refused from now on, and checks still
 * running under it are not remembered; requests held for keys are
 * verified again.
 */
void
server_keys_changed(struct server *s)
{
	if (s == NULL)
		return;
	tc_clear(s);
	s->epoch++;
	vf_keys_changed(s);
}

/* See api.h: resumes the long polls on cred older than generation. */
void
server_notify(struct server *s, const char *cred, uint64_t generation)
{
	if (s == NULL)
		return;
	/* The old generation's responses (and key material) go now. */
	h_cred_cache_clear(s, cred);
	lp_notify(s, cred, generation);
}

/* See api.h: Prometheus text 0.0.4, fixed label sets only. */
void
server_metrics(const struct server *s, FILE *out)
{
	resp_metrics(s, out);
	fprintf(out, "# HELP rotatord_http_long_polls Requests held by "
	    "?wait= now.\n# TYPE rotatord_http_long_polls gauge\n"
	    "rotatord_http_long_polls %zu\n", s->n_waiting);
	fprintf(out, "# HELP rotatord_http_token_cache_lookups_total Bearer "
	    "tokens looked up in the verified-token cache.\n"
	    "# TYPE rotatord_http_token_cache_lookups_total counter\n"
	    "rotatord_http_token_cache_lookups_total{result=\"hit\"} %llu\n"
	    "rotatord_http_token_cache_lookups_total{result=\"miss\"} %llu\n",
	    (unsigned long long)s->tc_hits, (unsigned long long)s->tc_misses);
	fprintf(out, "# HELP rotatord_http_token_verifications_total Bearer "
	    "token signatures checked, by where: on a verifier thread or on "
	    "the loop.\n"
	    "# TYPE rotatord_http_token_verifications_total counter\n"
	    "rotatord_http_token_verifications_total{where=\"thread\"} %llu\n"
	    "rotatord_http_token_verifications_total{where=\"loop\"} %llu\n",
	    (unsigned long long)s->verify_async,
	    (unsigned long long)s->verify_inline);
	fprintf(out, "# HELP rotatord_http_token_key_holds_total Requests held "
	    "while an issuer's keys were refetched for an unknown kid.\n"
	    "# TYPE rotatord_http_token_key_holds_total counter\n"
	    "rotatord_http_token_key_holds_total %llu\n",
	    (unsigned long long)s->verify_held);
	fprintf(out, "# HELP rotatord_http_unix_refused_total Unix socket "
	    "connections shut because their uid had per_uid_limit open.\n"
	    "# TYPE rotatord_http_unix_refused_total counter\n"
	    "rotatord_http_unix_refused_total %llu\n",
	    (unsigned long long)s->uid_refused);
}
