/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/config/config.c: the value parsers, a full valid config with
 * every field checked, the inih traps (line length, indentation, comments,
 * section names), and one malformed config per file in
 * tests/data/config/bad-*.ini.
 *
 * Each bad-*.ini starts with comment lines that say what must be reported:
 *   ; expect: LINE: SUBSTRING      (one or more, in line order)
 *   ; expect-errors: N             (optional: exactly N messages)
 * The test loads the file, captures the messages and checks that one of
 * them is "PATH:LINE: ..." containing SUBSTRING, that the first message is
 * the first expectation, and that config_load() returned -EINVAL.
 *
 * Run from the top of the tree, or set ROTATORD_TEST_DATA to tests/data.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include <idp/jwk.h>
#include <idp/x509.h>

#include "config/config.h"
#include "util.h"

#define MIN_MS	(60 * 1000LL)
#define HOUR_MS	(60 * MIN_MS)
#define DAY_MS	(24 * HOUR_MS)

static const char *
data_dir(void)
{
	const char *d = getenv("ROTATORD_TEST_DATA");

	return d != NULL ? d : "tests/data";
}

/* Messages written by a load, in a malloc'ed string. */
struct capture {
	FILE	*f;
	char	*buf;
	size_t	 len;
};

static void
capture_open(struct capture *cap)
{
	cap->buf = NULL;
	cap->len = 0;
	cap->f = open_memstream(&cap->buf, &cap->len);
	assert_non_null(cap->f);
}

