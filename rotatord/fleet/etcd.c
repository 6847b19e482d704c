/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd v3 over its JSON gateway (etcd.h).
 *
 * Watch events arrive inside libcurl's write callback, where no new
 * request may be started; they are queued and handed over from a timer
 * that fires on the next loop pass, so an event callback may write to
 * etcd (an ack, say) at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/http.h>

#include "core/httploop.h"
#include "core/log.h"
#include "fleet/etcd.h"

#define MAX_REPLY	(4 << 20)	/* a range of the whole prefix */
#define MAX_LINE	(4 << 20)	/* one watch message */

struct wev {
	struct wev	*next;
	char		*key;
	size_t		 klen;
	unsigned char	*val;
	size_t		 vlen;
	int		 del;
	int64_t		 rev;		/* mod_revision */
	int64_t		 create_rev;
	int64_t		 lease;
};

struct call {
	struct call	*next;
	struct etcd	*e;
	uint64_t	 id;
	uint64_t	 http_id;
	size_t		 endpoint;	/* index it went to */
	etcd_cb		 cb;
	void		*arg;
	/* watches */
	int		 watch;
	etcd_event_cb	 ev;
	etcd_watch_end_cb end;
	struct wev	*q_head, *q_tail;
	int		 end_rc;	/* set by the stream: why it stops */
	int64_t		 compact_rev;
	char		 why[256];
	int		 finishing;	/* in on_done: cancel only marks */
	int		 cancelled;
	int		 abort;		/* its member stopped answering calls */
};

struct etcd {
	struct loop	*loop;
	struct httploop	*hl;
	char		**endpoints;
	size_t		 n;
	size_t		 cur;
	char		*ca_file;
	char		*cert;
	char		*key;
	int64_t		 timeout;
	struct call	*calls;
	uint64_t	 next_id;
	struct loop_timer *timer;	/* hands queued watch events over */
};

static void
wev_free(struct wev *w)
{
	free(w->key);
	free(w->val);
	free(w);
}

