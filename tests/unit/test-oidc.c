/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OIDC discovery parsing and the JWKS cache policy: the good document,
 * issuer exactness (a trailing slash is a mismatch), endpoint scheme
 * policy (no http endpoint for an https issuer), hostile JSON
 * (duplicates, wrong types, size), the well-known URL, Cache-Control
 * parsing and the unknown-kid cooldown.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <idp/jwk.h>
#include <idp/oidc.h>

#define ISS	"https://idp.example.com/oauth2/default"

static const char good_doc[] =
    "{\"issuer\":\"" ISS "\","
    "\"authorization_endpoint\":\"" ISS "/v1/authorize\","
    "\"token_endpoint\":\"" ISS "/v1/token\","
    "\"jwks_uri\":\"" ISS "/v1/keys\","
    "\"token_endpoint_auth_methods_supported\":[\"client_secret_basic\","
    "\"client_secret_post\",\"private_key_jwt\"],"
    "\"grant_types_supported\":[\"client_credentials\","
    "\"urn:ietf:params:oauth:grant-type:token-exchange\"],"
    "\"id_token_signing_alg_values_supported\":[\"RS256\"]}";

/* Parses doc (a C string) against ISS; returns rc, frees the result. */
static int
parse(const char *doc, const char *iss, int allow, struct idp_err *err)
{
	struct idp_discovery *d = NULL;
	int rc;

	rc = idp_discovery_parse(doc, strlen(doc), iss, allow, &d, err);
	if (rc == 0)
		assert_non_null(d);
	else
		assert_null(d);
	idp_discovery_free(d);
	return rc;
}

/* A document with the given token_endpoint and jwks_uri. */
static char *
doc_with(const char *iss, const char *te, const char *jwks)
{
	char *s;

	assert_true(asprintf(&s, "{\"issuer\":\"%s\",\"token_endpoint\":"
	    "\"%s\",\"jwks_uri\":\"%s\"}", iss, te, jwks) > 0);
	return s;
}

static void
test_good(void **state)
{
	struct idp_discovery *d = NULL;
	struct idp_err err;

	(void)state;
	assert_int_equal(idp_discovery_parse(good_doc, sizeof(good_doc) - 1,
	    ISS, 0, &d, &err), 0);
	assert_string_equal(d->issuer, ISS);
	assert_string_equal(d->token_endpoint, ISS "/v1/token");
	assert_string_equal(d->jwks_uri, ISS "/v1/keys");
	assert_int_equal(d->n_auth_methods, 3);
	assert_string_equal(d->auth_methods[2], "private_key_jwt");
	assert_int_equal(d->n_grant_types, 2);
	assert_string_equal(d->grant_types[0], "client_credentials");
	idp_discovery_free(d);
	idp_discovery_free(NULL);
}

static void
test_issuer_exact(void **state)
{
	struct idp_err err;
	char *doc;

	(void)state;
	/* Configured with a trailing slash, the document without. */
	assert_int_equal(parse(good_doc, ISS "/", 0, &err), -EACCES);
	assert_non_null(strstr(err.msg, "issuer mismatch: discovery says "
	    ISS ", configured " ISS "/"));
	/* And the other way round. */
	doc = doc_with(ISS "/", ISS "/t", ISS "/k");
	assert_int_equal(parse(doc, ISS, 0, &err), -EACCES);
	free(doc);
	/* Case and scheme differences are mismatches too. */
	assert_int_equal(parse(good_doc,
	    "https://IDP.example.com/oauth2/default", 0, &err), -EACCES);
	assert_int_equal(parse(good_doc,
	    "http://idp.example.com/oauth2/default", 1, &err), -EACCES);
	/* A hostile issuer is shown without control characters. */
	assert_int_equal(parse("{\"issuer\":\"https://x\\n\\u001b[31m\","
	    "\"token_endpoint\":\"https://x/t\",\"jwks_uri\":\"https://x/k\"}",
	    ISS, 0, &err), -EACCES);
	assert_null(strchr(err.msg, '\n'));
	assert_null(strchr(err.msg, 0x1b));
}

