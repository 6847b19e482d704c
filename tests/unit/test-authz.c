/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/api/authz.c: tables of {caller, request, expected answer}
 * against configs read with config_load_buf() from the text below, so the
 * rules are tested as a user writes them.  Covers deny by default, the
 * union over matching [client] sections, unix selectors (uid, primary and
 * supplementary groups, both together), bearer selectors (issuer, subject,
 * claims as strings, arrays, booleans and numbers), POST /v1/token lanes,
 * [route] matching (longest prefix, query stripped, paths not in normal
 * form refused, methods, issuer, audience of signer tokens, scope vs scp,
 * claims) and the admin check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/authz.h"
#include "config/config.h"
#include "util.h"

static const char conf_text[] =
	"[signer \"workload\"]\n"
	"issuer = https://rotatord.internal\n"
	"[issuer \"okta\"]\n"
	"url = https://okta.example\n"
	"trust = yes\n"
	"audience = rotatord\n"
	"[issuer \"keycloak\"]\n"
	"url = https://kc.example/realms/x\n"
	"trust = yes\n"
	"audience = rotatord\n"
	"[credential \"nginx-tls\"]\ntype = secret\n"
	"[credential \"tickets\"]\ntype = secret\n"
	"[credential \"both\"]\ntype = secret\n"
	"[credential \"payments-token\"]\ntype = secret\n"
	"[credential \"kc-cred\"]\ntype = secret\n"
	"[credential \"unlisted\"]\ntype = secret\n"
	"[listen]\n"
	"admin_group = 4000\n"
	"[client \"web\"]\n"
	"user = 33\n"
	"allow = nginx-tls\n"
	"[client \"web-group\"]\n"
	"group = 2000\n"
	"allow = tickets\n"
	"[client \"web-again\"]\n"		/* union: web gets tickets too */
	"user = 33\n"
	"allow = tickets\n"
	"[client \"both\"]\n"			/* user AND group */
	"user = 1000\n"
	"group = 3000\n"
	"allow = both\n"
	"[client \"agent\"]\n"
	"issuer = okta\n"
	"claim = groups=payments\n"
	"allow = payments-token\n"
	"token_audiences = payments\n"
	"token_scopes = payments.read\n"
	"[client \"agent-7\"]\n"
	"issuer = okta\n"
	"subject = agent-7\n"
	"metrics = yes\n"
	"token_audiences = orders\n"
	"token_scopes = orders.read, payments.write\n"
	"[client \"kc\"]\n"
	"issuer = keycloak\n"
	"claim = email_verified=true, level=42\n"
	"allow = kc-cred\n"
	"[route \"payments\"]\n"
	"prefix = /payments/\n"
	"methods = GET, POST\n"
	"issuer = okta\n"
	"scope = payments.read\n"
	"claim = groups=payments\n"
	"[route \"payments-admin\"]\n"
	"prefix = /payments/admin/\n"
	"scope = payments.read, payments.admin\n"
	"[route \"public\"]\n"
	"prefix = /public\n"
	"[route \"internal\"]\n"
	"prefix = /internal/\n"
	"issuer = workload\n"
	"audience = internal\n";

/* Callers, by name; bearer claims as JSON text. */
static const gid_t supp_2000[] = { 100, 2000 };
static const gid_t supp_3000[] = { 3000 };
static const gid_t supp_4000[] = { 10, 4000 };

