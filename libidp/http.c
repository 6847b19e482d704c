/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP client for identity providers: the only libcurl user in the tree.
 * This file owns the client (one curl multi handle driven by the caller's
 * loop), its requests from start to callback, and the public entry points
 * of idp/http.h; the URL policy is http_url.c's, the options and callbacks
 * of one transfer http_easy.c's, the blocking fetch http_fetch.c's.
 *
 * Requests run on one curl multi handle per client, driven by the
 * caller's event loop through struct idp_http_ops (the multi socket API).
 * Every request gets the same policy (see idp/http.h): https only, plain
 * http solely to a loopback address and only when asked, no redirects,
 * TLS verification on, timeouts, a low-speed limit and a body cap that is
 * enforced in the write callback because curl 7.88 does not stop an
 * endless chunked body by itself.
 *
 * Re-entrancy: curl calls our socket and timer callbacks from inside
 * curl_multi_*(); those only forward to the caller's ops.  Completed
 * transfers are collected after curl_multi_socket_action() returns and
 * their callbacks run afterwards, outside of any curl call, so a callback
 * may start new requests or cancel others.  idp_http_free() from a
 * callback is deferred until the outermost entry point returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Calls go through the table of curl_dl.h: no compile-time type checks. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <idp/http.h>

#include "curl_dl.h"
#include "http_int.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void
global_init(void)
{
	if (idp_curl_load(NULL) < 0)
		return;
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Loads and initialises libcurl once; see http_int.h. */
int
idp_http_curl_init(void)
{
	pthread_once(&global_once, global_init);
	return global_rc == CURLE_OK ? 0 : -1;
}

/* The monotonic clock in milliseconds. */
int64_t
idp_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
list_add(struct req_list *l, struct req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void
list_del(struct req_list *l, struct req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

/* Frees a request whose easy handle is no longer in the multi handle. */
static void
req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	if (r->url != NULL)
		curl_url_cleanup(r->url);
	if (r->hdrbuf != NULL) {
		OPENSSL_cleanse(r->hdrbuf, r->hdrbuf_len);
		free(r->hdrbuf);
	}
	if (r->body != NULL) {
		OPENSSL_cleanse(r->body, r->body_len);
		free(r->body);
	}
	if (r->resp != NULL) {
		OPENSSL_cleanse(r->resp, r->resp_cap);
		free(r->resp);
	}
	curl_slist_free_all(r->resolve);
	free(r);
}

/* ---- multi handle callbacks ---------------------------------------- */

/* Socket callback: forwards curl's interest in a socket to the loop. */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct idp_http *h = userp;
	int w;

	(void)easy;
	(void)socketp;
	switch (what) {
	case CURL_POLL_IN:
		w = IDP_HTTP_IN;
		break;
	case CURL_POLL_OUT:
		w = IDP_HTTP_OUT;
		break;
	case CURL_POLL_INOUT:
		w = IDP_HTTP_IN | IDP_HTTP_OUT;
		break;
	case CURL_POLL_REMOVE:
		w = IDP_HTTP_REMOVE;
		break;
	default:
		return 0;
	}
	/*
	 * A failure is not reported back: -1 would abort every transfer on
	 * the handle; an unwatched socket only runs into the timeout.
	 */
	(void)h->ops.watch(h->ops.arg, (int)s, w);
	return 0;
}

/* Timer callback: the loop must call idp_http_timeout() after ms (-1: never). */
static int
timer_cb(CURLM *multi, long ms, void *userp)
{
	struct idp_http *h = userp;

	(void)multi;
	(void)h->ops.timer(h->ops.arg, ms);
	return 0;
}

/* ---- completion ---------------------------------------------------- */

/*
 * Moves every finished transfer from the multi handle to the done list.
 * Runs right after a curl_multi_*() call returned, never from inside one.
 */
static void
collect(struct idp_http *h)
{
	CURLMsg *msg;
	CURL *easy;
	CURLcode result;
	struct req *r;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with curl_multi_remove_handle(): copy first. */
		easy = msg->easy_handle;
		result = msg->data.result;
		priv = NULL;
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) !=
		    CURLE_OK || priv == NULL)
			continue;
		r = (struct req *)(void *)priv;
		curl_multi_remove_handle(h->multi, easy);
		idp_http_req_finish(r, result);
		list_del(&h->active, r);
		r->on_done = 1;
		list_add(&h->done, r);
	}
}

