/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure value syntax: durations, fractions, booleans, modes, secret
 * references, names, host names, URIs and scopes.  No parser state, no
 * messages: the callers in keys.c and build*.c say what was wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "config/config.h"
#include "config/parse.h"
#include "core/log.h"

/* Formats ms as "1h30m", "500ms", "0s" for messages. */
const char *
fmt_duration(char *buf, size_t size, int64_t ms)
{
	static const struct {
		const char	*unit;
		int64_t		 ms;
	} units[] = {
		{ "d", DAY_S }, { "h", HOUR_S }, { "m", MIN_S }, { "s", SEC_S },
		{ "ms", 1 },
	};
	size_t i, o = 0;

	buf[0] = '\0';
	if (ms <= 0) {
		snprintf(buf, size, "%s0s", ms < 0 ? "-" : "");
		return buf;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) && o < size; i++)
		if (ms >= units[i].ms) {
			o += (size_t)snprintf(buf + o, size - o, "%lld%s",
			    (long long)(ms / units[i].ms), units[i].unit);
			ms %= units[i].ms;
		}
	return buf;
}

/* Value syntax.  These are pure and exported for tests. */

int
config_parse_duration(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char	*unit;
		int64_t		 ms;
	} units[] = {
		/* "ms" before "m". */
		{ "d", DAY_S }, { "h", HOUR_S }, { "ms", 1 }, { "m", MIN_S },
		{ "s", SEC_S },
	};
	int64_t total = 0, last = INT64_MAX;
	const char *p = s;

	if (*p == '\0')
		return -EINVAL;
	while (*p != '\0') {
		int64_t n = 0, mult = 0;
		size_t i, ulen = 0;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (n > (INT64_MAX - (*p - '0')) / 10)
				return -EINVAL;
			n = n * 10 + (*p - '0');
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			ulen = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, ulen) == 0) {
				mult = units[i].ms;
				break;
			}
		}
		/* A unit is required; units go from large to small, once each. */
		if (mult == 0 || mult >= last)
			return -EINVAL;
		p += ulen;
		last = mult;
		if (n > (INT64_MAX - total) / mult)
			return -EINVAL;
		total += n * mult;
	}
	*ret_ms = total;
	return 0;
}

/* Parses digits [. digits] (at most 9 of each) into *ret.  Returns the end. */
static const char *
parse_decimal(const char *p, double *ret)
{
	double v = 0, scale = 1;
	int n = 0;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (++n > 9)
			return NULL;
		v = v * 10 + (*p - '0');
	}
	if (n == 0)
		return NULL;
	if (*p == '.') {
		p++;
		n = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (++n > 9)
				return NULL;
			scale /= 10;
			v += (*p - '0') * scale;
		}
		if (n == 0)
			return NULL;
	}
	*ret = v;
	return p;
}

int
config_parse_fraction(const char *s, double *ret)
{
	double a, b, v;
	const char *p;

	p = parse_decimal(s, &a);
	if (p == NULL)
		return -EINVAL;
	if (*p == '/') {
		/* Integers only on both sides of a '/'. */
		if (strchr(s, '.') != NULL)
			return -EINVAL;
		p = parse_decimal(p + 1, &b);
		if (p == NULL || *p != '\0' || b == 0)
			return -EINVAL;
		v = a / b;
	} else if (*p == '%' && p[1] == '\0') {
		v = a / 100;
	} else if (*p == '\0') {
		v = a;
	} else {
		return -EINVAL;
	}
	if (!(v >= 0 && v <= 1))
		return -EINVAL;
	*ret = v;
	return 0;
}

int
config_parse_bool(const char *s, int *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = 0;
			return 0;
		}
	}
	return -EINVAL;
}

int
config_parse_mode(const char *s, mode_t *ret)
{
	mode_t m = 0;
	size_t n;

	n = strlen(s);
	if (n < 3 || n > 4)
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '7')
			return -EINVAL;
		m = (mode_t)(m * 8 + (mode_t)(*s - '0'));
	}
	*ret = m;
	return 0;
}

