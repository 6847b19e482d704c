/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/sources/upstream.c against an OIDC provider that
 * this test serves on 127.0.0.1 from its own loop (util_httpd.c): the
 * client under test and the server are callbacks of one loop, so the
 * test says in plain variables what the provider answers, holds a
 * request as long as it likes and needs no threads.
 *
 * Token requests (discovery first, then cached; client_secret_basic and
 * private_key_jwt; errors and transport failures with their reasons),
 * trusted issuers' JWKS (fetched at configure time, refetched for an
 * unknown kid at most once per cooldown, retried after a failure) and
 * outages that keep the last good key set, limits, and reconfiguration
 * (caches kept for an unchanged url, requests in flight cancelled without
 * their callbacks).  Waits are for conditions with generous deadlines,
 * never sleeps; nothing asserts how long anything took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include <idp/b64.h>
#include <idp/jwk.h>
#include <idp/jwt.h>
#include <idp/oauth.h>

#include "config/config.h"
#include "core/loop.h"
#include "sources/upstream.h"
#include "util.h"

#define DEADLINE	30000		/* ms: against hangs only */
#define MAX_CFG		8
#define MAX_PATHS	16

/* What the provider answers, per request kind: a status, 0 to hang up. */
struct answer {
	int		 status;
	int		 hold;		/* keep the request (S.held) */
	const char	*body;		/* NULL: the normal document */
};

static struct {
	char			*dir;
	struct loop		*l;
	struct ut_httpd		*srv;
	struct upstream		*u;
	struct config		*cfg[MAX_CFG];
	size_t			 n_cfg;
	/* the provider */
	struct answer		 disc, jwks, token;
	char			*jwks_doc;	/* current key set */
	const char		*jwks_cc;	/* its Cache-Control, or NULL */
	struct ut_http_conn	*held;
	struct {
		char		 path[256];
		int		 n;
	} paths[MAX_PATHS];
	char			 token_req[16384];	/* head and body */
	/* what upstream reported */
	int			 n_keys_cb;
	int			 n_tok;
	int			 tok_rc;
	char			 tok_why[512];
	char			 tok_access[256];
	int64_t			 tok_expires_in;
} S;

/* ---- the provider -------------------------------------------------------- */

static int
served(const char *path)
{
	size_t i;

	for (i = 0; i < MAX_PATHS; i++)
		if (strcmp(S.paths[i].path, path) == 0)
			return S.paths[i].n;
	return 0;
}

static void
count_path(const char *path)
{
	size_t i;

	for (i = 0; i < MAX_PATHS; i++)
		if (S.paths[i].path[0] == '\0' ||
		    strcmp(S.paths[i].path, path) == 0) {
			ut_snprintf(S.paths[i].path, sizeof(S.paths[i].path),
			    "%s", path);
			S.paths[i].n++;
			return;
		}
	fail_msg("too many paths");
}

