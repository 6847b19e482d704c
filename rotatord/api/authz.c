/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authorization: what a caller may do, decided from the [client], [route]
 * and [listen] sections alone.  Pure: no I/O, no clock, no logging; the
 * server logs the decision and the reason written into `why`.
 *
 * Deny by default: a caller that matches no [client] may read nothing and
 * mint nothing, a URI that no [route] covers is refused, and a malformed
 * or ambiguous input (a path that is not in normal form, a missing
 * method where the route names methods) is refused rather than guessed at.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/authz.h"

/* Longest request path authz_route() looks at, decoded. */
#define AUTHZ_MAX_PATH	8192

/* Is g the caller's primary or one of its supplementary groups? */
static int
in_group(const struct authz_caller *who, gid_t g)
{
	size_t i;

	if (who->gid == g)
		return 1;
	for (i = 0; who->groups != NULL && i < who->n_groups; i++)
		if (who->groups[i] == g)
			return 1;
	return 0;
}

/*
 * Is s a JSON number (RFC 8259 6): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * Sets *is_int when it has neither fraction nor exponent.
 */
static int
json_number_text(const char *s, int *is_int)
{
	const char *p = s;

	*is_int = 1;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		p += strspn(p, "0123456789");
	else
		return 0;
	if (*p == '.') {
		*is_int = 0;
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		p += strspn(p, "0123456789");
	}
	if (*p == 'e' || *p == 'E') {
		*is_int = 0;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		p += strspn(p, "0123456789");
	}
	return *p == '\0';
}

/*
 * Does one JSON value equal the configured text value?  Strings compare
 * exactly; true and false as "true" and "false"; numbers by value, when
 * value is written as a JSON number ("42" matches 42 and 42.0, "042" and
 * "0x2a" match nothing).  null, arrays and objects never match.
 */
static int
scalar_matches(const json_t *j, const char *value)
{
	char *end;
	long long ll;
	double d;
	int is_int;

	switch (json_typeof(j)) {
	case JSON_STRING:
		return strlen(value) == json_string_length(j) &&
		    strcmp(json_string_value(j), value) == 0;
	case JSON_TRUE:
		return strcmp(value, "true") == 0;
	case JSON_FALSE:
		return strcmp(value, "false") == 0;
	case JSON_INTEGER:
	case JSON_REAL:
		if (!json_number_text(value, &is_int))
			return 0;
		errno = 0;
		if (is_int && json_is_integer(j)) {
			/* Exactly, without a detour through double. */
			ll = strtoll(value, &end, 10);
			return errno == 0 && *end == '\0' &&
			    ll == (long long)json_integer_value(j);
		}
		d = strtod(value, &end);
		return errno == 0 && *end == '\0' && d == json_number_value(j);
	default:
		return 0;
	}
}

int
authz_claim_matches(const json_t *claims, const char *name,
    const char *value)
{
	const json_t *v, *el;
	size_t i;

	if (claims == NULL || name == NULL || value == NULL ||
	    !json_is_object(claims))
		return 0;
	v = json_object_get(claims, name);
	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return scalar_matches(v, value);
	json_array_foreach(v, i, el)
		if (!json_is_array(el) && scalar_matches(el, value))
			return 1;
	return 0;
}