/* [A-Za-z0-9._-]{1,max} */
int
valid_name(const char *s, size_t max)
{
	size_t n;

	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-");
	return n > 0 && n <= max && s[n] == '\0';
}

int
config_parse_secret_ref(const char *s, enum cfg_secret_source *ret_source,
    const char **ret_arg)
{
	const char *arg;

	if (strncmp(s, "file:", 5) == 0) {
		arg = s + 5;
		if (arg[0] != '/')
			return -EINVAL;
		*ret_source = CFG_SECRET_FILE;
	} else if (strncmp(s, "env:", 4) == 0) {
		arg = s + 4;
		if (arg[0] == '\0' || (arg[0] >= '0' && arg[0] <= '9') ||
		    arg[strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_")] != '\0')
			return -EINVAL;
		*ret_source = CFG_SECRET_ENV;
	} else if (strncmp(s, "cred:", 5) == 0) {
		arg = s + 5;
		if (!valid_name(arg, NAME_MAX) || arg[0] == '.')
			return -EINVAL;
		*ret_source = CFG_SECRET_CRED;
	} else {
		arg = s;
		if (arg[0] == '\0')
			return -EINVAL;
		*ret_source = CFG_SECRET_LITERAL;
	}
	*ret_arg = arg;
	return 0;
}

/* A host name (labels of [A-Za-z0-9_-]), optionally "*." + host name. */
int
valid_hostname(const char *s, int wildcard)
{
	size_t n, label = 0;

	if (wildcard && strncmp(s, "*.", 2) == 0)
		s += 2;
	n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

int
is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* scheme ":" something, no blanks. */
int
valid_uri(const char *s)
{
	size_t n;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return 0;
	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+.-");
	if (s[n] != ':' || s[n + 1] == '\0')
		return 0;
	for (s += n; *s != '\0'; s++)
		if (*s == ' ' || *s == '\t')
			return 0;
	return 1;
}

/* RFC 6749 3.3: scope tokens of %x21 / %x23-5B / %x5D-7E, one space apart. */
int
valid_scope(const char *s)
{
	int prev_space = 1;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == ' ') {
			if (prev_space)
				return 0;
			prev_space = 1;
			continue;
		}
		if (ch < 0x21 || ch == 0x22 || ch == 0x5c || ch > 0x7e)
			return 0;
		prev_space = 0;
	}
	return !prev_space;
}

/*
 * 1 to max bytes of printable ASCII (%x20-7E), without blanks unless
 * blank_ok.
 */
int
valid_printable(const char *s, size_t max, int blank_ok)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < (blank_ok ? 0x20 : 0x21) ||
		    (unsigned char)s[n] > 0x7e)
			return 0;
	return n > 0 && n <= max;
}

/* 127.0.0.0/8, ::1 (bracketed is set for "[...]") or localhost. */
int
is_loopback_host(const char *host, int bracketed)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (bracketed)
		return inet_pton(AF_INET6, host, &a6) == 1 &&
		    memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcasecmp(host, "localhost") == 0;
}

/*
 * An issuer URL: https://HOST[:PORT][/PATH], or http:// when HOST is a
 * loopback literal or localhost.  No user information, query or fragment,
 * and only characters a URI may carry unencoded.  The URL is otherwise
 * taken as written: OpenID Connect compares the issuer byte for byte.
 * Returns NULL when valid, or the reason.
 */