static void
test_endpoint_scheme(void **state)
{
	struct idp_discovery *d = NULL;
	struct idp_err err;
	char *doc;

	(void)state;
	/* http endpoints are refused unless loopback is allowed. */
	doc = doc_with(ISS, "http://idp.example.com/t", ISS "/k");
	assert_int_equal(parse(doc, ISS, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "token_endpoint"));
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);

	doc = doc_with(ISS, ISS "/t", "http://127.0.0.1:8080/keys");
	assert_int_equal(parse(doc, ISS, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "jwks_uri"));
	free(doc);

	/* http to 127.0.0.1 with the flag: allowed. */
	doc = doc_with("http://127.0.0.1:8080", "http://127.0.0.1:8080/t",
	    "http://127.0.0.1:8080/k");
	assert_int_equal(idp_discovery_parse(doc, strlen(doc),
	    "http://127.0.0.1:8080", 1, &d, &err), 0);
	assert_string_equal(d->jwks_uri, "http://127.0.0.1:8080/k");
	idp_discovery_free(d);
	assert_int_equal(parse(doc, "http://127.0.0.1:8080", 0, &err),
	    -EPROTO);
	free(doc);

	/* http://evil.example refused even with the flag. */
	doc = doc_with(ISS, ISS "/t", "http://evil.example/k");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
	doc = doc_with(ISS, ISS "/t", "http://127.0.0.1.evil.example/k");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
	doc = doc_with(ISS, ISS "/t", "http://127.0.0.1@evil.example/k");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
	/* Other schemes, userinfo, relative and garbage URLs. */
	doc = doc_with(ISS, ISS "/t", "file:///etc/passwd");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
	doc = doc_with(ISS, "https://user:pw@idp.example.com/t", ISS "/k");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
	doc = doc_with(ISS, "/v1/token", ISS "/k");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
	doc = doc_with(ISS, "", ISS "/k");
	assert_int_equal(parse(doc, ISS, 1, &err), -EPROTO);
	free(doc);
}

/*
 * The document of an https issuer may not move the token request (client
 * secret, assertion) or the key fetch to plain http, not even to loopback
 * when plain http to loopback is allowed: that is for http issuers only.
 */
static void
test_https_issuer_http_endpoints(void **state)
{
	struct idp_discovery *d = NULL;
	struct idp_err err;
	char *doc;
	int allow;

	(void)state;
	for (allow = 0; allow <= 1; allow++) {
		doc = doc_with(ISS, ISS "/t", "http://127.0.0.1:8080/keys");
		err.msg[0] = '\0';
		assert_int_equal(parse(doc, ISS, allow, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "discovery jwks_uri refused: "
		    "plain http for an https issuer"));
		free(doc);

		doc = doc_with(ISS, "http://127.0.0.1:8080/t", ISS "/k");
		err.msg[0] = '\0';
		assert_int_equal(parse(doc, ISS, allow, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "discovery token_endpoint "
		    "refused: plain http for an https issuer"));
		free(doc);

		/* Both, any case of the scheme, localhost and ::1. */
		doc = doc_with(ISS, "HTTP://localhost:8080/t",
		    "Http://[::1]:8080/k");
		assert_int_equal(parse(doc, ISS, allow, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "token_endpoint"));
		assert_non_null(strstr(err.msg, "https issuer"));
		free(doc);
		doc = doc_with(ISS, ISS "/t", "HTTP://localhost:8080/k");
		assert_int_equal(parse(doc, ISS, allow, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "jwks_uri"));
		free(doc);

		/* An issuer spelt HTTPS counts as https too. */
		doc = doc_with("HTTPS://127.0.0.1:8443",
		    "https://127.0.0.1:8443/t", "http://127.0.0.1:8080/k");
		assert_int_equal(parse(doc, "HTTPS://127.0.0.1:8443", allow,
		    &err), -EPROTO);
		assert_non_null(strstr(err.msg, "jwks_uri"));
		free(doc);

		/* https endpoints, on loopback or not, are accepted. */
		doc = doc_with(ISS, "https://127.0.0.1:8443/t",
		    "https://keys.example.net/k");
		assert_int_equal(idp_discovery_parse(doc, strlen(doc), ISS,
		    allow, &d, &err), 0);
		assert_string_equal(d->token_endpoint,
		    "https://127.0.0.1:8443/t");
		assert_string_equal(d->jwks_uri, "https://keys.example.net/k");
		idp_discovery_free(d);
		d = NULL;
		free(doc);
	}

	/* An http issuer on loopback keeps its http endpoints, or https. */
	doc = doc_with("http://127.0.0.1:8080", "https://127.0.0.1:8443/t",
	    "http://127.0.0.1:8080/k");
	assert_int_equal(parse(doc, "http://127.0.0.1:8080", 1, &err), 0);
	free(doc);
}

