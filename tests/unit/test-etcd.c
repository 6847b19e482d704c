/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/fleet/etcd_codec.c (base64 keys and values, int64 as
 * strings, prefix range ends, range reply elements) called directly, and
 * for rotatord/fleet/etcd.c, the etcd v3 JSON gateway client, against a
 * fake gateway that this test serves on 127.0.0.1 from its own loop
 * (util_httpd.c): request encoding, replies and error answers, transport
 * failures and timeouts moving calls to the next endpoint, limits,
 * cancellation, and watches (events split across chunks, deletes,
 * compaction, errors, the end of the stream, callbacks that call etcd
 * again).  etcd_call_wait() blocks, so it is tried against a server in a
 * child process.  A real etcd cluster is tests/integration/test_fleet.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <idp/b64.h>

#include "core/loop.h"
#include "fleet/etcd.h"
#include "util.h"

#define DEADLINE	30000		/* ms: against hangs only */

/* ---- the codec ----------------------------------------------------------- */

static json_t *
b64(const char *s)
{
	json_t *j = etcd_b64(s, strlen(s));

	assert_non_null(j);
	return j;
}

static void
test_codec_b64(void **state)
{
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0xfe, 0, 'x' };
	unsigned char *out = (unsigned char *)(uintptr_t)1;
	size_t len = 99, i;
	json_t *j;

	(void)state;
	/* Round trips, binary and empty included; the result ends in NUL. */
	j = etcd_b64(bin, sizeof(bin));
	assert_string_equal(json_string_value(j), "AAEC//4AeA==");
	assert_int_equal(etcd_unb64(j, &out, &len), 0);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(out, bin, sizeof(bin));
	assert_int_equal(out[len], 0);
	free(out);
	json_decref(j);
	j = etcd_b64("", 0);
	assert_string_equal(json_string_value(j), "");
	assert_int_equal(etcd_unb64(j, &out, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(out[0], 0);
	free(out);
	json_decref(j);
	for (i = 0; i < 3; i++) {
		j = etcd_b64("abc", i);
		assert_int_equal(etcd_unb64(j, &out, &len), 0);
		assert_int_equal(len, i);
		assert_memory_equal(out, "abc", i);
		free(out);
		json_decref(j);
	}
	/* A value over the limit is not encoded (nor read). */
	assert_null(etcd_b64("x", (1 << 26) + 1));

	/* Strict decoding: every non-canonical or foreign spelling refused. */
	{
		static const char *const bad[] = {
			"YQ", "YQ=", "YR==", "YWI", "Y===", "====", "YWJj\n",
			"YW Jj", "YW_j", "YW-j", "!!!!", "YWJjZA=", "YQ==YQ==",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			out = (unsigned char *)(uintptr_t)1;
			j = json_string(bad[i]);
			if (etcd_unb64(j, &out, &len) != -EBADMSG)
				fail_msg("\"%s\" decoded", bad[i]);
			assert_ptr_equal(out, (unsigned char *)(uintptr_t)1);
			json_decref(j);
		}
	}
	/* Not a string. */
	j = json_null();
	assert_int_equal(etcd_unb64(j, &out, &len), -EBADMSG);
	j = json_integer(4);
	assert_int_equal(etcd_unb64(j, &out, &len), -EBADMSG);
	json_decref(j);
	j = json_pack("[s]", "YQ==");
	assert_int_equal(etcd_unb64(j, &out, &len), -EBADMSG);
	json_decref(j);
}

static void
test_codec_int_and_prefix(void **state)
{
	static const struct {
		const char	*s;
		int64_t		 want;
	} t[] = {
		{ "0", 0 }, { "42", 42 }, { "-7", -7 },
		{ "9223372036854775807", INT64_MAX },
		{ "-9223372036854775808", INT64_MIN },
		{ "9223372036854775808", -1 },		/* overflow: def */
		{ "12x", -1 }, { "x", -1 }, { "", -1 }, { "1.5", -1 },
		{ "0x10", -1 }, { "+5", -1 }, { " 5", -1 }, { "-", -1 },
		{ "--5", -1 }, { "5 ", -1 },
	};
	json_t *j;
	char *end;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		j = json_string(t[i].s);
		if (etcd_int(j, -1) != t[i].want)
			fail_msg("\"%s\": %lld", t[i].s,
			    (long long)etcd_int(j, -1));
		json_decref(j);
	}
	j = json_integer(2324035690285792521LL);
	assert_true(etcd_int(j, -1) == 2324035690285792521LL);
	json_decref(j);
	/* Absent, or of another type: the default. */
	assert_int_equal(etcd_int(NULL, 5), 5);
	j = json_real(1.0);
	assert_int_equal(etcd_int(j, 5), 5);
	json_decref(j);
	j = json_true();
	assert_int_equal(etcd_int(j, 5), 5);

	/* The range end of a prefix: its last byte plus one. */
	end = etcd_prefix_end("/rotatord/");
	assert_string_equal(end, "/rotatord0");
	free(end);
	end = etcd_prefix_end("/rotatord/done/1-a-ff/");
	assert_string_equal(end, "/rotatord/done/1-a-ff0");
	free(end);
	end = etcd_prefix_end("/");
	assert_string_equal(end, "0");
	free(end);
	assert_null(etcd_prefix_end(""));
}

