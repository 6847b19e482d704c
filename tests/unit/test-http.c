/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP client against hostile servers started by this test on
 * 127.0.0.1: a plain one (forked, one child per connection) that can
 * answer JSON, a redirect, a 10 MiB body, an endless chunked body, a
 * trickle, a black hole and an echo of the request; and a TLS one whose
 * CA and certificate are minted here with libidp.  Every fetch must end
 * within its timeout plus 1 s (a correctness bound on CLOCK_MONOTONIC,
 * not a benchmark).  The asynchronous API is driven by a small epoll loop
 * to check cancellation and re-entrancy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <idp/http.h>
#include <idp/jwk.h>
#include <idp/x509.h>

#include "util.h"

#define SHORT_MS	1500L	/* timeout of the hostile cases */
#define SLACK_MS	1000	/* allowed beyond the timeout */

static pid_t plain_pid = -1, tls_pid = -1;
static int plain_port, tls_port;
static char ca_path[64] = "", wrong_ca_path[64] = "";

/* ---- the servers (child processes) --------------------------------- */

static int
send_str(int fd, const char *s)
{
	return ut_send_all(fd, s, strlen(s));
}

static void
serve_plain(int fd)
{
	static char big[65536];
	char req[65536], hdr[512], path[256] = "";
	ssize_t n;
	int i;

	n = ut_read_request(fd, req, sizeof(req));
	if (n <= 0)
		return;
	if (req[0] < 'A' || req[0] > 'Z') {
		send_str(fd, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
		    "Content-Length: 0\r\n\r\n");
		return;
	}
	sscanf(req, "%*s %255s", path);
	if (strcmp(path, "/json") == 0) {
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		    "\r\nCache-Control: max-age=300\r\nCache-Control: public\r\n"
		    "Connection: close\r\nContent-Length: 11\r\n\r\n"
		    "{\"ok\":true}");
	} else if (strcmp(path, "/404") == 0) {
		send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: "
		    "application/json\r\nConnection: close\r\n"
		    "Content-Length: 21\r\n\r\n{\"error\":\"not_found\"}");
	} else if (strcmp(path, "/redirect") == 0) {
		send_str(fd, "HTTP/1.1 302 Found\r\nLocation: "
		    "http://other.example/next?x=1\r\nConnection: close\r\n"
		    "Content-Length: 0\r\n\r\n");
	} else if (strcmp(path, "/relative") == 0) {
		send_str(fd, "HTTP/1.1 301 Moved\r\nLocation: /elsewhere\r\n"
		    "Connection: close\r\nContent-Length: 0\r\n\r\n");
	} else if (strcmp(path, "/big") == 0) {
		memset(big, 'x', sizeof(big));
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		    "\r\nConnection: close\r\nContent-Length: 10485760\r\n\r\n");
		for (i = 0; i < 160; i++)
			if (ut_send_all(fd, big, sizeof(big)) < 0)
				break;
	} else if (strcmp(path, "/bignolen") == 0) {
		memset(big, 'x', sizeof(big));
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		    "\r\nConnection: close\r\n\r\n");
		for (i = 0; i < 160; i++)
			if (ut_send_all(fd, big, sizeof(big)) < 0)
				break;
	} else if (strcmp(path, "/chunked") == 0) {
		memset(big, 'x', 4096);
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		    "\r\nTransfer-Encoding: chunked\r\n\r\n");
		/* Endless, until the client hangs up. */
		for (;;)
			if (send_str(fd, "1000\r\n") < 0 ||
			    ut_send_all(fd, big, 4096) < 0 ||
			    send_str(fd, "\r\n") < 0)
				break;
	} else if (strcmp(path, "/trickle") == 0) {
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		    "\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n");
		for (i = 0; i < 1000; i++) {
			if (send_str(fd, " ") < 0)
				break;
			usleep(500 * 1000);
		}
	} else if (strcmp(path, "/blackhole") == 0) {
		/* Never answer; leave when the client hangs up. */
		while (read(fd, req, sizeof(req)) > 0)
			;
	} else if (strcmp(path, "/stream") == 0 ||
	    strcmp(path, "/stream-end") == 0) {
		/* Lines split across chunks, then open (or a tail and EOF). */
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		    "\r\nTransfer-Encoding: chunked\r\n\r\n");
		send_str(fd, "6\r\none\ntw\r\n");
		usleep(50 * 1000);
		send_str(fd, "8\r\no\nthree\n\r\n");
		if (strcmp(path, "/stream-end") == 0) {
			send_str(fd, "4\r\ntail\r\n0\r\n\r\n");
			return;
		}
		while (read(fd, req, sizeof(req)) > 0)
			;
	} else if (strcmp(path, "/close") == 0) {
		/* Hang up without a response. */
	} else if (strcmp(path, "/echo") == 0) {
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Type: "
		    "text/plain\r\nConnection: close\r\nContent-Length: %zd"
		    "\r\n\r\n", n);
		send_str(fd, hdr);
		ut_send_all(fd, req, (size_t)n);
	} else {
		send_str(fd, "HTTP/1.1 500 Unknown\r\nConnection: close\r\n"
		    "Content-Length: 0\r\n\r\n");
	}
}

