/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the HTTP API (rotatord/api/) with a real libmicrohttpd on a
 * temporary unix socket and a 127.0.0.1 TCP port, and a fake daemon
 * (struct api_ops) in this file.  The server's loop runs in its own
 * thread; the fake ops are only touched there (setup before the thread
 * starts, changes through on_loop()), and the tests speak HTTP/1.1 over
 * plain sockets from the main thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "config/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "util.h"

#define NOBODY		65534
#define OTHER_UID	54321

/* ------------------------------------------------------------------ */
/* The fake daemon                                                      */

struct fake_cred {
	const char	*name;
	const char	*type;
	uint64_t	 gen;
};

static struct fake_cred creds[] = {
	{ "web", "x509", 1 },
	{ "tickets", "secret", 4 },
	{ "pending", "secret", 0 },
	{ "other", "secret", 2 },
};
#define N_CREDS	(sizeof(creds) / sizeof(creds[0]))

static const char *const cred_names[] = {
	"web", "tickets", "pending", "other", NULL,
};

static int verify_calls;		/* atomic: read by the main thread */
static int have_signer = 1;
static int rotate_calls;
static int reload_calls;
static json_t *last_act;		/* the act claim of the last mint */
static char last_mint[512];		/* "signer|sub|aud,aud|scope|lifetime" */

static struct fake_cred *
fake_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_CREDS; i++)
		if (strcmp(creds[i].name, name) == 0)
			return &creds[i];
	return NULL;
}

/*
 * Tokens: "good.SUB.N" (scope payments.read), "noscope.SUB.N", "nosub.N"
 * are valid for issuer "local", aud "rotatord"; "otheraud.SUB.N" is
 * good but for aud "payments"; "chain.SUB.N" is good with an act chain two
 * deep; "expired.N" is expired, "nokey.N" has an
 * unknown kid; "rotkey.SUB.N" names a kid of an [issuer] that appears
 * once keys_rotated is set (by fake_unknown_kid's timer); anything else
 * has a bad signature.  Runs on the server's verifier threads.
 */
static int keys_rotated;		/* atomic */
static int unknown_kid_calls;		/* loop thread only */
static struct loop_timer *rotate_timer;

static int
fake_verify(const struct trust *trust, const char *tok, size_t len,
    int64_t now_s, struct trust_result *res)
{
	char buf[256], *sub, *dot;
	struct idp_jws *t;
	const char *scope;

	(void)trust;
	(void)now_s;
	memset(res, 0, sizeof(*res));
	__atomic_add_fetch(&verify_calls, 1, __ATOMIC_SEQ_CST);
	if (len >= sizeof(buf)) {
		snprintf(res->why, sizeof(res->why), "too long");
		return res->rc = -EBADMSG;
	}
	memcpy(buf, tok, len);
	buf[len] = '\0';
	res->name = "local";
	if (strncmp(buf, "expired.", 8) == 0) {
		snprintf(res->why, sizeof(res->why), "token expired");
		return res->rc = -EKEYEXPIRED;
	}
	if (strncmp(buf, "nokey.", 6) == 0) {
		snprintf(res->why, sizeof(res->why), "unknown kid");
		return res->rc = -ENOKEY;
	}
	if (strncmp(buf, "rotkey.", 7) == 0) {
		if (!__atomic_load_n(&keys_rotated, __ATOMIC_SEQ_CST)) {
			res->name = "upstream";
			res->upstream = 1;
			snprintf(res->why, sizeof(res->why), "unknown kid");
			return res->rc = -ENOKEY;
		}
		sub = buf + 7;
		scope = "payments.read";
	} else if (strncmp(buf, "good.", 5) == 0) {
		sub = buf + 5;
		scope = "payments.read";
	} else if (strncmp(buf, "otheraud.", 9) == 0) {
		sub = buf + 9;
		scope = "payments.read";
	} else if (strncmp(buf, "chain.", 6) == 0) {
		sub = buf + 6;
		scope = "payments.read";
	} else if (strncmp(buf, "noscope.", 8) == 0) {
		sub = buf + 8;
		scope = "other.read";
	} else if (strncmp(buf, "nosub.", 6) == 0) {
		sub = NULL;
		scope = "payments.read";
	} else {
		snprintf(res->why, sizeof(res->why), "bad signature");
		return res->rc = -EKEYREJECTED;
	}
	if (sub != NULL && (dot = strchr(sub, '.')) != NULL)
		*dot = '\0';
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return res->rc = -ENOMEM;
	t->header = json_object();
	t->claims = json_pack("{s:s,s:s,s:I}", "iss", "https://rotatord.test",
	    "scope", scope, "exp", (json_int_t)(time(NULL) + 3600));
	if (sub != NULL)
		json_object_set_new(t->claims, "sub", json_string(sub));
	json_object_set_new(t->claims, "aud", json_string(strncmp(buf,
	    "otheraud.", 9) == 0 ? "payments" : "rotatord"));
	if (strncmp(buf, "chain.", 6) == 0)
		json_object_set_new(t->claims, "act", json_pack("{s:s,s:{s:s}}",
		    "sub", "a1", "act", "sub", "a2"));
	res->jws = t;
	return res->rc = 0;
}

static struct trust *
fake_trust(void *arg)
{
	return NULL;
}

/* The "upstream" issuer's keys arrive 300 ms after an unknown kid. */
static int
fake_unknown_kid(void *arg, const char *issuer)
{
	unknown_kid_calls++;
	if (strcmp(issuer, "upstream") != 0 || rotate_timer == NULL)
		return 0;
	loop_timer_set(rotate_timer, loop_now_mono() + 300);
	return 1;
}

static const char *const *
fake_names(void *arg)
{
	return cred_names;
}

static int
fake_generation(void *arg, const char *cred, uint64_t *ret_gen,
    const char **ret_type, int64_t *ret_not_after)
{
	struct fake_cred *c = fake_find(cred);

	if (c == NULL)
		return -ENOENT;
	*ret_gen = c->gen;
	if (ret_type != NULL)
		*ret_type = c->type;
	if (ret_not_after != NULL)
		*ret_not_after = 2000000000;
	return 0;
}

/* The content of file of c at its generation, or NULL. */
static char *
fake_content(const struct fake_cred *c, const char *file, size_t *ret_len)
{
	char *p = NULL;
	int n = -1;

	if (strcmp(c->name, "tickets") == 0 && strcmp(file, "0.key") == 0) {
		if ((p = malloc(32)) == NULL)
			return NULL;
		for (n = 0; n < 32; n++)
			p[n] = (char)(n * 37 + (int)c->gen);
		p[0] = 0;
		p[1] = (char)0xff;
		*ret_len = 32;
		return p;
	}
	if (strcmp(c->name, "tickets") != 0 && strcmp(file, "cert.pem") == 0)
		n = asprintf(&p, "-----BEGIN CERTIFICATE-----\n%s gen %llu\n"
		    "-----END CERTIFICATE-----\n", c->name,
		    (unsigned long long)c->gen);
	else if (strcmp(c->name, "tickets") != 0 && strcmp(file, "key.pem") == 0)
		n = asprintf(&p, "-----BEGIN PRIVATE KEY-----\nSECRET%llu\n"
		    "-----END PRIVATE KEY-----\n", (unsigned long long)c->gen);
	if (n < 0)
		return NULL;
	*ret_len = (size_t)n;
	return p;
}

static int
fake_read_file(void *arg, const char *cred, const char *file,
    struct blob **ret, uint64_t *ret_gen)
{
	struct fake_cred *c = fake_find(cred);
	size_t len;
	char *p;

	if (c == NULL || c->gen == 0 ||
	    (p = fake_content(c, file, &len)) == NULL)
		return -ENOENT;
	*ret = blob_new(p, len);
	free(p);
	if (*ret == NULL)
		return -ENOMEM;
	if (ret_gen != NULL)
		*ret_gen = c->gen;
	return 0;
}