int
authz_client_matches(const struct cfg_client *cl,
    const struct authz_caller *who)
{
	int unix_sel, bearer_sel;
	size_t i;

	if (cl == NULL || who == NULL)
		return 0;
	unix_sel = cl->n_uids > 0 || cl->n_gids > 0;
	bearer_sel = cl->issuer != NULL || cl->subject != NULL ||
	    cl->n_claims > 0;
	/* A section that selects nobody matches nobody (config refuses it). */
	if (!unix_sel && !bearer_sel)
		return 0;

	if (unix_sel) {
		if (who->kind != AUTHZ_UNIX)
			return 0;
		if (cl->n_uids > 0) {
			for (i = 0; i < cl->n_uids; i++)
				if (cl->uids[i] == who->uid)
					break;
			if (i == cl->n_uids)
				return 0;
		}
		if (cl->n_gids > 0) {
			for (i = 0; i < cl->n_gids; i++)
				if (in_group(who, cl->gids[i]))
					break;
			if (i == cl->n_gids)
				return 0;
		}
	}
	if (bearer_sel) {
		if (who->kind != AUTHZ_BEARER)
			return 0;
		if (cl->issuer != NULL && (who->issuer == NULL ||
		    strcmp(cl->issuer, who->issuer) != 0))
			return 0;
		if (cl->subject != NULL && (who->subject == NULL ||
		    strcmp(cl->subject, who->subject) != 0))
			return 0;
		for (i = 0; i < cl->n_claims; i++)
			if (!authz_claim_matches(who->claims, cl->claims[i].name,
			    cl->claims[i].value))
				return 0;
	}
	return 1;
}

int
authz_may_read(const struct config *c, const struct authz_caller *who,
    const char *cred)
{
	size_t i, j;

	if (c == NULL || who == NULL || cred == NULL)
		return 0;
	for (i = 0; i < c->n_clients; i++) {
		const struct cfg_client *cl = c->clients[i];

		if (!authz_client_matches(cl, who))
			continue;
		for (j = 0; j < cl->n_allow; j++)
			if (cl->allow[j] != NULL && cl->allow[j]->name != NULL &&
			    strcmp(cl->allow[j]->name, cred) == 0)
				return 1;
	}
	return 0;
}

static int
in_strv(char *const *v, size_t n, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
			return 1;
	return 0;
}

/* Is the scope token s[0..len) in token_scopes of a matching client? */
static int
any_client_scope(const struct config *c, const struct authz_caller *who,
    const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < c->n_clients; i++)
		if (authz_client_matches(c->clients[i], who) &&
		    in_strv(c->clients[i]->token_scopes,
		    c->clients[i]->n_token_scopes, s, len))
			return 1;
	return 0;
}

enum authz_result
authz_may_mint(const struct config *c, const struct authz_caller *who,
    const char *const *aud, size_t n_aud, const char *scope)
{
	const char *p;
	size_t i, j, len;
	int any = 0;

	if (c == NULL || who == NULL)
		return AUTHZ_DENIED;
	for (i = 0; i < c->n_clients && !any; i++)
		any = authz_client_matches(c->clients[i], who);
	if (!any)
		return AUTHZ_DENIED;
	if (aud == NULL || n_aud == 0)
		return AUTHZ_BAD_TARGET;
	for (i = 0; i < n_aud; i++) {
		if (aud[i] == NULL)
			return AUTHZ_BAD_TARGET;
		for (j = 0; j < c->n_clients; j++)
			if (authz_client_matches(c->clients[j], who) &&
			    in_strv(c->clients[j]->token_audiences,
			    c->clients[j]->n_token_audiences, aud[i],
			    strlen(aud[i])))
				break;
		if (j == c->n_clients)
			return AUTHZ_BAD_TARGET;
	}
	/* scope: tokens separated by spaces (RFC 6749 3.3). */
	for (p = scope; p != NULL && *p != '\0'; p += len) {
		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len > 0 && !any_client_scope(c, who, p, len))
			return AUTHZ_BAD_SCOPE;
	}
	return AUTHZ_OK;
}