/* Accepts forever; each connection is served by its own child. */
static void __attribute__((noreturn))
accept_loop(int lfd, void (*serve)(int, void *), void *arg)
{
	int c;

	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			/* Gone with the server, even if nobody kills it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(lfd);
			serve(c, arg);
			close(c);
			_exit(0);
		}
		close(c);
	}
}

static void
serve_plain_cb(int fd, void *arg)
{
	(void)arg;
	serve_plain(fd);
}

static void
serve_tls_cb(int fd, void *arg)
{
	SSL_CTX *ctx = arg;
	SSL *ssl = SSL_new(ctx);
	char buf[4096];
	size_t have = 0;
	int n;
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nConnection: close\r\nContent-Length: 12\r\n"
	    "\r\n{\"tls\":true}";

	if (ssl == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		while (have + 1 < sizeof(buf)) {
			n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - have - 1));
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL) {
				SSL_write(ssl, resp, sizeof(resp) - 1);
				SSL_shutdown(ssl);
				break;
			}
		}
	}
	SSL_free(ssl);
}

static pid_t
start_server(int lfd, void (*serve)(int, void *), void *arg)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/*
		 * Gone with the test: a test that crashes (a sanitizer
		 * abort) must not leave servers holding the output pipe.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		accept_loop(lfd, serve, arg);
	}
	setpgid(pid, pid);
	close(lfd);
	return pid;
}

static void
stop_server(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Writes the PEM of a new CA to a temp file; returns the CA (and key). */
static void
make_ca(const char *cn, char *path, struct idp_key **ret_key,
    struct idp_cert **ret_ca)
{
	struct idp_err err;
	char *pem;
	size_t len;
	int64_t now = time(NULL);
	int fd;

	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, ret_key), 0);
	assert_int_equal(idp_cert_ca_create(*ret_key, cn, now - 3600,
	    now + 86400, ret_ca, &err), 0);
	assert_int_equal(idp_cert_to_pem(*ret_ca, &pem, &len), 0);
	strcpy(path, "/tmp/test-http-ca.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pem, len), (ssize_t)len);
	close(fd);
	free(pem);
}

static int
setup(void **state)
{
	struct idp_key *ca_key = NULL, *wrong_key = NULL, *srv_key = NULL;
	struct idp_cert *ca = NULL, *wrong = NULL, *leaf = NULL;
	const char *ips[] = { "127.0.0.1" };
	struct idp_cert_req creq;
	struct idp_err err;
	SSL_CTX *ctx;
	int lfd;
	int64_t now = time(NULL);

	(void)state;
	lfd = ut_listen_loopback(&plain_port);
	plain_pid = start_server(lfd, serve_plain_cb, NULL);

	make_ca("test-http CA", ca_path, &ca_key, &ca);
	make_ca("unrelated CA", wrong_ca_path, &wrong_key, &wrong);
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &srv_key), 0);
	memset(&creq, 0, sizeof(creq));
	creq.common_name = "127.0.0.1";
	creq.ip = ips;
	creq.n_ip = 1;
	creq.usage = IDP_USAGE_SERVER;
	creq.not_before = now - 3600;
	creq.not_after = now + 86400;
	assert_int_equal(idp_cert_mint(ca, ca_key, srv_key, &creq, &leaf,
	    &err), 0);
	assert_int_equal(idp_cert_load_pubkey(leaf), 0);
	ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, idp_cert_x509(leaf)), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, idp_key_evp(srv_key)), 1);
	lfd = ut_listen_loopback(&tls_port);
	tls_pid = start_server(lfd, serve_tls_cb, ctx);
	SSL_CTX_free(ctx);
	idp_cert_free(leaf);
	idp_cert_free(ca);
	idp_cert_free(wrong);
	idp_key_free(srv_key);
	idp_key_free(ca_key);
	idp_key_free(wrong_key);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	stop_server(plain_pid);
	stop_server(tls_pid);
	if (ca_path[0] != '\0')
		unlink(ca_path);
	if (wrong_ca_path[0] != '\0')
		unlink(wrong_ca_path);
	return 0;
}