static int
fake_meta(void *arg, const char *cred, json_t **ret)
{
	struct fake_cred *c = fake_find(cred);
	json_t *files;

	if (c == NULL || c->gen == 0)
		return -ENOENT;
	if (strcmp(c->name, "tickets") == 0)
		files = json_pack("{s:{s:s,s:i}}", "0.key", "sha256", "00",
		    "size", 32);
	else
		files = json_pack("{s:{s:s,s:i},s:{s:s,s:i}}", "cert.pem",
		    "sha256", "00", "size", 1, "key.pem", "sha256", "00",
		    "size", 1);
	*ret = json_pack("{s:s,s:s,s:I,s:o}", "name", c->name, "type",
	    c->type, "generation", (json_int_t)c->gen, "files", files);
	return *ret != NULL ? 0 : -ENOMEM;
}

static int
fake_mint(void *arg, const char *signer, const char *sub,
    const char *const *aud, size_t n_aud, const char *scope,
    const json_t *act, int64_t lifetime, char **ret_token,
    int64_t *ret_expires_in, char *why, size_t whylen)
{
	size_t i, o;

	json_decref(last_act);
	last_act = act != NULL ? json_deep_copy(act) : NULL;

	o = (size_t)snprintf(last_mint, sizeof(last_mint), "%s|%s|",
	    signer != NULL ? signer : "-", sub);
	for (i = 0; i < n_aud && o < sizeof(last_mint); i++)
		o += (size_t)snprintf(last_mint + o, sizeof(last_mint) - o,
		    "%s%s", i ? "," : "", aud[i]);
	if (o < sizeof(last_mint))
		snprintf(last_mint + o, sizeof(last_mint) - o, "|%s|%lld",
		    scope != NULL ? scope : "-", (long long)lifetime);
	if (asprintf(ret_token, "minted-for-%s", sub) < 0)
		return -ENOMEM;
	*ret_expires_in = lifetime / 1000;
	return 0;
}

static const char discovery_doc[] = "{\"issuer\":\"https://rotatord.test\"}";
static const char jwks_doc[] = "{\"keys\":[]}";

static const char *
fake_discovery(void *arg, size_t *ret_len)
{
	if (!have_signer)
		return NULL;
	*ret_len = strlen(discovery_doc);
	return discovery_doc;
}

static const char *
fake_jwks(void *arg, size_t *ret_len)
{
	if (!have_signer)
		return NULL;
	*ret_len = strlen(jwks_doc);
	return jwks_doc;
}

static int
fake_ready(void *arg, json_t **ret, json_t **ret_degraded)
{
	if (fake_find("pending")->gen > 0)
		return 1;
	*ret = json_pack("[s]", "pending");
	return 0;
}

static void
fake_metrics(void *arg, FILE *out)
{
	fprintf(out, "# HELP fake_metric A metric of the fake daemon.\n"
	    "# TYPE fake_metric gauge\nfake_metric 1\n");
}

static json_t *
fake_status(void *arg)
{
	return json_pack("{s:s,s:[{s:s,s:s,s:I,s:b,s:I,s:s}],s:[]}", "version",
	    "test", "credentials", "name", "web", "type", "x509", "generation",
	    (json_int_t)creds[0].gen, "published", 1, "not_after",
	    (json_int_t)2000000000, "last_error", "", "reloads");
}

static int
fake_rotate(void *arg, const char *const *names, size_t n, char *why,
    size_t whylen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fake_find(names[i]) == NULL) {
			snprintf(why, whylen, "no credential named %s",
			    names[i]);
			return -ENOENT;
		}
	__atomic_add_fetch(&rotate_calls, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int
fake_reload(void *arg, char *why, size_t whylen)
{
	__atomic_add_fetch(&reload_calls, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static const struct api_ops fake_ops = {
	.trust = fake_trust,
	.verify = fake_verify,
	.unknown_kid = fake_unknown_kid,
	.names = fake_names,
	.generation = fake_generation,
	.read_file = fake_read_file,
	.meta = fake_meta,
	.mint = fake_mint,
	.discovery = fake_discovery,
	.jwks = fake_jwks,
	.ready = fake_ready,
	.metrics = fake_metrics,
	.status = fake_status,
	.rotate = fake_rotate,
	.reload_config = fake_reload,
};

/* ------------------------------------------------------------------ */
/* The server thread                                                    */

struct fx {
	char		 dir[PATH_MAX];
	char		 sock[PATH_MAX];
	char		 log[PATH_MAX];
	int		 port;
	struct config	*cfg;
	struct config	*cfg2;
	struct loop	*loop;
	struct server	*srv;
	pthread_t	 thread;
	int		 efd;
	int		 saved_stderr;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	void		 (*fn)(void *);
	void		*fn_arg;
	int		 done;
};

static struct fx F;
static int rotate_gives_keys = 1;	/* loop thread only */

/* The "upstream" issuer's JWKS fetch ends (fake_unknown_kid armed it). */
static int64_t
on_rotate(struct loop *l, void *arg)
{
	if (rotate_gives_keys)
		__atomic_store_n(&keys_rotated, 1, __ATOMIC_SEQ_CST);
	server_keys_changed(F.srv);
	return 0;
}

static void
on_call(struct loop *l, int fd, uint32_t events, void *arg)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&F.mu);
	if (F.fn != NULL) {
		F.fn(F.fn_arg);
		F.fn = NULL;
		F.done = 1;
		pthread_cond_broadcast(&F.cv);
	}
	pthread_mutex_unlock(&F.mu);
}

/* Runs fn(arg) on the loop thread and waits for it. */
static void
on_loop(void (*fn)(void *), void *arg)
{
	uint64_t one = 1;

	pthread_mutex_lock(&F.mu);
	F.fn = fn;
	F.fn_arg = arg;
	F.done = 0;
	assert_int_equal(write(F.efd, &one, sizeof(one)), sizeof(one));
	while (!F.done)
		pthread_cond_wait(&F.cv, &F.mu);
	pthread_mutex_unlock(&F.mu);
}

static void *
loop_thread(void *arg)
{
	loop_run(F.loop);
	return NULL;
}

static void
do_quit(void *arg)
{
	loop_quit(F.loop, 0);
}

static struct config *
load_cfg(const char *sock, size_t max_body)
{
	return ut_config(
	    "[rotatord]\n"
	    "output_dir = %s/out\n"
	    "state_dir = %s/state\n"
	    "[signer \"local\"]\n"
	    "issuer = https://rotatord.test\n"
	    "[credential \"web\"]\ntype = secret\n"
	    "[credential \"tickets\"]\ntype = secret\n"
	    "[credential \"pending\"]\ntype = secret\n"
	    "[credential \"other\"]\ntype = secret\n"
	    "[listen]\n"
	    "unix = %s\n"
	    "unix_mode = 0660\n"
	    "unix_group = %d\n"
	    "tcp = 127.0.0.1:%d\n"
	    "max_connections = 8\n"
	    "per_ip_limit = 4\n"
	    "timeout = 2s\n"
	    "max_body = %zu\n"
	    "max_wait = 1s\n"
	    "[client \"me\"]\n"
	    "user = %u\n"
	    "allow = web, tickets, pending\n"
	    "token_audiences = payments\n"
	    "token_scopes = agent:read\n"
	    "token_lifetime = 5m\n"
	    "[client \"someone\"]\n"
	    "user = %d\n"
	    "allow = other\n"
	    "[client \"alice\"]\n"
	    "issuer = local\n"
	    "subject = alice\n"
	    "allow = web\n"
	    "token_audiences = payments, billing\n"
	    "token_scopes = agent:read\n"
	    "token_reexchange = yes\n"
	    "[client \"carol\"]\n"
	    "issuer = local\n"
	    "subject = carol\n"
	    "token_audiences = payments\n"
	    "[route \"payments\"]\n"
	    "prefix = /payments/\n"
	    "methods = GET, POST\n"
	    "issuer = local\n"
	    "scope = payments.read\n",
	    F.dir, F.dir, sock, getuid() == 0 ? NOBODY : (int)getgid(),
	    F.port, max_body, (unsigned)getuid(), OTHER_UID);
}

static int
setup(void **state)
{
	char *dir;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	dir = ut_tmpdir("rotatord-server", 0);
	assert_non_null(dir);
	ut_snprintf(F.dir, sizeof(F.dir), "%s", dir);
	free(dir);
	/* nobody (the denied caller) must reach the socket. */
	chmod(F.dir, 0711);
	ut_snprintf(F.sock, sizeof(F.sock), "%s/api.sock", F.dir);
	ut_snprintf(F.log, sizeof(F.log), "%s/log", F.dir);
	F.port = ut_free_port();
	F.cfg = load_cfg(F.sock, 1024);
	pthread_mutex_init(&F.mu, NULL);
	pthread_cond_init(&F.cv, NULL);

	/* The server's log (audit lines) goes to a file the tests read. */
	fflush(stderr);
	F.saved_stderr = dup(2);
	rc = open(F.log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(rc >= 0);
	dup2(rc, 2);
	close(rc);
	log_setup(LOG_DEBUG, 0);

	assert_int_equal(loop_new(&F.loop), 0);
	F.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(F.efd >= 0);
	assert_int_equal(loop_add(F.loop, F.efd, EPOLLIN, on_call, NULL), 0);
	assert_int_equal(server_new(F.loop, F.cfg, &fake_ops, &F.srv), 0);
	rotate_timer = loop_timer_add(F.loop, on_rotate, NULL);
	assert_non_null(rotate_timer);
	assert_int_equal(pthread_create(&F.thread, NULL, loop_thread, NULL), 0);
	*state = &F;
	return 0;
}

static char *log_text(void);

static int
teardown(void **state)
{
	struct stat st;
	char *log, *line, *save = NULL;

	on_loop(do_quit, NULL);
	pthread_join(F.thread, NULL);
	server_free(F.srv);
	loop_timer_del(rotate_timer);
	rotate_timer = NULL;
	/* The socket file goes with the server. */
	assert_int_not_equal(lstat(F.sock, &st), 0);
	loop_del(F.loop, F.efd);
	close(F.efd);
	loop_free(F.loop);
	config_free(F.cfg);
	config_free(F.cfg2);
	/*
	 * cmocka's failure messages went to the log file with the server's
	 * lines ("<N>..."): show them on the real stderr.
	 */
	log = log_text();
	dup2(F.saved_stderr, 2);
	close(F.saved_stderr);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (line[0] != '<' || getenv("TEST_SERVER_LOG") != NULL)
			fprintf(stderr, "%s\n", line);
	free(log);
	if (ut_rm_rf(F.dir) < 0)
		fprintf(stderr, "cannot remove %s\n", F.dir);
	return 0;
}

/* ------------------------------------------------------------------ */
/* An HTTP/1.1 client                                                   */

struct resp {
	int	 status;		/* 0: closed without a response */
	char	 head[16384];
	char	*body;
	size_t	 len;
};

static int
connect_to(int tcp, const char *path)
{
	int fd;

	if (tcp) {
		struct sockaddr_in sa;

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)F.port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return -1;
		}
	} else {
		struct sockaddr_un sa;

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		ut_snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		    path != NULL ? path : F.sock);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Writes all of buf; errors (the server may close early) are ignored. */
static void
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/*
 * Reads one response from fd within timeout_ms: status line, headers,
 * Content-Length bytes of body.  Returns the status, 0 when the
 * connection closed first, -1 on timeout.
 */
static int
read_resp(int fd, struct resp *r, int timeout_ms)
{
	char buf[65536];
	size_t have = 0, need = 0, hl = 0;
	int64_t end = ut_mono_ms() + timeout_ms;
	const char *cl;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(end - ut_mono_ms());
		char *hend;

		if (hl > 0 && have >= hl + need)
			break;
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
		n = recv(fd, buf + have, sizeof(buf) - have - 1, 0);
		if (n <= 0)
			return r->status = 0;
		have += (size_t)n;
		buf[have] = '\0';
		if (hl == 0 && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
			hl = (size_t)(hend - buf) + 4;
			assert_true(hl < sizeof(r->head));
			memcpy(r->head, buf, hl);
			r->head[hl] = '\0';
			assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r->status),
			    1);
			cl = strcasestr(r->head, "\r\nContent-Length:");
			need = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
			assert_true(hl + need < sizeof(buf));
		}
	}
	r->len = need;
	r->body = malloc(need + 1);
	memcpy(r->body, buf + hl, need);
	r->body[need] = '\0';
	return r->status;
}