static struct caller_def {
	const char		*name;
	enum authz_kind		 kind;
	uid_t			 uid;
	gid_t			 gid;
	const gid_t		*groups;
	size_t			 n_groups;
	const char		*issuer;
	const char		*subject;
	const char		*claims;
	struct authz_caller	 who;	/* built in setup */
	json_t			*json;
} callers[] = {
	{ "root", AUTHZ_UNIX, 0, 0, NULL, 0, NULL, NULL, NULL, { 0 }, NULL },
	{ "www", AUTHZ_UNIX, 33, 33, NULL, 0, NULL, NULL, NULL, { 0 }, NULL },
	{ "other", AUTHZ_UNIX, 1234, 1234, NULL, 0, NULL, NULL, NULL, { 0 },
	    NULL },
	{ "g2000", AUTHZ_UNIX, 1234, 2000, NULL, 0, NULL, NULL, NULL, { 0 },
	    NULL },
	{ "supp2000", AUTHZ_UNIX, 1234, 1234, supp_2000, 2, NULL, NULL, NULL,
	    { 0 }, NULL },
	{ "u1000g3000", AUTHZ_UNIX, 1000, 3000, NULL, 0, NULL, NULL, NULL,
	    { 0 }, NULL },
	{ "u1000supp3000", AUTHZ_UNIX, 1000, 1000, supp_3000, 1, NULL, NULL,
	    NULL, { 0 }, NULL },
	{ "u1000", AUTHZ_UNIX, 1000, 1000, NULL, 0, NULL, NULL, NULL, { 0 },
	    NULL },
	{ "u1001g3000", AUTHZ_UNIX, 1001, 3000, NULL, 0, NULL, NULL, NULL,
	    { 0 }, NULL },
	{ "admin-supp", AUTHZ_UNIX, 500, 500, supp_4000, 2, NULL, NULL, NULL,
	    { 0 }, NULL },
	{ "admin-primary", AUTHZ_UNIX, 501, 4000, NULL, 0, NULL, NULL, NULL,
	    { 0 }, NULL },
	{ "okta-pay", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "alice",
	    "{\"groups\": [\"x\", \"payments\"], \"scope\": \"openid "
	    "payments.read\"}", { 0 }, NULL },
	{ "okta-pay-str", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "bob",
	    "{\"groups\": \"payments\", \"scp\": [\"payments.read\"]}", { 0 },
	    NULL },
	{ "okta-pay-scpstr", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "carol",
	    "{\"groups\": [\"payments\"], \"scp\": \"a payments.read\"}", { 0 },
	    NULL },
	{ "okta-noscope", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "dave",
	    "{\"groups\": [\"payments\"], \"scope\": \"payments.readx "
	    "payments\"}", { 0 }, NULL },
	{ "okta-orders", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "erin",
	    "{\"groups\": [\"orders\"], \"scope\": \"payments.read\"}", { 0 },
	    NULL },
	{ "okta-admin", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "frank",
	    "{\"groups\": [\"payments\"], \"scope\": \"payments.read "
	    "payments.admin\"}", { 0 }, NULL },
	{ "kc-agent7", AUTHZ_BEARER, 0, 0, NULL, 0, "keycloak", "agent-7",
	    "{}", { 0 }, NULL },
	{ "okta-agent7", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "agent-7",
	    "{\"groups\": [\"payments\"]}", { 0 }, NULL },
	{ "kc-pay", AUTHZ_BEARER, 0, 0, NULL, 0, "keycloak", "alice",
	    "{\"groups\": [\"payments\"], \"scope\": \"payments.read\", "
	    "\"email_verified\": true, \"level\": 42}", { 0 }, NULL },
	{ "kc-strings", AUTHZ_BEARER, 0, 0, NULL, 0, "keycloak", "g",
	    "{\"email_verified\": \"true\", \"level\": [41, 42]}", { 0 }, NULL },
	{ "kc-false", AUTHZ_BEARER, 0, 0, NULL, 0, "keycloak", "h",
	    "{\"email_verified\": false, \"level\": 42}", { 0 }, NULL },
	{ "kc-real", AUTHZ_BEARER, 0, 0, NULL, 0, "keycloak", "i",
	    "{\"email_verified\": true, \"level\": 42.0}", { 0 }, NULL },
	{ "signer-int", AUTHZ_BEARER, 0, 0, NULL, 0, "workload", "svc",
	    "{\"aud\": [\"x\", \"internal\"]}", { 0 }, NULL },
	{ "signer-other", AUTHZ_BEARER, 0, 0, NULL, 0, "workload", "svc",
	    "{\"aud\": \"other\"}", { 0 }, NULL },
	{ "bearer-sub0", AUTHZ_BEARER, 0, 0, NULL, 0, "okta", "0",
	    "{\"groups\": [\"payments\"]}", { 0 }, NULL },
};

static struct config *conf;

static const struct authz_caller *
caller(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(callers) / sizeof(callers[0]); i++)
		if (strcmp(callers[i].name, name) == 0)
			return &callers[i].who;
	fail_msg("no caller %s", name);
	return NULL;
}