static void
test_codec_kv(void **state)
{
	unsigned char *k = NULL, *v = NULL;
	struct etcd_kv kv;
	json_t *j;

	(void)state;
	j = json_pack("{s:o,s:o,s:s,s:s,s:s,s:s}", "key", b64("/r/a"),
	    "value", b64("va\"lue"), "create_revision", "3", "mod_revision",
	    "12", "version", "4", "lease", "2324035690285792521");
	assert_int_equal(etcd_kv_decode(j, &kv, &k, &v), 0);
	assert_int_equal(kv.klen, 4);
	assert_memory_equal(kv.key, "/r/a", 4);
	assert_ptr_equal(kv.key, k);
	assert_int_equal(kv.vlen, 6);
	assert_string_equal((const char *)kv.val, "va\"lue");
	assert_ptr_equal(kv.val, v);
	assert_int_equal(kv.create_rev, 3);
	assert_int_equal(kv.mod_rev, 12);
	assert_true(kv.lease == 2324035690285792521LL);
	assert_int_equal(kv.is_delete, 0);
	free(k);
	free(v);
	json_decref(j);
	/* No value, no lease (etcd leaves out zero fields): empty, 0. */
	j = json_pack("{s:o,s:i}", "key", b64("/r/b"), "mod_revision", 9);
	assert_int_equal(etcd_kv_decode(j, &kv, &k, &v), 0);
	assert_int_equal(kv.vlen, 0);
	assert_int_equal(kv.mod_rev, 9);
	assert_int_equal(kv.lease, 0);
	assert_int_equal(kv.create_rev, 0);
	free(k);
	free(v);
	json_decref(j);
	/* A bad key or value: refused, nothing returned. */
	k = v = (unsigned char *)(uintptr_t)1;
	j = json_pack("{s:s,s:o}", "key", "%%%", "value", b64("x"));
	assert_int_equal(etcd_kv_decode(j, &kv, &k, &v), -EBADMSG);
	assert_ptr_equal(k, (unsigned char *)(uintptr_t)1);
	json_decref(j);
	j = json_pack("{s:o,s:s}", "key", b64("/r/c"), "value", "YR==");
	assert_int_equal(etcd_kv_decode(j, &kv, &k, &v), -EBADMSG);
	assert_ptr_equal(v, (unsigned char *)(uintptr_t)1);
	json_decref(j);
}

/* ---- a fake gateway ------------------------------------------------------ */

struct answer {
	int		 status;	/* 0: hang up */
	int		 hold;		/* keep it in E.held */
	const char	*body;		/* NULL: "{}" with a header */
};

struct ev {
	char		 key[64];
	char		 val[256];
	size_t		 vlen;
	int		 del;
	int64_t		 mod, create, lease;
};

static struct {
	struct loop		*l;
	struct ut_httpd		*srv[2];
	struct etcd		*e;
	struct answer		 kv[2];		/* per server */
	struct ut_http_conn	*held;
	struct ut_http_conn	*watch;		/* the open watch stream */
	int			 n_req[2];
	char			 path[256];
	char			 head[4096];
	char			 body[8192];
	/* etcd_call() answers */
	int			 n_cb;
	int			 cb_rc;
	char			 cb_why[512];
	json_t			*cb_reply;
	/* watch events and ends */
	struct ev		 evs[16];
	int			 n_ev;
	int			 n_end;
	int			 end_rc;
	int64_t			 end_compact;
	char			 end_why[512];
	int			 cancel_in_ev;	/* etcd_cancel() at this event */
	uint64_t		 watch_id;
	int			 call_in_ev;	/* etcd_call() from the event */
} E;

