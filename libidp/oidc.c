/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenID Connect discovery (OIDC Discovery 1.0) and the JWKS cache
 * policy.  Pure: no I/O, no clock, no logging; the caller fetches and
 * passes the time in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <idp/http.h>
#include <idp/oidc.h>

#define DISCOVERY_URL_MAX	2048	/* issuer, token_endpoint, jwks_uri */
#define DISCOVERY_ARRAY_MAX	64	/* entries of the optional arrays */
#define DISCOVERY_NAME_MAX	256	/* one auth method or grant type */
#define WELL_KNOWN		"/.well-known/openid-configuration"

#define JWKS_MIN_AGE_MS		(60 * 1000)
#define JWKS_MAX_AGE_MS		(10 * 60 * 1000)
#define JWKS_COOLDOWN_MS	(30 * 1000)

/* Copies at most 96 printable ASCII bytes of s for an error message. */
static const char *
shown(const char *s, char *buf, size_t bufsz)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 4 < bufsz && i < 96; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (s[i] != '\0' && o + 4 <= bufsz) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static void
free_strv(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Frees d; accepts NULL. */
void
idp_discovery_free(struct idp_discovery *d)
{
	if (d == NULL)
		return;
	free(d->issuer);
	free(d->token_endpoint);
	free(d->jwks_uri);
	free_strv(d->auth_methods, d->n_auth_methods);
	free_strv(d->grant_types, d->n_grant_types);
	free(d);
}

/*
 * Reads a required endpoint URL and applies the HTTP client's policy; the
 * endpoints of a TLS issuer (tls_issuer) must be https themselves.
 */
static int
get_endpoint(const json_t *root, const char *name, int tls_issuer,
    int allow_http_loopback, char **ret, struct idp_err *err)
{
	const json_t *v = json_object_get(root, name);
	struct idp_err uerr;
	const char *s;
	int rc;

	if (v == NULL)
		return idp_err_set(err, -EBADMSG, "discovery lacks %s", name);
	if (!json_is_string(v))
		return idp_err_set(err, -EBADMSG,
		    "discovery %s is not a string", name);
	s = json_string_value(v);
	if (json_string_length(v) > DISCOVERY_URL_MAX)
		return idp_err_set(err, -E2BIG,
		    "discovery %s longer than %d bytes", name,
		    DISCOVERY_URL_MAX);
	if (tls_issuer && strncasecmp(s, "http:", 5) == 0)
		return idp_err_set(err, -EPROTO, "discovery %s refused: plain "
		    "http for an https issuer (https required)", name);
	if ((rc = idp_http_url_allowed(s, tls_issuer ? 0 :
	    allow_http_loopback, &uerr)) < 0)
		return idp_err_set(err, rc, "discovery %s refused: %s", name,
		    uerr.msg);
	if ((*ret = strdup(s)) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Reads an optional array of short strings. */
static int
get_strv(const json_t *root, const char *name, char ***ret, size_t *ret_n,
    struct idp_err *err)
{
	const json_t *v = json_object_get(root, name), *e;
	char **out = NULL;
	size_t i, n;

	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return idp_err_set(err, -EBADMSG,
		    "discovery %s is not an array", name);
	n = json_array_size(v);
	if (n > DISCOVERY_ARRAY_MAX)
		return idp_err_set(err, -E2BIG,
		    "discovery %s has %zu entries, limit %d", name, n,
		    DISCOVERY_ARRAY_MAX);
	if (n == 0)
		return 0;
	if ((out = calloc(n, sizeof(*out))) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) ||
		    json_string_length(e) > DISCOVERY_NAME_MAX) {
			free_strv(out, n);
			return idp_err_set(err, -EBADMSG,
			    "discovery %s[%zu] is not a short string", name, i);
		}
		if ((out[i] = strdup(json_string_value(e))) == NULL) {
			free_strv(out, n);
			return idp_err_set(err, -ENOMEM, "out of memory");
		}
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

/*
 * Parses a discovery document; the issuer must equal expected_issuer
 * byte for byte.  Free *ret with idp_discovery_free().
 */
int
idp_discovery_parse(const void *buf, size_t len, const char *expected_issuer,
    int allow_http_loopback, struct idp_discovery **ret, struct idp_err *err)
{
	struct idp_discovery *d = NULL;
	json_t *root = NULL;
	const json_t *iss;
	json_error_t jerr;
	char a[112], b[112];
	int rc, tls;

	if (buf == NULL || expected_issuer == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no discovery document");
	if (len > IDP_DISCOVERY_MAX)
		return idp_err_set(err, -E2BIG,
		    "discovery document larger than %d bytes",
		    IDP_DISCOVERY_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = idp_err_set(err, -EBADMSG, "discovery is not valid JSON "
		    "(line %d, column %d)", jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = idp_err_set(err, -EBADMSG,
		    "discovery is not a JSON object");
		goto out;
	}
	iss = json_object_get(root, "issuer");
	if (!json_is_string(iss)) {
		rc = idp_err_set(err, -EBADMSG,
		    "discovery lacks a string issuer");
		goto out;
	}
	/* OIDC Discovery 4.3: identical, so no normalisation at all. */
	if (json_string_length(iss) != strlen(expected_issuer) ||
	    strcmp(json_string_value(iss), expected_issuer) != 0) {
		rc = idp_err_set(err, -EACCES,
		    "issuer mismatch: discovery says %s, configured %s",
		    shown(json_string_value(iss), a, sizeof(a)),
		    shown(expected_issuer, b, sizeof(b)));
		goto out;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->issuer = strdup(expected_issuer)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * Plain http endpoints only for an issuer that is itself plain http
	 * (which the HTTP policy allows on loopback only): the document of
	 * an https issuer cannot send the client secret, the assertion or
	 * the key fetch to plain http, even on loopback.  Anything but an
	 * http:// issuer counts as https, so an odd spelling only ever
	 * tightens the policy.
	 */
	tls = strncasecmp(expected_issuer, "http://", 7) != 0;
	if ((rc = get_endpoint(root, "token_endpoint", tls,
	    allow_http_loopback, &d->token_endpoint, err)) < 0 ||
	    (rc = get_endpoint(root, "jwks_uri", tls, allow_http_loopback,
	    &d->jwks_uri, err)) < 0 ||
	    (rc = get_strv(root, "token_endpoint_auth_methods_supported",
	    &d->auth_methods, &d->n_auth_methods, err)) < 0 ||
	    (rc = get_strv(root, "grant_types_supported", &d->grant_types,
	    &d->n_grant_types, err)) < 0)
		goto out;
	*ret = d;
	d = NULL;
	rc = 0;
out:
	idp_discovery_free(d);
	json_decref(root);
	return rc;
}

/*
 * Returns issuer's discovery URL (caller frees with free()), or NULL for
 * an empty issuer, one with a query or fragment, or out of memory.  A
 * path is kept and the well-known suffix appended to it (Discovery 4).
 */
char *
idp_discovery_url(const char *issuer)
{
	size_t n;
	char *url;

	if (issuer == NULL || issuer[0] == '\0' ||
	    strpbrk(issuer, "?#") != NULL)
		return NULL;
	n = strlen(issuer);
	if (n > DISCOVERY_URL_MAX)
		return NULL;
	while (n > 0 && issuer[n - 1] == '/')
		n--;
	if (n == 0 || (url = malloc(n + sizeof(WELL_KNOWN))) == NULL)
		return NULL;
	memcpy(url, issuer, n);
	memcpy(url + n, WELL_KNOWN, sizeof(WELL_KNOWN));
	return url;
}

/* ---- JWKS cache policy --------------------------------------------- */

/* Sets the defaults; keys start NULL and the cache is stale. */
void
idp_jwks_cache_init(struct idp_jwks_cache *c)
{
	memset(c, 0, sizeof(*c));
	c->last_forced = INT64_MIN;	/* never */
	c->min_age = JWKS_MIN_AGE_MS;
	c->max_age = JWKS_MAX_AGE_MS;
	c->cooldown = JWKS_COOLDOWN_MS;
}

/* Frees the key set; the cache is stale afterwards. */
void
idp_jwks_cache_clear(struct idp_jwks_cache *c)
{
	idp_jwks_free(c->keys);
	c->keys = NULL;
	c->fetched_at = 0;
	c->expires_at = 0;
}

/*
 * Calls fn for each comma-separated directive of a Cache-Control value,
 * with its name and argument (quotes removed, may be empty), trimmed.
 * Stops and returns 1 when fn does.
 */
static int
cc_each(const char *v, int (*fn)(const char *name, size_t nl,
    const char *arg, size_t al, void *ctx), void *ctx)
{
	const char *p = v, *end, *eq, *name, *arg;
	size_t nl, al;

	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		name = p;
		eq = memchr(p, '=', (size_t)(end - p));
		nl = (size_t)((eq != NULL ? eq : end) - name);
		while (nl > 0 && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
			nl--;
		arg = "";
		al = 0;
		if (eq != NULL) {
			arg = eq + 1;
			al = (size_t)(end - arg);
			while (al > 0 && (*arg == ' ' || *arg == '\t')) {
				arg++;
				al--;
			}
			while (al > 0 && (arg[al - 1] == ' ' ||
			    arg[al - 1] == '\t'))
				al--;
			if (al >= 2 && arg[0] == '"' && arg[al - 1] == '"') {
				arg++;
				al -= 2;
			}
		}
		if (nl > 0 && fn(name, nl, arg, al, ctx))
			return 1;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* RFC 9111 1.2.2: a delta-seconds beyond 2^31 counts as 2^31. */
#define DELTA_SECONDS_MAX	INT64_C(2147483648)

static int
cc_max_age(const char *name, size_t nl, const char *arg, size_t al, void *ctx)
{
	int64_t *best = ctx, v = 0;
	size_t i;

	if (nl != 7 || strncasecmp(name, "max-age", 7) != 0 || al == 0)
		return 0;
	for (i = 0; i < al; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return 0;	/* malformed: ignored */
		if (v < DELTA_SECONDS_MAX)
			v = v * 10 + (arg[i] - '0');
	}
	if (v > DELTA_SECONDS_MAX)
		v = DELTA_SECONDS_MAX;
	/* Conflicting max-age directives: the most cautious one wins. */
	if (*best < 0 || v < *best)
		*best = v;
	return 0;
}

static int
cc_no_store(const char *name, size_t nl, const char *arg, size_t al,
    void *ctx)
{
	(void)arg;
	(void)al;
	(void)ctx;
	return (nl == 8 && strncasecmp(name, "no-store", 8) == 0) ||
	    (nl == 8 && strncasecmp(name, "no-cache", 8) == 0);
}

/*
 * Returns the max-age of a Cache-Control value in seconds (capped at
 * 2^31), or -1 when absent or malformed.  s-maxage is a different
 * directive and ignored.
 */
int64_t
idp_cache_control_max_age(const char *v)
{
	int64_t best = -1;

	if (v == NULL)
		return -1;
	(void)cc_each(v, cc_max_age, &best);
	return best;
}

static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* Installs keys (ownership taken) fetched at now with their Cache-Control. */
void
idp_jwks_cache_put(struct idp_jwks_cache *c, struct idp_jwks *keys,
    const char *cache_control, int64_t now)
{
	int64_t age, secs;

	if (c->keys != keys)
		idp_jwks_free(c->keys);
	c->keys = keys;
	c->fetched_at = now;
	secs = idp_cache_control_max_age(cache_control);
	if (cache_control != NULL && cc_each(cache_control, cc_no_store, NULL))
		age = c->min_age;
	else if (secs < 0)
		age = c->max_age;
	else {
		age = secs * 1000;	/* secs <= 2^31: no overflow */
		if (age < c->min_age)
			age = c->min_age;
		if (age > c->max_age)
			age = c->max_age;
	}
	if (age < 0)
		age = 0;
	c->expires_at = sat_add(now, age);
}

/* Returns 1 when there are no keys or the scheduled refresh is due. */
int
idp_jwks_cache_stale(const struct idp_jwks_cache *c, int64_t now)
{
	return c->keys == NULL || now >= c->expires_at;
}

/*
 * Returns 1 (and records now) when a refetch for an unknown kid is
 * allowed: never forced before, or at least cooldown since the last one.
 * A clock that reads earlier than the last forced refetch allows one, so
 * a reset clock cannot lock refreshes out.
 */
int
idp_jwks_cache_unknown_kid(struct idp_jwks_cache *c, int64_t now)
{
	int64_t since;

	if (c->last_forced != INT64_MIN && now >= c->last_forced &&
	    !__builtin_sub_overflow(now, c->last_forced, &since) &&
	    since < c->cooldown)
		return 0;
	c->last_forced = now;
	return 1;
}