/* The value of header name in r (static buffer), or NULL. */
static const char *
header(const struct resp *r, const char *name)
{
	static char val[1024];
	char pat[128];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	if ((p = strcasestr(r->head, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	e = strstr(p, "\r\n");
	snprintf(val, sizeof(val), "%.*s", (int)(e - p), p);
	return val;
}

/*
 * One request on a new connection: method path, extra header lines
 * (each ending in \r\n, may be NULL) and body (may be NULL).
 */
static int
request(int tcp, const char *method, const char *path, const char *hdrs,
    const char *body, struct resp *r)
{
	char *req;
	int fd, n, st;

	fd = connect_to(tcp, NULL);
	assert_true(fd >= 0);
	n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: rotatord\r\n%s%s"
	    "Content-Length: %zu\r\n\r\n%s", method, path,
	    hdrs != NULL ? hdrs : "", body != NULL ? "" : "",
	    body != NULL ? strlen(body) : (size_t)0, body != NULL ? body : "");
	assert_true(n > 0);
	send_all(fd, req, (size_t)n);
	free(req);
	st = read_resp(fd, r, 5000);
	close(fd);
	return st;
}

#define RR	"Rotatord-Request: 1\r\n"

static int
get(int tcp, const char *path, const char *hdrs, struct resp *r)
{
	return request(tcp, "GET", path, hdrs, NULL, r);
}

/* The server's log so far. */
static char *
log_text(void)
{
	char *buf;

	fflush(stderr);
	buf = ut_read_file(F.log, 0, NULL);
	assert_non_null(buf);
	return buf;
}

/* The "error" member of a JSON error body. */
static void
assert_error(const struct resp *r, const char *error)
{
	json_t *j = json_loads(r->body, 0, NULL);

	if (j == NULL)
		fail_msg("not JSON: %s", r->body);
	if (strcmp(json_string_value(json_object_get(j, "error")), error) != 0)
		fail_msg("error %s, expected %s: %s",
		    json_string_value(json_object_get(j, "error")), error,
		    r->body);
	assert_non_null(json_object_get(j, "error_description"));
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void
test_health_and_404(void **state)
{
	struct resp r;

	assert_int_equal(get(0, "/healthz", NULL, &r), 200);
	assert_string_equal(r.body, "ok\n");
	resp_free(&r);
	assert_int_equal(get(1, "/healthz", NULL, &r), 200);
	resp_free(&r);
	assert_int_equal(get(0, "/nope", NULL, &r), 404);
	assert_error(&r, "not_found");
	resp_free(&r);
	assert_int_equal(get(0, "/v1/nope", RR, &r), 404);
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/healthz", NULL, "", &r), 405);
	assert_non_null(header(&r, "Allow"));
	resp_free(&r);
	/* The admin API does not exist on TCP. */
	assert_int_equal(get(1, "/v1/admin/status", RR, &r), 404);
	resp_free(&r);
}

static void
test_rotatord_request_header(void **state)
{
	struct resp r;

	assert_int_equal(get(0, "/v1/credentials", NULL, &r), 400);
	assert_error(&r, "invalid_request");
	assert_non_null(strstr(r.body, "Rotatord-Request"));
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", "Rotatord-Request: yes\r\n", &r),
	    400);
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", NULL, "", &r), 400);
	resp_free(&r);
	/* The JWKS is read by generic clients: no header needed. */
	assert_int_equal(get(0, "/v1/jwks", NULL, &r), 200);
	assert_string_equal(r.body, jwks_doc);
	resp_free(&r);
}

static void
test_unix_list_and_read(void **state)
{
	struct resp r;
	json_t *j, *e;
	size_t i;
	char want[128];
	int web = 0, tickets = 0;

	assert_int_equal(get(0, "/v1/credentials", RR, &r), 200);
	j = json_loads(r.body, 0, NULL);
	assert_true(json_is_array(j));
	json_array_foreach(j, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		assert_string_not_equal(n, "other");
		web += strcmp(n, "web") == 0;
		tickets += strcmp(n, "tickets") == 0;
		if (strcmp(n, "web") == 0) {
			assert_string_equal(json_string_value(
			    json_object_get(e, "type")), "x509");
			assert_true(json_is_integer(json_object_get(e,
			    "generation")));
		}
		if (strcmp(n, "pending") == 0)
			assert_true(json_is_null(json_object_get(e,
			    "not_after")));
	}
	assert_int_equal(web + tickets, 2);
	json_decref(j);
	resp_free(&r);

	assert_int_equal(get(0, "/v1/credentials/web/cert.pem", RR, &r), 200);
	snprintf(want, sizeof(want), "-----BEGIN CERTIFICATE-----\nweb gen "
	    "%llu\n-----END CERTIFICATE-----\n",
	    (unsigned long long)creds[0].gen);
	assert_string_equal(r.body, want);
	assert_string_equal(header(&r, "Content-Type"),
	    "application/x-pem-file");
	snprintf(want, sizeof(want), "\"%llu\"", (unsigned long long)creds[0].gen);
	assert_string_equal(header(&r, "ETag"), want);
	assert_string_equal(header(&r, "Cache-Control"), "no-store");
	resp_free(&r);

	assert_int_equal(get(0, "/v1/credentials/tickets/0.key", RR, &r), 200);
	assert_int_equal(r.len, 32);
	assert_int_equal(r.body[0], 0);
	assert_string_equal(header(&r, "Content-Type"),
	    "application/octet-stream");
	resp_free(&r);

	/* Denied, unknown credential, unknown file, bad names. */
	assert_int_equal(get(0, "/v1/credentials/other/cert.pem", RR, &r), 403);
	assert_error(&r, "access_denied");
	resp_free(&r);
	assert_int_equal(get(0, "/v1/credentials/other", RR, &r), 403);
	resp_free(&r);
	assert_int_equal(get(0, "/v1/credentials/nope/cert.pem", RR, &r), 404);
	assert_error(&r, "not_found");
	resp_free(&r);
	assert_int_equal(get(0, "/v1/credentials/web/nope.pem", RR, &r), 404);
	resp_free(&r);
	assert_int_equal(get(0, "/v1/credentials/web/..%2Fmeta.json", RR, &r),
	    404);
	resp_free(&r);
	assert_int_equal(get(0, "/v1/credentials/web/.hidden", RR, &r), 404);
	resp_free(&r);
	/* Nothing published yet: 503, retry later. */
	assert_int_equal(get(0, "/v1/credentials/pending/cert.pem", RR, &r),
	    503);
	assert_non_null(header(&r, "Retry-After"));
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/credentials/web/cert.pem",
	    RR, "", &r), 405);
	resp_free(&r);
}