static void
gateway(void *arg, struct ut_http_conn *c, const struct ut_http_req *req)
{
	int i = (int)(intptr_t)arg;
	const struct answer *a = &E.kv[i];

	E.n_req[i]++;
	ut_snprintf(E.path, sizeof(E.path), "%s", req->path);
	ut_snprintf(E.head, sizeof(E.head), "%s", req->head);
	ut_snprintf(E.body, sizeof(E.body), "%s", req->body);
	assert_string_equal(req->method, "POST");
	if (strcmp(req->path, "/v3/watch") == 0 && a->status == 200 &&
	    a->body == NULL) {
		assert_null(E.watch);
		E.watch = c;
		ut_http_stream(c, "Content-Type: application/json\r\n");
		return;
	}
	if (a->hold) {
		assert_null(E.held);
		E.held = c;
		return;
	}
	if (a->status == 0) {
		ut_http_hangup(c);
		return;
	}
	ut_http_json(c, a->status, a->body != NULL ? a->body :
	    "{\"header\":{\"cluster_id\":\"14841639068965178418\","
	    "\"revision\":\"9223372036854775807\"},\"count\":\"1\"}");
}

static int
setup(void **state)
{
	(void)state;
	memset(&E, 0, sizeof(E));
	signal(SIGPIPE, SIG_IGN);
	E.kv[0].status = E.kv[1].status = 200;
	assert_int_equal(loop_new(&E.l), 0);
	E.srv[0] = ut_httpd_new(E.l, gateway, (void *)0);
	E.srv[1] = ut_httpd_new(E.l, gateway, (void *)1);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	etcd_free(E.e);
	if (E.held != NULL)
		ut_http_hangup(E.held);
	if (E.watch != NULL)
		ut_http_hangup(E.watch);
	ut_httpd_free(E.srv[0]);
	ut_httpd_free(E.srv[1]);
	loop_free(E.l);
	json_decref(E.cb_reply);
	return 0;
}

/* A client of n endpoints: the fake gateways, then dead ports. */
static void
client(size_t n, int64_t timeout_ms)
{
	char urls[3][128];
	char *eps[3];
	size_t i;

	for (i = 0; i < n; i++) {
		if (i < 2)
			ut_snprintf(urls[i], sizeof(urls[i]), "%s/",
			    ut_httpd_url(E.srv[i], ""));
		else
			ut_snprintf(urls[i], sizeof(urls[i]),
			    "http://127.0.0.1:%d", ut_free_port());
		eps[i] = urls[i];
	}
	assert_int_equal(etcd_new(E.l, eps, n, NULL, NULL, NULL, timeout_ms,
	    &E.e), 0);
}

static void
on_call(void *arg, int rc, json_t *reply, const char *why)
{
	E.n_cb++;
	E.cb_rc = rc;
	ut_snprintf(E.cb_why, sizeof(E.cb_why), "%s", why);
	json_decref(E.cb_reply);
	E.cb_reply = reply != NULL ? json_deep_copy(reply) : NULL;
	if (rc == 0) {
		assert_string_equal(why, "");
		assert_true(json_is_object(reply));
	}
}

static int
p_at_least(void *arg)
{
	int *const *w = arg;

	return *w[0] >= *w[1];
}

static void
wait_count(int *counter, int n, const char *what)
{
	int *w[2] = { counter, &n };

	if (!ut_run_until(E.l, p_at_least, w, DEADLINE))
		fail_msg("%s: %d, not %d", what, *counter, n);
}

/* Calls path with body and waits for the answer. */
static void
call(const char *path, json_t *body)
{
	int n = E.n_cb + 1;

	assert_int_equal(etcd_call(E.e, path, body, on_call, NULL, NULL), 0);
	wait_count(&E.n_cb, n, "call answers");
}

static const char *
endpoint_of(int i)
{
	return ut_httpd_url(E.srv[i], "");
}

/* ---- calls --------------------------------------------------------------- */