/* ---- helpers ------------------------------------------------------- */

static char *
url(const char *scheme, int port, const char *path)
{
	static char buf[8][256];
	static int i;
	char *u = buf[i++ % 8];

	snprintf(u, 256, "%s://127.0.0.1:%d%s", scheme, port, path);
	return u;
}

/* Fetches with the short timeouts; checks the end came in time. */
static int
fetch(const char *u, int allow, const char *ca, size_t max_body,
    struct idp_http_resp *r)
{
	struct idp_http_req req;
	int64_t t0, dt;
	int rc;

	memset(&req, 0, sizeof(req));
	req.url = u;
	req.allow_http_loopback = allow;
	req.ca_file = ca;
	req.connect_timeout_ms = SHORT_MS;
	req.timeout_ms = SHORT_MS;
	req.max_body = max_body;
	t0 = ut_mono_ms();
	rc = idp_http_fetch(&req, r);
	dt = ut_mono_ms() - t0;
	assert_true(dt <= SHORT_MS + SLACK_MS);
	assert_int_equal(rc, r->rc);
	assert_non_null(r->body);
	if (rc < 0)
		assert_non_null(r->error);
	return rc;
}

/* ---- tests --------------------------------------------------------- */

static void
test_url_policy(void **state)
{
	struct idp_err err;

	(void)state;
	assert_int_equal(idp_http_url_allowed("https://idp.example.com/t", 0,
	    &err), 0);
	assert_int_equal(idp_http_url_allowed("HTTPS://idp.example.com", 0,
	    &err), 0);
	assert_int_equal(idp_http_url_allowed("http://idp.example.com/t", 0,
	    &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://127.0.0.1:80/", 0, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://127.0.0.1:80/", 1, &err),
	    0);
	assert_int_equal(idp_http_url_allowed("http://127.9.8.7/", 1, &err), 0);
	assert_int_equal(idp_http_url_allowed("http://[::1]:8080/x", 1, &err),
	    0);
	assert_int_equal(idp_http_url_allowed("http://localhost:8080/x", 1,
	    &err), 0);
	assert_int_equal(idp_http_url_allowed("http://LocalHost/x", 1, &err),
	    0);
	/* Look-alikes and tricks. */
	assert_int_equal(idp_http_url_allowed("http://evil.example/", 1, &err),
	    -EPROTO);
	assert_non_null(strstr(err.msg, "evil.example"));
	assert_int_equal(idp_http_url_allowed("http://127.0.0.1.evil.example/",
	    1, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://localhost.evil.example/",
	    1, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://127.0.0.1@evil.example/",
	    1, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://128.0.0.1/", 1, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://[::2]/", 1, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://[::ffff:8.8.8.8]/", 1,
	    &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("http://0.0.0.0/", 1, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("https://u:p@idp.example.com/",
	    0, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("ftp://idp.example.com/", 1,
	    &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("file:///etc/passwd", 1, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("idp.example.com/x", 1, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("/x", 1, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("", 1, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed(NULL, 1, &err), -EPROTO);
	assert_int_equal(idp_http_url_allowed("https://a b/", 1, &err),
	    -EPROTO);
	assert_int_equal(idp_http_url_allowed("https://a/\r\nX: y", 1, &err),
	    -EPROTO);
}

static void
test_json(void **state)
{
	struct idp_http_resp r;

	(void)state;
	assert_int_equal(fetch(url("http", plain_port, "/json"), 1, NULL, 0,
	    &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 11);
	assert_string_equal(r.body, "{\"ok\":true}");
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(r.cache_control, "max-age=300, public");
	assert_null(r.location);
	assert_null(r.error);
	assert_true(r.elapsed_ms >= 0 && r.elapsed_ms <= SHORT_MS);
	idp_http_resp_free(&r);
	idp_http_resp_free(&r);

	/* A 404 is rc 0 with the status. */
	assert_int_equal(fetch(url("http", plain_port, "/404"), 1, NULL, 0, &r),
	    0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error\":\"not_found\"}");
	idp_http_resp_free(&r);

	/* "localhost" is pinned to loopback and works. */
	{
		char u[128];

		snprintf(u, sizeof(u), "http://localhost:%d/json", plain_port);
		assert_int_equal(fetch(u, 1, NULL, 0, &r), 0);
		assert_int_equal(r.status, 200);
		idp_http_resp_free(&r);
	}
}

static void
test_body_limit_exact(void **state)
{
	struct idp_http_resp r;

	(void)state;
	/* The body is 11 bytes: a cap of 11 passes, 10 does not. */
	assert_int_equal(fetch(url("http", plain_port, "/json"), 1, NULL, 11,
	    &r), 0);
	idp_http_resp_free(&r);
	assert_int_equal(fetch(url("http", plain_port, "/json"), 1, NULL, 10,
	    &r), -E2BIG);
	assert_string_equal(r.error, "response larger than 10 bytes");
	assert_int_equal(r.body_len, 0);
	idp_http_resp_free(&r);
}

static void
test_loopback_refused(void **state)
{
	struct idp_http_resp r;

	(void)state;
	assert_int_equal(fetch(url("http", plain_port, "/json"), 0, NULL, 0,
	    &r), -EPROTO);
	assert_non_null(strstr(r.error, "https required"));
	assert_int_equal(r.status, 0);
	idp_http_resp_free(&r);
	assert_int_equal(fetch("http://evil.example/", 1, NULL, 0, &r),
	    -EPROTO);
	idp_http_resp_free(&r);
}

static void
test_redirect(void **state)
{
	struct idp_http_resp r;
	char want[128];

	(void)state;
	assert_int_equal(fetch(url("http", plain_port, "/redirect"), 1, NULL, 0,
	    &r), -EPROTO);
	assert_int_equal(r.status, 302);
	assert_string_equal(r.location, "http://other.example/next?x=1");
	assert_string_equal(r.error, "redirect to http://other.example "
	    "refused");
	idp_http_resp_free(&r);

	assert_int_equal(fetch(url("http", plain_port, "/relative"), 1, NULL, 0,
	    &r), -EPROTO);
	assert_int_equal(r.status, 301);
	snprintf(want, sizeof(want), "redirect to http://127.0.0.1:%d refused",
	    plain_port);
	assert_string_equal(r.error, want);
	idp_http_resp_free(&r);
}

static void
test_big_bodies(void **state)
{
	struct idp_http_resp r;

	(void)state;
	/* 10 MiB with Content-Length, default 1 MiB cap. */
	assert_int_equal(fetch(url("http", plain_port, "/big"), 1, NULL, 0, &r),
	    -E2BIG);
	assert_string_equal(r.error, "response larger than 1048576 bytes");
	idp_http_resp_free(&r);
	/* Without a length: the write callback stops it. */
	assert_int_equal(fetch(url("http", plain_port, "/bignolen"), 1, NULL,
	    0, &r), -E2BIG);
	idp_http_resp_free(&r);
	/* Endless chunked body. */
	assert_int_equal(fetch(url("http", plain_port, "/chunked"), 1, NULL,
	    65536, &r), -E2BIG);
	assert_string_equal(r.error, "response larger than 65536 bytes");
	idp_http_resp_free(&r);
	assert_int_equal(fetch(url("http", plain_port, "/chunked"), 1, NULL, 0,
	    &r), -E2BIG);
	idp_http_resp_free(&r);
}

static void
test_slow_servers(void **state)
{
	struct idp_http_resp r;

	(void)state;
	/* 2 bytes/s passes the low-speed check; the total timeout ends it. */
	assert_int_equal(fetch(url("http", plain_port, "/trickle"), 1, NULL, 0,
	    &r), -ETIMEDOUT);
	assert_int_equal(r.status, 200);
	assert_true(r.elapsed_ms >= SHORT_MS - 100);
	idp_http_resp_free(&r);
	/* Accepts, never answers. */
	assert_int_equal(fetch(url("http", plain_port, "/blackhole"), 1, NULL,
	    0, &r), -ETIMEDOUT);
	assert_int_equal(r.status, 0);
	idp_http_resp_free(&r);
}

static void
test_transport_errors(void **state)
{
	struct idp_http_resp r;
	int fd, port;

	(void)state;
	/* Hang-up without a response. */
	assert_int_equal(fetch(url("http", plain_port, "/close"), 1, NULL, 0,
	    &r), -EIO);
	idp_http_resp_free(&r);
	/* Nothing listening. */
	fd = ut_listen_loopback(&port);
	close(fd);
	assert_int_equal(fetch(url("http", port, "/"), 1, NULL, 0, &r),
	    -ECONNREFUSED);
	idp_http_resp_free(&r);
	/* https to a plain http port. */
	assert_int_equal(fetch(url("https", plain_port, "/json"), 0, ca_path, 0,
	    &r), -EIO);
	idp_http_resp_free(&r);
}

static void
test_request_shape(void **state)
{
	struct idp_http_req req;
	struct idp_http_resp r;
	static const char body[] = "grant_type=client_credentials&x=%2B";

	(void)state;
	memset(&req, 0, sizeof(req));
	req.url = url("http", plain_port, "/echo");
	req.method = "POST";
	req.body = body;
	req.body_len = sizeof(body) - 1;
	req.content_type = "application/x-www-form-urlencoded";
	req.authorization = "Basic cm90YXRvcmQ6czNjcmV0";
	req.allow_http_loopback = 1;
	req.timeout_ms = SHORT_MS;
	assert_int_equal(idp_http_fetch(&req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(strncmp(r.body, "POST /echo HTTP/1.1\r\n", 21), 0);
	assert_non_null(strstr(r.body, "\r\nUser-Agent: rotatord-libidp/"
	    IDP_VERSION "\r\n"));
	assert_non_null(strstr(r.body, "\r\nAccept: application/json\r\n"));
	assert_non_null(strstr(r.body, "\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\n"));
	assert_non_null(strstr(r.body, "\r\nAuthorization: Basic "
	    "cm90YXRvcmQ6czNjcmV0\r\n"));
	assert_non_null(strstr(r.body, "\r\nContent-Length: 35\r\n"));
	assert_null(strcasestr(r.body, "Accept-Encoding"));
	assert_null(strcasestr(r.body, "Expect:"));
	assert_int_equal(strcmp(r.body + r.body_len - (sizeof(body) - 1), body),
	    0);
	idp_http_resp_free(&r);

	/* GET with a custom Accept. */
	memset(&req, 0, sizeof(req));
	req.url = url("http", plain_port, "/echo");
	req.accept = "application/jwk-set+json";
	req.allow_http_loopback = 1;
	assert_int_equal(idp_http_fetch(&req, &r), 0);
	assert_int_equal(strncmp(r.body, "GET /echo HTTP/1.1\r\n", 20), 0);
	assert_non_null(strstr(r.body, "\r\nAccept: application/jwk-set+json"
	    "\r\n"));
	assert_null(strcasestr(r.body, "Authorization"));
	idp_http_resp_free(&r);

	/* Header injection, bad methods, a GET body. */
	req.accept = "a\r\nX-Evil: 1";
	assert_int_equal(idp_http_fetch(&req, &r), -EINVAL);
	idp_http_resp_free(&r);
	req.accept = NULL;
	req.authorization = "Bearer x\ny";
	assert_int_equal(idp_http_fetch(&req, &r), -EINVAL);
	idp_http_resp_free(&r);
	req.authorization = NULL;
	req.method = "PUT";
	assert_int_equal(idp_http_fetch(&req, &r), -EINVAL);
	idp_http_resp_free(&r);
	req.method = "GET";
	req.body = "x";
	req.body_len = 1;
	assert_int_equal(idp_http_fetch(&req, &r), -EINVAL);
	idp_http_resp_free(&r);
	assert_int_equal(idp_http_fetch(NULL, &r), -EINVAL);
	idp_http_resp_free(&r);
}

static void
test_tls(void **state)
{
	struct idp_http_resp r;

	(void)state;
	/* The minted CA: verified. */
	assert_int_equal(fetch(url("https", tls_port, "/"), 0, ca_path, 0, &r),
	    0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"tls\":true}");
	idp_http_resp_free(&r);
	/* The system store does not know that CA. */
	assert_int_equal(fetch(url("https", tls_port, "/"), 0, NULL, 0, &r),
	    -EKEYREJECTED);
	assert_int_equal(r.status, 0);
	idp_http_resp_free(&r);
	/* Another CA. */
	assert_int_equal(fetch(url("https", tls_port, "/"), 0, wrong_ca_path, 0,
	    &r), -EKEYREJECTED);
	idp_http_resp_free(&r);
	/* Right CA, wrong name: the certificate is for 127.0.0.1 only. */
	{
		char u[128];

		snprintf(u, sizeof(u), "https://localhost:%d/", tls_port);
		assert_int_equal(fetch(u, 0, ca_path, 0, &r), -EKEYREJECTED);
		idp_http_resp_free(&r);
	}
	/* A missing CA file fails closed. */
	assert_true(fetch(url("https", tls_port, "/"), 0,
	    "/nonexistent/ca.pem", 0, &r) < 0);
	idp_http_resp_free(&r);
}

/* ---- the asynchronous API on an epoll loop ------------------------- */

struct aloop {
	int		 ep;
	int64_t		 deadline;	/* -1: no timer */
	struct idp_http	*h;
	int		 watching;	/* sockets watched */
	int		 try_start;	/* start a request from inside watch */
	int		 start_rc;
	int		 timer_cancelled;
};

struct acall {
	struct aloop	*l;
	int		 calls;
	int		 rc;
	long		 status;
	uint64_t	 cancel;	/* cancel this id from the callback */
	int		 chain;		/* start another request from it */
	int		 free_client;	/* free the client from it */
	struct acall	*next;
};

static void
never_cb(void *arg, const struct idp_http_resp *resp)
{
	(void)arg;
	(void)resp;
	fail_msg("callback of a refused request ran");
}

static int
a_watch(void *arg, int fd, int what)
{
	struct aloop *l = arg;
	struct epoll_event ev;

	if (l->try_start) {
		struct idp_http_req req = { .url = "https://x.example/" };

		l->try_start = 0;
		l->start_rc = idp_http_start(l->h, &req, never_cb, NULL,
		    NULL);
	}
	if (what & IDP_HTTP_REMOVE) {
		if (epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL) == 0)
			l->watching--;
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = ((what & IDP_HTTP_IN) ? EPOLLIN : 0) |
	    ((what & IDP_HTTP_OUT) ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	if (errno != ENOENT || epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -1;
	l->watching++;
	return 0;
}

static int
a_timer(void *arg, long ms)
{
	struct aloop *l = arg;

	l->deadline = ms < 0 ? -1 : ut_mono_ms() + ms;
	if (ms < 0)
		l->timer_cancelled = 1;
	return 0;
}

static void
a_cb(void *arg, const struct idp_http_resp *resp);

static uint64_t
a_start(struct aloop *l, const char *path, struct acall *c, long timeout)
{
	struct idp_http_req req;
	uint64_t id = 0;

	memset(&req, 0, sizeof(req));
	req.url = url("http", plain_port, path);
	req.allow_http_loopback = 1;
	req.timeout_ms = timeout;
	c->l = l;
	assert_int_equal(idp_http_start(l->h, &req, a_cb, c, &id), 0);
	assert_true(id > 0);
	return id;
}

static void
a_cb(void *arg, const struct idp_http_resp *resp)
{
	struct acall *c = arg;

	c->calls++;
	c->rc = resp->rc;
	c->status = resp->status;
	if (c->cancel != 0)
		idp_http_cancel(c->l->h, c->cancel);
	if (c->chain && c->next != NULL)
		(void)a_start(c->l, "/json", c->next, 5000);
	if (c->free_client) {
		idp_http_free(c->l->h);
		c->l->h = NULL;
	}
}

/* Runs the loop until nothing is pending or limit_ms passed. */
static void
a_run(struct aloop *l, int64_t limit_ms)
{
	struct epoll_event evs[16];
	int64_t end = ut_mono_ms() + limit_ms, now, wait;
	int n, i, what;

	while (l->h != NULL && idp_http_pending(l->h) > 0) {
		now = ut_mono_ms();
		if (now >= end)
			break;
		wait = l->deadline < 0 ? end - now : l->deadline - now;
		if (wait < 0)
			wait = 0;
		if (wait > end - now)
			wait = end - now;
		n = epoll_wait(l->ep, evs, 16, (int)wait);
		for (i = 0; i < n && l->h != NULL; i++) {
			what = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				what |= IDP_HTTP_IN;
			if (evs[i].events & (EPOLLOUT | EPOLLERR))
				what |= IDP_HTTP_OUT;
			idp_http_on_fd(l->h, evs[i].data.fd, what);
		}
		if (l->h != NULL && l->deadline >= 0 &&
		    ut_mono_ms() >= l->deadline) {
			l->deadline = -1;
			idp_http_timeout(l->h);
		}
	}
}

static void
a_init(struct aloop *l)
{
	struct idp_http_ops ops = { a_watch, a_timer, l };

	memset(l, 0, sizeof(*l));
	l->deadline = -1;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(l->ep >= 0);
	ops.arg = l;
	assert_int_equal(idp_http_new(&ops, &l->h), 0);
}

static void
test_async(void **state)
{
	struct aloop l;
	struct acall a, b, c, d;
	uint64_t ida, idb, idc;
	int64_t t0;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	a_init(&l);
	assert_int_equal(idp_http_pending(l.h), 0);

	/*
	 * A (json) cancels B (black hole) from its callback and chains D;
	 * C (black hole) is cancelled right away.  Neither B nor C may ever
	 * call back; the loop must finish long before their timeouts.
	 */
	t0 = ut_mono_ms();
	ida = a_start(&l, "/json", &a, 5000);
	idb = a_start(&l, "/blackhole", &b, 5000);
	idc = a_start(&l, "/blackhole", &c, 5000);
	assert_true(ida != idb && idb != idc);
	assert_int_equal(idp_http_pending(l.h), 3);
	idp_http_cancel(l.h, idc);
	idp_http_cancel(l.h, idc);		/* twice: ignored */
	idp_http_cancel(l.h, 999999);		/* unknown: ignored */
	assert_int_equal(idp_http_pending(l.h), 2);
	a.cancel = idb;
	a.chain = 1;
	a.next = &d;
	a_run(&l, 4000);
	assert_int_equal(idp_http_pending(l.h), 0);
	assert_true(ut_mono_ms() - t0 < 4000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.status, 200);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 200);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 0);

	/* Starting a request from inside a watch op is refused. */
	memset(&a, 0, sizeof(a));
	l.try_start = 1;
	(void)a_start(&l, "/json", &a, 5000);
	a_run(&l, 4000);
	assert_int_equal(l.start_rc, -EBUSY);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 200);

	/* Freeing with a request in flight: no callback, timer cancelled. */
	memset(&b, 0, sizeof(b));
	(void)a_start(&l, "/blackhole", &b, 5000);
	a_run(&l, 300);
	assert_int_equal(idp_http_pending(l.h), 1);
	l.timer_cancelled = 0;
	idp_http_free(l.h);
	l.h = NULL;
	assert_int_equal(b.calls, 0);
	assert_true(l.timer_cancelled);
	assert_int_equal(l.watching, 0);
	close(l.ep);
}

static void
test_async_free_in_callback(void **state)
{
	struct aloop l;
	struct acall a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a_init(&l);
	/* Whichever finishes first frees the client; the other never runs. */
	a.free_client = 1;
	b.free_client = 1;
	(void)a_start(&l, "/json", &a, 5000);
	(void)a_start(&l, "/json", &b, 5000);
	a_run(&l, 4000);
	assert_null(l.h);
	assert_int_equal(a.calls + b.calls, 1);
	close(l.ep);
	idp_http_free(NULL);
}

struct lines {
	char	 got[8][32];
	int	 n;
	int	 stop_after;
};

static int
on_line(void *arg, const char *line, size_t len)
{
	struct lines *ls = arg;

	if (ls->n < 8)
		snprintf(ls->got[ls->n], sizeof(ls->got[0]), "%.*s", (int)len,
		    line);
	ls->n++;
	return ls->stop_after > 0 && ls->n >= ls->stop_after ? -1 : 0;
}

/*
 * Streaming: lines as they arrive, across chunk boundaries; the reader
 * ends an open stream; a stream that ends hands over its tail; a line
 * over max_body; a non-2xx answer is collected as usual; the extra
 * header is sent.
 */
static void
test_stream(void **state)
{
	struct idp_http_req req;
	struct idp_http_resp r;
	struct lines ls;
	int64_t t0;

	(void)state;
	memset(&req, 0, sizeof(req));
	memset(&ls, 0, sizeof(ls));
	req.url = url("http", plain_port, "/stream");
	req.allow_http_loopback = 1;
	req.on_line = on_line;
	req.line_arg = &ls;
	req.timeout_ms = 200;		/* no total timeout on a stream */
	ls.stop_after = 3;
	t0 = ut_mono_ms();
	assert_int_equal(idp_http_fetch(&req, &r), -ECANCELED);
	assert_true(ut_mono_ms() - t0 < 3000);
	assert_int_equal(ls.n, 3);
	assert_string_equal(ls.got[0], "one");
	assert_string_equal(ls.got[1], "two");
	assert_string_equal(ls.got[2], "three");
	idp_http_resp_free(&r);

	memset(&ls, 0, sizeof(ls));
	req.url = url("http", plain_port, "/stream-end");
	assert_int_equal(idp_http_fetch(&req, &r), 0);
	assert_int_equal(ls.n, 3);
	assert_int_equal(r.body_len, 4);
	assert_string_equal(r.body, "tail");
	idp_http_resp_free(&r);

	memset(&ls, 0, sizeof(ls));
	req.max_body = 4;		/* "three" is longer */
	assert_int_equal(idp_http_fetch(&req, &r), -E2BIG);
	assert_int_equal(ls.n, 2);
	idp_http_resp_free(&r);

	memset(&ls, 0, sizeof(ls));
	req.max_body = 0;
	req.url = url("http", plain_port, "/404");
	assert_int_equal(idp_http_fetch(&req, &r), 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(ls.n, 0);
	assert_string_equal(r.body, "{\"error\":\"not_found\"}");
	idp_http_resp_free(&r);

	memset(&req, 0, sizeof(req));
	req.url = url("http", plain_port, "/echo");
	req.allow_http_loopback = 1;
	req.header = "Grpc-Metadata-hasleader: true";
	assert_int_equal(idp_http_fetch(&req, &r), 0);
	assert_non_null(strstr(r.body, "\r\nGrpc-Metadata-hasleader: true\r\n"));
	idp_http_resp_free(&r);
	req.header = "no colon";
	assert_int_equal(idp_http_fetch(&req, &r), -EINVAL);
	idp_http_resp_free(&r);
	req.header = "X: a\r\nY: b";
	assert_int_equal(idp_http_fetch(&req, &r), -EINVAL);
	idp_http_resp_free(&r);
}

static void
test_new_errors(void **state)
{
	struct idp_http_ops ops = { NULL, NULL, NULL };
	struct idp_http *h = NULL;

	(void)state;
	assert_int_equal(idp_http_new(&ops, &h), -EINVAL);
	assert_int_equal(idp_http_new(NULL, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(idp_http_pending(NULL), 0);
	idp_http_cancel(NULL, 1);
	idp_http_on_fd(NULL, 0, IDP_HTTP_IN);
	idp_http_timeout(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_body_limit_exact),
		cmocka_unit_test(test_loopback_refused),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_big_bodies),
		cmocka_unit_test(test_slow_servers),
		cmocka_unit_test(test_transport_errors),
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_async_free_in_callback),
		cmocka_unit_test(test_new_errors),
	};
	static const char *proxy_vars[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	};
	size_t i;

	/* Hermetic: the servers are on loopback, never behind a proxy. */
	for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		unsetenv(proxy_vars[i]);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