static void
test_whole_credential(void **state)
{
	struct resp r;
	json_t *j, *f;

	assert_int_equal(get(0, "/v1/credentials/web", RR, &r), 200);
	j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "web");
	assert_true(json_is_object(json_object_get(j, "meta")));
	f = json_object_get(json_object_get(j, "files"), "cert.pem");
	assert_string_equal(json_string_value(json_object_get(f, "encoding")),
	    "text");
	assert_non_null(strstr(json_string_value(json_object_get(f, "content")),
	    "BEGIN CERTIFICATE"));
	assert_non_null(json_object_get(json_object_get(j, "files"), "key.pem"));
	json_decref(j);
	resp_free(&r);

	/* Binary keys come base64-encoded. */
	assert_int_equal(get(0, "/v1/credentials/tickets", RR, &r), 200);
	j = json_loads(r.body, 0, NULL);
	f = json_object_get(json_object_get(j, "files"), "0.key");
	assert_string_equal(json_string_value(json_object_get(f, "encoding")),
	    "base64");
	assert_int_equal(strlen(json_string_value(json_object_get(f,
	    "content"))), 44);
	json_decref(j);
	resp_free(&r);
}

static void
test_etag_304(void **state)
{
	struct resp r;
	char h[128];
	uint64_t g = creds[0].gen;

	snprintf(h, sizeof(h), RR "If-None-Match: \"%llu\"\r\n",
	    (unsigned long long)g);
	assert_int_equal(get(0, "/v1/credentials/web/cert.pem", h, &r), 304);
	assert_int_equal(r.len, 0);
	assert_non_null(header(&r, "ETag"));
	resp_free(&r);
	snprintf(h, sizeof(h), RR "If-None-Match: \"99\", W/\"%llu\"\r\n",
	    (unsigned long long)g);
	assert_int_equal(get(0, "/v1/credentials/web/cert.pem", h, &r), 304);
	resp_free(&r);
	snprintf(h, sizeof(h), RR "If-None-Match: \"%llu\"\r\n",
	    (unsigned long long)g + 7);
	assert_int_equal(get(0, "/v1/credentials/web/cert.pem", h, &r), 200);
	resp_free(&r);
	assert_int_equal(get(0, "/v1/credentials/web/cert.pem?wait=soon", RR,
	    &r), 400);
	resp_free(&r);
}

struct bump {
	const char	*name;
};

static void
do_bump(void *arg)
{
	struct fake_cred *c = fake_find(((struct bump *)arg)->name);

	c->gen++;
	server_notify(F.srv, c->name, c->gen);
}

static void
do_unpublish(void *arg)
{
	fake_find(arg)->gen = 0;
}

/* Sends a long poll on a new unix connection; returns the fd. */
static int
long_poll(const char *path, uint64_t gen, const char *wait)
{
	char *req;
	int fd, n;

	fd = connect_to(0, NULL);
	assert_true(fd >= 0);
	n = asprintf(&req, "GET %s?wait=%s HTTP/1.1\r\nHost: x\r\n" RR
	    "If-None-Match: \"%llu\"\r\n\r\n", path, wait,
	    (unsigned long long)gen);
	send_all(fd, req, (size_t)n);
	free(req);
	return fd;
}

static void
test_long_poll_notify(void **state)
{
	struct bump b = { "web" };
	struct bump other = { "tickets" };
	struct resp r;
	char want[32];
	int64_t t0, t1;
	int fd;

	fd = long_poll("/v1/credentials/web/cert.pem", creds[0].gen, "5s");
	/* Held: nothing within 200 ms, nor after another credential moves. */
	assert_int_equal(read_resp(fd, &r, 200), -1);
	on_loop(do_bump, &other);
	assert_int_equal(read_resp(fd, &r, 200), -1);
	t0 = ut_mono_ms();
	on_loop(do_bump, &b);
	assert_int_equal(read_resp(fd, &r, 2000), 200);
	t1 = ut_mono_ms();
	if (t1 - t0 >= 100)
		fail_msg("answered %lld ms after the notify", (long long)(t1 - t0));
	snprintf(want, sizeof(want), "\"%llu\"", (unsigned long long)creds[0].gen);
	assert_string_equal(header(&r, "ETag"), want);
	assert_non_null(strstr(r.body, "web gen"));
	resp_free(&r);
	/* The connection stays usable (keep-alive) after the long poll. */
	send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
	assert_int_equal(read_resp(fd, &r, 2000), 200);
	resp_free(&r);
	close(fd);

	/* Nothing published yet: the first generation answers the poll. */
	fd = long_poll("/v1/credentials/pending/cert.pem", 0, "5s");
	assert_int_equal(read_resp(fd, &r, 200), -1);
	b.name = "pending";
	on_loop(do_bump, &b);
	assert_int_equal(read_resp(fd, &r, 2000), 200);
	resp_free(&r);
	close(fd);
}

static void
do_bump_quiet(void *arg)
{
	fake_find(((struct bump *)arg)->name)->gen++;
}

/* GETs path: 200, with ETag "gen" and a body containing want. */
static void
get_file_is(const char *path, const char *want)
{
	struct resp r;
	char etag[32];

	assert_int_equal(get(0, path, RR, &r), 200);
	snprintf(etag, sizeof(etag), "\"%llu\"",
	    (unsigned long long)fake_find("web")->gen);
	assert_string_equal(header(&r, "ETag"), etag);
	assert_string_equal(header(&r, "Cache-Control"), "no-store");
	if (strstr(r.body, want) == NULL)
		fail_msg("%s: %s not in %s", path, want, r.body);
	resp_free(&r);
}