/* The issuer a path belongs to: "" or "/b" (a second issuer). */
static const char *
prefix_of(const char *path)
{
	return strncmp(path, "/b/", 3) == 0 ? "/b" : "";
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

static void
answer(struct ut_http_conn *c, const struct answer *a, const char *hdrs,
    const char *body)
{
	if (a->hold) {
		assert_null(S.held);
		S.held = c;
		return;
	}
	if (a->status == 0) {
		ut_http_hangup(c);
		return;
	}
	if (a->body != NULL)
		body = a->body;
	ut_http_reply(c, a->status, hdrs, body, strlen(body));
}

static void
provider(void *arg, struct ut_http_conn *c, const struct ut_http_req *req)
{
	const char *pfx = prefix_of(req->path);
	char doc[1024], hdrs[256];

	count_path(req->path);
	if (ends_with(req->path, "/.well-known/openid-configuration")) {
		const char *base = ut_httpd_url(S.srv, pfx);

		ut_snprintf(doc, sizeof(doc), "{\"issuer\":\"%s\","
		    "\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/jwks\","
		    "\"token_endpoint_auth_methods_supported\":"
		    "[\"client_secret_basic\",\"private_key_jwt\"]}", base, base,
		    base);
		answer(c, &S.disc, "Content-Type: application/json\r\n", doc);
	} else if (ends_with(req->path, "/jwks")) {
		ut_snprintf(hdrs, sizeof(hdrs), "Content-Type: application/json"
		    "\r\n%s%s%s", S.jwks_cc != NULL ? "Cache-Control: " : "",
		    S.jwks_cc != NULL ? S.jwks_cc : "", S.jwks_cc != NULL ?
		    "\r\n" : "");
		answer(c, &S.jwks, hdrs, S.jwks_doc);
	} else if (ends_with(req->path, "/token")) {
		ut_snprintf(S.token_req, sizeof(S.token_req),
		    "%s %s\r\n%s\r\n%s", req->method, req->path, req->head,
		    req->body);
		answer(c, &S.token, "Content-Type: application/json\r\n",
		    "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\","
		    "\"expires_in\":300,\"scope\":\"read\"}");
	} else {
		ut_http_json(c, 404, "{}");
	}
}

/* A key set of n new EC keys (JSON, free()); the kid of the first. */
static char *
make_jwks(size_t n, char kid[128])
{
	struct idp_jwks *set = idp_jwks_new();
	struct idp_key *k;
	char *pem, *json;
	size_t i, len;

	assert_non_null(set);
	for (i = 0; i < n; i++) {
		struct idp_key *pub = NULL;

		assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &k), 0);
		/* Public halves only, as a provider publishes them. */
		assert_int_equal(idp_key_public_pem(k, &pem, &len), 0);
		assert_int_equal(idp_key_from_pem(pem, len, &pub, NULL), 0);
		assert_int_equal(idp_key_set_alg(pub, IDP_ALG_ES256), 0);
		if (i == 0 && kid != NULL)
			ut_snprintf(kid, 128, "%s", idp_key_kid(pub));
		assert_int_equal(idp_jwks_add(set, pub), 0);
		free(pem);
		idp_key_free(k);
	}
	assert_int_equal(idp_jwks_dump(set, &json, &len), 0);
	idp_jwks_free(set);
	return json;
}

/* ---- fixture ------------------------------------------------------------- */

static void
on_keys(void *arg)
{
	S.n_keys_cb++;
}

static int
setup(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	signal(SIGPIPE, SIG_IGN);
	S.disc.status = S.jwks.status = S.token.status = 200;
	S.dir = ut_tmpdir("test-upstream", UT_TMP_TMP);
	assert_non_null(S.dir);
	assert_int_equal(loop_new(&S.l), 0);
	S.srv = ut_httpd_new(S.l, provider, NULL);
	assert_int_equal(upstream_new(S.l, &S.u), 0);
	upstream_on_keys(S.u, on_keys, NULL);
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	upstream_free(S.u);
	ut_httpd_free(S.srv);
	loop_free(S.l);
	for (i = 0; i < S.n_cfg; i++)
		config_free(S.cfg[i]);
	free(S.jwks_doc);
	ut_rm_rf(S.dir);
	free(S.dir);
	return 0;
}

/* Loads [rotatord] plus fmt's sections; returns the config. */
static struct config *load(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static struct config *
load(const char *fmt, ...)
{
	char *tail = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&tail, fmt, ap) >= 0);
	va_end(ap);
	assert_true(S.n_cfg < MAX_CFG);
	S.cfg[S.n_cfg] = ut_config("[rotatord]\noutput_dir = %s/out\n"
	    "state_dir = %s/state\n%s", S.dir, S.dir, tail);
	free(tail);
	return S.cfg[S.n_cfg++];
}

/* Binds the issuers of c; fails the test on an error. */
static void
bind_cfg(const struct config *c)
{
	struct idp_err err = { "" };

	if (upstream_configure(S.u, c, &err) != 0)
		fail_msg("upstream_configure: %s", err.msg);
}

/* An oauth issuer "i" at the provider, and its credential "o". */
#define OAUTH_INI \
	"[issuer \"i\"]\nurl = %s\nclient_id = rotatord\n" \
	"client_secret = s3cret\ntimeout = 5s\n" \
	"[credential \"o\"]\ntype = oauth\nissuer = i\nscope = read\n" \
	"audience = api\n"