static void
test_call(void **state)
{
	json_t *body, *sent;
	uint64_t id = 0;

	(void)state;
	assert_int_equal(etcd_new(E.l, NULL, 0, NULL, NULL, NULL, 1000, &E.e),
	    -EINVAL);
	assert_null(E.e);
	client(1, 5000);
	/* The trailing slash of the endpoint is dropped. */
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
	body = json_pack("{s:o,s:o}", "key", b64("/rotatord/leader"), "value",
	    b64("host-a"));
	assert_int_equal(etcd_call(E.e, "/v3/kv/put", body, on_call, NULL, &id),
	    0);
	assert_true(id != 0);
	wait_count(&E.n_cb, 1, "call answers");
	assert_int_equal(E.cb_rc, 0);
	/* int64 as strings, read back exactly. */
	assert_true(etcd_int(json_object_get(json_object_get(E.cb_reply,
	    "header"), "revision"), 0) == INT64_MAX);
	/* What went out: POST, JSON, compact, base64 keys and values. */
	assert_string_equal(E.path, "/v3/kv/put");
	assert_non_null(strcasestr(E.head, "\r\nContent-Type: application/json"
	    "\r\n"));
	assert_null(strcasestr(E.head, "hasleader"));
	assert_string_equal(E.body, "{\"key\":\"L3JvdGF0b3JkL2xlYWRlcg==\","
	    "\"value\":\"aG9zdC1h\"}");
	sent = json_loads(E.body, 0, NULL);
	assert_non_null(sent);
	json_decref(sent);
	/* Each call its own id. */
	{
		uint64_t id2 = 0;

		assert_int_equal(etcd_call(E.e, "/v3/kv/range", json_object(),
		    on_call, NULL, &id2), 0);
		assert_true(id2 != 0 && id2 != id);
		wait_count(&E.n_cb, 2, "call answers");
	}
	/* No body (a failed json_pack): refused, no callback. */
	assert_int_equal(etcd_call(E.e, "/v3/kv/put", NULL, on_call, NULL, NULL),
	    -ENOMEM);
	assert_int_equal(E.n_cb, 2);
	assert_int_equal(E.n_req[0], 2);
}

static void
test_call_errors(void **state)
{
	char want[512];

	(void)state;
	client(1, 5000);
	/* An error answer: its message. */
	E.kv[0].status = 400;
	E.kv[0].body = "{\"error\":\"etcdserver: requested lease not found\","
	    "\"code\":5,\"message\":\"etcdserver: requested lease not found\"}";
	call("/v3/lease/keepalive", json_object());
	assert_int_equal(E.cb_rc, -EPROTO);
	ut_snprintf(want, sizeof(want), "%s: HTTP 400: etcdserver: requested "
	    "lease not found", endpoint_of(0));
	assert_string_equal(E.cb_why, want);
	/* Only "error": that. */
	E.kv[0].body = "{\"error\":\"bad request\"}";
	call("/v3/kv/put", json_object());
	ut_snprintf(want, sizeof(want), "%s: HTTP 400: bad request",
	    endpoint_of(0));
	assert_string_equal(E.cb_why, want);
	/* Not JSON at all. */
	E.kv[0].status = 404;
	E.kv[0].body = "404 page not found";
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EPROTO);
	ut_snprintf(want, sizeof(want), "%s: HTTP 404: error", endpoint_of(0));
	assert_string_equal(E.cb_why, want);
	/* 200 with something that is not a JSON object. */
	E.kv[0].status = 200;
	E.kv[0].body = "[1,2]";
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EPROTO);
	ut_snprintf(want, sizeof(want), "%s: a reply that is not JSON",
	    endpoint_of(0));
	assert_string_equal(E.cb_why, want);
	E.kv[0].body = "{\"a\":";
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EPROTO);
	/* Hung up on: a transport error; one endpoint, so it stays. */
	E.kv[0].status = 0;
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EIO);
	assert_int_equal(strncmp(E.cb_why, endpoint_of(0),
	    strlen(endpoint_of(0))), 0);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
	/* A reply over the limit (4 MiB). */
	{
		size_t n = (4 << 20) + 16;
		char *big = malloc(n + 1);

		assert_non_null(big);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		big[n] = '\0';
		E.kv[0].status = 200;
		E.kv[0].body = big;
		call("/v3/kv/range", json_object());
		assert_true(E.cb_rc < 0);
		/* Just under it is fine. */
		big[(4 << 20) - 1] = '}';
		big[4 << 20] = '\0';
		call("/v3/kv/range", json_object());
		assert_int_equal(E.cb_rc, 0);
		free(big);
	}
}

static void
test_failover(void **state)
{
	(void)state;
	client(3, 5000);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
	/* A 4xx is an answer: the endpoint stays. */
	E.kv[0].status = 400;
	call("/v3/kv/put", json_object());
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
	/* A 5xx (no leader, say) moves later calls to the next one. */
	E.kv[0].status = 503;
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EPROTO);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(1));
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, 0);
	assert_int_equal(E.n_req[1], 1);
	/* A hang-up moves them too; then a dead port; then around. */
	E.kv[1].status = 0;
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EIO);
	assert_int_not_equal(strcmp(etcd_endpoint(E.e), endpoint_of(1)), 0);
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -EIO);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
	E.kv[0].status = 200;
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, 0);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
}