/*
 * A file's response is made once per generation and shared: a new
 * generation is served at once, whether or not server_notify() ran.
 */
static void
test_file_response_cache(void **state)
{
	struct bump b = { "web" };
	char want[64];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "web gen %llu\n",
		    (unsigned long long)creds[0].gen);
		get_file_is("/v1/credentials/web/cert.pem", want);
		snprintf(want, sizeof(want), "SECRET%llu\n",
		    (unsigned long long)creds[0].gen);
		get_file_is("/v1/credentials/web/key.pem", want);
		get_file_is("/v1/credentials/web/key.pem", want);
		on_loop(i == 0 ? do_bump_quiet : do_bump, &b);
	}
}

static void
test_long_poll_expiry(void **state)
{
	struct resp r;
	int64_t t0, dt;
	int fd;

	t0 = ut_mono_ms();
	fd = long_poll("/v1/credentials/web/cert.pem", creds[0].gen, "300ms");
	assert_int_equal(read_resp(fd, &r, 3000), 304);
	dt = ut_mono_ms() - t0;
	if (dt < 280 || dt >= 1500)
		fail_msg("answered after %lld ms", (long long)dt);
	assert_non_null(header(&r, "ETag"));
	resp_free(&r);
	close(fd);

	/* Capped at max_wait (1s). */
	t0 = ut_mono_ms();
	fd = long_poll("/v1/credentials/web/cert.pem", creds[0].gen, "60m");
	assert_int_equal(read_resp(fd, &r, 5000), 304);
	dt = ut_mono_ms() - t0;
	assert_true(dt >= 950 && dt < 2500);
	resp_free(&r);
	close(fd);

	/* A client that already lags gets the bytes at once. */
	fd = long_poll("/v1/credentials/web/cert.pem", creds[0].gen - 1, "5s");
	assert_int_equal(read_resp(fd, &r, 500), 200);
	resp_free(&r);
	close(fd);
}

/* Long polls may hold 3/4 of max_connections (8): the 7th is refused. */
static void
test_long_poll_limit(void **state)
{
	struct bump b = { "web" };
	struct resp r;
	int fds[6], fd, i;

	for (i = 0; i < 6; i++) {
		fds[i] = long_poll("/v1/credentials/web/cert.pem", creds[0].gen,
		    "5s");
		assert_int_equal(read_resp(fds[i], &r, i == 5 ? 200 : 20), -1);
	}
	fd = long_poll("/v1/credentials/web/cert.pem", creds[0].gen, "5s");
	assert_int_equal(read_resp(fd, &r, 2000), 503);
	assert_string_equal(header(&r, "Retry-After"), "1");
	resp_free(&r);
	close(fd);
	on_loop(do_bump, &b);
	for (i = 0; i < 6; i++) {
		assert_int_equal(read_resp(fds[i], &r, 2000), 200);
		resp_free(&r);
		close(fds[i]);
	}
}

#define FORM_CT	"Content-Type: application/x-www-form-urlencoded\r\n"
#define TX	"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
#define JWT_T	"urn:ietf:params:oauth:token-type:jwt"

static void
test_token_unix(void **state)
{
	struct resp r;
	json_t *j;
	char want[256];

	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=payments&scope=agent%3Aread", &r), 200);
	j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	snprintf(want, sizeof(want), "minted-for-unix:uid:%u",
	    (unsigned)getuid());
	assert_string_equal(json_string_value(json_object_get(j,
	    "access_token")), want);
	assert_string_equal(json_string_value(json_object_get(j,
	    "issued_token_type")), JWT_T);
	assert_string_equal(json_string_value(json_object_get(j, "token_type")),
	    "N_A");
	assert_int_equal(json_integer_value(json_object_get(j, "expires_in")),
	    300);
	assert_string_equal(json_string_value(json_object_get(j, "scope")),
	    "agent:read");
	assert_string_equal(header(&r, "Cache-Control"), "no-store");
	json_decref(j);
	resp_free(&r);
	snprintf(want, sizeof(want), "local|unix:uid:%u|payments|agent:read|300000",
	    (unsigned)getuid());
	assert_string_equal(last_mint, want);

	/* '+' is a space: two scopes, one of them not allowed. */
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=payments&scope=agent%3Aread+agent%3Awrite", &r), 400);
	assert_error(&r, "invalid_scope");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=treasury", &r), 400);
	assert_error(&r, "invalid_target");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT, TX, &r),
	    400);
	assert_error(&r, "invalid_target");
	resp_free(&r);
	/* Parameters: duplicates, bad escapes, grant type, content type. */
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=payments&" TX, &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=payments&scope=a&scope=b", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=pay%zzments", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=pay%00ments", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    "grant_type=client_credentials", &r), 400);
	assert_error(&r, "unsupported_grant_type");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    "audience=payments", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	assert_int_equal(request(0, "POST", "/v1/token", RR
	    "Content-Type: application/json\r\n", "{}", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	assert_int_equal(request(0, "GET", "/v1/token", RR, NULL, &r), 405);
	resp_free(&r);
	/* Repeated audiences are fine (RFC 8693), if all are allowed. */
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=payments&audience=billing", &r), 400);
	assert_error(&r, "invalid_target");
	resp_free(&r);
}

static void
test_token_body_limit(void **state)
{
	struct resp r;
	char *body;
	size_t n = 4096;
	int fd, st;
	char hdr[512];

	body = malloc(n + 1);
	memset(body, 'a', n);
	memcpy(body, TX "&audience=", strlen(TX "&audience="));
	body[n] = '\0';
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT, body, &r),
	    413);
	resp_free(&r);
	free(body);

	/* 10 MiB announced and streamed: refused early, not buffered. */
	fd = connect_to(0, NULL);
	snprintf(hdr, sizeof(hdr), "POST /v1/token HTTP/1.1\r\nHost: x\r\n" RR
	    FORM_CT "Content-Length: %d\r\n\r\n", 10 << 20);
	send_all(fd, hdr, strlen(hdr));
	body = calloc(1, 65536);
	memset(body, 'b', 65536);
	send_all(fd, body, 65536);
	free(body);
	st = read_resp(fd, &r, 3000);
	assert_true(st == 413 || st == 0);
	resp_free(&r);
	close(fd);
	/* Exactly at the limit is fine. */
	body = malloc(1025);
	n = (size_t)snprintf(body, 1025, "%s&audience=payments&x=", TX);
	memset(body + n, 'c', 1024 - n);
	body[1024] = '\0';
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT, body, &r),
	    200);
	resp_free(&r);
	free(body);
}

static void
test_token_tcp(void **state)
{
	struct resp r;
	json_t *j;

	/* The subject_token is the caller. */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=good.alice.7&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=billing",
	    &r), 200);
	j = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j,
	    "access_token")), "minted-for-alice");
	assert_null(json_object_get(j, "scope"));
	json_decref(j);
	resp_free(&r);
	assert_string_equal(last_mint, "local|alice|billing|-|900000");
	/* The exchange is recorded: who the exchanged token named. */
	assert_non_null(last_act);
	assert_string_equal(json_string_value(json_object_get(last_act, "iss")),
	    "https://rotatord.test");
	assert_string_equal(json_string_value(json_object_get(last_act, "sub")),
	    "alice");
	assert_null(json_object_get(last_act, "act"));
	/* A token of rotatord's own signer for another audience: refused. */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=otheraud.alice.1&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=billing",
	    &r), 400);
	assert_error(&r, "invalid_grant");
	resp_free(&r);
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT
	    "Authorization: Bearer otheraud.alice.2\r\n", TX "&audience=payments",
	    &r), 401);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/credentials/web/cert.pem",
	    RR "Authorization: Bearer otheraud.alice.3\r\n", &r), 401);
	resp_free(&r);
	/* Re-exchange only where the lane allows it (carol's does not). */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=good.carol.1&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=payments",
	    &r), 403);
	assert_error(&r, "access_denied");
	assert_non_null(strstr(r.body, "token_reexchange"));
	resp_free(&r);
	/* Two exchanges behind it already: a third passes max_delegation. */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=chain.alice.1&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=billing",
	    &r), 400);
	assert_error(&r, "invalid_grant");
	assert_non_null(strstr(r.body, "max_delegation"));
	resp_free(&r);
	/* Without subject_token on TCP: the Authorization bearer. */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT
	    "Authorization: Bearer good.alice.8\r\n", TX "&audience=payments",
	    &r), 200);
	resp_free(&r);
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&audience=payments", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	/* Bad subject tokens. */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=forged.1&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=payments",
	    &r), 400);
	assert_error(&r, "invalid_grant");
	resp_free(&r);
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=good.alice.9&audience=payments", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
	/* bob matches no [client]. */
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=good.bob.1&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=payments",
	    &r), 403);
	assert_error(&r, "access_denied");
	resp_free(&r);
	/* The unix peer may also use a subject_token. */
	assert_int_equal(request(0, "POST", "/v1/token", RR FORM_CT,
	    TX "&subject_token=good.alice.10&subject_token_type="
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=billing",
	    &r), 200);
	resp_free(&r);
	assert_string_equal(last_mint, "local|alice|billing|-|900000");
}