static int
setup(void **state)
{
	json_error_t jerr;
	size_t i;

	(void)state;
	if (config_load_buf("authz.ini", conf_text, strlen(conf_text), stderr,
	    &conf) != 0)
		return -1;
	for (i = 0; i < sizeof(callers) / sizeof(callers[0]); i++) {
		struct caller_def *d = &callers[i];

		d->who.kind = d->kind;
		d->who.uid = d->uid;
		d->who.gid = d->gid;
		d->who.groups = d->groups;
		d->who.n_groups = d->n_groups;
		d->who.pid = 42;
		d->who.issuer = d->issuer;
		d->who.subject = d->subject;
		if (d->claims != NULL) {
			d->json = json_loads(d->claims, 0, &jerr);
			if (d->json == NULL) {
				fprintf(stderr, "%s: %s\n", d->name, jerr.text);
				return -1;
			}
		}
		d->who.claims = d->json;
	}
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(callers) / sizeof(callers[0]); i++) {
		json_decref(callers[i].json);
		callers[i].json = NULL;
	}
	config_free(conf);
	conf = NULL;
	return 0;
}

/* GET /v1/credentials/NAME */
static void
test_may_read(void **state)
{
	static const struct {
		const char	*who;
		const char	*cred;
		int		 want;
	} t[] = {
		{ "www", "nginx-tls", 1 },		/* user = 33 */
		{ "www", "tickets", 1 },		/* union with web-again */
		{ "www", "both", 0 },
		{ "www", "unlisted", 0 },
		{ "www", "no-such-cred", 0 },
		{ "root", "nginx-tls", 0 },		/* root is not a client */
		{ "root", "tickets", 0 },
		{ "other", "tickets", 0 },		/* deny by default */
		{ "other", "nginx-tls", 0 },
		{ "g2000", "tickets", 1 },		/* primary group */
		{ "supp2000", "tickets", 1 },		/* supplementary group */
		{ "supp2000", "nginx-tls", 0 },
		{ "u1000g3000", "both", 1 },		/* user AND group */
		{ "u1000supp3000", "both", 1 },
		{ "u1000", "both", 0 },			/* user, wrong group */
		{ "u1001g3000", "both", 0 },		/* group, wrong user */
		{ "okta-pay", "payments-token", 1 },	/* claim in an array */
		{ "okta-pay-str", "payments-token", 1 },/* claim as a string */
		{ "okta-orders", "payments-token", 0 },
		{ "okta-agent7", "payments-token", 1 },
		{ "kc-pay", "payments-token", 0 },	/* other issuer */
		{ "kc-pay", "kc-cred", 1 },		/* true and 42 */
		{ "kc-strings", "kc-cred", 1 },		/* "true" and [41, 42] */
		{ "kc-false", "kc-cred", 0 },
		{ "kc-real", "kc-cred", 1 },		/* 42.0 is 42 */
		{ "okta-pay", "nginx-tls", 0 },		/* bearer vs unix client */
		{ "signer-int", "payments-token", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (authz_may_read(conf, caller(t[i].who), t[i].cred) !=
		    t[i].want)
			fail_msg("row %zu: %s read %s: want %d", i, t[i].who,
			    t[i].cred, t[i].want);
	assert_int_equal(authz_may_read(conf, NULL, "tickets"), 0);
	assert_int_equal(authz_may_read(conf, caller("www"), NULL), 0);
}

/* POST /v1/token lanes. */
static void
test_may_mint(void **state)
{
	static const struct {
		const char		*who;
		const char		*aud[3];
		const char		*scope;
		enum authz_result	 want;
	} t[] = {
		{ "okta-pay", { "payments" }, "payments.read", AUTHZ_OK },
		{ "okta-pay", { "payments" }, NULL, AUTHZ_OK },
		{ "okta-pay", { "payments" }, "", AUTHZ_OK },
		{ "okta-pay", { "payments" }, "  payments.read  ", AUTHZ_OK },
		{ "okta-pay", { "orders" }, NULL, AUTHZ_BAD_TARGET },
		{ "okta-pay", { "payments" }, "payments.write", AUTHZ_BAD_SCOPE },
		{ "okta-pay", { "payments" }, "payments.read payments.write",
		    AUTHZ_BAD_SCOPE },
		{ "okta-pay", { NULL }, NULL, AUTHZ_BAD_TARGET },	/* none */
		/* agent-7 matches both agent and agent-7: the union. */
		{ "okta-agent7", { "payments", "orders" },
		    "payments.read orders.read payments.write", AUTHZ_OK },
		{ "okta-agent7", { "orders", "other" }, NULL, AUTHZ_BAD_TARGET },
		{ "okta-agent7", { "orders" }, "admin", AUTHZ_BAD_SCOPE },
		/* The same sub from another issuer is someone else. */
		{ "kc-agent7", { "orders" }, NULL, AUTHZ_DENIED },
		{ "okta-orders", { "payments" }, NULL, AUTHZ_DENIED },
		{ "www", { "payments" }, NULL, AUTHZ_BAD_TARGET },	/* no lanes */
		{ "other", { "payments" }, NULL, AUTHZ_DENIED },
		{ "root", { "payments" }, "payments.read", AUTHZ_DENIED },
		{ "kc-pay", { "payments" }, NULL, AUTHZ_BAD_TARGET },
		/* A scope token must match whole. */
		{ "okta-pay", { "payments" }, "payments.rea", AUTHZ_BAD_SCOPE },
		{ "okta-pay", { "payment" }, NULL, AUTHZ_BAD_TARGET },
	};
	size_t i, n;
	enum authz_result r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (n = 0; n < 3 && t[i].aud[n] != NULL; n++)
			;
		r = authz_may_mint(conf, caller(t[i].who), t[i].aud, n,
		    t[i].scope);
		if (r != t[i].want)
			fail_msg("row %zu: %s mint: got %d want %d", i, t[i].who,
			    r, t[i].want);
	}
	assert_int_equal(authz_may_mint(conf, NULL, t[0].aud, 1, NULL),
	    AUTHZ_DENIED);
	assert_int_equal(authz_may_mint(conf, caller("okta-pay"), NULL, 0,
	    NULL), AUTHZ_BAD_TARGET);
}

/* GET /v1/authz */
static void
test_route(void **state)
{
	static const struct {
		const char		*who;
		const char		*uri;
		const char		*method;
		enum authz_result	 want;
		const char		*route_or_why;	/* name, or in why */
	} t[] = {
		{ "okta-pay", "/payments/x", "GET", AUTHZ_OK, "payments" },
		{ "okta-pay", "/payments/x?debug=1&a=/public", "POST", AUTHZ_OK,
		    "payments" },
		{ "okta-pay", "/payments/", "GET", AUTHZ_OK, "payments" },
		{ "okta-pay", "/payments", "GET", AUTHZ_DENIED,
		    "no route for /payments" },
		{ "okta-pay", "/x", "GET", AUTHZ_DENIED, "no route for /x" },
		{ "okta-pay", "/payments/x", "DELETE", AUTHZ_DENIED,
		    "method DELETE not allowed on route payments" },
		{ "okta-pay", "/payments/x", "get", AUTHZ_DENIED,
		    "method get not allowed" },
		{ "okta-pay", "/payments/x", NULL, AUTHZ_DENIED, "no method" },
		{ "okta-pay-str", "/payments/x", "GET", AUTHZ_OK, "payments" },
		{ "okta-pay-scpstr", "/payments/x", "GET", AUTHZ_OK,
		    "payments" },
		{ "okta-noscope", "/payments/x", "GET", AUTHZ_DENIED,
		    "missing scope payments.read" },
		{ "okta-orders", "/payments/x", "GET", AUTHZ_DENIED,
		    "claim groups=payments not satisfied" },
		{ "kc-pay", "/payments/x", "GET", AUTHZ_DENIED,
		    "issuer okta required" },
		/* Longest prefix: the admin route, not payments. */
		{ "okta-pay", "/payments/admin/users", "DELETE", AUTHZ_DENIED,
		    "missing scope payments.admin" },
		{ "okta-admin", "/payments/admin/users", "DELETE", AUTHZ_OK,
		    "payments-admin" },
		{ "kc-pay", "/payments/admin", "GET", AUTHZ_DENIED,
		    "issuer okta required" },	/* no slash: payments */
		/* Plain string prefix: "/public" covers "/publicity". */
		{ "kc-false", "/public", "PATCH", AUTHZ_OK, "public" },
		{ "kc-false", "/publicity/x", NULL, AUTHZ_OK, "public" },
		{ "signer-int", "/public/?x", "GET", AUTHZ_OK, "public" },
		{ "signer-int", "/internal/a", "GET", AUTHZ_OK, "internal" },
		{ "signer-other", "/internal/a", "GET", AUTHZ_DENIED,
		    "audience internal required" },
		{ "okta-admin", "/internal/a", "GET", AUTHZ_DENIED,
		    "issuer workload required" },
		/* Paths not in normal form are refused, not normalised. */
		{ "okta-admin", "/public/../payments/admin/x", "GET",
		    AUTHZ_DENIED, ". or .. segment" },
		{ "okta-admin", "/public/%2e%2e/internal/a", "GET", AUTHZ_DENIED,
		    ". or .. segment" },
		{ "okta-admin", "/public/.", "GET", AUTHZ_DENIED,
		    ". or .. segment" },
		{ "okta-admin", "//internal/a", "GET", AUTHZ_DENIED,
		    "empty segment" },
		{ "okta-admin", "/public/%zz", "GET", AUTHZ_DENIED,
		    "bad %-escape" },
		{ "okta-admin", "/public/%4", "GET", AUTHZ_DENIED,
		    "bad %-escape" },
		{ "okta-admin", "/public/%00", "GET", AUTHZ_DENIED, "%00" },
		{ "okta-admin", "/public/a%0ab", "GET", AUTHZ_DENIED,
		    "control character" },
		{ "okta-admin", "/public/a#b", "GET", AUTHZ_DENIED, "fragment" },
		{ "okta-admin", "public/a", "GET", AUTHZ_DENIED,
		    "must start with '/'" },
		{ "okta-admin", "?a=/public", "GET", AUTHZ_DENIED,
		    "must start with '/'" },
		{ "okta-admin", "", "GET", AUTHZ_DENIED, "must start with '/'" },
		/* Escapes decode before matching: %70 is 'p'. */
		{ "okta-pay", "/%70ayments/x", "GET", AUTHZ_OK, "payments" },
		{ "kc-pay", "/%70ayments/x", "GET", AUTHZ_DENIED,
		    "issuer okta required" },
		{ "kc-pay", "/public/a%20b", "GET", AUTHZ_OK, "public" },
		/* A unix caller is never judged by routes. */
		{ "root", "/public/a", "GET", AUTHZ_DENIED,
		    "not a bearer-token caller" },
	};
	const char *route;
	char why[256];
	size_t i;
	enum authz_result r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		route = NULL;
		why[0] = '\0';
		r = authz_route(conf, t[i].uri, t[i].method, caller(t[i].who),
		    &route, why, sizeof(why));
		if (r != t[i].want)
			fail_msg("row %zu: %s %s %s: got %d (%s) want %d", i,
			    t[i].who, t[i].method ? t[i].method : "-",
			    t[i].uri, r, why, t[i].want);
		if (r == AUTHZ_OK) {
			if (route == NULL || strcmp(route, t[i].route_or_why) != 0)
				fail_msg("row %zu: route %s, want %s", i,
				    route ? route : "(null)", t[i].route_or_why);
		} else {
			if (route != NULL)
				fail_msg("row %zu: route set on denial", i);
			if (strstr(why, t[i].route_or_why) == NULL)
				fail_msg("row %zu: why \"%s\", want \"%s\"", i,
				    why, t[i].route_or_why);
		}
	}
}