static void
capture_close(struct capture *cap)
{
	fclose(cap->f);
	cap->f = NULL;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Loads text; returns the result and (in *out, to free) the messages. */
static int
load_text(const char *text, char **out, struct config **ret)
{
	struct capture cap;
	int r;

	capture_open(&cap);
	*ret = NULL;
	r = config_load_buf("test.ini", text, strlen(text), cap.f, ret);
	capture_close(&cap);
	*out = cap.buf;
	return r;
}

/* Expects text to fail with a message at line containing what. */
static void
expect_error(const char *text, int line, const char *what)
{
	struct config *c = NULL;
	char *out, prefix[64], *p;
	int r, found = 0;

	r = load_text(text, &out, &c);
	snprintf(prefix, sizeof(prefix), "test.ini:%d: ", line);
	for (p = out; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		size_t n = strcspn(p, "\n");

		if (strncmp(p, prefix, strlen(prefix)) == 0 &&
		    memmem(p, n, what, strlen(what)) != NULL)
			found = 1;
	}
	if (r != -EINVAL || !found)
		print_error("wanted %s...%s, got r=%d:\n%s", prefix, what, r, out);
	assert_int_equal(r, -EINVAL);
	assert_true(found);
	assert_null(c);
	free(out);
}

/* Expects text to load; returns the config. */
static struct config *
expect_ok(const char *text)
{
	struct config *c = NULL;
	char *out;
	int r;

	r = load_text(text, &out, &c);
	if (r != 0)
		print_error("unexpected errors (r=%d):\n%s", r, out);
	assert_int_equal(r, 0);
	assert_string_equal(out, "");
	assert_non_null(c);
	free(out);
	return c;
}

/* (1) Value parsers. */

static void
test_parse_duration(void **state)
{
	static const struct {
		const char	*s;
		int		 ok;
		int64_t		 ms;
	} t[] = {
		{ "90s", 1, 90000 },
		{ "15m", 1, 15 * MIN_MS },
		{ "24h", 1, 24 * HOUR_MS },
		{ "7d", 1, 7 * DAY_MS },
		{ "500ms", 1, 500 },
		{ "1h30m", 1, 90 * MIN_MS },
		{ "1d2h3m4s5ms", 1, DAY_MS + 2 * HOUR_MS + 3 * MIN_MS + 4005 },
		{ "0s", 1, 0 },
		{ "007s", 1, 7000 },
		{ "1m500ms", 1, 60500 },
		{ "106751991167d", 1, 106751991167LL * DAY_MS },
		{ "9223372036854775807ms", 1, INT64_MAX },
		{ "", 0, 0 },
		{ "3600", 0, 0 },		/* a unit is required */
		{ "0", 0, 0 },
		{ "12x", 0, 0 },
		{ "1h30", 0, 0 },
		{ "h", 0, 0 },
		{ "-5s", 0, 0 },
		{ "+5s", 0, 0 },
		{ " 5s", 0, 0 },
		{ "5s ", 0, 0 },
		{ "1h 30m", 0, 0 },
		{ "1.5h", 0, 0 },
		{ "5S", 0, 0 },
		{ "30m1h", 0, 0 },		/* largest unit first */
		{ "1h1h", 0, 0 },
		{ "5sec", 0, 0 },
		{ "1w", 0, 0 },
		{ "106751991168d", 0, 0 },	/* overflow in the multiply */
		{ "9223372036854775808ms", 0, 0 }, /* overflow in the digits */
		{ "99999999999999999999d", 0, 0 },
		{ "106751991167d7h12m55s807ms", 1, INT64_MAX },
		{ "106751991167d7h12m55s808ms", 0, 0 },	/* overflow in the sum */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t ms = -42;
		int r = config_parse_duration(t[i].s, &ms);

		if ((r == 0) != t[i].ok || (t[i].ok && ms != t[i].ms))
			fail_msg("duration \"%s\": r=%d ms=%lld", t[i].s, r,
			    (long long)ms);
		if (!t[i].ok) {
			assert_int_equal(r, -EINVAL);
			assert_int_equal(ms, -42);	/* untouched */
		}
	}
}

static void
test_parse_fraction(void **state)
{
	static const struct {
		const char	*s;
		int		 ok;
		double		 v;
	} t[] = {
		{ "2/3", 1, 2.0 / 3 },
		{ "1/10", 1, 0.1 },
		{ "66%", 1, 0.66 },
		{ "66.5%", 1, 0.665 },
		{ "10%", 1, 0.1 },
		{ "0.5", 1, 0.5 },
		{ "0.25", 1, 0.25 },
		{ "0", 1, 0 },
		{ "0%", 1, 0 },
		{ "1", 1, 1 },
		{ "100%", 1, 1 },
		{ "3/3", 1, 1 },
		{ "", 0, 0 },
		{ "abc", 0, 0 },
		{ "2/0", 0, 0 },
		{ "4/3", 0, 0 },
		{ "101%", 0, 0 },
		{ "1.5", 0, 0 },
		{ "-0.5", 0, 0 },
		{ ".5", 0, 0 },
		{ "5.", 0, 0 },
		{ "0.5%%", 0, 0 },
		{ "% ", 0, 0 },
		{ "50 %", 0, 0 },
		{ "1/2/3", 0, 0 },
		{ "1.0/2", 0, 0 },
		{ "1/", 0, 0 },
		{ "/2", 0, 0 },
		{ "nan", 0, 0 },
		{ "inf", 0, 0 },
		{ "1e-1", 0, 0 },
		{ "0x1p-1", 0, 0 },
		{ "0.1234567890", 0, 0 },	/* more than 9 decimals */
		{ "1234567890/9999999999", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double v = -42;
		int r = config_parse_fraction(t[i].s, &v);

		if ((r == 0) != t[i].ok ||
		    (t[i].ok && (v < t[i].v - 1e-12 || v > t[i].v + 1e-12)))
			fail_msg("fraction \"%s\": r=%d v=%g", t[i].s, r, v);
		if (!t[i].ok)
			assert_true(v == -42);
	}
}

static void
test_parse_bool(void **state)
{
	static const struct {
		const char	*s;
		int		 r;
		int		 v;
	} t[] = {
		{ "yes", 0, 1 }, { "true", 0, 1 }, { "on", 0, 1 }, { "1", 0, 1 },
		{ "no", 0, 0 }, { "false", 0, 0 }, { "off", 0, 0 }, { "0", 0, 0 },
		{ "", -EINVAL, 0 }, { "maybe", -EINVAL, 0 }, { "Yes", -EINVAL, 0 },
		{ "y", -EINVAL, 0 }, { "2", -EINVAL, 0 }, { "yes ", -EINVAL, 0 },
		{ "01", -EINVAL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int v = -1, r = config_parse_bool(t[i].s, &v);

		if (r != t[i].r || (r == 0 && v != t[i].v))
			fail_msg("bool \"%s\": r=%d v=%d", t[i].s, r, v);
		if (r != 0)
			assert_int_equal(v, -1);
	}
}

static void
test_parse_mode(void **state)
{
	static const struct {
		const char	*s;
		int		 r;
		mode_t		 m;
	} t[] = {
		{ "0640", 0, 0640 }, { "640", 0, 0640 }, { "0600", 0, 0600 },
		{ "400", 0, 0400 }, { "000", 0, 0 }, { "7777", 0, 07777 },
		{ "0666", 0, 0666 },	/* syntax only; the key refuses it */
		{ "", -EINVAL, 0 }, { "64", -EINVAL, 0 }, { "00640", -EINVAL, 0 },
		{ "0689", -EINVAL, 0 }, { "0x1ff", -EINVAL, 0 },
		{ "rw-r-----", -EINVAL, 0 }, { "-640", -EINVAL, 0 },
		{ " 640", -EINVAL, 0 }, { "640 ", -EINVAL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		mode_t m = 01234;
		int r = config_parse_mode(t[i].s, &m);

		if (r != t[i].r || (r == 0 && m != t[i].m))
			fail_msg("mode \"%s\": r=%d m=%o", t[i].s, r,
			    (unsigned)m);
		if (r != 0)
			assert_int_equal(m, 01234);
	}
}

static void
test_parse_secret_ref(void **state)
{
	static const struct {
		const char		*s;
		int			 r;
		enum cfg_secret_source	 src;
		const char		*arg;
	} t[] = {
		{ "file:/etc/rotatord/okta.secret", 0, CFG_SECRET_FILE,
		    "/etc/rotatord/okta.secret" },
		{ "env:OKTA_SECRET", 0, CFG_SECRET_ENV, "OKTA_SECRET" },
		{ "env:_x1", 0, CFG_SECRET_ENV, "_x1" },
		{ "cred:okta.secret", 0, CFG_SECRET_CRED, "okta.secret" },
		{ "s3cr3t", 0, CFG_SECRET_LITERAL, "s3cr3t" },
		{ "File:/x", 0, CFG_SECRET_LITERAL, "File:/x" },
		{ "file:relative", -EINVAL, 0, NULL },
		{ "file:", -EINVAL, 0, NULL },
		{ "env:", -EINVAL, 0, NULL },
		{ "env:1X", -EINVAL, 0, NULL },
		{ "env:A-B", -EINVAL, 0, NULL },
		{ "cred:", -EINVAL, 0, NULL },
		{ "cred:..", -EINVAL, 0, NULL },
		{ "cred:a/b", -EINVAL, 0, NULL },
		{ "", -EINVAL, 0, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum cfg_secret_source src = 0;
		const char *arg = NULL;
		int r = config_parse_secret_ref(t[i].s, &src, &arg);

		if (r != t[i].r)
			fail_msg("secret ref \"%s\": r=%d", t[i].s, r);
		if (r == 0) {
			assert_int_equal(src, t[i].src);
			assert_string_equal(arg, t[i].arg);
		} else {
			assert_null(arg);
		}
	}
}

/* (2) A full valid config, every field. */

static void
test_good_full(void **state)
{
	const struct cfg_ca *ca, *other;
	const struct cfg_signer *sg;
	const struct cfg_reload *rn, *rs, *ru;
	const struct cfg_issuer *okta, *local;
	const struct cfg_cred *cr;
	const struct cfg_client *cl;
	const struct cfg_route *rt;
	struct config *c = NULL;
	struct capture cap;
	char path[4096];
	int r;

	(void)state;
	snprintf(path, sizeof(path), "%s/config/good-full.ini", data_dir());
	capture_open(&cap);
	r = config_load(path, cap.f, &c);
	capture_close(&cap);
	if (r != 0)
		print_error("%s", cap.buf);
	assert_int_equal(r, 0);
	assert_string_equal(cap.buf, "");
	free(cap.buf);
	assert_non_null(c);

	assert_string_equal(c->path, path);
	assert_string_equal(c->output_dir, "/run/rotatord-test");
	assert_string_equal(c->state_dir, "/var/lib/rotatord-test");
	assert_true(c->renew_at == 0.75);
	assert_true(c->jitter == 0.05);
	assert_int_equal(c->backdate, 2 * MIN_MS);
	assert_int_equal(c->retry_min, 500);
	assert_int_equal(c->retry_max, 90 * MIN_MS);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	assert_string_equal(c->region, "eu-west-1");

	assert_int_equal(c->n_cas, 2);
	ca = c->cas[0];
	assert_string_equal(ca->name, "internal");
	assert_int_equal(ca->line, 17);
	assert_int_equal(ca->key_type, IDP_KEY_EC_P384);
	assert_int_equal(ca->lifetime, 730 * DAY_MS);
	assert_string_equal(ca->common_name, "Example Internal CA");
	assert_null(ca->cert_file);
	assert_null(ca->key_file);
	other = c->cas[1];
	assert_string_equal(other->name, "other");
	assert_int_equal(other->key_type, IDP_KEY_EC_P256);
	assert_int_equal(other->lifetime, 365 * DAY_MS);
	assert_string_equal(other->common_name, "rotatord other CA");

	assert_int_equal(c->n_signers, 1);
	sg = c->signers[0];
	assert_string_equal(sg->name, "workload");
	assert_int_equal(sg->line, 25);
	assert_string_equal(sg->issuer, "https://rotatord.internal");
	assert_int_equal(sg->alg, IDP_ALG_EDDSA);
	assert_int_equal(sg->key_lifetime, 2 * DAY_MS);
	assert_string_equal(sg->dir, "jwks");

	assert_int_equal(c->n_reloads, 3);
	rn = config_find_reload(c, "nginx");
	assert_non_null(rn);
	assert_ptr_equal(rn, c->reloads[0]);
	assert_int_equal(rn->line, 31);
	assert_string_equal(rn->pidfile, "/run/nginx.pid");
	assert_int_equal(rn->signal, SIGUSR1);
	assert_null(rn->exec);
	assert_null(rn->unit);
	assert_non_null(rn->check);
	assert_string_equal(rn->check[0], "/usr/sbin/nginx");
	assert_string_equal(rn->check[1], "-t");
	assert_string_equal(rn->check[2], "-q");
	assert_null(rn->check[3]);
	assert_int_equal(rn->debounce, 0);
	assert_int_equal(rn->timeout, 10000);
	assert_string_equal(rn->verify_host, "::1");
	assert_string_equal(rn->verify_port, "8443");
	assert_string_equal(rn->sni, "www.example.com");
	assert_int_equal(rn->verify_timeout, 3000);

	rs = config_find_reload(c, "sidecar");
	assert_non_null(rs);
	assert_null(rs->pidfile);
	assert_int_equal(rs->signal, SIGHUP);
	assert_string_equal(rs->exec[0], "/usr/bin/pkill");
	assert_string_equal(rs->exec[1], "-HUP");
	assert_string_equal(rs->exec[2], "-x");
	assert_string_equal(rs->exec[3], "sidecar");
	assert_null(rs->exec[4]);
	assert_null(rs->check);
	assert_int_equal(rs->debounce, 1000);
	assert_int_equal(rs->timeout, 30000);
	assert_null(rs->verify_host);
	assert_null(rs->verify_port);
	assert_null(rs->sni);
	assert_int_equal(rs->verify_timeout, 5000);

	ru = config_find_reload(c, "unit");
	assert_non_null(ru);
	assert_string_equal(ru->unit, "envoy.service");
	assert_string_equal(ru->verify_host, "127.0.0.1");
	assert_string_equal(ru->verify_port, "443");
	assert_null(config_find_reload(c, "nope"));

	assert_int_equal(c->n_issuers, 2);
	okta = config_find_issuer(c, "okta");
	assert_non_null(okta);
	assert_ptr_equal(okta, c->issuers[0]);
	assert_int_equal(okta->line, 89);
	/* As written: the trailing slash is significant to OIDC. */
	assert_string_equal(okta->url, "https://example.okta.com/oauth2/default/");
	assert_string_equal(okta->client_id, "0oa1b2c3d4");
	assert_int_equal(okta->client_secret.source, CFG_SECRET_FILE);
	assert_string_equal(okta->client_secret.arg, "/etc/rotatord/okta.secret");
	assert_int_equal(okta->auth_method, IDP_AUTH_POST);
	assert_null(okta->client_key);
	assert_null(okta->client_key_id);
	assert_null(okta->ca_file);
	assert_int_equal(okta->trust, 1);
	assert_string_equal(okta->audience, "api://rotatord");
	assert_int_equal(okta->timeout, 30000);
	assert_int_equal(okta->jwks_cooldown, MIN_MS);
	assert_int_equal(okta->leeway, 0);
	local = config_find_issuer(c, "local");
	assert_non_null(local);
	assert_string_equal(local->url, "http://127.0.0.1:8080");
	assert_null(local->client_id);
	assert_int_equal(local->client_secret.source, 0);
	assert_null(local->client_secret.arg);
	assert_int_equal(local->auth_method, 0);
	assert_int_equal(local->trust, 0);
	assert_null(local->audience);
	assert_int_equal(local->timeout, 10000);
	assert_int_equal(local->jwks_cooldown, 30000);
	assert_int_equal(local->leeway, 60000);
	assert_null(config_find_issuer(c, "nope"));

	assert_int_equal(c->n_creds, 5);
	cr = config_find_cred(c, "nginx-tls");
	assert_non_null(cr);
	assert_ptr_equal(cr, c->creds[0]);
	assert_int_equal(cr->line, 48);
	assert_int_equal(cr->type, CRED_X509);
	assert_ptr_equal(cr->ca, ca);
	assert_int_equal(cr->key_type, IDP_KEY_RSA_3072);
	assert_string_equal(cr->common_name, "www.example.com");
	assert_int_equal(cr->n_dns, 3);
	assert_string_equal(cr->dns[0], "www.example.com");
	assert_string_equal(cr->dns[1], "example.com");
	assert_string_equal(cr->dns[2], "*.api.example.com");
	assert_int_equal(cr->n_ip, 2);
	assert_string_equal(cr->ip[0], "127.0.0.1");
	assert_string_equal(cr->ip[1], "::1");
	assert_int_equal(cr->n_uri, 1);
	assert_string_equal(cr->uri[0], "spiffe://example.org/web");
	assert_int_equal(cr->usage, IDP_USAGE_SERVER | IDP_USAGE_CLIENT);
	assert_int_equal(cr->lifetime, 12 * HOUR_MS);
	assert_true(cr->renew_at == 0.5);
	assert_true(cr->jitter == 0.1);
	assert_string_equal(cr->dir, "nginx");
	assert_int_equal(cr->uid, 0);
	assert_int_equal(cr->gid, 0);
	assert_int_equal(cr->mode, 0640);
	assert_int_equal(cr->n_on_rotate, 2);
	assert_ptr_equal(cr->on_rotate[0], rn);
	assert_ptr_equal(cr->on_rotate[1], rs);
	assert_null(cr->signer);

	cr = config_find_cred(c, "svc-id");
	assert_non_null(cr);
	assert_int_equal(cr->type, CRED_JWT);
	assert_ptr_equal(cr->signer, sg);
	assert_string_equal(cr->subject, "spiffe://example.org/svc");
	assert_int_equal(cr->n_audience, 2);
	assert_string_equal(cr->audience[0], "payments");
	assert_string_equal(cr->audience[1], "api://orders");
	assert_string_equal(cr->scope, "payments.read orders:write");
	assert_int_equal(cr->lifetime, 15 * MIN_MS);
	assert_true(cr->renew_at == 0.75);	/* inherited */
	assert_true(cr->jitter == 0.05);
	assert_string_equal(cr->dir, "svc-id");
	assert_int_equal(cr->uid, (uid_t)-1);
	assert_int_equal(cr->gid, (gid_t)-1);
	assert_int_equal(cr->mode, 0600);
	assert_int_equal(cr->n_on_rotate, 0);
	assert_null(cr->ca);

	cr = config_find_cred(c, "tickets");
	assert_non_null(cr);
	assert_int_equal(cr->type, CRED_SECRET);
	assert_int_equal(cr->bytes, 80);
	assert_int_equal(cr->keep, 3);
	assert_int_equal(cr->fleet, 1);
	assert_int_equal(cr->lifetime, 12 * HOUR_MS);
	assert_int_equal(cr->mode, 0400);
	assert_int_equal(cr->uid, 0);
	assert_int_equal(cr->gid, (gid_t)-1);
	assert_int_equal(cr->n_on_rotate, 1);
	assert_ptr_equal(cr->on_rotate[0], ru);

	cr = config_find_cred(c, "defaults");
	assert_non_null(cr);
	assert_int_equal(cr->type, CRED_X509);
	assert_ptr_equal(cr->ca, other);
	assert_int_equal(cr->key_type, IDP_KEY_EC_P256);
	assert_null(cr->common_name);
	assert_int_equal(cr->n_dns, 0);
	assert_null(cr->dns);
	assert_int_equal(cr->n_uri, 1);
	assert_int_equal(cr->usage, IDP_USAGE_SERVER);
	assert_int_equal(cr->lifetime, 24 * HOUR_MS);
	assert_string_equal(cr->dir, "defaults");
	assert_null(cr->issuer);
	assert_null(cr->resource);
	assert_int_equal(cr->subject_token.source, 0);

	cr = config_find_cred(c, "payments-token");
	assert_non_null(cr);
	assert_ptr_equal(cr, c->creds[4]);
	assert_int_equal(cr->line, 103);
	assert_int_equal(cr->type, CRED_OAUTH);
	assert_ptr_equal(cr->issuer, okta);
	assert_string_equal(cr->scope, "payments.read payments:write");
	assert_int_equal(cr->n_audience, 1);
	assert_string_equal(cr->audience[0], "api://payments");
	assert_int_equal(cr->n_resource, 2);
	assert_string_equal(cr->resource[0], "https://payments.example/");
	assert_string_equal(cr->resource[1], "urn:example:payments");
	assert_int_equal(cr->subject_token.source, CFG_SECRET_CRED);
	assert_string_equal(cr->subject_token.arg, "sa-token");
	assert_string_equal(cr->subject_token_type,
	    "urn:ietf:params:oauth:token-type:access_token");
	assert_int_equal(cr->lifetime, 0);
	assert_true(cr->renew_at == 0.5);
	assert_true(cr->jitter == 0);
	assert_string_equal(cr->dir, "payments");
	assert_int_equal(cr->mode, 0640);
	assert_int_equal(cr->n_on_rotate, 1);
	assert_ptr_equal(cr->on_rotate[0], rs);
	assert_null(cr->ca);
	assert_null(cr->signer);
	assert_null(config_find_cred(c, "nope"));

	/* [listen], [client], [route]. */
	assert_int_equal(c->listen.line, 118);
	assert_string_equal(c->listen.unix_path,
	    "/run/rotatord-test/api-test.sock");
	assert_int_equal(c->listen.unix_mode, 0640);
	assert_int_equal(c->listen.unix_group, 0);
	assert_int_equal(c->listen.admin_group, 0);
	assert_string_equal(c->listen.tcp_host, "::1");
	assert_string_equal(c->listen.tcp_port, "8125");
	assert_int_equal(c->listen.max_connections, 128);
	assert_int_equal(c->listen.per_ip_limit, 16);
	assert_int_equal(c->listen.timeout, 30000);
	assert_int_equal(c->listen.max_body, 64 * 1024);
	assert_int_equal(c->listen.max_wait, 10 * MIN_MS);

	assert_int_equal(c->n_clients, 2);
	cl = c->clients[0];
	assert_string_equal(cl->name, "web");
	assert_int_equal(cl->line, 130);
	assert_int_equal(cl->n_uids, 2);
	assert_int_equal(cl->uids[0], 0);
	assert_int_equal(cl->uids[1], 33);
	assert_int_equal(cl->n_gids, 1);
	assert_int_equal(cl->gids[0], 0);
	assert_null(cl->issuer);
	assert_null(cl->subject);
	assert_int_equal(cl->n_claims, 0);
	assert_int_equal(cl->n_allow, 2);
	assert_ptr_equal(cl->allow[0], config_find_cred(c, "nginx-tls"));
	assert_ptr_equal(cl->allow[1], config_find_cred(c, "tickets"));
	assert_int_equal(cl->n_token_audiences, 0);
	assert_int_equal(cl->n_token_scopes, 0);
	/* The only signer, though this client mints nothing. */
	assert_string_equal(cl->token_signer, "workload");
	assert_int_equal(cl->token_lifetime, 15 * MIN_MS);

	cl = c->clients[1];
	assert_string_equal(cl->name, "agent");
	assert_int_equal(cl->line, 135);
	assert_int_equal(cl->n_uids, 0);
	assert_int_equal(cl->n_gids, 0);
	assert_string_equal(cl->issuer, "okta");
	assert_string_equal(cl->subject, "spiffe://example.org/agent");
	assert_int_equal(cl->n_claims, 2);
	assert_string_equal(cl->claims[0].name, "groups");
	assert_string_equal(cl->claims[0].value, "payments");
	assert_string_equal(cl->claims[1].name, "email_verified");
	assert_string_equal(cl->claims[1].value, "true");
	assert_int_equal(cl->n_allow, 1);
	assert_ptr_equal(cl->allow[0], cr);
	assert_int_equal(cl->n_token_audiences, 2);
	assert_string_equal(cl->token_audiences[0], "payments");
	assert_string_equal(cl->token_audiences[1], "api://orders");
	assert_int_equal(cl->n_token_scopes, 2);
	assert_string_equal(cl->token_scopes[0], "agent:read");
	assert_string_equal(cl->token_scopes[1], "payments.read");
	assert_string_equal(cl->token_signer, "workload");
	assert_int_equal(cl->token_lifetime, 5 * MIN_MS);

	assert_int_equal(c->n_routes, 2);
	rt = c->routes[0];
	assert_string_equal(rt->name, "payments");
	assert_int_equal(rt->line, 145);
	assert_string_equal(rt->prefix, "/payments/");
	assert_int_equal(rt->n_methods, 2);
	assert_string_equal(rt->methods[0], "GET");
	assert_string_equal(rt->methods[1], "POST");	/* upper-cased */
	assert_string_equal(rt->issuer, "workload");
	assert_int_equal(rt->n_scopes, 2);
	assert_string_equal(rt->scopes[0], "payments.read");
	assert_string_equal(rt->scopes[1], "payments:write");
	assert_int_equal(rt->n_claims, 1);
	assert_string_equal(rt->claims[0].name, "groups");
	assert_string_equal(rt->claims[0].value, "payments");
	assert_string_equal(rt->audience, "api://payments");
	rt = c->routes[1];
	assert_string_equal(rt->name, "root");
	assert_int_equal(rt->line, 153);
	assert_string_equal(rt->prefix, "/");
	assert_null(rt->methods);
	assert_int_equal(rt->n_methods, 0);
	assert_null(rt->issuer);
	assert_int_equal(rt->n_scopes, 0);
	assert_null(rt->claims);
	assert_null(rt->audience);

	config_free(c);
}

static void
test_defaults(void **state)
{
	struct config *c;
	const struct cfg_cred *cr;

	(void)state;
	c = expect_ok("");
	assert_string_equal(c->output_dir, "/run/rotatord");
	assert_string_equal(c->state_dir, "/var/lib/rotatord");
	assert_true(c->renew_at == 2.0 / 3.0);
	assert_true(c->jitter == 0.1);
	assert_int_equal(c->backdate, 60000);
	assert_int_equal(c->retry_min, 1000);
	assert_int_equal(c->retry_max, 60000);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
	assert_null(c->region);
	assert_int_equal(c->n_creds + c->n_cas + c->n_signers + c->n_reloads, 0);
	config_free(c);

	c = expect_ok("[credential \"j\"]\ntype = jwt\nsigner = s\nsubject = x\n"
	    "[signer \"s\"]\nissuer = http://localhost:8080/x\n"
	    "[credential \"s\"]\ntype = secret\ndir = s2\n");
	cr = config_find_cred(c, "j");
	assert_int_equal(cr->lifetime, HOUR_MS);
	assert_ptr_equal(cr->signer, c->signers[0]);
	assert_int_equal(c->signers[0]->alg, IDP_ALG_ES256);
	assert_int_equal(c->signers[0]->key_lifetime, 7 * DAY_MS);
	assert_string_equal(c->signers[0]->dir, "s");
	cr = config_find_cred(c, "s");
	assert_int_equal(cr->lifetime, 24 * HOUR_MS);
	assert_int_equal(cr->bytes, 32);
	assert_int_equal(cr->keep, 2);
	assert_int_equal(cr->fleet, 0);
	config_free(c);
}

/* (3) The inih traps and other syntax. */

static void
test_line_length(void **state)
{
	char line[512], text[1024];
	struct config *c;
	int n;

	(void)state;
	/* A comment of exactly CONFIG_MAX_LINE bytes is fine. */
	memset(line, 'x', sizeof(line));
	line[0] = ';';
	n = CONFIG_MAX_LINE;
	snprintf(text, sizeof(text), "[rotatord]\n%.*s\nregion = a\n", n, line);
	c = expect_ok(text);
	assert_string_equal(c->region, "a");
	config_free(c);
	/* ... also with CRLF ... */
	snprintf(text, sizeof(text), "[rotatord]\r\n%.*s\r\nregion = a\r\n", n,
	    line);
	c = expect_ok(text);
	assert_string_equal(c->region, "a");
	config_free(c);
	/* ... one more byte is not, and the next line keeps its number. */
	snprintf(text, sizeof(text), "[rotatord]\n%.*s\nregion = a b\n", n + 1,
	    line);
	expect_error(text, 2, "line too long (max 199 bytes)");
	expect_error(text, 3, "rotatord.region: bad region \"a b\"");

	/* A value of the longest possible length arrives whole. */
	n = CONFIG_MAX_LINE - (int)strlen("subject = ");
	memset(line, 'y', (size_t)n);
	snprintf(text, sizeof(text), "[signer \"s\"]\nissuer = https://x\n"
	    "[credential \"j\"]\ntype = jwt\nsigner = s\nsubject = %.*s\n", n,
	    line);
	c = expect_ok(text);
	assert_int_equal(strlen(config_find_cred(c, "j")->subject), (size_t)n);
	config_free(c);

	/* A very long line, and one at the end without a newline. */
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	snprintf(text, sizeof(text), "[rotatord]\nregion = %s", line);
	expect_error(text, 2, "line too long");
}

static void
test_indentation_and_comments(void **state)
{
	struct config *c;
	const struct cfg_cred *cr;

	(void)state;
	c = expect_ok(
	    "\xef\xbb\xbf[signer \"s\"]  ; a signer\n"
	    "  issuer = https://x\n"
	    "\t; an indented comment\n"
	    "    # another one\n"
	    "   [credential \"j\"]   # header comment\n"
	    "type: jwt\n"
	    "signer=s\n"
	    "subject = a;b #c\n"		/* ';' without blank, '#': value */
	    "scope = x.read y.write ;comment\n"
	    "audience = a , b\t;comment\n");
	cr = config_find_cred(c, "j");
	assert_non_null(cr);
	assert_string_equal(cr->subject, "a;b #c");
	assert_string_equal(cr->scope, "x.read y.write");
	assert_int_equal(cr->n_audience, 2);
	assert_string_equal(cr->audience[1], "b");
	config_free(c);

	/* An indented line is never a continuation of the previous value. */
	expect_error("[rotatord]\nregion = a\n  b\n", 3, "expected KEY = VALUE");
	/* An indented key is a key. */
	c = expect_ok("[rotatord]\nregion = a\n  log_level = err\n");
	assert_int_equal(c->log_level, LOG_ERR);
	assert_string_equal(c->region, "a");
	config_free(c);
}

static void
test_section_names(void **state)
{
	char text[512];
	struct config *c;
	const char *name64 =
	    "a123456789b123456789c123456789d123456789e123456789f123456789g123";

	(void)state;
	/* inih keeps 49 bytes of a section: our reader must see it all. */
	assert_int_equal(strlen(name64), CONFIG_MAX_NAME);
	snprintf(text, sizeof(text), "[credential \"%s\"]\ntype = secret\n"
	    "[credential \"%.40s\"]\ntype = secret\n", name64, name64);
	c = expect_ok(text);
	assert_int_equal(c->n_creds, 2);
	assert_non_null(config_find_cred(c, name64));
	assert_string_equal(c->creds[0]->dir, name64);
	config_free(c);

	/* The same name in two kinds is fine. */
	c = expect_ok("[reload \"web\"]\nunit = a.service\n[credential \"web\"]\n"
	    "type = secret\non_rotate = web\n");
	assert_ptr_equal(c->creds[0]->on_rotate[0], c->reloads[0]);
	config_free(c);

	expect_error("[credential \"web\"] x\n", 1, "text after ']'");
	expect_error("[credential  \"web\"]\n", 1, "bad section header");
	expect_error("[credential \"\"]\n", 1, "bad section name");
	expect_error("[Credential \"web\"]\n", 1, "unknown section \"Credential\"");
	expect_error("[]\n", 1, "bad section header");
	expect_error("[ rotatord ]\n", 1, "bad section header");
	expect_error("[rotatord\n", 1, "no closing ']'");
	expect_error("[cluster]\n", 1, "missing required key endpoints");
	expect_error("[issuer]\n", 1, "section [issuer] needs a name");
	expect_error("[listen \"x\"]\n", 1, "section [listen] takes no name");
	expect_error("[client]\n", 1, "section [client] needs a name");
	expect_error("[route]\n", 1, "section [route] needs a name");
}

static void
test_control_bytes(void **state)
{
	static const char nul[] = "[rotatord]\nregion = a\0b\nlog_level = x\n";
	struct config *c = NULL;
	struct capture cap;
	int r;

	(void)state;
	capture_open(&cap);
	r = config_load_buf("nul.ini", nul, sizeof(nul) - 1, cap.f, &c);
	capture_close(&cap);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(cap.buf, "nul.ini:2: NUL byte in line\n"));
	assert_non_null(strstr(cap.buf, "nul.ini:3: rotatord.log_level: "));
	assert_int_equal(count_lines(cap.buf), 2);
	free(cap.buf);

	expect_error("[rotatord]\nregion = a\x1b[31mb\n", 2,
	    "rotatord.region: control character in value");
	/* Bytes that are not printable are escaped in messages. */
	expect_error("[a\x7f]\n", 1, "unknown section \"a\\x7f\"");
}

static void
test_errors_sorted_and_all(void **state)
{
	char *out;
	struct config *c;
	int r;

	(void)state;
	/* Reference errors (found late) still come out in line order. */
	r = load_text("[credential \"a\"]\ntype = secret\non_rotate = x\n"
	    "[rotatord]\nregion = a b\n[credential \"a\"]\n", &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(out,
	    "test.ini:3: credential \"a\".on_rotate: no section [reload \"x\"]\n"
	    "test.ini:5: rotatord.region: bad region \"a b\": 1 to 64 "
	    "characters of A-Z a-z 0-9 . _ -\n"
	    "test.ini:6: duplicate section [credential \"a\"], first at line 1\n");
	free(out);

	/* errf may be NULL. */
	c = NULL;
	assert_int_equal(config_load_buf("x", "[x]\n", 4, NULL, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(config_load_buf(NULL, "", 0, NULL, &c), 0);
	assert_string_equal(c->path, "(config)");
	config_free(c);
	config_free(NULL);
}

static void
test_owner_group_numeric(void **state)
{
	struct config *c;

	(void)state;
	c = expect_ok("[credential \"t\"]\ntype = secret\nowner = 12345\n"
	    "group = 54321\n");
	assert_int_equal(c->creds[0]->uid, 12345);
	assert_int_equal(c->creds[0]->gid, 54321);
	config_free(c);
	expect_error("[credential \"t\"]\ntype = secret\nowner = 4294967295\n", 3,
	    "bad user");
	expect_error("[credential \"t\"]\ntype = secret\nowner = 99999999999\n", 3,
	    "bad user");
	expect_error("[credential \"t\"]\ntype = secret\ngroup = 12x\n", 3,
	    "bad group");
}

static void
test_ca_files(void **state)
{
	char *dir, cert[256], key[256], text[1024];
	struct config *c;

	(void)state;
	dir = ut_tmpdir("test-config", UT_TMP_TMP);
	assert_non_null(dir);
	ut_put(cert, sizeof(cert), dir, "ca.pem", "", 0, 0644);
	ut_put(key, sizeof(key), dir, "ca.key", "", 0, 0644);

	snprintf(text, sizeof(text), "[ca \"imported\"]\ncert_file = %s\n"
	    "key_file = %s\n", cert, key);
	c = expect_ok(text);
	assert_string_equal(c->cas[0]->cert_file, cert);
	assert_string_equal(c->cas[0]->key_file, key);
	config_free(c);

	/* A leaf may outlive the lifetime key of a CA that is loaded. */
	snprintf(text, sizeof(text), "[ca \"imported\"]\ncert_file = %s\n"
	    "key_file = %s\nlifetime = 1d\n[credential \"w\"]\ntype = x509\n"
	    "ca = imported\ndns = w.example\nlifetime = 30d\n", cert, key);
	c = expect_ok(text);
	config_free(c);

	snprintf(text, sizeof(text), "[ca \"imported\"]\ncert_file = %s\n"
	    "key_file = %s\n", dir, key);
	expect_error(text, 2, "is not a regular file");

	if (geteuid() != 0) {
		assert_int_equal(chmod(key, 0), 0);
		snprintf(text, sizeof(text), "[ca \"imported\"]\ncert_file = %s\n"
		    "key_file = %s\n", cert, key);
		expect_error(text, 3, "Permission denied");
	}
	assert_int_equal(ut_rm_rf(dir), 0);
	free(dir);
}

static void
test_load_errors(void **state)
{
	struct config *c = NULL;
	struct capture cap;
	char *big;
	int r;

	(void)state;
	capture_open(&cap);
	r = config_load("/nonexistent/rotatord.ini", cap.f, &c);
	capture_close(&cap);
	assert_int_equal(r, -ENOENT);
	assert_null(c);
	assert_string_equal(cap.buf, "/nonexistent/rotatord.ini: cannot open: "
	    "No such file or directory\n");
	free(cap.buf);

	/* The limit: 8 MiB, room for 10,000 credentials and more. */
	big = malloc((8 << 20) + 1);
	assert_non_null(big);
	memset(big, '\n', (8 << 20) + 1);
	assert_int_equal(config_load_buf("big", big, (8 << 20) + 1, NULL, &c),
	    -EFBIG);
	assert_int_equal(config_load_buf("big", big, 8 << 20, NULL, &c), 0);
	config_free(c);
	free(big);
}

static void
test_misc_values(void **state)
{
	struct config *c;

	(void)state;
	c = expect_ok("[rotatord]\nlog_level = warning\nbackdate = 0s\n"
	    "renew_at = 66%\njitter = 0\n"
	    "[reload \"a\"]\npidfile = /run/a.pid\nsignal = WINCH\n"
	    "verify = localhost:1\n"
	    "[credential \"t\"]\ntype = secret\nlifetime = 2s\n");
	assert_int_equal(c->log_level, LOG_WARNING);
	assert_int_equal(c->backdate, 0);
	assert_true(c->jitter == 0);
	assert_int_equal(c->reloads[0]->signal, SIGWINCH);
	assert_string_equal(c->reloads[0]->verify_host, "localhost");
	assert_string_equal(c->reloads[0]->verify_port, "1");
	config_free(c);

	expect_error("[reload \"a\"]\npidfile = /run/a.pid\nverify = [::1]\n", 3,
	    "bad address");
	expect_error("[reload \"a\"]\npidfile = /run/a.pid\nverify = [x]:1\n", 3,
	    "bad host");
	expect_error("[reload \"a\"]\npidfile = /run/a.pid\nverify = h:0\n", 3,
	    "bad port");
	expect_error("[reload \"a\"]\npidfile = /run/a.pid\nsni = 10.0.0.1\n"
	    "verify = h:1\n", 3, "bad server name");
	expect_error("[reload \"a\"]\npidfile = /run/a.pid\ntimeout = 0s\n", 3,
	    "must not be zero");
	expect_error("[reload \"a\"]\nexec = /bin/true\nunit = x.service\n", 3,
	    "exec is already set (line 2)");
	expect_error("[credential \"t\"]\ntype = secret\nrenew_at = 0\n", 3,
	    "between 0 and 1");
	expect_error("[credential \"t\"]\ntype = secret\njitter = 1\n", 3,
	    "must be less than 1");
	expect_error("[signer \"s\"]\nissuer = https://\n", 2, "bad issuer");
	expect_error("[signer \"s\"]\nissuer = https://x/?a=b\n", 2,
	    "bad issuer");
	expect_error("[ca \"c\"]\ncommon_name = "
	    "12345678901234567890123456789012345678901234567890123456789012345\n",
	    2, "longer than 64 bytes");
	expect_error("[signer \"s\"]\nissuer = https://x\n[credential \"j\"]\n"
	    "type = jwt\nsigner = s\nsubject = x\nscope = a  b\n", 7, "bad scope");
	expect_error("[ca \"c\"]\n[credential \"w\"]\ntype = x509\nca = c\n"
	    "uri = not a uri\n", 5, "bad URI");
	expect_error("[ca \"c\"]\n[credential \"w\"]\ntype = x509\nca = c\n"
	    "dns = bad..example\n", 5, "bad DNS name");
	expect_error("[ca \"c\"]\n[credential \"w\"]\ntype = x509\nca = c\n"
	    "dns = a.example\nusage = server,server\n", 6, "duplicate element");
}

/* (5) [issuer] and oauth credentials. */

#define ISS	"[issuer \"i\"]\n"
#define CLIENT	"client_id = c\nclient_secret = env:S\n"

static void
test_issuer_urls(void **state)
{
	static const struct {
		const char	*url;
		const char	*err;	/* NULL: valid */
	} t[] = {
		{ "https://idp.example", NULL },
		{ "https://idp.example/", NULL },
		{ "https://idp.example:8443/realms/x/", NULL },
		{ "https://[2001:db8::1]:8443/x", NULL },
		{ "https://10.0.0.1/x", NULL },
		{ "https://idp.example/a%20b", NULL },
		{ "http://127.0.0.1:8080", NULL },
		{ "http://127.255.0.9/x", NULL },
		{ "http://localhost:9000/oidc", NULL },
		{ "http://LOCALHOST", NULL },
		{ "http://[::1]:9000/", NULL },
		{ "http://idp.example", "must be https (http only for loopback)" },
		{ "http://10.0.0.1", "must be https (http only for loopback)" },
		{ "http://[::2]/", "must be https (http only for loopback)" },
		{ "http://[::ffff:127.0.0.1]/", "must be https" },
		{ "http://127.1/", "must be https" },
		{ "http://localhost.example/", "must be https" },
		{ "HTTPS://idp.example", "must be an https:// URL" },
		{ "idp.example", "must be an https:// URL" },
		{ "ftp://idp.example", "must be an https:// URL" },
		{ "https://", "has no host" },
		{ "https:///x", "has no host" },
		{ "https://:443/x", "has no host" },
		{ "https://idp.example?x=1", "query or fragment" },
		{ "https://idp.example/#f", "query or fragment" },
		{ "https://user@idp.example/", "user information" },
		{ "https://idp.example:0/", "bad port" },
		{ "https://idp.example:65536/", "bad port" },
		{ "https://idp.example:/", "bad port" },
		{ "https://idp.example:12a/", "bad port" },
		{ "https://[::1/", "no closing ']'" },
		{ "https://[idp.example]/", "bad host" },
		{ "https://[::1]x/", "bad host" },
		{ "https://idp..example/", "bad host" },
		{ "https://idp.example/a b", "must be percent-encoded" },
		{ "https://idp.example/a\"b", "must be percent-encoded" },
		{ "https://idp.example/\xc3\xa9", "must be percent-encoded" },
	};
	char text[512];
	struct config *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), ISS "url = %s\n", t[i].url);
		if (t[i].err == NULL) {
			c = expect_ok(text);
			assert_string_equal(c->issuers[0]->url, t[i].url);
			config_free(c);
		} else {
			expect_error(text, 2, t[i].err);
		}
	}
}

/* A file in dir with content and mode; returns its path in buf. */
static const char *
make_file(char *buf, size_t size, const char *dir, const char *name,
    const char *content, mode_t mode)
{
	return ut_put(buf, size, dir, name, content, strlen(content), mode);
}

static void
test_issuer_auth(void **state)
{
	char *dir, key[256], loose[256], text[1024];
	char ca[256], link[256];
	struct config *c;
	const struct cfg_issuer *is;

	(void)state;
	dir = ut_tmpdir("test-config", UT_TMP_TMP);
	assert_non_null(dir);
	make_file(key, sizeof(key), dir, "client.pem", "not parsed here\n", 0600);
	make_file(ca, sizeof(ca), dir, "ca.pem", "", 0644);

	/* Defaults: basic with a secret, private_key_jwt with a key. */
	c = expect_ok(ISS "url = https://x\n" CLIENT);
	is = c->issuers[0];
	assert_int_equal(is->auth_method, IDP_AUTH_BASIC);
	assert_int_equal(is->client_secret.source, CFG_SECRET_ENV);
	assert_string_equal(is->client_secret.arg, "S");
	assert_int_equal(is->timeout, 10000);
	assert_int_equal(is->jwks_cooldown, 30000);
	assert_int_equal(is->leeway, 60000);
	config_free(c);

	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_key = %s\nclient_key_id = 2024-01 key\nca_file = %s\n"
	    "timeout = 1s\njwks_cooldown = 1h\nleeway = 10m\n", key, ca);
	c = expect_ok(text);
	is = c->issuers[0];
	assert_int_equal(is->auth_method, IDP_AUTH_PRIVATE_KEY_JWT);
	assert_string_equal(is->client_key, key);
	assert_string_equal(is->client_key_id, "2024-01 key");
	assert_string_equal(is->ca_file, ca);
	assert_int_equal(is->client_secret.source, 0);
	assert_int_equal(is->timeout, 1000);
	assert_int_equal(is->jwks_cooldown, 3600000);
	assert_int_equal(is->leeway, 600000);
	config_free(c);

	/* Both, with auth_method saying which. */
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_secret = env:S\nclient_key = %s\nauth_method = "
	    "private_key_jwt\n", key);
	expect_error(text, 4, "i\".client_secret: not used by auth_method "
	    "private_key_jwt");
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_secret = env:S\nclient_key = %s\nauth_method = "
	    "client_secret_basic\n", key);
	expect_error(text, 5, "i\".client_key: not used by auth_method "
	    "client_secret_basic");
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_key = %s\nclient_secret = env:S\n", key);
	expect_error(text, 4, "both client_secret (line 5) and client_key "
	    "(line 4) are set");
	c = expect_ok(ISS "url = https://x\n" CLIENT "auth_method = "
	    "client_secret_post\n");
	assert_int_equal(c->issuers[0]->auth_method, IDP_AUTH_POST);
	config_free(c);
	expect_error(ISS "url = https://x\nclient_id = c\nauth_method = "
	    "client_secret_basic\n", 4, "client_secret_basic needs "
	    "client_secret");
	expect_error(ISS "url = https://x\nclient_id = c\nclient_key_id = k\n",
	    4, "client_key_id: only applies with client_key");
	expect_error(ISS "url = https://x\nclient_secret = env:S\n", 1,
	    "missing client_id");
	expect_error(ISS "url = https://x\n" CLIENT "auth_method = none\n", 5,
	    "unknown auth_method \"none\"");

	/* The client key: exists, regular, not a link, private. */
	expect_error(ISS "url = https://x\nclient_id = c\nclient_key = k.pem\n",
	    4, "must be an absolute path");
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_key = %s\n", dir);
	expect_error(text, 4, "is not a regular file");
	make_file(loose, sizeof(loose), dir, "loose.pem", "x", 0644);
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_key = %s\n", loose);
	expect_error(text, 4, "has mode 0644: must not be readable by group "
	    "or others");
	assert_int_equal(chmod(loose, 0640), 0);
	expect_error(text, 4, "has mode 0640: must not be readable by group "
	    "or others");
	assert_int_equal(chmod(loose, 0604), 0);
	expect_error(text, 4, "must not be readable by group or others");
	assert_int_equal(chmod(loose, 0620), 0);
	expect_error(text, 4, "has mode 0620: must not be accessible by group "
	    "or others");
	assert_int_equal(chmod(loose, 0400), 0);
	c = expect_ok(text);
	config_free(c);
	snprintf(link, sizeof(link), "%s/link.pem", dir);
	assert_int_equal(symlink(key, link), 0);
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_key = %s\n", link);
	expect_error(text, 4, "is a symbolic link");

	/* ca_file: absolute, exists, a regular file. */
	expect_error(ISS "url = https://x\nca_file = /nonexistent/ca.pem\n", 3,
	    "cannot open \"/nonexistent/ca.pem\": No such file or directory");
	snprintf(text, sizeof(text), ISS "url = https://x\nca_file = %s\n", dir);
	expect_error(text, 3, "is not a regular file");

	/* client_id, client_key_id, audience. */
	/* The longest client_id a line can hold (the 256 limit is for later). */
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_secret = "
	    "env:S\nclient_id = %0*d\n", CONFIG_MAX_LINE - 12, 0);
	c = expect_ok(text);
	assert_int_equal(strlen(c->issuers[0]->client_id), CONFIG_MAX_LINE - 12);
	config_free(c);
	expect_error(ISS "url = https://x\nclient_id = caf\xc3\xa9\n", 3,
	    "bad client_id");
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_key = %s\n"
	    "client_id = c\nclient_key_id = %0129d\n", key, 0);
	expect_error(text, 5, "bad client_key_id");

	/* trust and audience. */
	c = expect_ok(ISS "url = https://x\ntrust = on\naudience = rotatord\n");
	assert_int_equal(c->issuers[0]->trust, 1);
	assert_string_equal(c->issuers[0]->audience, "rotatord");
	config_free(c);
	expect_error(ISS "url = https://x\ntrust = true\n", 3,
	    "trust = yes needs audience");
	expect_error(ISS "url = https://x\naudience = rotatord\n", 3,
	    "audience: only applies with trust = yes");
	expect_error(ISS "url = https://x\ntrust = no\naudience = rotatord\n", 4,
	    "audience: only applies with trust = yes");
	expect_error(ISS "url = https://x\ntrust = yes\naudience = a b\n", 4,
	    "bad audience");
	expect_error(ISS "url = https://x/\ntrust = yes\naudience = a\n"
	    "[issuer \"j\"]\nurl = https://x/\ntrust = yes\naudience = b\n", 7,
	    "issuer \"i\" (line 1) already trusts this url");
	/* The same url without the slash is another issuer. */
	c = expect_ok(ISS "url = https://x/\ntrust = yes\naudience = a\n"
	    "[issuer \"j\"]\nurl = https://x\ntrust = yes\naudience = b\n"
	    "[issuer \"k\"]\nurl = https://x\n");
	assert_int_equal(c->n_issuers, 3);
	config_free(c);

	/* Durations. */
	expect_error(ISS "url = https://x\ntimeout = 999ms\n", 3,
	    "must be from 1s to 2m, not \"999ms\"");
	expect_error(ISS "url = https://x\ntimeout = 121s\n", 3,
	    "must be from 1s to 2m");
	expect_error(ISS "url = https://x\njwks_cooldown = 0s\n", 3,
	    "must be from 1s to 1h");
	expect_error(ISS "url = https://x\nleeway = 10m1ms\n", 3,
	    "must be from 0s to 10m");
	expect_error(ISS "url = https://x\nleeway = 5\n", 3, "bad duration");
	expect_error(ISS "url = https://x\nsubject = y\n", 3, "unknown key");
	expect_error(ISS "url = https://x\nurl = https://y\n", 3,
	    "duplicate key");

	assert_int_equal(ut_rm_rf(dir), 0);
	free(dir);
}