static void
test_authz(void **state)
{
	struct resp r;
	const char *w;

#define ORIG	RR "X-Original-URI: /payments/x?y=1\r\nX-Original-Method: GET\r\n"
	assert_int_equal(get(1, "/v1/authz", ORIG, &r), 401);
	w = header(&r, "WWW-Authenticate");
	assert_non_null(w);
	assert_non_null(strstr(w, "Bearer error=\"invalid_token\""));
	assert_non_null(strstr(w, "error_description="));
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", ORIG
	    "Authorization: Bearer expired.1\r\n", &r), 401);
	assert_non_null(strstr(header(&r, "WWW-Authenticate"), "expired"));
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", ORIG
	    "Authorization: Basic Zm9vOmJhcg==\r\n", &r), 401);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", ORIG
	    "Authorization: Bearer good.alice.1\r\n", &r), 200);
	assert_string_equal(header(&r, "X-Auth-Subject"), "alice");
	assert_string_equal(header(&r, "X-Auth-Issuer"), "https://rotatord.test");
	assert_string_equal(header(&r, "X-Auth-Scope"), "payments.read");
	resp_free(&r);
	/* Works on the unix socket too (nginx may proxy there). */
	assert_int_equal(get(0, "/v1/authz", ORIG
	    "Authorization: Bearer good.alice.1\r\n", &r), 200);
	resp_free(&r);
	/* Valid token, rules not met: 403. */
	assert_int_equal(get(1, "/v1/authz", ORIG
	    "Authorization: Bearer noscope.alice.1\r\n", &r), 403);
	assert_error(&r, "access_denied");
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", RR "X-Original-URI: /payments/x\r\n"
	    "X-Original-Method: DELETE\r\nAuthorization: Bearer good.alice.1\r\n",
	    &r), 403);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", RR "X-Original-URI: /admin/\r\n"
	    "X-Original-Method: GET\r\n"
	    "Authorization: Bearer good.alice.1\r\n", &r), 403);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", RR "X-Original-Method: GET\r\n"
	    "Authorization: Bearer good.alice.1\r\n", &r), 400);
	resp_free(&r);
	/* Without X-Original-Method: 400, never taken for a GET. */
	assert_int_equal(get(1, "/v1/authz", RR "X-Original-URI: /payments/x\r\n"
	    "Authorization: Bearer good.alice.1\r\n", &r), 400);
	assert_error(&r, "invalid_request");
	resp_free(&r);
#undef ORIG
}

static void
test_token_cache(void **state)
{
	struct resp r;
	int i, before;

#define HDRS(t)	RR "X-Original-URI: /payments/a\r\nX-Original-Method: GET\r\n" \
	"Authorization: Bearer " t "\r\n"
	before = __atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST);
	for (i = 0; i < 5; i++) {
		assert_int_equal(get(1, "/v1/authz", HDRS("good.carol.42"), &r),
		    200);
		resp_free(&r);
	}
	assert_int_equal(__atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST) -
	    before, 1);
	/* Distinct tokens are verified each. */
	before = __atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST);
	assert_int_equal(get(1, "/v1/authz", HDRS("good.alice.100"), &r), 200);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", HDRS("good.alice.101"), &r), 200);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", HDRS("good.alice.100"), &r), 200);
	resp_free(&r);
	assert_int_equal(__atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST) -
	    before, 2);
	/* Failures are remembered for a second, -ENOKEY not at all. */
	before = __atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST);
	assert_int_equal(get(1, "/v1/authz", HDRS("forged.5"), &r), 401);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", HDRS("forged.5"), &r), 401);
	resp_free(&r);
	assert_int_equal(__atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST) -
	    before, 1);
	before = __atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST);
	assert_int_equal(get(1, "/v1/authz", HDRS("nokey.5"), &r), 401);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/authz", HDRS("nokey.5"), &r), 401);
	resp_free(&r);
	assert_int_equal(__atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST) -
	    before, 2);
	usleep(1100 * 1000);
	before = __atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST);
	assert_int_equal(get(1, "/v1/authz", HDRS("forged.5"), &r), 401);
	resp_free(&r);
	assert_int_equal(__atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST) -
	    before, 1);
	/*
	 * One keep-alive connection, tokens of the same length in turn:
	 * the connection's memo of its last token never answers for
	 * another (each gets its own subject or refusal).
	 */
	{
		static const char *const seq[][2] = {
			{ "good.alice.7", "alice" }, { "good.bobby.7", "bobby" },
			{ "forged.7xyz", NULL }, { "good.bobby.7", "bobby" },
			{ "good.alice.7", "alice" }, { "good.alice.7", "alice" },
		};
		char *req;
		size_t k;
		int fd, n;

		fd = connect_to(1, NULL);
		assert_true(fd >= 0);
		for (k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
			n = asprintf(&req, "GET /v1/authz HTTP/1.1\r\n"
			    "Host: x\r\n" HDRS("%s") "\r\n", seq[k][0]);
			assert_true(n > 0);
			send_all(fd, req, (size_t)n);
			free(req);
			assert_int_equal(read_resp(fd, &r, 2000),
			    seq[k][1] != NULL ? 200 : 401);
			if (seq[k][1] != NULL)
				assert_string_equal(header(&r,
				    "X-Auth-Subject"), seq[k][1]);
			resp_free(&r);
		}
		close(fd);
	}
	/* A bearer caller reading credentials on TCP. */
	assert_int_equal(get(1, "/v1/credentials/web/cert.pem",
	    RR "Authorization: Bearer good.alice.100\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/credentials/tickets/0.key",
	    RR "Authorization: Bearer good.alice.100\r\n", &r), 403);
	resp_free(&r);
	assert_int_equal(get(1, "/v1/credentials/web/cert.pem", RR, &r), 401);
	resp_free(&r);
#undef HDRS
}

static void
set_gives_keys(void *arg)
{
	rotate_gives_keys = *(int *)arg;
}

static void
read_kid_calls(void *arg)
{
	*(int *)arg = unknown_kid_calls;
}

/*
 * A token signed with an [issuer]'s new key: the request is held while
 * the keys are fetched and answered with them, not refused first.  When
 * the fetch brings nothing new it is refused once it ends.
 */