static void
test_failover_stale_answer(void **state)
{
	(void)state;
	/*
	 * Two calls on endpoint 0; the first fails and moves the client on;
	 * the second fails later: it must not move it again (it went to 0,
	 * which is no longer current).
	 */
	client(2, 5000);
	E.kv[0].hold = 1;
	assert_int_equal(etcd_call(E.e, "/v3/kv/put", json_object(), on_call,
	    NULL, NULL), 0);
	wait_count(&E.n_req[0], 1, "requests");
	E.kv[0].hold = 0;
	E.kv[0].status = 0;
	call("/v3/kv/put", json_object());		/* fails at once */
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(1));
	ut_http_hangup(E.held);
	E.held = NULL;
	wait_count(&E.n_cb, 2, "call answers");
	assert_int_equal(E.cb_rc, -EIO);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(1));
}

static void
test_timeout(void **state)
{
	(void)state;
	client(2, 300);
	E.kv[0].hold = 1;
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, -ETIMEDOUT);
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(1));
}

static int cancelled_cb;

static void
on_call_never(void *arg, int rc, json_t *reply, const char *why)
{
	cancelled_cb++;
}

static int
p_held_gone(void *arg)
{
	return E.held != NULL && ut_http_gone(E.held);
}

static void
test_cancel(void **state)
{
	uint64_t id = 0;

	(void)state;
	client(1, 5000);
	E.kv[0].hold = 1;
	assert_int_equal(etcd_call(E.e, "/v3/kv/put", json_object(),
	    on_call_never, NULL, &id), 0);
	wait_count(&E.n_req[0], 1, "requests");
	etcd_cancel(E.e, id);
	etcd_cancel(E.e, id);		/* twice: nothing */
	etcd_cancel(E.e, 0);
	etcd_cancel(E.e, 12345);
	etcd_cancel(NULL, id);
	assert_true(ut_run_until(E.l, p_held_gone, NULL, DEADLINE));
	ut_http_hangup(E.held);
	E.held = NULL;
	/* Others go on. */
	E.kv[0].hold = 0;
	call("/v3/kv/put", json_object());
	assert_int_equal(E.cb_rc, 0);
	/* Freed with a call in flight: no callback either. */
	E.kv[0].hold = 1;
	assert_int_equal(etcd_call(E.e, "/v3/kv/put", json_object(),
	    on_call_never, NULL, NULL), 0);
	wait_count(&E.n_req[0], 3, "requests");
	etcd_free(E.e);
	E.e = NULL;
	assert_true(ut_run_until(E.l, p_held_gone, NULL, DEADLINE));
	assert_int_equal(cancelled_cb, 0);
}

static void
test_not_loopback(void **state)
{
	char *eps[] = { "http://etcd.invalid:2379" };
	int rc;

	(void)state;
	/* Plain http only to loopback: refused before any connection. */
	assert_int_equal(etcd_new(E.l, eps, 1, NULL, NULL, NULL, 1000, &E.e),
	    0);
	rc = etcd_call(E.e, "/v3/kv/put", json_object(), on_call, NULL, NULL);
	if (rc == 0) {
		wait_count(&E.n_cb, 1, "call answers");
		rc = E.cb_rc;
	}
	assert_true(rc < 0);
}

/* ---- watches ------------------------------------------------------------- */

static void
on_ev(void *arg, const struct etcd_kv *kv)
{
	struct ev *v;

	assert_true(E.n_ev < 16);
	v = &E.evs[E.n_ev++];
	ut_snprintf(v->key, sizeof(v->key), "%.*s", (int)kv->klen, kv->key);
	assert_true(kv->vlen < sizeof(v->val));
	memcpy(v->val, kv->val, kv->vlen);
	assert_int_equal(kv->val[kv->vlen], 0);
	v->vlen = kv->vlen;
	v->del = kv->is_delete;
	v->mod = kv->mod_rev;
	v->create = kv->create_rev;
	v->lease = kv->lease;
	if (E.cancel_in_ev == E.n_ev)
		etcd_cancel(E.e, E.watch_id);
	if (E.call_in_ev == E.n_ev)
		assert_int_equal(etcd_call(E.e, "/v3/kv/put", json_object(),
		    on_call, NULL, NULL), 0);
}

static void
on_end(void *arg, int rc, int64_t compact_rev, const char *why)
{
	E.n_end++;
	E.end_rc = rc;
	E.end_compact = compact_rev;
	ut_snprintf(E.end_why, sizeof(E.end_why), "%s", why);
}