/* Loads path with config_load(); returns r and the messages in *out. */
static int
load_path(const char *path, char **out, struct config **ret)
{
	struct capture cap;
	int r;

	capture_open(&cap);
	*ret = NULL;
	r = config_load(path, cap.f, ret);
	capture_close(&cap);
	*out = cap.buf;
	return r;
}

static void
test_literal_secrets(void **state)
{
	static const char lit[] = "Very-Secret-Literal-77";
	char *dir, path[256], text[1024], fx[4096];
	struct config *c;
	char *out;
	int r;

	(void)state;
	dir = ut_tmpdir("test-config", UT_TMP_TMP);
	assert_non_null(dir);
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_secret = %s\n"
	    "[credential \"t\"]\ntype = oauth\nissuer = i\n"
	    "subject_token = %s-2\n", lit, lit);

	/* Group- or world-readable: refused, and the value never shown. */
	make_file(path, sizeof(path), dir, "r.ini", text, 0644);
	r = load_path(path, &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	assert_non_null(strstr(out, ":4: issuer \"i\".client_secret: literal "
	    "client_secret in a group/world-readable file; use file:, env: or "
	    "cred:\n"));
	assert_non_null(strstr(out, ":8: credential \"t\".subject_token: "
	    "literal subject_token in a group/world-readable file"));
	assert_int_equal(count_lines(out), 2);
	assert_null(strstr(out, lit));
	free(out);
	assert_int_equal(chmod(path, 0640), 0);
	r = load_path(path, &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_null(strstr(out, lit));
	free(out);
	assert_int_equal(chmod(path, 0604), 0);
	r = load_path(path, &out, &c);
	assert_int_equal(r, -EINVAL);
	free(out);

	/* 0600 (or 0620: not readable) is fine. */
	assert_int_equal(chmod(path, 0600), 0);
	r = load_path(path, &out, &c);
	if (r != 0)
		print_error("%s", out);
	assert_int_equal(r, 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(c->issuers[0]->client_secret.source,
	    CFG_SECRET_LITERAL);
	assert_string_equal(c->issuers[0]->client_secret.arg, lit);
	assert_int_equal(c->creds[0]->subject_token.source, CFG_SECRET_LITERAL);
	config_free(c);
	assert_int_equal(chmod(path, 0620), 0);
	r = load_path(path, &out, &c);
	assert_int_equal(r, 0);
	free(out);
	config_free(c);

	/* From a buffer there is no mode to check. */
	c = expect_ok(text);
	assert_string_equal(c->issuers[0]->client_secret.arg, lit);
	config_free(c);

	/* The fixture (0644 in git) never shows its literal either. */
	snprintf(fx, sizeof(fx), "%s/config/bad-issuer-literal-secret.ini",
	    data_dir());
	r = load_path(fx, &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(out, "literal client_secret"));
	assert_null(strstr(out, "Do-Not-Print-Me-4242"));
	free(out);

	/* Nor does any other message about a secret-bearing key. */
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_secret = file:%s\n", lit);
	r = load_text(text, &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(out, "test.ini:4: issuer \"i\".client_secret: "
	    "bad secret reference"));
	assert_null(strstr(out, lit));
	free(out);
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_secret = %s\nclient_secret = %s\n", lit, lit);
	r = load_text(text, &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(out, "duplicate key"));
	assert_null(strstr(out, lit));
	free(out);
	snprintf(text, sizeof(text), ISS "url = https://x\nclient_id = c\n"
	    "client_secret = %s\x01\n", lit);
	r = load_text(text, &out, &c);
	assert_int_equal(r, -EINVAL);
	assert_null(strstr(out, lit));
	free(out);

	assert_int_equal(ut_rm_rf(dir), 0);
	free(dir);
}

static void
test_oauth_creds(void **state)
{
	struct config *c;
	const struct cfg_cred *cr;

	(void)state;
	c = expect_ok("[credential \"t\"]\ntype = oauth\nissuer = i\n"
	    ISS "url = https://x\n" CLIENT);
	cr = c->creds[0];
	assert_int_equal(cr->type, CRED_OAUTH);
	assert_ptr_equal(cr->issuer, config_find_issuer(c, "i"));
	assert_int_equal(cr->lifetime, 0);
	assert_null(cr->scope);
	assert_int_equal(cr->n_audience, 0);
	assert_int_equal(cr->n_resource, 0);
	assert_int_equal(cr->subject_token.source, 0);
	assert_null(cr->subject_token.arg);
	assert_null(cr->subject_token_type);
	assert_true(cr->renew_at == 2.0 / 3.0);
	assert_true(cr->jitter == 0.1);
	assert_string_equal(cr->dir, "t");
	assert_int_equal(cr->mode, 0600);
	config_free(c);

	c = expect_ok(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nscope = a , b:c,d/e!\n"
	    "subject_token = file:/var/run/secrets/token\n"
	    "audience = x, y\n");
	cr = c->creds[0];
	assert_string_equal(cr->scope, "a b:c d/e!");
	assert_int_equal(cr->subject_token.source, CFG_SECRET_FILE);
	assert_string_equal(cr->subject_token.arg, "/var/run/secrets/token");
	assert_int_equal(cr->n_audience, 2);
	config_free(c);

	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nscope = a,\n", 8, "empty element");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nscope = a\\b\n", 8, "bad scope token");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nscope = a\tb\n", 8, "bad scope token");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nscope = a,a\n", 8, "duplicate element");
	expect_error(ISS "url = https://x\nclient_id = c\n[credential \"t\"]\n"
	    "type = oauth\nissuer = i\n", 6, "issuer \"i\" has no client_secret "
	    "or client_key");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nsubject_token = env:1X\n", 8,
	    "bad secret reference");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nsubject_token = env:T\n"
	    "subject_token_type = not a uri\n", 9, "bad subject_token_type");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nsigner = s\n", 8,
	    "signer: not valid for type oauth");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nbytes = 3\n", 8,
	    "bytes: not valid for type oauth");
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = ../i\n", 7, "bad name");
	expect_error("[signer \"s\"]\nissuer = https://x\n[credential \"j\"]\n"
	    "type = jwt\nsigner = s\nsubject = x\nresource = urn:x\n", 7,
	    "resource: not valid for type jwt");
	expect_error("[credential \"s\"]\ntype = secret\nsubject_token = env:X\n",
	    3, "subject_token: not valid for type secret");
	/* renew_at +- jitter/2 inside (0, 1) without a lifetime. */
	expect_error(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nrenew_at = 10%\njitter = 20%\n", 5,
	    "renewal point would fire at once after issuance");
	c = expect_ok(ISS "url = https://x\n" CLIENT "[credential \"t\"]\n"
	    "type = oauth\nissuer = i\nrenew_at = 1%\njitter = 1%\n");
	config_free(c);
	/* The unknown-type message lists oauth. */
	expect_error("[credential \"t\"]\ntype = token\n", 2,
	    "(x509, jwt, oauth or secret)");
}