static void
test_key_hold(void **state)
{
	struct resp r;
	int64_t t0, dt;
	int v = 1, calls0, calls1;

#define HDRS(t)	RR "X-Original-URI: /payments/a\r\nX-Original-Method: GET\r\n" \
	"Authorization: Bearer " t "\r\n"
	on_loop(set_gives_keys, &v);
	__atomic_store_n(&keys_rotated, 0, __ATOMIC_SEQ_CST);
	on_loop(read_kid_calls, &calls0);
	t0 = ut_mono_ms();
	assert_int_equal(get(1, "/v1/authz", HDRS("rotkey.dave.1"), &r), 200);
	dt = ut_mono_ms() - t0;
	assert_string_equal(header(&r, "X-Auth-Subject"), "dave");
	resp_free(&r);
	assert_true(dt >= 250);
	on_loop(read_kid_calls, &calls1);
	assert_int_equal(calls1 - calls0, 1);
	/* Now known (and cached). */
	assert_int_equal(get(1, "/v1/authz", HDRS("rotkey.dave.1"), &r), 200);
	resp_free(&r);

	/* The fetch ends without the key: 401 after it, not before. */
	v = 0;
	on_loop(set_gives_keys, &v);
	__atomic_store_n(&keys_rotated, 0, __ATOMIC_SEQ_CST);
	t0 = ut_mono_ms();
	assert_int_equal(get(1, "/v1/authz", HDRS("rotkey.erin.1"), &r), 401);
	dt = ut_mono_ms() - t0;
	assert_non_null(strstr(header(&r, "WWW-Authenticate"), "unknown kid"));
	resp_free(&r);
	assert_true(dt >= 250);
	v = 1;
	on_loop(set_gives_keys, &v);
#undef HDRS
}

struct par {
	const char	*tok;
	int		 code;
};

static void *
par_get(void *arg)
{
	struct par *p = arg;
	struct resp r;
	char hdrs[512];

	snprintf(hdrs, sizeof(hdrs), RR "X-Original-URI: /payments/a\r\nX-Original-Method: GET\r\n"
	    "Authorization: Bearer %s\r\n", p->tok);
	p->code = get(1, "/v1/authz", hdrs, &r);
	resp_free(&r);
	return NULL;
}

/*
 * Many connections at once, on verifier threads: each gets its own
 * answer, and one token presented by all of them is checked once.
 */
static void
test_verify_concurrent(void **state)
{
	/* per_ip_limit is 4: at most 3 at once, so none is turned away. */
	static const char *const toks[] = {
		"good.p1.1", "forged.p3", "noscope.p4.1",
	};
	static const int want[] = { 200, 401, 403 };
	pthread_t th[3];
	struct par p[3];
	int i, round, before;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < 3; i++) {
			p[i].tok = toks[i];
			p[i].code = 0;
			assert_int_equal(pthread_create(&th[i], NULL, par_get,
			    &p[i]), 0);
		}
		for (i = 0; i < 3; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(p[i].code, want[i]);
		}
		usleep(1100 * 1000);	/* the negative entry expires */
	}
	before = __atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST);
	for (i = 0; i < 3; i++) {
		p[i].tok = "good.same.1";
		assert_int_equal(pthread_create(&th[i], NULL, par_get, &p[i]),
		    0);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].code, 200);
	}
	assert_int_equal(__atomic_load_n(&verify_calls, __ATOMIC_SEQ_CST) -
	    before, 1);
}

static void
test_metrics_readyz_discovery(void **state)
{
	struct resp r;
	json_t *j;

	/* Ready once "pending" was published (by the long-poll test). */
	assert_int_equal(get(0, "/readyz", NULL, &r), 200);
	assert_string_equal(r.body, "{\"ready\":true}");
	resp_free(&r);
	on_loop(do_unpublish, "pending");
	assert_int_equal(get(0, "/readyz", NULL, &r), 503);
	j = json_loads(r.body, 0, NULL);
	assert_true(json_is_false(json_object_get(j, "ready")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(j,
	    "not_ready"), 0)), "pending");
	json_decref(j);
	resp_free(&r);

	/* On TCP only for a [client] with metrics = yes: there is none. */
	assert_int_equal(get(1, "/metrics", NULL, &r), 401);
	resp_free(&r);
	assert_int_equal(get(1, "/metrics", "Authorization: Bearer "
	    "good.alice.1\r\n", &r), 403);
	assert_error(&r, "access_denied");
	resp_free(&r);
	assert_int_equal(get(0, "/metrics", NULL, &r), 200);
	assert_non_null(strstr(header(&r, "Content-Type"), "version=0.0.4"));
	assert_non_null(strstr(r.body, "\nfake_metric 1\n"));
	assert_non_null(strstr(r.body, "# TYPE rotatord_http_requests_total "
	    "counter\n"));
	assert_non_null(strstr(r.body, "rotatord_http_requests_total{route="
	    "\"healthz\",code=\"200\"} "));
	assert_non_null(strstr(r.body, "rotatord_http_requests_total{route="
	    "\"readyz\",code=\"503\"} 1\n"));
	assert_non_null(strstr(r.body, "rotatord_http_token_cache_lookups_total"
	    "{result=\"hit\"} "));
	/* The earlier tests' tokens were checked on verifier threads only. */
	assert_null(strstr(r.body, "rotatord_http_token_verifications_total"
	    "{where=\"thread\"} 0\n"));
	assert_non_null(strstr(r.body, "rotatord_http_token_verifications_total"
	    "{where=\"loop\"} 0\n"));
	assert_null(strstr(r.body, "rotatord_http_token_key_holds_total 0\n"));
	assert_null(strstr(r.body, "route=\"/"));
	assert_int_equal(r.body[r.len - 1], '\n');
	resp_free(&r);

	assert_int_equal(get(0, "/.well-known/openid-configuration", NULL, &r),
	    200);
	assert_string_equal(r.body, discovery_doc);
	resp_free(&r);
	have_signer = 0;	/* read only by the server thread, between requests */
	assert_int_equal(get(0, "/.well-known/openid-configuration", NULL, &r),
	    404);
	resp_free(&r);
	assert_int_equal(get(0, "/v1/jwks", NULL, &r), 404);
	resp_free(&r);
	have_signer = 1;
}

/* Runs one GET as uid/gid nobody in a child; returns its status. */
static int
get_as_nobody(const char *path)
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct resp r;
		int code;

		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0)
			_exit(200);
		code = get(0, path, RR, &r);
		_exit(code == 403 ? 3 : code == 200 ? 2 : 100);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_admin(void **state)
{
	struct resp r;
	char *log;

	if (getuid() == 0) {
		assert_int_equal(request(0, "GET", "/v1/admin/status", RR, NULL,
		    &r), 200);
		assert_non_null(strstr(r.body, "\"credentials\""));
		resp_free(&r);
		assert_int_equal(request(0, "POST", "/v1/admin/rotate",
		    RR "Content-Type: application/json\r\n",
		    "{\"names\": [\"web\"]}", &r), 202);
		resp_free(&r);
		assert_int_equal(request(0, "POST", "/v1/admin/rotate",
		    RR "Content-Type: application/json\r\n", "{\"all\": true}",
		    &r), 202);
		resp_free(&r);
		assert_int_equal(__atomic_load_n(&rotate_calls,
		    __ATOMIC_SEQ_CST), 2);
		assert_int_equal(request(0, "POST", "/v1/admin/rotate",
		    RR "Content-Type: application/json\r\n",
		    "{\"names\": [\"nope\"]}", &r), 404);
		assert_non_null(strstr(r.body, "nope"));
		resp_free(&r);
		assert_int_equal(request(0, "POST", "/v1/admin/rotate",
		    RR "Content-Type: application/json\r\n",
		    "{\"all\": true, \"fleet\": true}", &r), 501);
		assert_non_null(strstr(r.body, "no [cluster] configured"));
		resp_free(&r);
		assert_int_equal(request(0, "POST", "/v1/admin/rotate",
		    RR "Content-Type: application/json\r\n", "{\"names\": 1}",
		    &r), 400);
		resp_free(&r);
		assert_int_equal(request(0, "POST", "/v1/admin/rotate", RR,
		    "{\"all\": true}", &r), 415);
		resp_free(&r);
		assert_int_equal(request(0, "POST", "/v1/admin/reload-config",
		    RR, "", &r), 200);
		resp_free(&r);
		assert_int_equal(__atomic_load_n(&reload_calls,
		    __ATOMIC_SEQ_CST), 1);
		assert_int_equal(request(0, "GET", "/v1/admin/reload-config",
		    RR, NULL, &r), 405);
		resp_free(&r);
		/* Another uid: not admin, and reads nothing. */
		assert_int_equal(get_as_nobody("/v1/admin/status"), 3);
		assert_int_equal(get_as_nobody("/v1/credentials/web/cert.pem"),
		    3);
		log = log_text();
		assert_non_null(strstr(log, "audit: admin status by uid=65534"));
		assert_non_null(strstr(log, "audit: credential_file web/cert.pem "
		    "by uid=65534"));
		free(log);
	} else {
		/* Not root and not in admin_group (unset): refused. */
		assert_int_equal(request(0, "GET", "/v1/admin/status", RR, NULL,
		    &r), 403);
		resp_free(&r);
	}
}