/* Runs the callbacks of finished requests, outside of any curl call. */
static void
dispatch(struct idp_http *h)
{
	struct idp_http_resp resp;
	struct req *r;

	while (!h->free_pending && (r = h->done.head) != NULL) {
		list_del(&h->done, r);
		h->n--;
		memset(&resp, 0, sizeof(resp));
		resp.rc = r->rc;
		resp.status = r->status;
		if (r->rc == 0 && r->resp != NULL) {
			resp.body = r->resp;
			resp.body_len = r->resp_len;
		} else {
			resp.body = "";
			resp.body_len = 0;
		}
		resp.content_type = r->content_type[0] ? r->content_type : NULL;
		resp.cache_control = r->cache_control[0] ?
		    r->cache_control : NULL;
		resp.location = r->location[0] ? r->location : NULL;
		resp.error = r->rc < 0 ? r->error : NULL;
		resp.elapsed_ms = r->elapsed;
		r->cb(r->arg, &resp);
		req_free(r);
	}
}

/* Frees the client: pending requests are dropped without callbacks. */
static void
destroy(struct idp_http *h)
{
	struct req *r;

	h->in_curl = 1;
	while ((r = h->active.head) != NULL) {
		list_del(&h->active, r);
		curl_multi_remove_handle(h->multi, r->easy);
		req_free(r);
	}
	while ((r = h->done.head) != NULL) {
		list_del(&h->done, r);
		req_free(r);
	}
	/* Cached connections are closed here; curl may still call watch. */
	curl_multi_cleanup(h->multi);
	(void)h->ops.timer(h->ops.arg, -1);
	free(h);
}

/* Enters a public entry point: h is not freed until it leaves. */
void
idp_http_enter(struct idp_http *h)
{
	h->busy++;
}

/* Leaves a public entry point; h is gone afterwards if it was freed. */
void
idp_http_leave(struct idp_http *h)
{
	if (--h->busy == 0 && h->free_pending)
		destroy(h);
}

/* ---- public API ---------------------------------------------------- */

/* Creates a client on a new multi handle.  Free with idp_http_free(). */
int
idp_http_new(const struct idp_http_ops *ops, struct idp_http **ret)
{
	struct idp_http *h;

	if (ops == NULL || ops->watch == NULL || ops->timer == NULL ||
	    ret == NULL)
		return -EINVAL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -ENOSYS;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->ops = *ops;
	h->next_id = 1;
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h);
		return -ENOMEM;
	}
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb) ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h)) {
		curl_multi_cleanup(h->multi);
		free(h);
		return -EIO;
	}
	*ret = h;
	return 0;
}

/* Drops pending requests without calling back and frees h (deferred while busy). */
void
idp_http_free(struct idp_http *h)
{
	if (h == NULL)
		return;
	if (h->busy > 0) {
		h->free_pending = 1;
		return;
	}
	destroy(h);
}

/* Returns 0 if v may go into a header line (no CR, LF, bounded). */
static int
hdr_value_ok(const char *v)
{
	return v == NULL || (strlen(v) <= HTTP_HDR_VALUE_MAX &&
	    strpbrk(v, "\r\n") == NULL);
}