static void
test_route_edges(void **state)
{
	struct config *c = NULL;
	char why[8], big[9000];
	const char *route = NULL;

	(void)state;
	/* A short why buffer is cut, not overrun; NULL why is fine. */
	assert_int_equal(authz_route(conf, "/x", "GET", caller("okta-pay"),
	    &route, why, sizeof(why)), AUTHZ_DENIED);
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_int_equal(authz_route(conf, "/x", "GET", caller("okta-pay"),
	    NULL, NULL, 0), AUTHZ_DENIED);
	assert_int_equal(authz_route(conf, "/public", "GET",
	    caller("okta-pay"), NULL, NULL, 0), AUTHZ_OK);
	assert_int_equal(authz_route(conf, NULL, "GET", caller("okta-pay"),
	    &route, NULL, 0), AUTHZ_DENIED);
	assert_int_equal(authz_route(conf, "/public", "GET", NULL, &route,
	    NULL, 0), AUTHZ_DENIED);
	assert_null(route);

	/* A path at the limit is refused; the query does not count. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "/public/", 8);
	assert_int_equal(authz_route(conf, big, "GET", caller("okta-pay"),
	    &route, NULL, 0), AUTHZ_DENIED);
	big[8100] = '?';
	assert_int_equal(authz_route(conf, big, "GET", caller("okta-pay"),
	    &route, NULL, 0), AUTHZ_OK);

	/* The reason quotes at most 64 bytes of the path, printable only. */
	{
		char w[256];

		memset(big, 'b', 200);
		memcpy(big, "/nope/\x7f", 7);
		big[200] = '\0';
		authz_route(conf, big, "GET", caller("okta-pay"), NULL, w,
		    sizeof(w));
		assert_non_null(strstr(w, "control character"));
		assert_non_null(strstr(w, "/nope/?bbb"));
		assert_non_null(strstr(w, "..."));
		assert_true(strlen(w) < 140);
	}

	/* No routes at all: every URI is refused. */
	c = ut_config("%s", "");
	assert_int_equal(authz_route(c, "/", "GET", caller("okta-pay"), NULL,
	    NULL, 0), AUTHZ_DENIED);
	assert_int_equal(authz_may_read(c, caller("root"), "x"), 0);
	assert_int_equal(authz_may_mint(c, caller("okta-pay"),
	    (const char *const[]){ "payments" }, 1, NULL), AUTHZ_DENIED);
	config_free(c);
}