/* A trusted issuer "t" at the provider (cooldown 1 s, the least). */
#define TRUST_INI \
	"[issuer \"t\"]\nurl = %s\ntrust = yes\naudience = rotatord\n" \
	"timeout = 5s\njwks_cooldown = 1s\n"

static int
p_int_at_least(void *arg)
{
	int *const *w = arg;

	return *w[0] >= *w[1];
}

/* Runs the loop until *counter >= n. */
static void
wait_count(int *counter, int n, const char *what)
{
	int *w[2] = { counter, &n };

	if (!ut_run_until(S.l, p_int_at_least, w, DEADLINE))
		fail_msg("%s: %d, not %d", what, *counter, n);
}

static int
p_held(void *arg)
{
	return S.held != NULL;
}

static int
p_held_gone(void *arg)
{
	return S.held != NULL && ut_http_gone(S.held);
}

/* ---- tokens -------------------------------------------------------------- */

static void
on_token(void *arg, const struct cfg_cred *cr, int rc,
    const struct idp_token *tok, const char *why)
{
	S.n_tok++;
	S.tok_rc = rc;
	ut_snprintf(S.tok_why, sizeof(S.tok_why), "%s", why != NULL ? why : "");
	S.tok_access[0] = '\0';
	if (rc == 0) {
		assert_null(why);
		ut_snprintf(S.tok_access, sizeof(S.tok_access), "%.*s",
		    (int)tok->access_token->len,
		    (const char *)tok->access_token->buf);
		S.tok_expires_in = tok->expires_in;
	} else {
		assert_null(tok);
		assert_non_null(why);
	}
}

/* Fetches a token for credential name of c and waits for the answer. */
static void
fetch(const struct config *c, const char *name)
{
	int n = S.n_tok + 1;

	assert_int_equal(upstream_fetch_token(S.u, config_find_cred(c, name),
	    on_token, NULL), 0);
	wait_count(&S.n_tok, n, "token callbacks");
}