/* Builds the header buffer and list of r. */
static int
req_headers(struct req *r, const struct idp_http_req *req, int post)
{
	const char *name[HTTP_MAX_HDRS], *val[HTTP_MAX_HDRS];
	size_t n = 0, i, len = 0, off = 0;
	int w;

	name[n] = "Accept";
	val[n++] = req->accept != NULL ? req->accept : "application/json";
	if (req->content_type != NULL) {
		name[n] = "Content-Type";
		val[n++] = req->content_type;
	}
	if (req->authorization != NULL) {
		name[n] = "Authorization";
		val[n++] = req->authorization;
	}
	if (req->header != NULL) {
		/* "Name: value": the name is everything before the colon. */
		name[n] = "";
		val[n++] = req->header;
	}
	if (post) {
		/* No "Expect: 100-continue" stall on larger bodies. */
		name[n] = "Expect";
		val[n++] = "";
	}
	for (i = 0; i < n; i++)
		len += strlen(name[i]) + 2 + strlen(val[i]) + 1;
	if ((r->hdrbuf = malloc(len)) == NULL)
		return -ENOMEM;
	r->hdrbuf_len = len;
	for (i = 0; i < n; i++) {
		/* "Expect:" with nothing after it removes the header. */
		if (name[i][0] == '\0')
			w = snprintf(r->hdrbuf + off, len - off, "%s", val[i]);
		else
			w = snprintf(r->hdrbuf + off, len - off, "%s:%s%s",
			    name[i], val[i][0] != '\0' ? " " : "", val[i]);
		r->hdrs[i].data = r->hdrbuf + off;
		r->hdrs[i].next = i + 1 < n ? &r->hdrs[i + 1] : NULL;
		off += (size_t)w + 1;
	}
	return 0;
}

/* Checks req before anything is made for it; *ret_post: a POST. */
static int
req_check(struct idp_http *h, const struct idp_http_req *req, idp_http_cb cb,
    int *ret_post, struct idp_err *err)
{
	int post;

	if (h == NULL || req == NULL || cb == NULL)
		return idp_err_set(err, -EINVAL, "no request");
	if (h->in_curl || h->free_pending)
		return idp_err_set(err, -EBUSY,
		    "client busy (called from a watch or timer op) or freed");
	if (req->method == NULL || strcmp(req->method, "GET") == 0)
		post = 0;
	else if (strcmp(req->method, "POST") == 0)
		post = 1;
	else
		return idp_err_set(err, -EINVAL, "method must be GET or POST");
	if (!post && req->body != NULL && req->body_len > 0)
		return idp_err_set(err, -EINVAL, "GET with a body");
	if (post && req->body == NULL && req->body_len > 0)
		return idp_err_set(err, -EINVAL, "POST body is NULL");
	if (!hdr_value_ok(req->content_type) || !hdr_value_ok(req->accept) ||
	    !hdr_value_ok(req->authorization) || !hdr_value_ok(req->header) ||
	    (req->header != NULL && (strchr(req->header, ':') == NULL ||
	    req->header[0] == ':')))
		return idp_err_set(err, -EINVAL,
		    "header value with CR or LF, or too long");
	if (req->connect_timeout_ms < 0 || req->timeout_ms < 0)
		return idp_err_set(err, -EINVAL, "negative timeout");
	if ((req->cert_file == NULL) != (req->key_file == NULL))
		return idp_err_set(err, -EINVAL, "a client certificate needs "
		    "its key, and a key its certificate");
	*ret_post = post;
	return 0;
}

/*
 * Makes the request for req: its checked URL, its header buffer and a
 * copy of the body, not yet an easy handle.  Free with req_free().
 */