static void __attribute__((format(printf, 3, 4)))
reason(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * Copies s into buf for a reason: at most 64 bytes, anything but printable
 * ASCII as '?'.  The path and method come from the request.
 */
static const char *
safe(char *buf, size_t size, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < size; i++) {
		if (i == 64) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (s[i] >= 0x21 && s[i] <= 0x7e) ? s[i] : '?';
	}
	buf[o] = '\0';
	return buf;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * The path of uri (up to '?'), percent-decoded, into buf.  Returns NULL
 * when it is in normal form, or why not.  The path is refused rather than
 * normalised when it has dot segments, empty segments (//) or escapes that
 * do not decode to a printable byte: nginx resolves those before it picks
 * a location, so a raw "/pay/../admin" or "//admin" would otherwise be
 * judged by the rules of one route and served by another.
 */
static const char *
decode_path(const char *uri, char *buf, size_t size, size_t *ret_len)
{
	size_t i, o = 0, n;
	const char *p;

	n = strcspn(uri, "?");
	if (n == 0 || uri[0] != '/')
		return "the path must start with '/'";
	if (n >= size)
		return "the path is too long";
	for (i = 0; i < n; i++) {
		int hi, lo;
		unsigned char ch = (unsigned char)uri[i];

		if (ch == '%') {
			if (i + 2 >= n)
				return "bad %-escape in the path";
			hi = hexval(uri[i + 1]);
			lo = hexval(uri[i + 2]);
			if (hi < 0 || lo < 0)
				return "bad %-escape in the path";
			ch = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (ch == 0)
				return "%00 in the path";
		}
		if (ch < 0x20 || ch == 0x7f)
			return "control character in the path";
		if (ch == '#')
			return "fragment in the path";
		buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	if (strstr(buf, "//") != NULL)
		return "empty segment (//) in the path";
	for (p = buf; p != NULL; p = strchr(p + 1, '/'))
		if (strncmp(p, "/./", 3) == 0 || strcmp(p, "/.") == 0 ||
		    strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0)
			return ". or .. segment in the path";
	*ret_len = o;
	return NULL;
}

/* Is scope token s in a "scope"/"scp" claim (space-separated or array)? */
static int
claim_has_scope(const json_t *v, const char *s)
{
	const json_t *el;
	const char *p;
	size_t i, len, n = strlen(s);

	if (json_is_string(v)) {
		/* A NUL inside would hide the rest of the string. */
		if (strlen(json_string_value(v)) != json_string_length(v))
			return 0;
		for (p = json_string_value(v); *p != '\0'; p += len) {
			p += strspn(p, " ");
			len = strcspn(p, " ");
			if (len == n && memcmp(p, s, n) == 0)
				return 1;
		}
		return 0;
	}
	if (json_is_array(v))
		json_array_foreach(v, i, el)
			if (json_is_string(el) &&
			    strcmp(json_string_value(el), s) == 0 &&
			    json_string_length(el) == n)
				return 1;
	return 0;
}

static int
has_scope(const json_t *claims, const char *s)
{
	if (!json_is_object(claims))
		return 0;
	return claim_has_scope(json_object_get(claims, "scope"), s) ||
	    claim_has_scope(json_object_get(claims, "scp"), s);
}

/* Does the "aud" claim (a string or an array) hold aud? */
static int
has_audience(const json_t *claims, const char *aud)
{
	return authz_claim_matches(claims, "aud", aud) &&
	    (json_is_string(json_object_get(claims, "aud")) ||
	    json_is_array(json_object_get(claims, "aud")));
}

static int
is_signer(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->n_signers; i++)
		if (strcmp(c->signers[i]->name, name) == 0)
			return 1;
	return 0;
}

int
authz_api_audience(const struct config *c, const struct authz_caller *who)
{
	if (c == NULL || who == NULL)
		return 0;
	if (who->kind != AUTHZ_BEARER || !is_signer(c, who->issuer))
		return 1;
	return c->listen.audience != NULL &&
	    has_audience(who->claims, c->listen.audience);
}

int
authz_is_reexchange(const struct config *c, const struct authz_caller *who)
{
	return c != NULL && who != NULL && who->kind == AUTHZ_BEARER &&
	    is_signer(c, who->issuer);
}

int
authz_may_reexchange(const struct config *c, const struct authz_caller *who)
{
	size_t i;

	if (!authz_is_reexchange(c, who))
		return 0;
	for (i = 0; i < c->n_clients; i++)
		if (c->clients[i]->token_reexchange &&
		    authz_client_matches(c->clients[i], who))
			return 1;
	return 0;
}

unsigned
authz_act_depth(const json_t *claims, unsigned limit)
{
	const json_t *a = claims;
	unsigned n = 0;

	/* json_is_object() evaluates its argument twice: no side effects. */
	while (n <= limit && json_is_object(a)) {
		a = json_object_get(a, "act");
		if (!json_is_object(a))
			break;
		n++;
	}
	return n;
}

enum authz_result
authz_route(const struct config *c, const char *uri, const char *method,
    const struct authz_caller *who, const char **ret_route, char *why,
    size_t whylen)
{
	const struct cfg_route *rt = NULL;
	char path[AUTHZ_MAX_PATH], sb[80];
	const char *bad;
	size_t i, len = 0, best = 0;
	enum authz_result r = AUTHZ_DENIED;

	reason(why, whylen, "denied");
	if (c == NULL || who == NULL || who->kind != AUTHZ_BEARER) {
		reason(why, whylen, "not a bearer-token caller");
		return AUTHZ_DENIED;
	}
	if (uri == NULL) {
		reason(why, whylen, "no request URI");
		return AUTHZ_DENIED;
	}
	if ((bad = decode_path(uri, path, sizeof(path), &len)) != NULL) {
		reason(why, whylen, "%s: %s", bad,
		    safe(sb, sizeof(sb), uri, strcspn(uri, "?")));
		goto out;
	}

	/* Longest prefix wins; prefixes are unique (config checks). */
	for (i = 0; i < c->n_routes; i++) {
		size_t n = strlen(c->routes[i]->prefix);

		if (n <= len && n > best &&
		    memcmp(c->routes[i]->prefix, path, n) == 0) {
			rt = c->routes[i];
			best = n;
		}
	}
	if (rt == NULL) {
		reason(why, whylen, "no route for %s",
		    safe(sb, sizeof(sb), path, len));
		goto out;
	}

	if (rt->n_methods > 0) {
		if (method == NULL || method[0] == '\0') {
			reason(why, whylen, "no method given, route %s allows "
			    "only some", rt->name);
			goto out;
		}
		for (i = 0; i < rt->n_methods; i++)
			if (strcmp(rt->methods[i], method) == 0)
				break;
		if (i == rt->n_methods) {
			reason(why, whylen, "method %s not allowed on route %s",
			    safe(sb, sizeof(sb), method, strlen(method)),
			    rt->name);
			goto out;
		}
	}
	if (rt->issuer != NULL && (who->issuer == NULL ||
	    strcmp(rt->issuer, who->issuer) != 0)) {
		reason(why, whylen, "issuer %s required", rt->issuer);
		goto out;
	}
	if (rt->audience != NULL && is_signer(c, who->issuer) &&
	    !has_audience(who->claims, rt->audience)) {
		reason(why, whylen, "audience %s required", rt->audience);
		goto out;
	}
	for (i = 0; i < rt->n_scopes; i++)
		if (!has_scope(who->claims, rt->scopes[i])) {
			reason(why, whylen, "missing scope %s", rt->scopes[i]);
			goto out;
		}
	for (i = 0; i < rt->n_claims; i++)
		if (!authz_claim_matches(who->claims, rt->claims[i].name,
		    rt->claims[i].value)) {
			reason(why, whylen, "claim %s=%s not satisfied",
			    rt->claims[i].name, rt->claims[i].value);
			goto out;
		}
	reason(why, whylen, "route %s", rt->name);
	if (ret_route != NULL)
		*ret_route = rt->name;
	r = AUTHZ_OK;
out:
	return r;
}

int
authz_may_metrics(const struct config *c, const struct authz_caller *who)
{
	size_t i;

	if (c == NULL || who == NULL)
		return 0;
	if (who->kind == AUTHZ_UNIX)
		return 1;
	for (i = 0; i < c->n_clients; i++)
		if (c->clients[i]->metrics &&
		    authz_client_matches(c->clients[i], who))
			return 1;
	return 0;
}

int
authz_is_admin(const struct config *c, const struct authz_caller *who)
{
	if (c == NULL || who == NULL || who->kind != AUTHZ_UNIX)
		return 0;
	if (who->uid == 0)
		return 1;
	return c->listen.admin_group != (gid_t)-1 &&
	    in_group(who, c->listen.admin_group);
}