/* (6) [listen], [client], [route]. */

#define SIGNER	"[signer \"w\"]\nissuer = https://w.example\n"
#define SIGNER_2	"[signer \"v\"]\nissuer = https://v.example\n"
#define TRUSTED	"[issuer \"idp\"]\nurl = https://idp.example\ntrust = yes\n" \
		"audience = rotatord\n"

static void
test_api_sections(void **state)
{
	struct config *c;
	char text[4200];
	char cwd[4096];

	(void)state;
	/* Defaults, with and without the section. */
	c = expect_ok("");
	assert_int_equal(c->listen.line, 0);
	assert_string_equal(c->listen.unix_path, "/run/rotatord/api.sock");
	assert_int_equal(c->listen.unix_mode, 0660);
	assert_int_equal(c->listen.unix_group, (gid_t)-1);
	assert_int_equal(c->listen.admin_group, (gid_t)-1);
	assert_null(c->listen.tcp_host);
	assert_null(c->listen.tcp_port);
	assert_int_equal(c->listen.max_connections, 512);
	assert_int_equal(c->listen.per_uid_limit, 256);
	assert_int_equal(c->listen.per_ip_limit, 8);
	assert_int_equal(c->listen.timeout, 10000);
	assert_int_equal(c->listen.max_body, 16384);
	assert_int_equal(c->listen.max_wait, 5 * MIN_MS);
	assert_int_equal(c->n_clients, 0);
	assert_null(c->clients);
	assert_int_equal(c->n_routes, 0);
	assert_null(c->routes);
	config_free(c);

	c = expect_ok("[listen]\ntcp = localhost:1\n"
	    "[rotatord]\noutput_dir = /srv/out\n");
	assert_int_equal(c->listen.line, 1);
	assert_string_equal(c->listen.unix_path, "/srv/out/api.sock");
	assert_string_equal(c->listen.tcp_host, "localhost");
	config_free(c);

	/* Relative output_dir: the default socket is resolved with it. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	c = expect_ok("[rotatord]\noutput_dir = ./run/out\n");
	snprintf(text, sizeof(text), "%s/run/out/api.sock", cwd);
	assert_string_equal(c->listen.unix_path, text);
	config_free(c);

	c = expect_ok("[listen]\nunix = off\ntcp = 127.0.0.1:8125\n"
	    "max_body = 1M\nmax_wait = 1h\ntimeout = 1s\n");
	assert_null(c->listen.unix_path);
	assert_int_equal(c->listen.max_body, 1 << 20);
	assert_int_equal(c->listen.max_wait, 60 * MIN_MS);
	assert_int_equal(c->listen.timeout, 1000);
	config_free(c);
	c = expect_ok("[listen]\nmax_body = 1024\nunix_mode = 600\n");
	assert_int_equal(c->listen.max_body, 1024);
	assert_int_equal(c->listen.unix_mode, 0600);
	config_free(c);

	expect_error("[listen]\nmax_body = 1023\n", 2, "must be from 1k to 1M");
	expect_error("[listen]\nmax_body = 16 k\n", 2, "bad size");
	expect_error("[listen]\nmax_body = k\n", 2, "bad size");
	expect_error("[listen]\nmax_body = 99999999999999999999k\n", 2,
	    "bad size");
	expect_error("[listen]\ntimeout = 11m\n", 2, "must be from 1s to 10m");
	expect_error("[listen]\nmax_wait = 500ms\n", 2, "must be from 1s to 1h");
	expect_error("[listen]\nper_ip_limit = 1001\ntcp = h:1\n", 2,
	    "from 1 to 1000");
	expect_error("[listen]\nunix_mode = 0604\n", 2, "every local user");
	expect_error("[listen]\nunix_mode = 2660\n", 2, "setuid, setgid");
	expect_error("[listen]\nunix_mode = rw\n", 2, "bad mode");
	expect_error("[listen]\nunix_group = no-such-group-rotatord\n", 2,
	    "unknown group \"no-such-group-rotatord\"");
	expect_error("[listen]\nunix = /run/x/\n", 2, "names a directory");
	expect_error("[listen]\nunix = /run/"
	    "123456789012345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890\n", 2,
	    "longer than 107 bytes");
	expect_error("[listen]\ntcp = 8125\n", 2, "bad address");
	expect_error("[listen]\nunix = off\nadmin_group = root\n", 3,
	    "only applies with a unix socket");
	expect_error("[rotatord]\noutput_dir = /"
	    "123456789012345678901234567890123456789012345678901234567890"
	    "1234567890123456789012345678901234567890\n", 2,
	    "API socket");

	/* Clients. */
	c = expect_ok(SIGNER "[signer \"v\"]\nissuer = https://v.example\n"
	    "[client \"a\"]\nsubject = x\nissuer = w\n"
	    "[client \"b\"]\ngroup = root, 4242\ntoken_audiences = p\n"
	    "token_signer = v\n");
	assert_string_equal(c->clients[0]->issuer, "w");	/* a signer */
	assert_null(c->clients[0]->token_signer);	/* two signers */
	assert_int_equal(c->clients[0]->token_lifetime, 15 * MIN_MS);
	assert_null(c->clients[0]->allow);
	assert_int_equal(c->clients[1]->n_gids, 2);
	assert_int_equal(c->clients[1]->gids[1], 4242);
	assert_string_equal(c->clients[1]->token_signer, "v");
	config_free(c);

	expect_error(SIGNER SIGNER_2 "[client \"a\"]\nuser = 0\n"
	    "token_audiences = p\n", 7, "needs a [signer] (token_signer): "
	    "there are 2");
	expect_error(SIGNER "[client \"a\"]\nuser = 0\ntoken_audiences = p\n"
	    "token_signer = nope\n", 6, "no section [signer \"nope\"]");
	expect_error(SIGNER "[client \"a\"]\nuser = 0\ntoken_audiences = p\n"
	    "token_lifetime = 30s\n", 6, "must be from 1m to 1d");
	expect_error(SIGNER "[client \"a\"]\nuser = 0\ntoken_audiences = a b\n",
	    5, "bad audience \"a b\"");
	expect_error(SIGNER "[client \"a\"]\nuser = 0\ntoken_audiences = p\n"
	    "token_scopes = a\"b\n", 6, "bad scope token");
	expect_error(SIGNER "[client \"a\"]\nuser = 0\ntoken_lifetime = 1h\n",
	    5, "only applies with token_audiences");
	expect_error("[client \"a\"]\nuser = 4294967295\n", 2,
	    "bad user \"4294967295\"");
	expect_error("[client \"a\"]\ngroup = g,\n", 2, "empty element");
	expect_error("[client \"a\"]\nclaim = a=b\nsubject = s\nissuer = x\n",
	    4, "no section [issuer \"x\"] or [signer \"x\"]");
	expect_error("[client \"a\"]\nclaim = a=\n", 2, "has no value");
	expect_error("[client \"a\"]\nclaim = =b\n", 2, "bad claim");
	expect_error("[client \"a\"]\nclaim = a/b=c\n", 2, "bad claim name");
	expect_error("[client \"a\"]\ngroup = 0\nclaim = a=b\n", 3,
	    "use two [client] sections");
	expect_error("[client \"a\"]\nsubject = s\nuser = 0\n", 3,
	    "use two [client] sections");
	expect_error("[client \"a\"]\nuser = 0\nallow = ../x\n", 3,
	    "bad name");
	expect_error("[client \"a\"]\nuser = 0\ncolour = blue\n", 3,
	    "client \"a\".colour: unknown key");
	expect_error("[client \"a\"]\nuser = 0\nallow =\n", 3, "empty value");

	/* Routes. */
	c = expect_ok(TRUSTED "[route \"a\"]\nprefix = /a\nissuer = idp\n"
	    "methods = delete, Options\n");
	assert_string_equal(c->routes[0]->issuer, "idp");
	assert_string_equal(c->routes[0]->methods[0], "DELETE");
	assert_string_equal(c->routes[0]->methods[1], "OPTIONS");
	config_free(c);
	expect_error("[route \"a\"]\nprefix = /a\nmethods = GET, get\n", 3,
	    "duplicate element \"GET\"");
	expect_error("[route \"a\"]\nprefix = /a b\n", 2, "bad prefix");
	expect_error("[route \"a\"]\nprefix = /a?b=c\n", 2, "no query");
	expect_error("[route \"a\"]\nprefix = /a%2fb\n", 2, "no %XX escapes");
	expect_error("[route \"a\"]\nprefix = /a//b\n", 2, "no empty segments");
	expect_error("[route \"a\"]\nprefix = /a/.\n", 2, "no . or .. segments");
	expect_error("[route \"a\"]\nprefix = /a\nscope = a b\n", 3,
	    "bad scope token");
	expect_error("[route \"a\"]\nprefix = /a\naudience = a b\n", 3,
	    "bad audience");
	expect_error("[issuer \"i\"]\nurl = https://x\n[route \"a\"]\n"
	    "prefix = /a\nissuer = i\n", 5, "issuer \"i\" is not trusted");
	/* The other route with that prefix is named, not a third one. */
	expect_error("[route \"a\"]\nprefix = /a\n[route \"b\"]\nprefix = /b\n"
	    "[route \"c\"]\nprefix = /a\n", 6, "already used by route \"a\" "
	    "(line 1)");
}