static int
req_new(struct idp_http *h, const struct idp_http_req *req, idp_http_cb cb,
    void *arg, int post, struct req **ret, struct idp_err *err)
{
	struct req *r = NULL;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->on_line = req->on_line;
	r->line_arg = req->line_arg;
	r->max_body = req->max_body > 0 ? req->max_body :
	    IDP_HTTP_DEFAULT_MAX_BODY;
	if (r->max_body >= SIZE_MAX / 2) {
		rc = idp_err_set(err, -EINVAL, "max_body too large");
		goto out;
	}
	if ((rc = idp_http_url_check(req->url, req->allow_http_loopback,
	    &r->url, &r->plain_http, &r->resolve, err)) < 0)
		goto out;
	if ((rc = req_headers(r, req, post)) < 0) {
		idp_err_set(err, rc, "out of memory");
		goto out;
	}
	if (post && req->body_len > 0) {
		if ((r->body = malloc(req->body_len)) == NULL) {
			rc = idp_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(r->body, req->body, req->body_len);
		r->body_len = req->body_len;
	}
	*ret = r;
	r = NULL;
	rc = 0;
out:
	req_free(r);
	return rc;
}

/* idp_http_start() with a reason for refusals in err. */
int
idp_http_start_err(struct idp_http *h, const struct idp_http_req *req,
    idp_http_cb cb, void *arg, uint64_t *ret_id, struct idp_err *err)
{
	struct req *r = NULL;
	int post = 0, rc;

	if ((rc = req_check(h, req, cb, &post, err)) < 0)
		return rc;
	if ((rc = req_new(h, req, cb, arg, post, &r, err)) < 0)
		return rc;
	if ((rc = idp_http_easy_setup(r, req, post, err)) < 0)
		goto out;
	r->id = h->next_id++;
	r->started = idp_http_now_ms();
	h->in_curl = 1;
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		h->in_curl = 0;
		rc = idp_err_set(err, -ENOMEM, "curl_multi_add_handle failed");
		goto out;
	}
	h->in_curl = 0;
	list_add(&h->active, r);
	h->n++;
	if (ret_id != NULL)
		*ret_id = r->id;
	r = NULL;
	rc = 0;
out:
	req_free(r);
	return rc;
}

/* Starts a request; see idp/http.h. */
int
idp_http_start(struct idp_http *h, const struct idp_http_req *req,
    idp_http_cb cb, void *arg, uint64_t *ret_id)
{
	int rc;

	if (h == NULL)
		return -EINVAL;
	idp_http_enter(h);
	rc = idp_http_start_err(h, req, cb, arg, ret_id, NULL);
	idp_http_leave(h);
	return rc;
}

/* Cancels request id without calling back; unknown ids are ignored. */
void
idp_http_cancel(struct idp_http *h, uint64_t id)
{
	struct req *r;

	if (h == NULL || h->in_curl)
		return;
	for (r = h->active.head; r != NULL; r = r->next)
		if (r->id == id)
			break;
	if (r != NULL) {
		list_del(&h->active, r);
		h->in_curl = 1;
		curl_multi_remove_handle(h->multi, r->easy);
		h->in_curl = 0;
		h->n--;
		req_free(r);
		return;
	}
	for (r = h->done.head; r != NULL; r = r->next)
		if (r->id == id)
			break;
	if (r != NULL) {
		list_del(&h->done, r);
		h->n--;
		req_free(r);
	}
}

/* Lets curl act on fd, then runs the callbacks of finished requests. */
void
idp_http_on_fd(struct idp_http *h, int fd, int what)
{
	int mask = 0, running;

	if (h == NULL || h->in_curl || h->free_pending)
		return;
	if (what & IDP_HTTP_IN)
		mask |= CURL_CSELECT_IN;
	if (what & IDP_HTTP_OUT)
		mask |= CURL_CSELECT_OUT;
	idp_http_enter(h);
	h->in_curl = 1;
	(void)curl_multi_socket_action(h->multi, (curl_socket_t)fd, mask,
	    &running);
	collect(h);
	h->in_curl = 0;
	dispatch(h);
	idp_http_leave(h);
}

/* Lets curl handle timeouts, then runs the callbacks of finished requests. */
void
idp_http_timeout(struct idp_http *h)
{
	int running;

	if (h == NULL || h->in_curl || h->free_pending)
		return;
	idp_http_enter(h);
	h->in_curl = 1;
	(void)curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	collect(h);
	h->in_curl = 0;
	dispatch(h);
	idp_http_leave(h);
}

/* Returns the number of requests whose callback has not run yet. */
size_t
idp_http_pending(const struct idp_http *h)
{
	return h == NULL ? 0 : h->n;
}