static int
p_watching(void *arg)
{
	return E.watch != NULL;
}

/* Starts a watch of /r/ from revision 5 and waits for its stream. */
static void
watch(void)
{
	assert_int_equal(etcd_watch(E.e, "/r/", "/r0", 5, on_ev, on_end, NULL,
	    &E.watch_id), 0);
	assert_true(E.watch_id != 0);
	assert_true(ut_run_until(E.l, p_watching, NULL, DEADLINE));
}

static void
send_line(const char *s)
{
	ut_http_chunk(E.watch, s, strlen(s));
}

/* The JSON of a watch message with one PUT of key=value at rev. */
static char *
put_msg(const char *key, const char *value, int rev)
{
	json_t *k = b64(key), *v = b64(value);
	char *s;

	s = ut_asprintf("{\"result\":{\"header\":{\"revision\":\"%d\"},"
	    "\"events\":[{\"kv\":{\"key\":\"%s\",\"create_revision\":\"%d\","
	    "\"mod_revision\":\"%d\",\"version\":\"1\",\"value\":\"%s\","
	    "\"lease\":\"7587862072812464907\"}}]}}\n", rev,
	    json_string_value(k), rev - 1, rev, json_string_value(v));
	json_decref(k);
	json_decref(v);
	return s;
}

static void
test_watch_events(void **state)
{
	json_t *sent, *cr;
	char *m, *both;
	size_t half;

	(void)state;
	client(1, 5000);
	watch();
	/* The request: create_request, base64 range, revision as a string. */
	assert_string_equal(E.path, "/v3/watch");
	assert_non_null(strcasestr(E.head, "\r\nGrpc-Metadata-hasleader: "
	    "true\r\n"));
	sent = json_loads(E.body, 0, NULL);
	assert_non_null(sent);
	cr = json_object_get(sent, "create_request");
	assert_string_equal(json_string_value(json_object_get(cr, "key")),
	    "L3Iv");
	assert_string_equal(json_string_value(json_object_get(cr, "range_end")),
	    "L3Iw");
	assert_string_equal(json_string_value(json_object_get(cr,
	    "start_revision")), "5");
	assert_true(json_is_true(json_object_get(cr, "progress_notify")));
	json_decref(sent);

	/* Created, a progress notice: no events. */
	send_line("{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":"
	    "true}}\n");
	send_line("{\"result\":{\"header\":{\"revision\":\"6\"}}}\n");
	/* A PUT split across two chunks, then a DELETE with it in one. */
	m = put_msg("/r/a", "v-a", 7);
	half = strlen(m) / 2;
	ut_http_chunk(E.watch, m, half);
	ut_http_chunk(E.watch, m + half, strlen(m) - half);
	free(m);
	m = put_msg("/r/b", "", 8);
	both = ut_asprintf("%s{\"result\":{\"events\":[{\"type\":\"DELETE\","
	    "\"kv\":{\"key\":\"L3IvYQ==\",\"mod_revision\":\"9\"}}]}}\n", m);
	send_line(both);
	free(both);
	free(m);
	wait_count(&E.n_ev, 3, "events");
	assert_string_equal(E.evs[0].key, "/r/a");
	assert_int_equal(E.evs[0].vlen, 3);
	assert_memory_equal(E.evs[0].val, "v-a", 3);
	assert_int_equal(E.evs[0].del, 0);
	assert_int_equal(E.evs[0].mod, 7);
	assert_int_equal(E.evs[0].create, 6);
	assert_true(E.evs[0].lease == 7587862072812464907LL);
	assert_string_equal(E.evs[1].key, "/r/b");
	assert_int_equal(E.evs[1].vlen, 0);
	assert_string_equal(E.evs[2].key, "/r/a");
	assert_int_equal(E.evs[2].del, 1);
	assert_int_equal(E.evs[2].vlen, 0);
	assert_int_equal(E.evs[2].mod, 9);
	assert_int_equal(E.n_end, 0);

	/* Several events in one message; an event callback may call etcd. */
	E.call_in_ev = 5;
	m = ut_asprintf("{\"result\":{\"events\":["
	    "{\"kv\":{\"key\":\"L3IvMQ==\",\"mod_revision\":\"10\"}},"
	    "{\"kv\":{\"key\":\"L3IvMg==\",\"mod_revision\":\"11\"}}]}}\n");
	send_line(m);
	free(m);
	wait_count(&E.n_ev, 5, "events");
	assert_string_equal(E.evs[3].key, "/r/1");
	assert_string_equal(E.evs[4].key, "/r/2");
	wait_count(&E.n_cb, 1, "call answers");
	assert_int_equal(E.cb_rc, 0);

	/* The stream ends: events first, then the end, once. */
	m = put_msg("/r/c", "last", 12);
	send_line(m);
	free(m);
	ut_http_stream_end(E.watch);
	E.watch = NULL;
	wait_count(&E.n_end, 1, "watch ends");
	assert_int_equal(E.n_ev, 6);
	assert_string_equal(E.evs[5].key, "/r/c");
	assert_int_equal(E.end_rc, -EIO);
	assert_string_equal(E.end_why, "watch stream ended");
	assert_int_equal(E.end_compact, 0);
}