/* (4) Every bad-*.ini fixture. */

struct expect {
	int	 line;
	char	 what[256];
};

static void
test_fixture(void **state)
{
	const char *path = *state;
	struct expect exp[16];
	size_t n_exp = 0, i;
	int want_count = -1, r, n_out;
	struct config *c = NULL;
	struct capture cap;
	char buf[512], prefix[600];
	FILE *f;

	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		int line, off = 0;

		buf[strcspn(buf, "\n")] = '\0';
		if (sscanf(buf, "; expect: %d: %n", &line, &off) == 1 && off > 0) {
			assert_true(n_exp < sizeof(exp) / sizeof(exp[0]));
			exp[n_exp].line = line;
			snprintf(exp[n_exp].what, sizeof(exp[n_exp].what), "%s",
			    buf + off);
			n_exp++;
		} else if (sscanf(buf, "; expect-errors: %d", &want_count) == 1) {
			continue;
		} else if (strncmp(buf, "; expect", 8) == 0) {
			fail_msg("%s: bad expectation line \"%s\"", path, buf);
		}
	}
	fclose(f);
	if (n_exp == 0)
		fail_msg("%s: no \"; expect: LINE: TEXT\" line", path);

	capture_open(&cap);
	r = config_load(path, cap.f, &c);
	capture_close(&cap);
	n_out = count_lines(cap.buf);
	if (r != -EINVAL)
		print_error("%s: r=%d\n", path, r);
	assert_int_equal(r, -EINVAL);
	assert_null(c);

	for (i = 0; i < n_exp; i++) {
		const char *p;
		int found = 0;

		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, exp[i].line);
		for (p = cap.buf; *p != '\0'; p += strcspn(p, "\n") + 1) {
			size_t len = strcspn(p, "\n");

			/* Every message is "PATH:LINE: text". */
			if (strncmp(p, path, strlen(path)) != 0 ||
			    p[strlen(path)] != ':')
				fail_msg("%s: message without path: %.*s", path,
				    (int)len, p);
			if (strncmp(p, prefix, strlen(prefix)) == 0 &&
			    memmem(p, len, exp[i].what, strlen(exp[i].what)) &&
			    (i > 0 || p == cap.buf))
				found = 1;
			if (p[len] == '\0')
				break;
		}
		if (!found) {
			print_error("wanted %s%s%s\ngot:\n%s", i == 0 ?
			    "(as the first message) " : "", prefix, exp[i].what,
			    cap.buf);
			fail();
		}
	}
	if (want_count >= 0 && n_out != want_count) {
		print_error("wanted %d messages, got %d:\n%s", want_count, n_out,
		    cap.buf);
		fail();
	}
	free(cap.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_fraction),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_mode),
		cmocka_unit_test(test_parse_secret_ref),
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_indentation_and_comments),
		cmocka_unit_test(test_section_names),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_errors_sorted_and_all),
		cmocka_unit_test(test_owner_group_numeric),
		cmocka_unit_test(test_ca_files),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_misc_values),
		cmocka_unit_test(test_issuer_urls),
		cmocka_unit_test(test_issuer_auth),
		cmocka_unit_test(test_literal_secrets),
		cmocka_unit_test(test_oauth_creds),
		cmocka_unit_test(test_api_sections),
	};
	struct CMUnitTest *fx;
	char pattern[4096];
	glob_t g;
	size_t i;
	int failed;

	failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);

	snprintf(pattern, sizeof(pattern), "%s/config/bad-*.ini", data_dir());
	if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc < 30) {
		fprintf(stderr, "test-config: fewer than 30 fixtures match %s "
		    "(run from the top of the tree or set ROTATORD_TEST_DATA)\n",
		    pattern);
		return 1;
	}
	fx = calloc(g.gl_pathc, sizeof(*fx));
	if (fx == NULL)
		return 1;
	for (i = 0; i < g.gl_pathc; i++) {
		fx[i].name = strrchr(g.gl_pathv[i], '/') + 1;
		fx[i].test_func = test_fixture;
		fx[i].initial_state = g.gl_pathv[i];
	}
	failed += _cmocka_run_group_tests("config-fixtures", fx, g.gl_pathc,
	    NULL, NULL);
	free(fx);
	globfree(&g);
	return failed != 0;
}