static void
test_audit_lines(void **state)
{
	char *log = log_text(), want[128];

	snprintf(want, sizeof(want), "audit: credential_file web/cert.pem gen "
	    "%llu by uid=%u pid=%d exe=", 1ULL, (unsigned)getuid(),
	    (int)getpid());
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "audit: credential_file other/cert.pem by "
	    "uid="));
	assert_non_null(strstr(log, "denied"));
	assert_non_null(strstr(log, "audit: authz GET /payments/x?y=1 by "
	    "iss=https://rotatord.test sub=alice ok route=payments"));
	assert_non_null(strstr(log, "audit: token aud=payments scope=agent:read "
	    "by uid="));
	/* Never a token or key. */
	assert_null(strstr(log, "good.alice"));
	assert_null(strstr(log, "minted-for"));
	assert_null(strstr(log, "SECRET"));
	free(log);
}

static void
test_big_header(void **state)
{
	struct resp r;
	size_t n = 1 << 20;
	char *req;
	int fd, st;

	req = malloc(n + 128);
	n = (size_t)sprintf(req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'a', 1 << 20);
	n += 1 << 20;
	memcpy(req + n, "\r\n\r\n", 4);
	n += 4;
	fd = connect_to(0, NULL);
	send_all(fd, req, n);
	st = read_resp(fd, &r, 3000);
	assert_true(st == 0 || st == 413 || st == 431 || st == 400);
	resp_free(&r);
	close(fd);
	free(req);
	/* Still serving. */
	assert_int_equal(get(0, "/healthz", NULL, &r), 200);
	resp_free(&r);
}

static void
test_connection_limits(void **state)
{
	struct resp r;
	int fds[8], extra, i, st;

	/* 8 keep-alive connections on the unix socket: the limit. */
	for (i = 0; i < 8; i++) {
		fds[i] = connect_to(0, NULL);
		assert_true(fds[i] >= 0);
		send_all(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
		assert_int_equal(read_resp(fds[i], &r, 2000), 200);
		resp_free(&r);
	}
	extra = connect_to(0, NULL);
	if (extra >= 0) {
		send_all(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
		st = read_resp(extra, &r, 300);
		/* Refused: closed, or left waiting in the backlog. */
		assert_true(st == 0 || st == -1);
		resp_free(&r);
	}
	close(fds[0]);
	if (extra >= 0) {
		st = read_resp(extra, &r, 2000);
		/* Once a slot frees, a queued connection is served. */
		assert_true(st == 200 || st == 0);
		resp_free(&r);
		close(extra);
	}
	for (i = 1; i < 8; i++)
		close(fds[i]);

	/* Per-IP on TCP: 4. */
	for (i = 0; i < 4; i++) {
		fds[i] = connect_to(1, NULL);
		send_all(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
		assert_int_equal(read_resp(fds[i], &r, 2000), 200);
		resp_free(&r);
	}
	extra = connect_to(1, NULL);
	assert_true(extra >= 0);
	send_all(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
	assert_int_equal(read_resp(extra, &r, 2000), 0);
	close(extra);
	for (i = 0; i < 4; i++)
		close(fds[i]);
	usleep(100 * 1000);
	assert_int_equal(get(1, "/healthz", NULL, &r), 200);
	resp_free(&r);
}

static void
test_idle_timeout(void **state)
{
	struct resp r;
	int64_t t0 = ut_mono_ms();
	int fd;

	fd = connect_to(0, NULL);
	assert_int_equal(read_resp(fd, &r, 5000), 0);	/* closed by the server */
	assert_true(ut_mono_ms() - t0 < 2000 + 1500);
	close(fd);
}

static void
do_configure(void *arg)
{
	*(int *)arg = server_configure(F.srv, F.cfg2);
}

static void
do_configure_back(void *arg)
{
	*(int *)arg = server_configure(F.srv, F.cfg);
}

static void
test_configure(void **state)
{
	char sock2[PATH_MAX];
	struct resp r;
	struct stat st;
	int rc = -1, fd;
	char *body;

	/* A long poll on the old socket is answered when it is replaced. */
	fd = long_poll("/v1/credentials/web/cert.pem", creds[0].gen, "5s");
	assert_int_equal(read_resp(fd, &r, 200), -1);
	ut_snprintf(sock2, sizeof(sock2), "%s/api2.sock", F.dir);
	F.cfg2 = load_cfg(sock2, 8192);
	on_loop(do_configure, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(read_resp(fd, &r, 2000), 304);
	resp_free(&r);
	close(fd);
	assert_int_not_equal(lstat(F.sock, &st), 0);
	assert_int_equal(lstat(sock2, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	fd = connect_to(0, sock2);
	assert_true(fd >= 0);
	send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
	assert_int_equal(read_resp(fd, &r, 2000), 200);
	resp_free(&r);
	close(fd);
	/* The new max_body (8 KiB) applies; TCP was kept as it was. */
	body = malloc(4097);
	memset(body, 'a', 4096);
	memcpy(body, TX "&audience=payments&x=", strlen(TX "&audience=payments&x="));
	body[4096] = '\0';
	assert_int_equal(request(1, "POST", "/v1/token", RR FORM_CT
	    "Authorization: Bearer good.alice.1\r\n", body, &r), 200);
	resp_free(&r);
	free(body);
	/* And back. */
	on_loop(do_configure_back, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(lstat(F.sock, &st), 0);
	assert_int_not_equal(lstat(sock2, &st), 0);
	assert_int_equal(get(0, "/healthz", NULL, &r), 200);
	resp_free(&r);
}

/* server_new refuses to replace what is not a stale socket. */
static void
test_socket_file(void **state)
{
	char path[PATH_MAX];
	struct sockaddr_un sa;
	struct config *c;
	struct server *s = NULL;
	struct loop *l;
	struct stat st;
	int fd;

	ut_snprintf(path, sizeof(path), "%s/x.sock", F.dir);
	c = ut_config("[rotatord]\noutput_dir = %s/out\n"
	    "state_dir = %s/state\n[listen]\nunix = %s\n", F.dir, F.dir, path);
	assert_int_equal(loop_new(&l), 0);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	assert_int_equal(server_new(l, c, &fake_ops, &s), -EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);

	/* A stale socket (nobody listens) is replaced, and removed at the end. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ut_snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(server_new(l, c, &fake_ops, &s), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* A live one is not. */
	{
		struct server *s2 = NULL;

		assert_int_equal(server_new(l, c, &fake_ops, &s2), -EADDRINUSE);
	}
	server_free(s);
	assert_int_not_equal(lstat(path, &st), 0);
	loop_free(l);
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_and_404),
		cmocka_unit_test(test_rotatord_request_header),
		cmocka_unit_test(test_unix_list_and_read),
		cmocka_unit_test(test_whole_credential),
		cmocka_unit_test(test_etag_304),
		cmocka_unit_test(test_long_poll_notify),
		cmocka_unit_test(test_file_response_cache),
		cmocka_unit_test(test_long_poll_expiry),
		cmocka_unit_test(test_long_poll_limit),
		cmocka_unit_test(test_token_unix),
		cmocka_unit_test(test_token_body_limit),
		cmocka_unit_test(test_token_tcp),
		cmocka_unit_test(test_authz),
		cmocka_unit_test(test_token_cache),
		cmocka_unit_test(test_key_hold),
		cmocka_unit_test(test_verify_concurrent),
		cmocka_unit_test(test_metrics_readyz_discovery),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_audit_lines),
		cmocka_unit_test(test_big_header),
		cmocka_unit_test(test_connection_limits),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_configure),
		cmocka_unit_test(test_socket_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