static void
test_watch_compacted(void **state)
{
	(void)state;
	client(2, 5000);
	watch();
	send_line("{\"result\":{\"header\":{\"revision\":\"50\"},\"created\":"
	    "true}}\n");
	send_line("{\"result\":{\"header\":{\"revision\":\"50\"},\"canceled\":"
	    "true,\"compact_revision\":\"42\",\"cancel_reason\":\"mvcc: "
	    "required revision has been compacted\"}}\n");
	wait_count(&E.n_end, 1, "watch ends");
	assert_int_equal(E.end_rc, -ESTALE);
	assert_int_equal(E.end_compact, 42);
	assert_string_equal(E.end_why, "watch cancelled (revision compacted): "
	    "mvcc: required revision has been compacted");
	/* Not the endpoint's fault: it stays. */
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(0));
	ut_http_hangup(E.watch);
	E.watch = NULL;
	assert_int_equal(E.n_end, 1);
}

static void
test_watch_errors(void **state)
{
	(void)state;
	client(2, 5000);
	/* The member lost its leader: the end, and elsewhere next time. */
	watch();
	send_line("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
	    "\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}"
	    "\n");
	wait_count(&E.n_end, 1, "watch ends");
	assert_int_equal(E.end_rc, -EIO);
	assert_string_equal(E.end_why, "watch ended: etcdserver: no leader");
	assert_string_equal(etcd_endpoint(E.e), endpoint_of(1));
	ut_http_hangup(E.watch);
	E.watch = NULL;

	/* Not JSON. */
	watch();
	send_line("hello\n");
	wait_count(&E.n_end, 2, "watch ends");
	assert_int_equal(E.end_rc, -EPROTO);
	assert_string_equal(E.end_why, "watch: a message that is not JSON");
	ut_http_hangup(E.watch);
	E.watch = NULL;

	/* A key that is not base64: the events before it still come. */
	watch();
	{
		char *m = put_msg("/r/ok", "1", 3);

		send_line(m);
		free(m);
	}
	send_line("{\"result\":{\"events\":[{\"kv\":{\"key\":\"***\"}}]}}\n");
	wait_count(&E.n_end, 3, "watch ends");
	assert_int_equal(E.end_rc, -EPROTO);
	assert_string_equal(E.end_why, "watch: bad base64");
	assert_int_equal(E.n_ev, 1);
	assert_string_equal(E.evs[0].key, "/r/ok");
	ut_http_hangup(E.watch);
	E.watch = NULL;

	/* One message over the limit (4 MiB). */
	watch();
	{
		size_t n = (4 << 20) + 1024;
		char *big = malloc(n + 2);

		assert_non_null(big);
		memset(big, ' ', n);
		memcpy(big, "{\"result\":{}", 12);
		big[n - 1] = '}';
		big[n] = '\n';
		big[n + 1] = '\0';
		ut_http_chunk(E.watch, big, n + 1);
		free(big);
	}
	wait_count(&E.n_end, 4, "watch ends");
	assert_true(E.end_rc < 0);
	ut_http_hangup(E.watch);
	E.watch = NULL;

	/* The gateway refuses the watch itself (wherever it goes now). */
	E.kv[0].status = E.kv[1].status = 0;
	assert_int_equal(etcd_watch(E.e, "/r/", NULL, 1, on_ev, on_end, NULL,
	    NULL), 0);
	wait_count(&E.n_end, 5, "watch ends");
	assert_true(E.end_rc < 0);
}