/* /metrics: every unix caller, bearers only with metrics = yes. */
static void
test_may_metrics(void **state)
{
	static const struct {
		const char	*who;
		int		 want;
	} t[] = {
		{ "root", 1 },
		{ "www", 1 },
		{ "other", 1 },
		{ "okta-agent7", 1 },		/* [client "agent-7"] metrics */
		{ "kc-agent7", 0 },		/* same sub, other issuer */
		{ "okta-pay", 0 },		/* matches "agent", no metrics */
		{ "kc-pay", 0 },		/* same sub elsewhere: no */
		{ "bearer-sub0", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (authz_may_metrics(conf, caller(t[i].who)) != t[i].want)
			fail_msg("row %zu: %s metrics: want %d", i, t[i].who,
			    t[i].want);
	assert_int_equal(authz_may_metrics(conf, NULL), 0);
}

/* Admin API. */
static void
test_is_admin(void **state)
{
	static const struct {
		const char	*who;
		int		 want;
	} t[] = {
		{ "root", 1 },
		{ "admin-supp", 1 },		/* supplementary admin_group */
		{ "admin-primary", 1 },		/* primary admin_group */
		{ "www", 0 },
		{ "supp2000", 0 },
		{ "bearer-sub0", 0 },		/* bearers never */
		{ "okta-admin", 0 },
	};
	struct config *c = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (authz_is_admin(conf, caller(t[i].who)) != t[i].want)
			fail_msg("row %zu: %s admin: want %d", i, t[i].who,
			    t[i].want);
	/* Without admin_group only root is. */
	c = ut_config("%s", "");
	assert_int_equal(authz_is_admin(c, caller("root")), 1);
	assert_int_equal(authz_is_admin(c, caller("admin-supp")), 0);
	assert_int_equal(authz_is_admin(c, caller("admin-primary")), 0);
	assert_int_equal(authz_is_admin(c, NULL), 0);
	config_free(c);
}

static void
test_claim_matches(void **state)
{
	static const struct {
		const char	*claims;
		const char	*name;
		const char	*value;
		int		 want;
	} t[] = {
		{ "{\"g\": \"a\"}", "g", "a", 1 },
		{ "{\"g\": \"a\"}", "g", "b", 0 },
		{ "{\"g\": \"ab\"}", "g", "a", 0 },	/* no substring */
		{ "{\"g\": \"a b\"}", "g", "a", 0 },	/* no splitting */
		{ "{\"g\": [\"b\", \"a\"]}", "g", "a", 1 },
		{ "{\"g\": [[\"a\"]]}", "g", "a", 0 },	/* not nested */
		{ "{\"g\": {\"a\": 1}}", "g", "a", 0 },
		{ "{\"g\": []}", "g", "a", 0 },
		{ "{\"g\": null}", "g", "null", 0 },
		{ "{\"g\": true}", "g", "true", 1 },
		{ "{\"g\": true}", "g", "yes", 0 },
		{ "{\"g\": false}", "g", "false", 1 },
		{ "{\"g\": 42}", "g", "42", 1 },
		{ "{\"g\": 42}", "g", "042", 0 },	/* not a JSON number */
		{ "{\"g\": 42}", "g", "42.0", 1 },	/* numbers by value */
		{ "{\"g\": 42}", "g", "4.2e1", 1 },
		{ "{\"g\": 42}", "g", "0x2a", 0 },
		{ "{\"g\": 42}", "g", "+42", 0 },
		{ "{\"g\": 42}", "g", "42 ", 0 },
		{ "{\"g\": 42.0}", "g", "42", 1 },
		{ "{\"g\": 9007199254740993}", "g", "9007199254740993", 1 },
		{ "{\"g\": 9007199254740993}", "g", "9007199254740992", 0 },
		{ "{\"g\": \"42\"}", "g", "42", 1 },	/* a string "42" */
		{ "{\"g\": 0}", "g", "-0", 1 },
		{ "{\"g\": 1}", "g", "1.", 0 },
		{ "{\"g\": 1}", "g", "1e", 0 },
		{ "{\"g\": -7}", "g", "-7", 1 },
		{ "{\"g\": 1.5}", "g", "1.5", 1 },
		{ "{\"g\": 1.5}", "g", "1.50", 1 },
		{ "{\"g\": 1.5}", "g", "1.5x", 0 },
		{ "{\"g\": 1.5}", "g", " 1.5", 0 },
		{ "{\"g\": [1, true, \"x\"]}", "g", "true", 1 },
		{ "{\"g\": \"a\\u0000b\"}", "g", "a", 0 },	/* embedded NUL */
		{ "{\"G\": \"a\"}", "g", "a", 0 },	/* names are exact */
		{ "{}", "g", "a", 0 },
		{ "[\"g\"]", "g", "g", 0 },		/* not an object */
	};
	json_error_t jerr;
	json_t *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		j = json_loads(t[i].claims, JSON_ALLOW_NUL, &jerr);
		assert_non_null(j);
		if (authz_claim_matches(j, t[i].name, t[i].value) != t[i].want)
			fail_msg("row %zu: %s %s=%s: want %d", i, t[i].claims,
			    t[i].name, t[i].value, t[i].want);
		json_decref(j);
	}
	assert_int_equal(authz_claim_matches(NULL, "g", "a"), 0);
}

/* A [client] that selects on every bearer key at once: all must hold. */
static void
test_client_matches_all(void **state)
{
	static const char text[] =
	    "[issuer \"okta\"]\nurl = https://okta.example\ntrust = yes\n"
	    "audience = r\n"
	    "[client \"c\"]\nissuer = okta\nsubject = alice\n"
	    "claim = groups=payments, groups=x\n";
	static const struct {
		const char	*who;
		int		 want;
	} t[] = {
		{ "okta-pay", 1 },	/* okta, alice, groups has both */
		{ "okta-pay-str", 0 },	/* bob */
		{ "kc-pay", 0 },	/* keycloak */
		{ "okta-orders", 0 },
		{ "root", 0 },
	};
	struct config *c = NULL;
	size_t i;

	(void)state;
	c = ut_config("%s", text);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (authz_client_matches(c->clients[0], caller(t[i].who)) !=
		    t[i].want)
			fail_msg("row %zu: %s: want %d", i, t[i].who, t[i].want);
	assert_int_equal(authz_client_matches(NULL, caller("root")), 0);
	assert_int_equal(authz_client_matches(c->clients[0], NULL), 0);
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_may_read),
		cmocka_unit_test(test_may_mint),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_route_edges),
		cmocka_unit_test(test_may_metrics),
		cmocka_unit_test(test_is_admin),
		cmocka_unit_test(test_claim_matches),
		cmocka_unit_test(test_client_matches_all),
	};

	return cmocka_run_group_tests_name("authz", tests, setup, teardown);
}