static void
test_token(void **state)
{
	const struct upstream_stats *st;
	struct config *c;
	char basic[128], *enc;

	(void)state;
	c = load(OAUTH_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	/* Nothing is asked before a token is needed. */
	assert_int_equal(ut_httpd_requests(S.srv), 0);
	st = upstream_get_stats(S.u, "i");
	assert_non_null(st);
	assert_null(upstream_get_stats(S.u, "nope"));
	assert_null(upstream_keys(S.u, "i"));		/* not trusted */
	assert_int_equal(upstream_unknown_kid(S.u, "i", loop_now_wall()), 0);

	/* Discovery, then the token endpoint. */
	fetch(c, "o");
	assert_int_equal(S.tok_rc, 0);
	assert_string_equal(S.tok_access, "at-1");
	assert_int_equal(S.tok_expires_in, 300);
	assert_int_equal(served("/.well-known/openid-configuration"), 1);
	assert_int_equal(served("/token"), 1);
	assert_int_equal(st->discovery, 1);
	assert_int_equal(st->token, 1);
	assert_int_equal(st->failures, 0);
	assert_true(st->last_ok > 0);
	/* A form POST with client_secret_basic, scope and audience. */
	assert_int_equal(strncmp(S.token_req, "POST /token\r\n", 13), 0);
	assert_non_null(strcasestr(S.token_req, "\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\n"));
	enc = malloc(idp_b64_enc_len(15) + 1);
	idp_b64_encode("rotatord:s3cret", 15, enc);
	ut_snprintf(basic, sizeof(basic), "\r\nAuthorization: Basic %s\r\n", enc);
	free(enc);
	assert_non_null(strcasestr(S.token_req, basic));
	assert_non_null(strstr(S.token_req, "grant_type=client_credentials"));
	assert_non_null(strstr(S.token_req, "scope=read"));
	assert_non_null(strstr(S.token_req, "audience=api"));
	assert_null(strstr(S.token_req, "s3cret"));	/* only in the header */

	/* Discovery is cached: the next token needs one request. */
	fetch(c, "o");
	assert_int_equal(S.tok_rc, 0);
	assert_int_equal(served("/.well-known/openid-configuration"), 1);
	assert_int_equal(served("/token"), 2);
	assert_int_equal(st->token, 2);

	/* A credential of an issuer that is not bound. */
	{
		struct cfg_cred x = *config_find_cred(c, "o");

		x.issuer = NULL;
		assert_int_equal(upstream_fetch_token(S.u, &x, on_token, NULL),
		    -ENOENT);
	}
	assert_int_equal(S.n_tok, 2);
}

static void
test_token_errors(void **state)
{
	const struct upstream_stats *st;
	struct config *c;

	(void)state;
	c = load(OAUTH_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	st = upstream_get_stats(S.u, "i");

	/* An OAuth error answer: refused, with the provider's words. */
	S.token.status = 401;
	S.token.body = "{\"error\":\"invalid_client\",\"error_description\":"
	    "\"who are you\"}";
	fetch(c, "o");
	assert_int_equal(S.tok_rc, -EACCES);
	assert_non_null(strstr(S.tok_why, "token endpoint answered 401"));
	assert_non_null(strstr(S.tok_why, "invalid_client"));
	assert_int_equal(st->failures, 1);
	assert_non_null(strstr(st->last_error, "token: "));
	/* Not JSON. */
	S.token.status = 200;
	S.token.body = "<html>hello</html>";
	fetch(c, "o");
	assert_true(S.tok_rc < 0);
	assert_int_equal(st->failures, 2);
	/* A response without the token. */
	S.token.body = "{\"token_type\":\"Bearer\",\"expires_in\":5}";
	fetch(c, "o");
	assert_true(S.tok_rc < 0);
	assert_int_equal(served("/.well-known/openid-configuration"), 1);

	/* A transport failure: the endpoints may have moved; rediscovered. */
	S.token.status = 0;
	S.token.body = NULL;
	fetch(c, "o");
	assert_true(S.tok_rc < 0);
	assert_non_null(strstr(S.tok_why, "token endpoint: "));
	S.token.status = 200;
	fetch(c, "o");
	assert_int_equal(S.tok_rc, 0);
	assert_int_equal(served("/.well-known/openid-configuration"), 2);
	assert_int_equal(st->failures, 4);
	assert_int_equal(st->token, 5);
}

static void
test_discovery_errors(void **state)
{
	const struct upstream_stats *st;
	struct config *c;
	int n;

	(void)state;
	c = load(OAUTH_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	st = upstream_get_stats(S.u, "i");

	/* Every fetch waiting for the discovery fails with it, once asked. */
	S.disc.status = 503;
	n = S.n_tok;
	assert_int_equal(upstream_fetch_token(S.u, config_find_cred(c, "o"),
	    on_token, NULL), 0);
	assert_int_equal(upstream_fetch_token(S.u, config_find_cred(c, "o"),
	    on_token, NULL), 0);
	wait_count(&S.n_tok, n + 2, "token callbacks");
	assert_int_equal(S.tok_rc, -EPROTO);
	assert_string_equal(S.tok_why, "discovery: HTTP status 503");
	assert_int_equal(served("/.well-known/openid-configuration"), 1);
	assert_int_equal(served("/token"), 0);
	assert_int_equal(st->discovery, 1);
	assert_int_equal(st->failures, 1);
	assert_string_equal(st->last_error, "discovery: discovery: HTTP status "
	    "503");

	/* A document for another issuer. */
	S.disc.status = 200;
	S.disc.body = "{\"issuer\":\"http://127.0.0.1:1\",\"token_endpoint\":"
	    "\"http://127.0.0.1:1/token\",\"jwks_uri\":"
	    "\"http://127.0.0.1:1/k\"}";
	fetch(c, "o");
	assert_true(S.tok_rc < 0);
	assert_non_null(strstr(S.tok_why, "issuer mismatch"));
	/* Not JSON; far too big (a limit). */
	S.disc.body = "nope";
	fetch(c, "o");
	assert_true(S.tok_rc < 0);
	{
		char *big = malloc(2 << 20);

		assert_non_null(big);
		memset(big, ' ', (2 << 20) - 1);
		big[(2 << 20) - 1] = '\0';
		big[0] = '{';
		S.disc.body = big;
		fetch(c, "o");
		assert_true(S.tok_rc < 0);
		free(big);
	}
	/* Nobody there. */
	S.disc.status = 0;
	S.disc.body = NULL;
	fetch(c, "o");
	assert_true(S.tok_rc < 0);
	assert_non_null(strstr(S.tok_why, "discovery: "));
	/* Back: a token again. */
	S.disc.status = 200;
	fetch(c, "o");
	assert_int_equal(S.tok_rc, 0);
	assert_int_equal(served("/token"), 1);
}

static void
test_private_key_jwt(void **state)
{
	struct idp_key *k = NULL, *pub = NULL;
	struct idp_secret *pem = NULL;
	struct idp_jwks *set;
	struct idp_jws *jws = NULL;
	struct idp_err err = { "" };
	struct config *c;
	char path[4096], *ppem, *p, *end, *assertion;
	size_t len;

	(void)state;
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &k), 0);
	assert_int_equal(idp_key_to_pem(k, &pem), 0);
	ut_put(path, sizeof(path), S.dir, "client.pem", pem->buf, pem->len,
	    0600);
	c = load("[issuer \"i\"]\nurl = %s\nclient_id = rotatord\n"
	    "client_key = %s\nclient_key_id = key-1\n"
	    "[credential \"o\"]\ntype = oauth\nissuer = i\n",
	    ut_httpd_url(S.srv, ""), path);
	bind_cfg(c);
	fetch(c, "o");
	assert_int_equal(S.tok_rc, 0);
	assert_null(strcasestr(S.token_req, "\r\nAuthorization:"));
	assert_non_null(strstr(S.token_req, "client_assertion_type=urn%3Aietf%3A"
	    "params%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"));
	/* The assertion verifies with the client's public key. */
	p = strstr(S.token_req, "client_assertion=");
	assert_non_null(p);
	p += 17;
	end = p + strcspn(p, "&");
	assertion = strndup(p, (size_t)(end - p));
	assert_int_equal(idp_key_public_pem(k, &ppem, &len), 0);
	assert_int_equal(idp_key_from_pem(ppem, len, &pub, NULL), 0);
	assert_int_equal(idp_key_set_alg(pub, IDP_ALG_ES256), 0);
	assert_int_equal(idp_key_set_kid(pub, "key-1"), 0);
	set = idp_jwks_new();
	assert_int_equal(idp_jwks_add(set, pub), 0);
	assert_int_equal(idp_jws_verify(assertion, strlen(assertion), set, &jws,
	    &err), 0);
	assert_string_equal(json_string_value(json_object_get(jws->claims,
	    "iss")), "rotatord");
	assert_string_equal(json_string_value(json_object_get(jws->claims,
	    "sub")), "rotatord");
	assert_string_equal(json_string_value(json_object_get(jws->claims,
	    "aud")), ut_httpd_url(S.srv, "/token"));
	idp_jws_free(jws);
	idp_jwks_free(set);
	free(assertion);
	free(ppem);
	idp_secret_free(pem);
	idp_key_free(k);

	/* A key file that is gone: configure fails, the binding stays. */
	{
		struct config *c2 = load("[issuer \"other\"]\nurl = %s/b\n"
		    "client_id = x\nclient_key = %s\n",
		    ut_httpd_url(S.srv, ""), path);

		assert_int_equal(unlink(path), 0);
		assert_int_equal(upstream_configure(S.u, c2, &err), -ENOENT);
		assert_non_null(strstr(err.msg, "issuer other: client_key "));
		assert_null(upstream_get_stats(S.u, "other"));
		assert_non_null(upstream_get_stats(S.u, "i"));
		fetch(c, "o");
		assert_int_equal(S.tok_rc, 0);
	}
}

/* ---- trusted issuers: JWKS ----------------------------------------------- */

static int
p_keys_kid(void *arg)
{
	const struct idp_jwks *k = upstream_keys(S.u, "t");

	return k != NULL && idp_jwks_find(k, arg) != NULL;
}

/* Runs the loop until t's keys hold kid. */
static void
wait_kid(const char *kid)
{
	if (!ut_run_until(S.l, p_keys_kid, (void *)kid, DEADLINE))
		fail_msg("no key %s (last error: %s)", kid,
		    upstream_get_stats(S.u, "t")->last_error);
}

static void
test_jwks_outage_keeps_keys(void **state)
{
	const struct upstream_stats *st;
	const struct idp_jwks *keys;
	char kid1[128], kid2[128];
	struct config *c;
	int64_t now = loop_now_wall();
	uint64_t f;
	int n;

	(void)state;
	S.jwks_doc = make_jwks(2, kid1);
	c = load(TRUST_INI, ut_httpd_url(S.srv, ""));
	/* A trusted issuer's keys are fetched at once. */
	bind_cfg(c);
	wait_count(&S.n_keys_cb, 1, "key callbacks");
	wait_kid(kid1);
	keys = upstream_keys(S.u, "t");
	assert_int_equal(idp_jwks_count(keys), 2);
	st = upstream_get_stats(S.u, "t");
	assert_int_equal(st->discovery, 1);
	assert_int_equal(st->jwks, 1);
	assert_int_equal(st->failures, 0);

	/*
	 * The provider fails: the last good set stays, each time.  (A failed
	 * fetch is retried after the 1 s cooldown too: on a slow machine
	 * that retry may come between the steps, so failures are counted
	 * from what they were.)
	 */
	S.jwks.status = 503;
	n = S.n_keys_cb;
	f = st->failures;
	assert_int_equal(upstream_unknown_kid(S.u, "t", now), 1);
	wait_count(&S.n_keys_cb, n + 1, "key callbacks");
	assert_ptr_equal(upstream_keys(S.u, "t"), keys);
	assert_true(st->failures > f);
	assert_string_equal(st->last_error, "jwks: HTTP status 503");
	/* Garbage, a hang-up, a set over the limit (64 keys): the same. */
	S.jwks.status = 200;
	S.jwks.body = "{\"keys\":[{\"kty\":\"nope\"}";
	n = S.n_keys_cb;
	f = st->failures;
	assert_int_equal(upstream_unknown_kid(S.u, "t", now + 1000), 1);
	wait_count(&S.n_keys_cb, n + 1, "key callbacks");
	assert_ptr_equal(upstream_keys(S.u, "t"), keys);
	assert_true(st->failures > f);
	S.jwks.status = 0;
	n = S.n_keys_cb;
	f = st->failures;
	assert_int_equal(upstream_unknown_kid(S.u, "t", now + 2000), 1);
	wait_count(&S.n_keys_cb, n + 1, "key callbacks");
	assert_ptr_equal(upstream_keys(S.u, "t"), keys);
	assert_true(st->failures > f);
	{
		char *many = make_jwks(65, NULL), *max;

		S.jwks.status = 200;
		S.jwks.body = many;
		n = S.n_keys_cb;
		f = st->failures;
		assert_int_equal(upstream_unknown_kid(S.u, "t", now + 3000), 1);
		wait_count(&S.n_keys_cb, n + 1, "key callbacks");
		assert_ptr_equal(upstream_keys(S.u, "t"), keys);
		assert_true(st->failures > f);
		/* 64 is fine. */
		max = make_jwks(64, kid2);
		S.jwks.body = max;
		assert_int_equal(upstream_unknown_kid(S.u, "t", now + 4000), 1);
		wait_kid(kid2);
		assert_int_equal(idp_jwks_count(upstream_keys(S.u, "t")), 64);
		free(max);
		free(many);
		S.jwks.body = NULL;
	}

	/* The provider rotates: an unknown kid brings the new set. */
	free(S.jwks_doc);
	S.jwks_doc = make_jwks(1, kid2);
	assert_int_equal(upstream_unknown_kid(S.u, "t", now + 5000), 1);
	wait_kid(kid2);
	assert_null(idp_jwks_find(upstream_keys(S.u, "t"), kid1));
	assert_int_equal(served("/.well-known/openid-configuration"), 1);
	assert_true(st->last_ok > 0);
}

static void
test_jwks_retry_after_failure(void **state)
{
	const struct upstream_stats *st;
	char kid1[128], kid2[128];
	struct config *c;
	int n;

	(void)state;
	S.jwks_doc = make_jwks(1, kid1);
	c = load(TRUST_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	wait_kid(kid1);
	st = upstream_get_stats(S.u, "t");
	/* A failed refresh is retried after the cooldown, on its own. */
	S.jwks.status = 500;
	n = S.n_keys_cb;
	assert_int_equal(upstream_unknown_kid(S.u, "t", loop_now_wall()), 1);
	wait_count(&S.n_keys_cb, n + 1, "key callbacks");
	assert_true(st->jwks >= 2);
	free(S.jwks_doc);
	S.jwks_doc = make_jwks(1, kid2);
	S.jwks.status = 200;
	wait_kid(kid2);
	assert_true(st->jwks >= 3);
	assert_true(st->failures >= 1);
}

static void
test_unknown_kid_cooldown(void **state)
{
	const struct upstream_stats *st;
	char kid1[128];
	struct config *c;
	int64_t now = loop_now_wall();
	int n;

	(void)state;
	S.jwks_doc = make_jwks(1, kid1);
	c = load(TRUST_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	wait_kid(kid1);
	st = upstream_get_stats(S.u, "t");
	/* One refetch, and a second caller during it joins it. */
	n = S.n_keys_cb;
	assert_int_equal(upstream_unknown_kid(S.u, "t", now), 1);
	assert_int_equal(upstream_unknown_kid(S.u, "t", now), 1);
	wait_count(&S.n_keys_cb, n + 1, "key callbacks");
	assert_int_equal(st->jwks, 2);
	/* Within the cooldown: nothing. */
	assert_int_equal(upstream_unknown_kid(S.u, "t", now + 999), 0);
	assert_int_equal(st->jwks, 2);
	/* After it: one more. */
	assert_int_equal(upstream_unknown_kid(S.u, "t", now + 1000), 1);
	wait_count(&S.n_keys_cb, n + 2, "key callbacks");
	assert_int_equal(st->jwks, 3);
	/* Unknown issuers and untrusted ones: never. */
	assert_int_equal(upstream_unknown_kid(S.u, "nope", now + 5000), 0);
	assert_int_equal(served("/jwks"), 3);
}

static void
test_trusted_discovery_outage(void **state)
{
	const struct upstream_stats *st;
	char kid1[128];
	struct config *c;

	(void)state;
	/* The provider is down when rotatord starts. */
	S.disc.status = 503;
	S.jwks_doc = make_jwks(1, kid1);
	c = load(TRUST_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	wait_count(&S.n_keys_cb, 1, "key callbacks");
	st = upstream_get_stats(S.u, "t");
	assert_null(upstream_keys(S.u, "t"));
	assert_int_equal(st->failures, 1);
	assert_int_equal(served("/jwks"), 0);
	/* It comes back: the keys come without a caller asking. */
	S.disc.status = 200;
	wait_kid(kid1);
	assert_true(st->discovery >= 2);
}

/* ---- reconfiguration ----------------------------------------------------- */

static int tok_cancelled;

static void
on_token_never(void *arg, const struct cfg_cred *cr, int rc,
    const struct idp_token *tok, const char *why)
{
	tok_cancelled++;
}

static void
test_reconfigure(void **state)
{
	const struct idp_jwks *keys;
	char kid1[128], kid2[128];
	struct config *c1, *c2, *c3;
	struct idp_err err = { "" };

	(void)state;
	S.jwks_doc = make_jwks(1, kid1);
	c1 = load(TRUST_INI OAUTH_INI, ut_httpd_url(S.srv, ""),
	    ut_httpd_url(S.srv, ""));
	bind_cfg(c1);
	wait_kid(kid1);
	fetch(c1, "o");
	keys = upstream_keys(S.u, "t");
	assert_int_equal(served("/.well-known/openid-configuration"), 2);

	/* The same urls: discovery and keys kept, nothing asked again. */
	c2 = load(TRUST_INI OAUTH_INI "[issuer \"new\"]\nurl = %s/b\n",
	    ut_httpd_url(S.srv, ""), ut_httpd_url(S.srv, ""),
	    ut_httpd_url(S.srv, ""));
	bind_cfg(c2);
	assert_ptr_equal(upstream_keys(S.u, "t"), keys);
	assert_int_equal(upstream_get_stats(S.u, "t")->jwks, 1);
	fetch(c2, "o");
	assert_int_equal(S.tok_rc, 0);
	assert_int_equal(served("/.well-known/openid-configuration"), 2);
	assert_int_equal(upstream_get_stats(S.u, "i")->token, 2);

	/* A request in flight is cancelled by a reconfiguration, silently. */
	S.token.hold = 1;
	assert_int_equal(upstream_fetch_token(S.u, config_find_cred(c2, "o"),
	    on_token_never, NULL), 0);
	assert_true(ut_run_until(S.l, p_held, NULL, DEADLINE));
	bind_cfg(c2);
	assert_true(ut_run_until(S.l, p_held_gone, NULL, DEADLINE));
	ut_http_hangup(S.held);
	S.held = NULL;
	S.token.hold = 0;
	assert_int_equal(tok_cancelled, 0);

	/* Another url: fetched again from there; a removed issuer is gone. */
	free(S.jwks_doc);
	S.jwks_doc = make_jwks(1, kid2);
	c3 = load(TRUST_INI, ut_httpd_url(S.srv, "/b"));
	bind_cfg(c3);
	wait_kid(kid2);
	assert_int_equal(served("/b/.well-known/openid-configuration"), 1);
	assert_int_equal(served("/b/jwks"), 1);
	assert_null(upstream_get_stats(S.u, "i"));
	assert_null(upstream_get_stats(S.u, "new"));
	assert_int_equal(upstream_get_stats(S.u, "t")->jwks, 1);

	/* More issuers than it takes: refused, the binding stays. */
	{
		char *ini = strdup(""), *next;
		struct config *big;
		int i;

		for (i = 0; i < 65; i++) {
			next = ut_asprintf("%s[issuer \"x%d\"]\n"
			    "url = https://x%d.test\n", ini, i, i);
			free(ini);
			ini = next;
		}
		big = load("%s", ini);
		free(ini);
		assert_int_equal(upstream_configure(S.u, big, &err), -E2BIG);
		assert_non_null(upstream_get_stats(S.u, "t"));
		assert_null(upstream_get_stats(S.u, "x0"));
	}
	assert_int_equal(tok_cancelled, 0);
}

static void
test_reconfigure_during_refresh(void **state)
{
	const struct upstream_stats *st;
	char kid1[128], kid2[128];
	struct config *c;
	int n;

	(void)state;
	S.jwks_doc = make_jwks(1, kid1);
	c = load(TRUST_INI, ut_httpd_url(S.srv, ""));
	bind_cfg(c);
	wait_kid(kid1);
	st = upstream_get_stats(S.u, "t");
	/* A failure: the retry comes from the refresh timer... */
	S.jwks.status = 500;
	n = S.n_keys_cb;
	assert_int_equal(upstream_unknown_kid(S.u, "t", loop_now_wall()), 1);
	wait_count(&S.n_keys_cb, n + 1, "key callbacks");
	/* ...and is held when it comes. */
	S.jwks.status = 200;
	S.jwks.hold = 1;
	assert_true(ut_run_until(S.l, p_held, NULL, DEADLINE));
	/* A reconfiguration cancels it; the refresh must not end there. */
	S.jwks.hold = 0;
	free(S.jwks_doc);
	S.jwks_doc = make_jwks(1, kid2);
	bind_cfg(c);
	assert_true(ut_run_until(S.l, p_held_gone, NULL, DEADLINE));
	ut_http_hangup(S.held);
	S.held = NULL;
	wait_kid(kid2);
	assert_true(st->jwks >= 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_discovery_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_private_key_jwt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_jwks_outage_keeps_keys,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwks_retry_after_failure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_kid_cooldown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_trusted_discovery_outage,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure_during_refresh,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