static void
test_watch_cancel(void **state)
{
	char *m;

	(void)state;
	client(1, 5000);
	/* Cancelled from its own event: no more events, no end. */
	watch();
	E.cancel_in_ev = 1;
	m = ut_asprintf("{\"result\":{\"events\":["
	    "{\"kv\":{\"key\":\"L3IvMQ==\",\"mod_revision\":\"10\"}},"
	    "{\"kv\":{\"key\":\"L3IvMg==\",\"mod_revision\":\"11\"}}]}}\n");
	send_line(m);
	free(m);
	wait_count(&E.n_ev, 1, "events");
	{
		struct ut_http_conn *w = E.watch;

		E.held = w;		/* p_held_gone() looks at it */
		assert_true(ut_run_until(E.l, p_held_gone, NULL, DEADLINE));
		E.held = NULL;
		ut_http_hangup(w);
		E.watch = NULL;
	}
	assert_int_equal(E.n_ev, 1);
	assert_int_equal(E.n_end, 0);

	/* Cancelled from outside, and freed with one open: nothing. */
	E.cancel_in_ev = 0;
	watch();
	etcd_cancel(E.e, E.watch_id);
	E.held = E.watch;
	assert_true(ut_run_until(E.l, p_held_gone, NULL, DEADLINE));
	ut_http_hangup(E.held);
	E.held = E.watch = NULL;
	watch();
	etcd_free(E.e);
	E.e = NULL;
	E.held = E.watch;
	assert_true(ut_run_until(E.l, p_held_gone, NULL, DEADLINE));
	ut_http_hangup(E.held);
	E.held = E.watch = NULL;
	assert_int_equal(E.n_end, 0);
	assert_int_equal(E.n_ev, 1);
}

/* ---- etcd_call_wait(): it blocks, so the server is another process ------- */

/*
 * Forks a server that answers one request with status (0: never) and
 * writes the request to a pipe; returns its pid, the port in *ret_port
 * and the pipe's read end in *ret_fd.
 */
static pid_t
one_shot_server(int status, int *ret_port, int *ret_fd)
{
	int lfd = ut_listen_loopback(ret_port), fds[2];
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static char req[16384];
		char resp[128];
		ssize_t n;
		int c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		c = accept(lfd, NULL, NULL);
		n = ut_read_request(c, req, sizeof(req));
		if (n > 0)
			(void)!write(fds[1], req, (size_t)n);
		close(fds[1]);
		if (status != 0) {
			snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\n"
			    "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
			    status);
			ut_send_all(c, resp, strlen(resp));
		} else {
			while (read(c, req, sizeof(req)) > 0)
				;
		}
		_exit(0);
	}
	close(lfd);
	close(fds[1]);
	*ret_fd = fds[0];
	return pid;
}

static void
test_call_wait(void **state)
{
	char url[64], *eps[1] = { url }, req[16384];
	int port, fd;
	ssize_t n;
	pid_t pid;

	(void)state;
	pid = one_shot_server(200, &port, &fd);
	ut_snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	assert_int_equal(etcd_new(E.l, eps, 1, NULL, NULL, NULL, 5000, &E.e), 0);
	assert_int_equal(etcd_call_wait(E.e, "/v3/lease/revoke",
	    "{\"ID\":\"42\"}", 5000), 0);
	n = read(fd, req, sizeof(req) - 1);
	assert_true(n > 0);
	req[n] = '\0';
	assert_int_equal(strncmp(req, "POST /v3/lease/revoke HTTP/1.1\r\n", 32),
	    0);
	assert_non_null(strstr(req, "\r\n\r\n{\"ID\":\"42\"}"));
	close(fd);
	waitpid(pid, NULL, 0);
	etcd_free(E.e);
	E.e = NULL;

	/* Not 200: an error. */
	pid = one_shot_server(500, &port, &fd);
	ut_snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	assert_int_equal(etcd_new(E.l, eps, 1, NULL, NULL, NULL, 5000, &E.e), 0);
	assert_int_equal(etcd_call_wait(E.e, "/v3/lease/revoke", "{}", 5000),
	    -EPROTO);
	close(fd);
	waitpid(pid, NULL, 0);
	etcd_free(E.e);
	E.e = NULL;

	/* No answer: bounded by its timeout. */
	pid = one_shot_server(0, &port, &fd);
	ut_snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	assert_int_equal(etcd_new(E.l, eps, 1, NULL, NULL, NULL, 5000, &E.e), 0);
	assert_int_equal(etcd_call_wait(E.e, "/v3/lease/revoke", "{}", 200),
	    -ETIMEDOUT);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_b64),
		cmocka_unit_test(test_codec_int_and_prefix),
		cmocka_unit_test(test_codec_kv),
		cmocka_unit_test_setup_teardown(test_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover_stale_answer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_loopback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watch_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watch_compacted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watch_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watch_cancel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_wait, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