const char *
check_issuer_url(const char *v)
{
	const char *auth, *end, *hb, *he, *p;
	char host[256];
	unsigned long port = 0;
	int https, bracketed;

	if (strncmp(v, "https://", 8) == 0) {
		https = 1;
		auth = v + 8;
	} else if (strncmp(v, "http://", 7) == 0) {
		https = 0;
		auth = v + 7;
	} else {
		return "must be an https:// URL";
	}
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("\"<>\\^`{|}", *p) != NULL)
			return "blanks, quotes, non-ASCII and <>\\^`{|} must be "
			    "percent-encoded";
	if (strpbrk(v, "?#") != NULL)
		return "must not have a query or fragment";
	end = auth + strcspn(auth, "/");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return "must not have user information (user@)";
	bracketed = auth[0] == '[';
	if (bracketed) {
		hb = auth + 1;
		he = memchr(hb, ']', (size_t)(end - hb));
		if (he == NULL)
			return "bad host: no closing ']'";
		p = he + 1;
	} else {
		hb = auth;
		he = memchr(auth, ':', (size_t)(end - auth));
		if (he == NULL)
			he = end;
		p = he;
	}
	if (p < end) {
		if (*p != ':')
			return "bad host";
		for (p++; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (p != end || port < 1 || port > 65535)
			return "bad port (1 to 65535)";
	}
	if (he == hb)
		return "has no host";
	if ((size_t)(he - hb) >= sizeof(host))
		return "host name too long";
	memcpy(host, hb, (size_t)(he - hb));
	host[he - hb] = '\0';
	if (bracketed ? !is_ip_literal(host) || strchr(host, ':') == NULL :
	    !valid_hostname(host, 0))
		return "bad host";
	if (!https && !is_loopback_host(host, bracketed))
		return "must be https (http only for loopback)";
	return NULL;
}

/* Empties s, wiping a literal secret. */
void
secret_clear(struct cfg_secret *s)
{
	if (s->arg != NULL) {
		if (s->source == CFG_SECRET_LITERAL)
			explicit_bzero(s->arg, strlen(s->arg));
		free(s->arg);
	}
	s->arg = NULL;
	s->source = 0;
}

/* Frees an array of n strings, or of strings up to a NULL if n is -1. */
void
strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; n == (size_t)-1 ? v[i] != NULL : i < n; i++)
		free(v[i]);
	free(v);
}

/* A directory under output_dir: one path component, not hidden. */
int
valid_dir(const char *d)
{
	return valid_name(d, NAME_MAX) && d[0] != '.';
}

/* Is `inner` equal to or below `outer` (both absolute)? */
int
path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	while (n > 1 && outer[n - 1] == '/')
		n--;
	if (n == 1)
		return 1;
	return strncmp(inner, outer, n) == 0 &&
	    (inner[n] == '\0' || inner[n] == '/');
}

/* RFC 6749 3.3 scope-token: NQCHAR except space, so one token. */
int
valid_scope_token(const char *s)
{
	return strchr(s, ' ') == NULL && valid_scope(s);
}

/* A claim name: [A-Za-z0-9_.:-]{1,64}. */
int
valid_claim_name(const char *s)
{
	size_t n;

	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.:-");
	return n > 0 && n <= 64 && s[n] == '\0';
}

/*
 * A route prefix: '/' and printable ASCII without blanks.  It is matched
 * against the decoded path (see authz_route()), so it holds no %XX
 * escapes, query, fragment, dot segments or empty segments.
 */
const char *
check_prefix(const char *v)
{
	const char *p;

	if (v[0] != '/')
		return "must start with '/'";
	if (!valid_printable(v, CONFIG_MAX_LINE, 0))
		return "printable ASCII without blanks";
	if (strpbrk(v, "?#") != NULL)
		return "no query or fragment: only the path is matched";
	if (strchr(v, '%') != NULL)
		return "no %XX escapes: it is matched against the decoded path";
	if (strstr(v, "//") != NULL)
		return "no empty segments (//)";
	for (p = v; p != NULL; p = strchr(p + 1, '/'))
		if (strncmp(p, "/./", 3) == 0 || strcmp(p, "/.") == 0 ||
		    strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0)
			return "no . or .. segments";
	return NULL;
}
