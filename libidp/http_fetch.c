/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idp_http_fetch(): one request run to its end on a private poll() loop,
 * over the same asynchronous client the daemon drives from its own loop
 * (http.c).  For tools and tests; nothing here talks to curl directly.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Calls go through the table of curl_dl.h: no compile-time type checks. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <idp/http.h>

#include "http_int.h"

#define FETCH_MAX_FDS		16	/* sockets one fetch may watch */
#define FETCH_GRACE_MS		5000	/* poll loop backstop beyond curl's timeout */

struct fetch {
	struct pollfd		 fds[FETCH_MAX_FDS];
	nfds_t			 nfds;
	int64_t			 deadline;	/* monotonic ms, -1: none */
	int			 done;
	struct idp_http_resp	*out;
};

static int
fetch_watch(void *arg, int fd, int what)
{
	struct fetch *f = arg;
	nfds_t i;

	for (i = 0; i < f->nfds; i++)
		if (f->fds[i].fd == fd)
			break;
	if (what & IDP_HTTP_REMOVE) {
		if (i < f->nfds)
			f->fds[i] = f->fds[--f->nfds];
		return 0;
	}
	if (i == f->nfds) {
		if (f->nfds == FETCH_MAX_FDS)
			return -1;
		f->nfds++;
		f->fds[i].fd = fd;
	}
	f->fds[i].events = (short)(((what & IDP_HTTP_IN) ? POLLIN : 0) |
	    ((what & IDP_HTTP_OUT) ? POLLOUT : 0));
	f->fds[i].revents = 0;
	return 0;
}

static int
fetch_timer(void *arg, long ms)
{
	struct fetch *f = arg;

	f->deadline = ms < 0 ? -1 : idp_http_now_ms() + ms;
	return 0;
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

/* Fills out with an error of its own (allocated, so resp_free() works). */
static void
fetch_fail(struct idp_http_resp *out, int rc, const char *why)
{
	char *body = calloc(1, 1);

	memset(out, 0, sizeof(*out));
	out->rc = rc;
	out->body = body;
	out->error = strdup(why);
}

/* The fetch's callback: deep-copies the response for the caller. */
static void
fetch_cb(void *arg, const struct idp_http_resp *resp)
{
	struct fetch *f = arg;
	struct idp_http_resp *o = f->out;
	char *body;
	int oom = 0;

	f->done = 1;
	memset(o, 0, sizeof(*o));
	if ((body = malloc(resp->body_len + 1)) == NULL) {
		fetch_fail(o, -ENOMEM, "out of memory");
		return;
	}
	memcpy(body, resp->body, resp->body_len);
	body[resp->body_len] = '\0';
	*o = *resp;
	o->body = body;
	o->content_type = dup_or_null(resp->content_type, &oom);
	o->cache_control = dup_or_null(resp->cache_control, &oom);
	o->location = dup_or_null(resp->location, &oom);
	o->error = dup_or_null(resp->error, &oom);
	if (oom) {
		idp_http_resp_free(o);
		fetch_fail(o, -ENOMEM, "out of memory");
	}
}

static int
fetch_watched(const struct fetch *f, int fd)
{
	nfds_t i;

	for (i = 0; i < f->nfds; i++)
		if (f->fds[i].fd == fd)
			return 1;
	return 0;
}

/*
 * Runs one request on a private poll() loop over the same asynchronous
 * code the daemon uses.  *ret is always filled (rc < 0 included); free its
 * strings with idp_http_resp_free().  Returns ret->rc.
 */
int
idp_http_fetch(const struct idp_http_req *req, struct idp_http_resp *ret)
{
	struct idp_http_ops ops;
	struct idp_http *h = NULL;
	struct fetch f;
	struct pollfd fds[FETCH_MAX_FDS];
	struct idp_err err;
	int64_t now, hard, wait;
	long total;
	nfds_t i, nfds;
	int n, rc;

	if (ret == NULL)
		return -EINVAL;
	memset(&f, 0, sizeof(f));
	f.deadline = -1;
	f.out = ret;
	ops.watch = fetch_watch;
	ops.timer = fetch_timer;
	ops.arg = &f;
	if (req == NULL) {
		fetch_fail(ret, -EINVAL, "no request");
		return ret->rc;
	}
	if ((rc = idp_http_new(&ops, &h)) < 0) {
		fetch_fail(ret, rc, "cannot create an HTTP client");
		return ret->rc;
	}
	idp_http_enter(h);
	rc = idp_http_start_err(h, req, fetch_cb, &f, NULL, &err);
	idp_http_leave(h);
	if (rc < 0) {
		fetch_fail(ret, rc, err.msg);
		idp_http_free(h);
		return ret->rc;
	}
	/*
	 * curl enforces the timeouts; this backstop only guarantees the loop
	 * ends even if it did not.
	 */
	total = (req->timeout_ms > 0 ? req->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS);
	hard = idp_http_now_ms() + total + FETCH_GRACE_MS;
	while (!f.done) {
		now = idp_http_now_ms();
		if (now >= hard) {
			fetch_fail(ret, -ETIMEDOUT, "request did not end in "
			    "time (poll loop backstop)");
			break;
		}
		wait = f.deadline < 0 ? 1000 : f.deadline - now;
		if (wait < 0)
			wait = 0;
		if (wait > hard - now)
			wait = hard - now;
		nfds = f.nfds;
		memcpy(fds, f.fds, sizeof(fds[0]) * nfds);
		n = poll(fds, nfds, (int)wait);
		if (n < 0 && errno != EINTR) {
			fetch_fail(ret, -errno, "poll failed");
			break;
		}
		for (i = 0; n > 0 && i < nfds && !f.done; i++) {
			int what = 0;

			if (fds[i].revents == 0 || !fetch_watched(&f, fds[i].fd))
				continue;
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
				what |= IDP_HTTP_IN;
			if (fds[i].revents & (POLLOUT | POLLERR))
				what |= IDP_HTTP_OUT;
			idp_http_on_fd(h, fds[i].fd, what);
		}
		if (!f.done && (f.deadline < 0 ||
		    idp_http_now_ms() >= f.deadline)) {
			f.deadline = -1;
			idp_http_timeout(h);
		}
	}
	idp_http_free(h);
	return ret->rc;
}

/* Frees what idp_http_fetch() put into r (the body is wiped) and zeroes r. */
void
idp_http_resp_free(struct idp_http_resp *r)
{
	if (r == NULL)
		return;
	if (r->body != NULL) {
		OPENSSL_cleanse((void *)(uintptr_t)r->body, r->body_len);
		free((void *)(uintptr_t)r->body);
	}
	free((void *)(uintptr_t)r->content_type);
	free((void *)(uintptr_t)r->cache_control);
	free((void *)(uintptr_t)r->location);
	free((void *)(uintptr_t)r->error);
	memset(r, 0, sizeof(*r));
}