static void
call_unlink(struct call *c)
{
	struct call **pp;

	for (pp = &c->e->calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

static void
call_free(struct call *c)
{
	struct wev *w, *next;

	for (w = c->q_head; w != NULL; w = next) {
		next = w->next;
		wev_free(w);
	}
	free(c);
}

/* ---- watch events, handed over outside libcurl ---------------------- */

/* Hands every queued event to its watch's callback. */
static void
flush(struct etcd *e)
{
	struct call *c;
	struct wev *w;

again:
	for (c = e->calls; c != NULL; c = c->next) {
		if (!c->watch || c->q_head == NULL || c->cancelled)
			continue;
		w = c->q_head;
		if ((c->q_head = w->next) == NULL)
			c->q_tail = NULL;
		struct etcd_kv kv = {
			.key = w->key, .klen = w->klen, .val = w->val,
			.vlen = w->vlen, .is_delete = w->del, .mod_rev = w->rev,
			.create_rev = w->create_rev, .lease = w->lease,
		};

		c->ev(c->arg, &kv);
		wev_free(w);
		/* The callback may have cancelled watches: look again. */
		goto again;
	}
}

/*
 * Ends the watches whose member stopped answering: a member that is
 * paused or cut off keeps the stream open and silent, so nothing else
 * would tell.  Their owners watch again, on the endpoint calls use now.
 */
static void
abort_watches(struct etcd *e)
{
	struct call *c;

again:
	for (c = e->calls; c != NULL; c = c->next) {
		if (!c->watch || !c->abort || c->finishing || c->cancelled)
			continue;
		call_unlink(c);
		idp_http_cancel(httploop_peek(e->hl), c->http_id);
		c->end(c->arg, -EIO, 0, c->why);
		call_free(c);
		/* The callback may have started or cancelled watches. */
		goto again;
	}
}

static int64_t
on_flush(struct loop *l, void *arg)
{
	flush(arg);
	abort_watches(arg);
	return 0;
}

/* Queues the events of one watch message.  Returns 0 or -1 (stop). */
static int
watch_message(struct call *c, json_t *j)
{
	json_t *res, *evs, *ev, *kv;
	struct wev *w;
	size_t i;

	if ((res = json_object_get(j, "result")) == NULL) {
		json_t *err = json_object_get(j, "error");

		c->end_rc = -EIO;
		snprintf(c->why, sizeof(c->why), "watch ended: %s",
		    json_string_value(json_object_get(err, "message")) != NULL ?
		    json_string_value(json_object_get(err, "message")) :
		    "error");
		return -1;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		const char *reason = json_string_value(json_object_get(res,
		    "cancel_reason"));

		c->compact_rev = etcd_int(json_object_get(res,
		    "compact_revision"), 0);
		c->end_rc = c->compact_rev > 0 ? -ESTALE : -EIO;
		snprintf(c->why, sizeof(c->why), "watch cancelled%s%s%s",
		    c->compact_rev > 0 ? " (revision compacted)" : "",
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
		return -1;
	}
	evs = json_object_get(res, "events");
	json_array_foreach(evs, i, ev) {
		kv = json_object_get(ev, "kv");
		if ((w = calloc(1, sizeof(*w))) == NULL)
			goto oom;
		w->del = json_string_value(json_object_get(ev, "type")) != NULL &&
		    strcmp(json_string_value(json_object_get(ev, "type")),
		    "DELETE") == 0;
		w->rev = etcd_int(json_object_get(kv, "mod_revision"), 0);
		w->create_rev = etcd_int(json_object_get(kv, "create_revision"),
		    0);
		w->lease = etcd_int(json_object_get(kv, "lease"), 0);
		if (etcd_unb64(json_object_get(kv, "key"),
		    (unsigned char **)&w->key, &w->klen) < 0 ||
		    etcd_unb64(w->del ? NULL : json_object_get(kv, "value"),
		    &w->val, &w->vlen) < 0) {
			wev_free(w);
			c->end_rc = -EPROTO;
			snprintf(c->why, sizeof(c->why), "watch: bad base64");
			return -1;
		}
		if (c->q_tail != NULL)
			c->q_tail->next = w;
		else
			c->q_head = w;
		c->q_tail = w;
	}
	if (c->q_head != NULL)
		loop_timer_set(c->e->timer, loop_now_mono());
	return 0;
oom:
	c->end_rc = -ENOMEM;
	snprintf(c->why, sizeof(c->why), "out of memory");
	return -1;
}

static int
on_line(void *arg, const char *line, size_t len)
{
	struct call *c = arg;
	json_t *j;
	int rc;

	if (len == 0)
		return 0;
	if ((j = json_loadb(line, len, 0, NULL)) == NULL) {
		c->end_rc = -EPROTO;
		snprintf(c->why, sizeof(c->why), "watch: a message that is not "
		    "JSON");
		return -1;
	}
	rc = watch_message(c, j);
	json_decref(j);
	return rc;
}

/* ---- calls ------------------------------------------------------------ */

static void
on_done(void *arg, const struct idp_http_resp *resp)
{
	struct call *c = arg;
	struct etcd *e = c->e;
	json_t *j = NULL, *err;
	char why[320];
	int rc = 0;

	why[0] = '\0';
	if (resp->rc < 0 && !(c->watch && c->end_rc != 0)) {
		rc = resp->rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
		snprintf(why, sizeof(why), "%s: %s", e->endpoints[c->endpoint],
		    resp->error != NULL ? resp->error : strerror(-resp->rc));
	} else if (!c->watch || resp->status != 200) {
		j = json_loadb(resp->body, resp->body_len, 0, NULL);
		if (resp->status != 200) {
			err = json_object_get(j, "error");
			rc = -EPROTO;
			snprintf(why, sizeof(why), "%s: HTTP %ld: %s",
			    e->endpoints[c->endpoint], resp->status,
			    json_string_value(json_object_get(j, "message")) !=
			    NULL ? json_string_value(json_object_get(j,
			    "message")) : json_string_value(err) != NULL ?
			    json_string_value(err) : "error");
		} else if (!json_is_object(j)) {
			rc = -EPROTO;
			snprintf(why, sizeof(why), "%s: a reply that is not "
			    "JSON", e->endpoints[c->endpoint]);
		}
	}
	/* Elsewhere next time: this endpoint failed or has no leader. */
	if ((rc == -EIO || rc == -ETIMEDOUT || resp->status >= 500 ||
	    (c->watch && c->end_rc == -EIO)) && c->endpoint == e->cur &&
	    e->n > 1) {
		struct call *w;

		e->cur = (e->cur + 1) % e->n;
		log_info("cluster: etcd calls go to %s now", e->endpoints[e->cur]);
		/* Watches follow: the member they are on may be silent. */
		for (w = e->calls; w != NULL; w = w->next)
			if (w != c && w->watch && w->endpoint == c->endpoint &&
			    !w->abort) {
				w->abort = 1;
				snprintf(w->why, sizeof(w->why), "watch moved "
				    "off %s: it failed a call",
				    e->endpoints[c->endpoint]);
				loop_timer_set(e->timer, loop_now_mono());
			}
	}
	if (c->watch) {
		/* Events read before the end go first; then the end. */
		c->finishing = 1;
		flush(e);
		if (!c->cancelled) {
			if (c->end_rc != 0)
				c->end(c->arg, c->end_rc, c->compact_rev,
				    c->why);
			else
				c->end(c->arg, rc != 0 ? rc : -EIO, 0,
				    why[0] ? why : "watch stream ended");
		}
		call_unlink(c);
	} else {
		call_unlink(c);
		c->cb(c->arg, rc, j, why);
	}
	json_decref(j);
	call_free(c);
}

/* The parts of a request to etcd that every call shares. */
static void
req_init(const struct etcd *e, struct idp_http_req *req, const char *url,
    const char *body)
{
	memset(req, 0, sizeof(*req));
	req->url = url;
	req->method = "POST";
	req->body = body;
	req->body_len = strlen(body);
	req->content_type = "application/json";
	req->ca_file = e->ca_file;
	req->cert_file = e->cert;
	req->key_file = e->key;
	req->connect_timeout_ms = e->timeout < 5000 ? e->timeout : 5000;
	req->timeout_ms = e->timeout;
	req->allow_http_loopback = 1;
}

int
etcd_call_wait(struct etcd *e, const char *path, const char *body,
    long timeout_ms)
{
	struct idp_http_req req;
	struct idp_http_resp r;
	char url[512];
	int rc;

	snprintf(url, sizeof(url), "%s%s", e->endpoints[e->cur], path);
	req_init(e, &req, url, body);
	req.timeout_ms = timeout_ms;
	req.connect_timeout_ms = timeout_ms / 2;
	rc = idp_http_fetch(&req, &r);
	if (rc == 0 && r.status != 200)
		rc = -EPROTO;
	idp_http_resp_free(&r);
	return rc;
}

static int
start(struct etcd *e, const char *path, json_t *body, struct call *c,
    uint64_t *ret_id)
{
	struct idp_http_req req;
	struct idp_http *h;
	struct idp_err err;
	char url[512], *txt;
	int rc;

	err.msg[0] = '\0';
	if ((rc = httploop_client(e->hl, &h, &err)) < 0) {
		log_err("cluster: %s", err.msg);
		json_decref(body);
		free(c);
		return rc;
	}
	snprintf(url, sizeof(url), "%s%s", e->endpoints[e->cur], path);
	txt = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (txt == NULL) {
		free(c);
		return -ENOMEM;
	}
	req_init(e, &req, url, txt);
	req.max_body = c->watch ? MAX_LINE : MAX_REPLY;
	if (c->watch) {
		req.header = "Grpc-Metadata-hasleader: true";
		req.on_line = on_line;
		req.line_arg = c;
	}
	c->e = e;
	c->endpoint = e->cur;
	c->id = ++e->next_id;
	rc = idp_http_start(h, &req, on_done, c, &c->http_id);
	free(txt);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->next = e->calls;
	e->calls = c;
	if (ret_id != NULL)
		*ret_id = c->id;
	return 0;
}

int
etcd_call(struct etcd *e, const char *path, json_t *body, etcd_cb cb,
    void *arg, uint64_t *ret_id)
{
	struct call *c;

	if (body == NULL)
		return -ENOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(body);
		return -ENOMEM;
	}
	c->cb = cb;
	c->arg = arg;
	return start(e, path, body, c, ret_id);
}

int
etcd_watch(struct etcd *e, const char *key, const char *range_end,
    int64_t start_rev, etcd_event_cb ev, etcd_watch_end_cb end, void *arg,
    uint64_t *ret_id)
{
	struct call *c;
	json_t *cr;
	char rev[32];

	snprintf(rev, sizeof(rev), "%lld", (long long)start_rev);
	cr = json_pack("{s:o,s:s,s:b}", "key", etcd_b64(key, strlen(key)),
	    "start_revision", rev, "progress_notify", 1);
	if (cr != NULL && range_end != NULL)
		json_object_set_new(cr, "range_end", etcd_b64(range_end,
		    strlen(range_end)));
	if (cr == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(cr);
		return -ENOMEM;
	}
	c->watch = 1;
	c->ev = ev;
	c->end = end;
	c->arg = arg;
	return start(e, "/v3/watch", json_pack("{s:o}", "create_request", cr),
	    c, ret_id);
}

void
etcd_cancel(struct etcd *e, uint64_t id)
{
	struct call *c;

	if (e == NULL || id == 0)
		return;
	for (c = e->calls; c != NULL; c = c->next)
		if (c->id == id)
			break;
	if (c == NULL)
		return;
	if (c->finishing) {
		c->cancelled = 1;
		return;
	}
	call_unlink(c);
	idp_http_cancel(httploop_peek(e->hl), c->http_id);
	call_free(c);
}

const char *
etcd_endpoint(const struct etcd *e)
{
	return e->endpoints[e->cur];
}

int
etcd_new(struct loop *l, char *const *endpoints, size_t n,
    const char *ca_file, const char *cert, const char *key,
    int64_t timeout_ms, struct etcd **ret)
{
	struct etcd *e;
	size_t i;
	int rc = -ENOMEM;

	if (n == 0)
		return -EINVAL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	e->loop = l;
	e->timeout = timeout_ms > 0 ? timeout_ms : 5000;
	if ((e->endpoints = calloc(n, sizeof(*e->endpoints))) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		size_t len = strlen(endpoints[i]);

		if ((e->endpoints[i] = strdup(endpoints[i])) == NULL)
			goto fail;
		e->n++;
		while (len > 0 && e->endpoints[i][len - 1] == '/')
			e->endpoints[i][--len] = '\0';
	}
	if ((ca_file != NULL && (e->ca_file = strdup(ca_file)) == NULL) ||
	    (cert != NULL && (e->cert = strdup(cert)) == NULL) ||
	    (key != NULL && (e->key = strdup(key)) == NULL))
		goto fail;
	if ((rc = httploop_new(l, &e->hl)) < 0)
		goto fail;
	if ((e->timer = loop_timer_add(l, on_flush, e)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	*ret = e;
	return 0;
fail:
	etcd_free(e);
	return rc;
}

void
etcd_free(struct etcd *e)
{
	struct call *c, *next;
	size_t i;

	if (e == NULL)
		return;
	/* The client goes first: no callback of a freed call can run. */
	httploop_free(e->hl);
	for (c = e->calls; c != NULL; c = next) {
		next = c->next;
		call_free(c);
	}
	loop_timer_del(e->timer);
	for (i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->ca_file);
	free(e->cert);
	free(e->key);
	free(e);
}