static void
test_hostile_json(void **state)
{
	struct idp_err err;
	char *big;
	size_t n;

	(void)state;
	/* Duplicate keys: the second issuer must not win. */
	assert_int_equal(parse("{\"issuer\":\"https://evil\",\"issuer\":\""
	    ISS "\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
	    "/k\"}", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("{\"issuer\":\"" ISS "\",\"jwks_uri\":"
	    "\"https://evil/k\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":"
	    "\"" ISS "/k\"}", ISS, 0, &err), -EBADMSG);
	/* Wrong types. */
	assert_int_equal(parse("[]", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("\"" ISS "\"", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("{\"issuer\":[\"" ISS "\"],\"token_endpoint\":"
	    "\"" ISS "/t\",\"jwks_uri\":\"" ISS "/k\"}", ISS, 0, &err),
	    -EBADMSG);
	assert_int_equal(parse("{\"issuer\":\"" ISS "\",\"token_endpoint\":1,"
	    "\"jwks_uri\":\"" ISS "/k\"}", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("{\"issuer\":\"" ISS "\",\"token_endpoint\":"
	    "\"" ISS "/t\",\"jwks_uri\":\"" ISS "/k\","
	    "\"grant_types_supported\":\"client_credentials\"}", ISS, 0, &err),
	    -EBADMSG);
	assert_int_equal(parse("{\"issuer\":\"" ISS "\",\"token_endpoint\":"
	    "\"" ISS "/t\",\"jwks_uri\":\"" ISS "/k\","
	    "\"token_endpoint_auth_methods_supported\":[\"a\",1]}", ISS, 0,
	    &err), -EBADMSG);
	/* Missing members. */
	assert_int_equal(parse("{\"issuer\":\"" ISS "\",\"token_endpoint\":"
	    "\"" ISS "/t\"}", ISS, 0, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "jwks_uri"));
	assert_int_equal(parse("{\"issuer\":\"" ISS "\",\"jwks_uri\":"
	    "\"" ISS "/k\"}", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("{\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":"
	    "\"" ISS "/k\"}", ISS, 0, &err), -EBADMSG);
	/* Not JSON, truncated, NUL inside. */
	assert_int_equal(parse("{\"issuer\":", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("", ISS, 0, &err), -EBADMSG);
	assert_int_equal(parse("{\"issuer\":\"" ISS "\\u0000x\","
	    "\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS "/k\"}",
	    ISS, 0, &err), -EBADMSG);

	/* One byte over the limit, without reading it as JSON. */
	n = IDP_DISCOVERY_MAX + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	{
		struct idp_discovery *d = NULL;

		assert_int_equal(idp_discovery_parse(big, n, ISS, 0, &d, &err),
		    -E2BIG);
		assert_null(d);
		/* At the limit it is parsed (and fails for lack of members). */
		big[n - 2] = '}';
		assert_int_equal(idp_discovery_parse(big, n - 1, ISS, 0, &d,
		    &err), -EBADMSG);
	}
	free(big);

	/* More than 64 entries in an optional array. */
	{
		char doc[4096];
		size_t o;
		int i;

		o = (size_t)snprintf(doc, sizeof(doc), "{\"issuer\":\"" ISS
		    "\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
		    "/k\",\"grant_types_supported\":[");
		for (i = 0; i < 65; i++)
			o += (size_t)snprintf(doc + o, sizeof(doc) - o,
			    "%s\"g%d\"", i ? "," : "", i);
		snprintf(doc + o, sizeof(doc) - o, "]}");
		assert_int_equal(parse(doc, ISS, 0, &err), -E2BIG);
	}
}

static void
test_discovery_url(void **state)
{
	char *u;

	(void)state;
	u = idp_discovery_url("https://example.okta.com/oauth2/default");
	assert_string_equal(u, "https://example.okta.com/oauth2/default"
	    "/.well-known/openid-configuration");
	free(u);
	u = idp_discovery_url("https://example.okta.com/oauth2/default/");
	assert_string_equal(u, "https://example.okta.com/oauth2/default"
	    "/.well-known/openid-configuration");
	free(u);
	u = idp_discovery_url("https://accounts.example.com");
	assert_string_equal(u, "https://accounts.example.com"
	    "/.well-known/openid-configuration");
	free(u);
	u = idp_discovery_url("https://accounts.example.com/");
	assert_string_equal(u, "https://accounts.example.com"
	    "/.well-known/openid-configuration");
	free(u);
	assert_null(idp_discovery_url(""));
	assert_null(idp_discovery_url(NULL));
	assert_null(idp_discovery_url("https://x/?a=b"));
	assert_null(idp_discovery_url("https://x/#f"));
}

static void
test_cache_control(void **state)
{
	(void)state;
	assert_int_equal(idp_cache_control_max_age(NULL), -1);
	assert_int_equal(idp_cache_control_max_age(""), -1);
	assert_int_equal(idp_cache_control_max_age("max-age=300"), 300);
	assert_int_equal(idp_cache_control_max_age("public, MAX-AGE=60"), 60);
	assert_int_equal(idp_cache_control_max_age(
	    "public,max-age=3600 , must-revalidate"), 3600);
	assert_int_equal(idp_cache_control_max_age("max-age=\"120\""), 120);
	assert_int_equal(idp_cache_control_max_age("s-maxage=600"), -1);
	assert_int_equal(idp_cache_control_max_age("s-maxage=600, max-age=30"),
	    30);
	assert_int_equal(idp_cache_control_max_age("x-max-age=30"), -1);
	assert_int_equal(idp_cache_control_max_age("max-age=-5"), -1);
	assert_int_equal(idp_cache_control_max_age("max-age="), -1);
	assert_int_equal(idp_cache_control_max_age("max-age=12abc"), -1);
	assert_int_equal(idp_cache_control_max_age("max-age"), -1);
	assert_int_equal(idp_cache_control_max_age("max-age=0"), 0);
	/* Two max-age directives: the smaller. */
	assert_int_equal(idp_cache_control_max_age("max-age=600,max-age=60"),
	    60);
	/* Huge numbers are bounded, not overflowed. */
	assert_int_equal(idp_cache_control_max_age(
	    "max-age=99999999999999999999999999999"), INT64_C(2147483648));
	assert_int_equal(idp_cache_control_max_age(",,, ,max-age=7,,"), 7);
}

static struct idp_jwks *
some_keys(void)
{
	struct idp_jwks *k = idp_jwks_new();

	assert_non_null(k);
	return k;
}

static void
test_cache_policy(void **state)
{
	struct idp_jwks_cache c;
	int64_t t0 = 1000000;

	(void)state;
	idp_jwks_cache_init(&c);
	assert_null(c.keys);
	assert_int_equal(c.min_age, 60000);
	assert_int_equal(c.max_age, 600000);
	assert_int_equal(c.cooldown, 30000);
	assert_true(idp_jwks_cache_stale(&c, t0));

	/* max-age honoured within bounds. */
	idp_jwks_cache_put(&c, some_keys(), "public, max-age=300", t0);
	assert_int_equal(c.fetched_at, t0);
	assert_int_equal(c.expires_at, t0 + 300000);
	assert_false(idp_jwks_cache_stale(&c, t0 + 299999));
	assert_true(idp_jwks_cache_stale(&c, t0 + 300000));

	/* Clamped above and below. */
	idp_jwks_cache_put(&c, some_keys(), "max-age=86400", t0);
	assert_int_equal(c.expires_at, t0 + 600000);
	idp_jwks_cache_put(&c, some_keys(), "max-age=1", t0);
	assert_int_equal(c.expires_at, t0 + 60000);
	idp_jwks_cache_put(&c, some_keys(), "max-age=0", t0);
	assert_int_equal(c.expires_at, t0 + 60000);
	idp_jwks_cache_put(&c, some_keys(),
	    "max-age=99999999999999999999999", t0);
	assert_int_equal(c.expires_at, t0 + 600000);

	/* No header, or no max-age: the default (max_age). */
	idp_jwks_cache_put(&c, some_keys(), NULL, t0);
	assert_int_equal(c.expires_at, t0 + 600000);
	idp_jwks_cache_put(&c, some_keys(), "public", t0);
	assert_int_equal(c.expires_at, t0 + 600000);

	/* no-store / no-cache: min_age, even with a long max-age. */
	idp_jwks_cache_put(&c, some_keys(), "no-store", t0);
	assert_int_equal(c.expires_at, t0 + 60000);
	idp_jwks_cache_put(&c, some_keys(), "max-age=600, No-Cache", t0);
	assert_int_equal(c.expires_at, t0 + 60000);

	/* Custom bounds. */
	c.min_age = 5000;
	c.max_age = 3600000;
	idp_jwks_cache_put(&c, some_keys(), "max-age=1800", t0);
	assert_int_equal(c.expires_at, t0 + 1800000);
	idp_jwks_cache_put(&c, some_keys(), "max-age=2", t0);
	assert_int_equal(c.expires_at, t0 + 5000);

	/* Clearing makes it stale again. */
	idp_jwks_cache_clear(&c);
	assert_null(c.keys);
	assert_true(idp_jwks_cache_stale(&c, t0));
	idp_jwks_cache_clear(&c);
}

static void
test_unknown_kid_cooldown(void **state)
{
	struct idp_jwks_cache c;
	int64_t t0 = 0, t;
	int allowed = 0, i;

	(void)state;
	idp_jwks_cache_init(&c);
	/* 1000 unknown kids within 60 s, cooldown 30 s: at most 2 refetches. */
	for (i = 0; i < 1000; i++) {
		t = t0 + (int64_t)i * 59999 / 999;
		allowed += idp_jwks_cache_unknown_kid(&c, t);
	}
	assert_true(allowed >= 1);
	assert_true(allowed <= 2);

	/* Exactly: first allowed (never forced), then after 30 s. */
	idp_jwks_cache_init(&c);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 0), 1);
	assert_int_equal(c.last_forced, 0);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 1), 0);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 29999), 0);
	assert_int_equal(c.last_forced, 0);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 30000), 1);
	assert_int_equal(c.last_forced, 30000);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 59999), 0);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 60000), 1);

	/* A large first time works, and extremes do not overflow. */
	idp_jwks_cache_init(&c);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, INT64_MAX - 5), 1);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, INT64_MAX), 0);
	/* A clock reading before the last refetch does not lock out. */
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 5), 1);
	assert_int_equal(idp_jwks_cache_unknown_kid(&c, 6), 0);
	idp_jwks_cache_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_issuer_exact),
		cmocka_unit_test(test_endpoint_scheme),
		cmocka_unit_test(test_https_issuer_http_endpoints),
		cmocka_unit_test(test_hostile_json),
		cmocka_unit_test(test_discovery_url),
		cmocka_unit_test(test_cache_control),
		cmocka_unit_test(test_cache_policy),
		cmocka_unit_test(test_unknown_kid_cooldown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
