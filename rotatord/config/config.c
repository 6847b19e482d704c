/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config/: reading rotatord.ini into an immutable struct config, its
 * typed values and secret references.  Must not include more than core/log.h.
 */
/*
 * Configuration: one ini file, read with the system libinih, turned into an
 * immutable struct config.  Every problem is collected as "PATH:LINE:
 * section.key: reason" and all of them are reported, in line order, before
 * config_load() gives up.
 *
 * The work is done in two passes.  The first reads the file through
 * ini_parse_stream() with our own reader and stores every section and every
 * key = value pair with its line number; it reports what is wrong with the
 * text itself (long lines, bad headers, duplicates).  The second builds the
 * struct config from the stored pairs, which is what lets a key come before
 * the key that decides whether it applies (dns before type), and a reference
 * come before the section it names.
 *
 * How the inih traps are handled (this is user-visible behaviour; the README
 * carries the same text):
 *
 *  - Line length.  inih hands its reader a buffer of INI_MAX_LINE (200)
 *    bytes and would silently parse the rest of a longer line as a new line.
 *    Our reader sees every physical line whole: a line longer than
 *    CONFIG_MAX_LINE (199) bytes, not counting "\n" or "\r\n", is reported
 *    as "line too long" at its own line and inih gets an empty line instead,
 *    so the tail is never parsed and later line numbers stay right.
 *  - Indentation.  inih treats an indented line as the continuation of the
 *    previous value.  The reader strips leading whitespace, so indentation
 *    is harmless (indented keys, sections and comments are fine) and a value
 *    cannot continue on the next line: every value is on one line.
 *  - Long lists.  Instead, a key whose value is a list (list_keys[]) may be
 *    given on several lines of its section; the lines are joined in order
 *    (up to CONFIG_MAX_LIST elements), and a message about one element
 *    names the line that element is on.  Any other key given twice is an
 *    error.
 *  - Comments.  A line whose first non-blank character is ';' or '#' is a
 *    comment.  Inside a line, ';' preceded by whitespace starts a comment
 *    (so "mode = 0640 ; for nginx" is "0640"); a ';' right after another
 *    character, and '#' anywhere but the line start, are part of the value.
 *    Values are taken literally otherwise: quotes are not removed.
 *  - Separators.  "key = value" and, as inih allows, "key: value".  A line
 *    that is neither a comment, a [section] nor has '=' or ':' before any
 *    comment is an error.
 *  - Sections.  inih keeps only 49 bytes of a section name; the reader
 *    parses [section] lines itself (strictly: [rotatord], or a type word, one
 *    space and a double-quoted name of 1 to 64 characters [A-Za-z0-9._-])
 *    and inih never sees them, so long names work and empty sections are
 *    still seen and checked.
 *  - Other: a UTF-8 byte order mark on line 1 is skipped; NUL bytes and
 *    control characters other than tab are errors; the file may be at most
 *    CONFIG_MAX_FILE bytes.
 *
 * Pure apart from lookups that cannot wait for runtime: user and group
 * names (getpwnam_r / getgrnam_r); whether a CA's cert_file and key_file,
 * an issuer's ca_file and client_key can be opened (and the client_key's
 * mode); and, in config_load(), the mode of the config file itself, which
 * decides whether a literal secret may be in it.  Secret references
 * (file:, env:, cred:) are not resolved here: the daemon reads them when
 * it needs them (secretref.c), so a missing secret file is a runtime error.
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

#include <ini.h>

#include <idp/jwk.h>
#include <idp/x509.h>

#include "config/config.h"
#include "core/log.h"
#include "config/nametab.h"

#define CONFIG_MAX_FILE		(8 << 20)	/* bytes */
#define CONFIG_MAX_SECTIONS	65536
#define CONFIG_MAX_KEYS		64		/* per section */
#define CONFIG_MAX_LIST		1024		/* elements of a list */
#define CONFIG_MAX_ARGV		64		/* words of a command */
#define CONFIG_MAX_DURATION	(36500LL * 86400 * 1000) /* 100 years, in ms */
#define CONFIG_MAX_CN		64		/* X.509 ub-common-name */
#define QBUF			300		/* a quoted value in a message */

#define SEC_S			1000LL
#define MIN_S			(60 * SEC_S)
#define HOUR_S			(60 * MIN_S)
#define DAY_S			(24 * HOUR_S)

enum sect_kind {
	SEC_ROTATORD = 1,
	SEC_CA,
	SEC_SIGNER,
	SEC_CRED,
	SEC_RELOAD,
	SEC_ISSUER,
	SEC_LISTEN,
	SEC_CLIENT,
	SEC_ROUTE,
	SEC_CLUSTER,
};

/* Section words: which exist, which take a name, which come later. */
static const struct {
	const char	*word;
	int		 kind;		/* 0: planned, not in this version */
	int		 named;
} sect_words[] = {
	{ "rotatord",	SEC_ROTATORD,	0 },
	{ "ca",		SEC_CA,		1 },
	{ "signer",	SEC_SIGNER,	1 },
	{ "credential",	SEC_CRED,	1 },
	{ "reload",	SEC_RELOAD,	1 },
	{ "listen",	SEC_LISTEN,	0 },
	{ "cluster",	SEC_CLUSTER,	0 },
	{ "issuer",	SEC_ISSUER,	1 },
	{ "client",	SEC_CLIENT,	1 },
	{ "route",	SEC_ROUTE,	1 },
};

/*
 * Keys whose values are secrets, or references to them: their values never
 * appear in messages, and a literal secret is wiped when the config is
 * freed.  Their values go through config_parse_secret_ref().
 */
static const struct {
	int		 kind;
	const char	*key;
} secret_keys[] = {
	{ SEC_ISSUER,	"client_secret" },
	{ SEC_CRED,	"subject_token" },
};

/*
 * Keys whose value is a comma-separated list.  Only these may be given
 * more than once in a section: the lines are joined in order, so a list
 * longer than a line (300 DNS names) is written on several lines.
 */
static const struct {
	int		 kind;
	const char	*key;
} list_keys[] = {
	{ SEC_CRED,	"dns" },
	{ SEC_CRED,	"ip" },
	{ SEC_CRED,	"uri" },
	{ SEC_CRED,	"audience" },
	{ SEC_CRED,	"resource" },
	{ SEC_CRED,	"on_rotate" },
	{ SEC_CLIENT,	"user" },
	{ SEC_CLIENT,	"group" },
	{ SEC_CLIENT,	"allow" },
	{ SEC_CLIENT,	"claim" },
	{ SEC_CLIENT,	"token_audiences" },
	{ SEC_CLIENT,	"token_scopes" },
	{ SEC_ROUTE,	"methods" },
	{ SEC_ROUTE,	"scope" },
	{ SEC_ROUTE,	"claim" },
	{ SEC_CLUSTER,	"endpoints" },
};

/* Keys of [credential], and the types they apply to. */
#define T_X509		(1u << CRED_X509)
#define T_JWT		(1u << CRED_JWT)
#define T_SECRET	(1u << CRED_SECRET)
#define T_OAUTH		(1u << CRED_OAUTH)
#define T_ALL		(T_X509 | T_JWT | T_SECRET | T_OAUTH)

static const struct {
	const char	*key;
	unsigned	 types;
	int		 common;	/* handled by cred_common_key() */
} cred_keys[] = {
	{ "type",	 T_ALL, 1 },
	/* oauth: the issuer decides, see build_cred(). */
	{ "lifetime",	 T_X509 | T_JWT | T_SECRET, 1 },
	{ "renew_at",	 T_ALL, 1 },
	{ "jitter",	 T_ALL, 1 },
	{ "dir",	 T_ALL, 1 },
	{ "owner",	 T_ALL, 1 },
	{ "group",	 T_ALL, 1 },
	{ "mode",	 T_ALL, 1 },
	{ "on_rotate",	 T_ALL, 1 },
	{ "ca",		 T_X509, 0 },
	{ "key_type",	 T_X509, 0 },
	{ "common_name", T_X509, 0 },
	{ "dns",	 T_X509, 0 },
	{ "ip",		 T_X509, 0 },
	{ "uri",	 T_X509, 0 },
	{ "usage",	 T_X509, 0 },
	{ "signer",	 T_JWT, 0 },
	{ "subject",	 T_JWT, 0 },
	{ "audience",	 T_JWT | T_OAUTH, 0 },
	{ "scope",	 T_JWT | T_OAUTH, 0 },
	{ "issuer",	 T_OAUTH, 0 },
	{ "resource",	 T_OAUTH, 0 },
	{ "subject_token", T_OAUTH, 0 },
	{ "subject_token_type", T_OAUTH, 0 },
	{ "bytes",	 T_SECRET, 0 },
	{ "keep",	 T_SECRET, 0 },
	{ "fleet",	 T_SECRET, 0 },
};

/*
 * Names of enum idp_auth_method.  A table here rather than
 * idp_auth_method_parse(), so that the config (and its fuzzer) builds
 * without libidp's OAuth module.
 */
static const struct {
	const char		*name;
	enum idp_auth_method	 method;
} auth_methods[] = {
	{ "client_secret_basic",	IDP_AUTH_BASIC },
	{ "client_secret_post",		IDP_AUTH_POST },
	{ "private_key_jwt",		IDP_AUTH_PRIVATE_KEY_JWT },
};

static const char *const type_names[] = {
	[CRED_X509] = "x509",
	[CRED_JWT] = "jwt",
	[CRED_SECRET] = "secret",
	[CRED_OAUTH] = "oauth",
};

static const struct {
	const char	*name;
	int		 signo;
} signals[] = {
	{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "WINCH", SIGWINCH },
};

/*
 * One key = value, as read.  A list key given on several lines is one kv:
 * its values joined with ", ", and segs saying where each line's part
 * starts (for messages about an element, at the element's own line).
 */
struct kv_seg {
	size_t		 off;		/* in value */
	int		 line;
};

struct kv {
	char		*key;
	char		*value;
	int		 line;		/* of the first line */
	struct kv_seg	*segs;		/* NULL when on one line */
	size_t		 n_segs;
};

/* One [section], as read. */
struct sect {
	int		 kind;
	char		*name;		/* NULL for [rotatord] */
	char		*label;		/* for messages: rotatord, credential "web" */
	int		 line;
	int		 skip;		/* bad header: its keys are ignored */
	struct kv	*kvs;
	size_t		 n_kvs;
	size_t		 cap_kvs;
};

/* One message for the user. */
struct diag {
	int		 line;
	size_t		 seq;		/* keeps the order within a line */
	char		*msg;
};

struct parser {
	const char	*path;
	const char	*p;		/* unread input */
	size_t		 left;
	int		 lineno;	/* of the line last handed to inih */

	struct sect	**sects;
	size_t		 n_sects;
	size_t		 cap_sects;
	struct sect	*cur;		/* NULL before the first header */
	int		 too_many;	/* "too many sections" was reported */
	struct nametab	*sect_idx;	/* (kind, name or "") -> sect */

	struct diag	*diags;
	size_t		 n_diags;
	size_t		 cap_diags;
	int		 oom;

	int		*el_lines;	/* line of each element of the last split() */
	size_t		 cap_el_lines;

	int		 check_mode;	/* file_mode is known (config_load()) */
	mode_t		 file_mode;	/* of the config file */

	struct config	*c;
};

/*
 * Makes room for element n (and one more, for a NULL terminator) in the
 * array p of *cap elements of size.  Returns the array, maybe moved, or
 * NULL (p is then unchanged).
 */
static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;

	if (n + 1 < *cap)
		return p;
	ncap = *cap ? *cap * 2 : 8;
	p = reallocarray(p, ncap, size);
	if (p != NULL)
		*cap = ncap;
	return p;
}

static char *
xstrdup(struct parser *ps, const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		ps->oom = 1;
	return d;
}

static void __attribute__((format(printf, 4, 0)))
add_diag(struct parser *ps, int line, const char *prefix, const char *fmt,
    va_list ap)
{
	char *msg = NULL, *full = NULL;
	struct diag *d;

	if (vasprintf(&msg, fmt, ap) < 0) {
		ps->oom = 1;
		return;
	}
	if (asprintf(&full, "%s%s", prefix, msg) < 0) {
		free(msg);
		ps->oom = 1;
		return;
	}
	free(msg);
	d = grow(ps->diags, &ps->cap_diags, ps->n_diags, sizeof(*ps->diags));
	if (d == NULL) {
		free(full);
		ps->oom = 1;
		return;
	}
	ps->diags = d;
	ps->diags[ps->n_diags].line = line;
	ps->diags[ps->n_diags].seq = ps->n_diags;
	ps->diags[ps->n_diags].msg = full;
	ps->n_diags++;
}

/* Reports a problem at line, with no section prefix. */
static void __attribute__((format(printf, 3, 4)))
lerr(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_diag(ps, line, "", fmt, ap);
	va_end(ap);
}

/* Reports a problem with a whole section, at its header line. */
static void __attribute__((format(printf, 3, 4)))
serr(struct parser *ps, const struct sect *s, const char *fmt, ...)
{
	char prefix[160];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s: ", s->label);
	va_start(ap, fmt);
	add_diag(ps, s->line, prefix, fmt, ap);
	va_end(ap);
}

/* Reports a problem with one key, at its line. */
static void __attribute__((format(printf, 4, 5)))
kerr(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *fmt, ...)
{
	char prefix[240];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s.%s: ", s->label, kv->key);
	va_start(ap, fmt);
	add_diag(ps, kv->line, prefix, fmt, ap);
	va_end(ap);
}

/* The line of the part of kv's value that starts at offset off. */
static int
kv_line_at(const struct kv *kv, size_t off)
{
	size_t i;
	int line = kv->line;

	for (i = 0; i < kv->n_segs && kv->segs[i].off <= off; i++)
		line = kv->segs[i].line;
	return line;
}

/*
 * As kerr(), for element el of the list that the last split() of kv made:
 * at the line that element is on.
 */
static void __attribute__((format(printf, 5, 6)))
kerr_el(struct parser *ps, const struct sect *s, const struct kv *kv,
    size_t el, const char *fmt, ...)
{
	char prefix[240];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s.%s: ", s->label, kv->key);
	va_start(ap, fmt);
	add_diag(ps, kv->n_segs > 0 && el < ps->cap_el_lines ?
	    ps->el_lines[el] : kv->line, prefix, fmt, ap);
	va_end(ap);
}

/*
 * Writes s into buf as a double-quoted string for a message: at most 64
 * bytes of it, with quotes, backslashes and control characters escaped.
 */
static const char *
quote(char *buf, size_t size, const char *s)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i] != '\0' && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == 64) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static int
is_secret_key(int kind, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++)
		if (secret_keys[i].key != NULL && secret_keys[i].kind == kind &&
		    strcmp(secret_keys[i].key, key) == 0)
			return 1;
	return 0;
}

/* The value of kv quoted for a message, or a placeholder for secrets. */
static const char *
qv(char *buf, size_t size, const struct sect *s, const struct kv *kv)
{
	if (is_secret_key(s->kind, kv->key)) {
		snprintf(buf, size, "(value not shown)");
		return buf;
	}
	return quote(buf, size, kv->value);
}

/* Formats ms as "1h30m", "500ms", "0s" for messages. */
static const char *
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
static int
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
static int
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

static int
is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* scheme ":" something, no blanks. */
static int
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
static int
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
static int
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
static int
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
static const char *
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
static void
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
static void
strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; n == (size_t)-1 ? v[i] != NULL : i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Splits s at sep (',' for lists, 0 for blanks as in argv) into a new
 * NULL-terminated array; elements are trimmed.  Reports empty and, for lists,
 * duplicate elements.  Returns 0, or -1 after reporting.
 */
static int
split(struct parser *ps, const struct sect *s, const struct kv *kv, int sep,
    char ***ret, size_t *ret_n)
{
	char qb[QBUF];
	char **v = NULL, **nv;
	size_t n = 0, i, cap = 0, max = sep != 0 ? CONFIG_MAX_LIST :
	    CONFIG_MAX_ARGV;
	const char *p = kv->value;
	struct kv at = *kv;	/* kv, at the line of the element */
	int *nl;

	for (;;) {
		const char *b, *e, *next;
		char *el;

		if (sep != 0) {
			e = strchr(p, sep);
			next = e != NULL ? e + 1 : NULL;
			if (e == NULL)
				e = p + strlen(p);
			b = p;
			while (b < e && (*b == ' ' || *b == '\t'))
				b++;
			while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			at.line = kv_line_at(kv, (size_t)(b - kv->value));
			if (b == e) {
				kerr(ps, s, &at, "empty element in list %s",
				    qv(qb, sizeof(qb), s, &at));
				goto fail;
			}
		} else {
			b = p + strspn(p, " \t");
			if (*b == '\0')
				break;
			e = b + strcspn(b, " \t");
			next = e;
		}
		if (n == max) {
			kerr(ps, s, &at, "too many elements (max %zu)", max);
			goto fail;
		}
		el = strndup(b, (size_t)(e - b));
		nv = el != NULL ? grow(v, &cap, n, sizeof(*v)) : NULL;
		nl = nv != NULL ? grow(ps->el_lines, &ps->cap_el_lines, n,
		    sizeof(*ps->el_lines)) : NULL;
		if (nv != NULL)
			v = nv;
		if (nl == NULL) {
			free(el);
			ps->oom = 1;
			goto fail;
		}
		ps->el_lines = nl;
		for (i = 0; sep != 0 && i < n; i++)
			if (strcmp(v[i], el) == 0) {
				kerr(ps, s, &at, "duplicate element %s",
				    quote(qb, sizeof(qb), el));
				free(el);
				goto fail;
			}
		ps->el_lines[n] = at.line;
		v[n++] = el;
		v[n] = NULL;
		if (next == NULL)
			break;
		p = next;
	}
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
		if (v == NULL) {
			ps->oom = 1;
			return -1;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	strv_free(v, n);
	return -1;
}

/* The reader: one physical line per call, see the comment at the top. */

/* As inih's find_chars_or_comment(s, "=:"): is there a '=' or ':' first? */
static int
has_separator(const char *s)
{
	int was_space = 0;

	for (; *s != '\0'; s++) {
		if (*s == '=' || *s == ':')
			return 1;
		if (was_space && *s == ';')
			return 0;
		was_space = *s == ' ' || *s == '\t' || *s == '\v' ||
		    *s == '\f' || *s == '\r';
	}
	return 0;
}

static int
find_word(const char *w, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sect_words) / sizeof(sect_words[0]); i++)
		if (strlen(sect_words[i].word) == len &&
		    memcmp(sect_words[i].word, w, len) == 0)
			return (int)i;
	return -1;
}

/* Parses a [section] line (leading blanks stripped) into a new section. */
static void
read_header(struct parser *ps, char *line)
{
	char qb[QBUF];
	struct sect *sect, **ns;
	const struct sect *o;
	char *end, *rest, *inner, *name = NULL;
	void *old;
	size_t wl;
	int w, kind = 0;

	ps->cur = NULL;
	if (ps->n_sects >= CONFIG_MAX_SECTIONS) {
		if (!ps->too_many)
			lerr(ps, ps->lineno, "too many sections (max %d)",
			    CONFIG_MAX_SECTIONS);
		ps->too_many = 1;
		return;
	}
	sect = calloc(1, sizeof(*sect));
	ns = sect != NULL ? grow(ps->sects, &ps->cap_sects, ps->n_sects,
	    sizeof(*ps->sects)) : NULL;
	if (ns == NULL) {
		free(sect);
		ps->oom = 1;
		return;
	}
	ps->sects = ns;
	ps->sects[ps->n_sects++] = sect;
	ps->cur = sect;
	sect->line = ps->lineno;
	sect->skip = 1;

	inner = line + 1;
	end = strchr(inner, ']');
	if (end == NULL) {
		lerr(ps, ps->lineno, "bad section header: no closing ']'");
		return;
	}
	*end = '\0';
	rest = end + 1;
	rest += strspn(rest, " \t");
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		lerr(ps, ps->lineno, "bad section header: text after ']'");
		return;
	}

	wl = strcspn(inner, " \"");
	w = find_word(inner, wl);
	if (w < 0) {
		inner[wl] = '\0';
		if (wl == 0)
			lerr(ps, ps->lineno, "bad section header, expected "
			    "[rotatord] or [TYPE \"NAME\"]");
		else
			lerr(ps, ps->lineno, "unknown section %s",
			    quote(qb, sizeof(qb), inner));
		return;
	}
	if (sect_words[w].kind == 0) {
		lerr(ps, ps->lineno, "section [%s] is not supported in this "
		    "version", sect_words[w].word);
		return;
	}
	kind = sect_words[w].kind;
	if (inner[wl] != '\0') {
		char *q = inner + wl;
		size_t len = strlen(q);

		if (len < 3 || q[0] != ' ' || q[1] != '"' || q[len - 1] != '"') {
			if (sect_words[w].named)
				lerr(ps, ps->lineno, "bad section header, "
				    "expected [%s \"NAME\"]", sect_words[w].word);
			else
				lerr(ps, ps->lineno, "bad section header, "
				    "expected [%s]", sect_words[w].word);
			return;
		}
		q[len - 1] = '\0';
		name = q + 2;
		if (!sect_words[w].named) {
			lerr(ps, ps->lineno, "section [%s] takes no name",
			    sect_words[w].word);
			return;
		}
		if (!valid_name(name, CONFIG_MAX_NAME)) {
			lerr(ps, ps->lineno, "bad section name %s: 1 to %d "
			    "characters of A-Z a-z 0-9 . _ -",
			    quote(qb, sizeof(qb), name), CONFIG_MAX_NAME);
			return;
		}
	} else if (sect_words[w].named) {
		lerr(ps, ps->lineno, "section [%s] needs a name: [%s \"NAME\"]",
		    sect_words[w].word, sect_words[w].word);
		return;
	}

	if (name != NULL) {
		sect->name = xstrdup(ps, name);
		if (asprintf(&sect->label, "%s \"%s\"", sect_words[w].word,
		    name) < 0)
			sect->label = NULL;
	} else {
		sect->label = xstrdup(ps, sect_words[w].word);
	}
	if (sect->label == NULL || (name != NULL && sect->name == NULL)) {
		ps->oom = 1;
		return;
	}
	/* Unnamed sections are indexed under "" (names are never empty). */
	if (ps->sect_idx == NULL && (ps->sect_idx = nametab_new()) == NULL) {
		ps->oom = 1;
		return;
	}
	switch (nametab_put(ps->sect_idx, kind, name != NULL ? sect->name : "",
	    sect, &old)) {
	case 0:
		break;
	case -EEXIST:
		o = old;
		lerr(ps, ps->lineno, "duplicate section [%s%s%s%s], "
		    "first at line %d", sect_words[w].word,
		    name ? " \"" : "", name ? name : "",
		    name ? "\"" : "", o->line);
		return;
	default:
		ps->oom = 1;
		return;
	}
	sect->kind = kind;
	sect->skip = 0;
}

/*
 * ini_reader: copies the next physical line, without leading blanks and the
 * line end, into str (num bytes).  Lines that inih must not see (too long,
 * [section] headers, lines with NUL bytes or without a separator) are
 * handled here and inih gets an empty line, so its line count stays ours.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parser *ps = stream;
	const char *line, *nl;
	size_t len, max, skip;

	if (ps->left == 0 || num < 2)
		return NULL;
	line = ps->p;
	nl = memchr(line, '\n', ps->left);
	len = nl != NULL ? (size_t)(nl - line) : ps->left;
	ps->p += len + (nl != NULL);
	ps->left -= len + (nl != NULL);
	ps->lineno++;
	str[0] = '\0';

	if (len > 0 && line[len - 1] == '\r')
		len--;
	max = (size_t)num - 1 < CONFIG_MAX_LINE ? (size_t)num - 1 :
	    CONFIG_MAX_LINE;
	if (len > max) {
		lerr(ps, ps->lineno, "line too long (max %zu bytes)", max);
		return str;
	}
	if (memchr(line, '\0', len) != NULL) {
		lerr(ps, ps->lineno, "NUL byte in line");
		return str;
	}
	if (ps->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	skip = 0;
	while (skip < len && (line[skip] == ' ' || line[skip] == '\t' ||
	    line[skip] == '\v' || line[skip] == '\f' || line[skip] == '\r'))
		skip++;
	memcpy(str, line + skip, len - skip);
	str[len - skip] = '\0';

	if (str[0] == '\0' || str[0] == ';' || str[0] == '#')
		return str;
	if (str[0] == '[') {
		read_header(ps, str);
		str[0] = '\0';
		return str;
	}
	if (!has_separator(str)) {
		lerr(ps, ps->lineno, "expected KEY = VALUE");
		str[0] = '\0';
	}
	return str;
}

static int
is_list_key(int kind, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++)
		if (list_keys[i].kind == kind && strcmp(list_keys[i].key,
		    key) == 0)
			return 1;
	return 0;
}

/*
 * Another line of list key kv: value is joined to it with ", ", and
 * remembered as starting at this line.  Returns 1 (for inih: go on).
 */
static int
kv_append(struct parser *ps, struct kv *kv, const char *value)
{
	size_t len = strlen(kv->value), vlen = strlen(value), cap;
	struct kv_seg *ns;
	char *nv;

	if (len + vlen + 3 > CONFIG_MAX_FILE) {
		ps->oom = 1;
		return 1;
	}
	cap = kv->n_segs;
	ns = grow(kv->segs, &cap, kv->n_segs == 0 ? 1 : kv->n_segs,
	    sizeof(*kv->segs));
	if (ns == NULL) {
		ps->oom = 1;
		return 1;
	}
	kv->segs = ns;
	if (kv->n_segs == 0) {
		ns[0].off = 0;
		ns[0].line = kv->line;
		kv->n_segs = 1;
	}
	if ((nv = malloc(len + vlen + 3)) == NULL) {
		ps->oom = 1;
		return 1;
	}
	memcpy(nv, kv->value, len);
	memcpy(nv + len, ", ", 2);
	memcpy(nv + len + 2, value, vlen + 1);
	free(kv->value);
	kv->value = nv;
	ns[kv->n_segs].off = len + 2;
	ns[kv->n_segs].line = ps->lineno;
	kv->n_segs++;
	return 1;
}

/* ini_handler: stores one key = value in the current section. */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *ps = user;
	struct sect *s = ps->cur;
	struct kv *nkv;
	char qb[QBUF];
	size_t i;
	const char *v;

	(void)section;	/* always "": inih never sees our headers */
	if (s == NULL) {
		if (!ps->too_many)
			lerr(ps, ps->lineno, "key %s outside of any section",
			    quote(qb, sizeof(qb), name));
		return 1;
	}
	if (s->skip)
		return 1;
	if (name[0] == '\0') {
		lerr(ps, ps->lineno, "%s: missing key name before '='",
		    s->label);
		return 1;
	}
	if (strlen(name) > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != strlen(name)) {
		lerr(ps, ps->lineno, "%s: bad key name %s", s->label,
		    quote(qb, sizeof(qb), name));
		return 1;
	}
	for (v = value; *v != '\0'; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f) {
			lerr(ps, ps->lineno, "%s.%s: control character in value",
			    s->label, name);
			return 1;
		}
	for (i = 0; i < s->n_kvs; i++)
		if (strcmp(s->kvs[i].key, name) == 0) {
			if (is_list_key(s->kind, name))
				return kv_append(ps, &s->kvs[i], value);
			lerr(ps, ps->lineno, "%s.%s: duplicate key, first at "
			    "line %d", s->label, name, s->kvs[i].line);
			return 1;
		}
	if (s->n_kvs == CONFIG_MAX_KEYS) {
		lerr(ps, ps->lineno, "%s: too many keys (max %d)", s->label,
		    CONFIG_MAX_KEYS);
		return 1;
	}
	nkv = grow(s->kvs, &s->cap_kvs, s->n_kvs, sizeof(*s->kvs));
	if (nkv == NULL) {
		ps->oom = 1;
		return 1;
	}
	s->kvs = nkv;
	s->kvs[s->n_kvs].key = xstrdup(ps, name);
	s->kvs[s->n_kvs].value = xstrdup(ps, value);
	s->kvs[s->n_kvs].line = ps->lineno;
	s->kvs[s->n_kvs].segs = NULL;
	s->kvs[s->n_kvs].n_segs = 0;
	if (s->kvs[s->n_kvs].key == NULL || s->kvs[s->n_kvs].value == NULL) {
		free(s->kvs[s->n_kvs].key);
		free(s->kvs[s->n_kvs].value);
		return 1;
	}
	s->n_kvs++;
	return 1;
}

/* Second pass: typed values, with the key's error reported. */

/*
 * A duration of at least min_ms (0: zero allowed) and at most 100 years.
 * Returns 0 and sets *ret, or -1 after reporting.
 */
static int
get_duration(struct parser *ps, const struct sect *s, const struct kv *kv,
    int64_t min_ms, int64_t *ret)
{
	char qb[QBUF], db[64];
	int64_t ms;

	if (config_parse_duration(kv->value, &ms) < 0) {
		kerr(ps, s, kv, "bad duration %s (a number with a unit: 500ms, "
		    "90s, 15m, 24h, 7d, 1h30m)", qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	if (ms > CONFIG_MAX_DURATION) {
		kerr(ps, s, kv, "duration %s too long (max 36500d)",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	if (min_ms > 0 && ms == 0) {
		kerr(ps, s, kv, "must not be zero");
		return -1;
	}
	if (ms < min_ms) {
		kerr(ps, s, kv, "must be at least %s",
		    fmt_duration(db, sizeof(db), min_ms));
		return -1;
	}
	*ret = ms;
	return 0;
}

/* A duration from min_ms to max_ms. */
static int
get_duration_in(struct parser *ps, const struct sect *s, const struct kv *kv,
    int64_t min_ms, int64_t max_ms, int64_t *ret)
{
	char qb[QBUF], a[64], b[64];
	int64_t ms;

	if (get_duration(ps, s, kv, 0, &ms) < 0)
		return -1;
	if (ms < min_ms || ms > max_ms) {
		kerr(ps, s, kv, "must be from %s to %s, not %s",
		    fmt_duration(a, sizeof(a), min_ms),
		    fmt_duration(b, sizeof(b), max_ms),
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	*ret = ms;
	return 0;
}

/*
 * A secret reference (client_secret, subject_token) into *ret.  The value
 * is never shown.  A literal secret is refused when the config file is
 * readable by group or others.
 */
static int
get_secret(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_secret *ret)
{
	enum cfg_secret_source src;
	const char *arg;
	char *d;

	if (config_parse_secret_ref(kv->value, &src, &arg) < 0) {
		kerr(ps, s, kv, "bad secret reference (file:/ABSOLUTE/PATH, "
		    "env:NAME, cred:NAME, or the secret itself)");
		return -1;
	}
	if (src == CFG_SECRET_LITERAL && ps->check_mode &&
	    (ps->file_mode & (S_IRGRP | S_IROTH))) {
		kerr(ps, s, kv, "literal %s in a group/world-readable file; use "
		    "file:, env: or cred:", kv->key);
		return -1;
	}
	d = xstrdup(ps, arg);
	if (d == NULL)
		return -1;
	secret_clear(ret);
	ret->source = src;
	ret->arg = d;
	return 0;
}

/* renew_at: a fraction strictly between 0 and 1. */
static int
get_renew_at(struct parser *ps, const struct sect *s, const struct kv *kv,
    double *ret)
{
	char qb[QBUF];
	double v;

	if (config_parse_fraction(kv->value, &v) < 0) {
		kerr(ps, s, kv, "bad fraction %s (like 2/3, 66%% or 0.66)",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	if (v <= 0 || v >= 1) {
		kerr(ps, s, kv, "must be between 0 and 1 (exclusive), not %s",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	*ret = v;
	return 0;
}

/* jitter: a fraction from 0 (no jitter) to less than 1. */
static int
get_jitter(struct parser *ps, const struct sect *s, const struct kv *kv,
    double *ret)
{
	char qb[QBUF];
	double v;

	if (config_parse_fraction(kv->value, &v) < 0) {
		kerr(ps, s, kv, "bad fraction %s (like 10%%, 1/10 or 0.1)",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	if (v >= 1) {
		kerr(ps, s, kv, "must be less than 1, not %s",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	*ret = v;
	return 0;
}

static int
get_bool(struct parser *ps, const struct sect *s, const struct kv *kv, int *ret)
{
	char qb[QBUF];

	if (config_parse_bool(kv->value, ret) < 0) {
		kerr(ps, s, kv, "bad boolean %s (yes, no, true, false, on, off, "
		    "1 or 0)", qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	return 0;
}

/* An integer in [min, max]. */
static int
get_uint(struct parser *ps, const struct sect *s, const struct kv *kv,
    unsigned long min, unsigned long max, unsigned long *ret)
{
	char qb[QBUF];
	unsigned long v = 0;
	const char *p;

	for (p = kv->value; *p >= '0' && *p <= '9'; p++) {
		if (v > (ULONG_MAX - 9) / 10)
			break;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (p == kv->value || *p != '\0' || v < min || v > max) {
		kerr(ps, s, kv, "must be a number from %lu to %lu, not %s", min,
		    max, qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	*ret = v;
	return 0;
}

/* A copy of the value, or -1 (out of memory). */
static int
get_string(struct parser *ps, const struct kv *kv, char **ret)
{
	char *d;

	d = xstrdup(ps, kv->value);
	if (d == NULL)
		return -1;
	free(*ret);
	*ret = d;
	return 0;
}

static int
get_path(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret)
{
	char qb[QBUF];

	if (kv->value[0] != '/') {
		kerr(ps, s, kv, "must be an absolute path, not %s",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	return get_string(ps, kv, ret);
}

/*
 * output_dir and state_dir: absolute, or explicitly relative ("./run",
 * "../x"), which is resolved against the working directory at load time so
 * an ordinary user can try rotatord without root.  A bare "run/x" is
 * refused as probably a forgotten leading slash.
 */
static int
get_dir_path(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret)
{
	char cwd[PATH_MAX], *p;
	const char *v = kv->value;

	if (strncmp(v, "./", 2) != 0 && strncmp(v, "../", 3) != 0 &&
	    strcmp(v, ".") != 0)
		return get_path(ps, s, kv, ret);
	while (strncmp(v, "./", 2) == 0)
		v += 2;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    asprintf(&p, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, v) < 0) {
		kerr(ps, s, kv, "cannot resolve against the working directory");
		return -1;
	}
	free(*ret);
	*ret = p;
	return 0;
}

static int
get_key_type(struct parser *ps, const struct sect *s, const struct kv *kv,
    enum idp_key_type *ret)
{
	char qb[QBUF];

	if (idp_key_type_parse(kv->value, ret) < 0) {
		kerr(ps, s, kv, "unknown key type %s (ec-p256, ec-p384, "
		    "rsa-2048, rsa-3072 or ed25519)", qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	return 0;
}

static int
get_common_name(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret)
{
	if (strlen(kv->value) > CONFIG_MAX_CN) {
		kerr(ps, s, kv, "longer than %d bytes", CONFIG_MAX_CN);
		return -1;
	}
	return get_string(ps, kv, ret);
}

/* A directory under output_dir: one path component, not hidden. */
static int
valid_dir(const char *d)
{
	return valid_name(d, NAME_MAX) && d[0] != '.';
}

static int
get_dir(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret)
{
	char qb[QBUF];

	if (!valid_dir(kv->value)) {
		kerr(ps, s, kv, "bad directory %s: one path component of "
		    "A-Z a-z 0-9 . _ -, not starting with '.'",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	return get_string(ps, kv, ret);
}

/* An argv for exec and check: split on blanks, no shell, no quoting. */
static int
get_argv(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***ret)
{
	char qb[QBUF];
	char **v;
	size_t n;

	if (strpbrk(kv->value, "\"'\\") != NULL) {
		kerr(ps, s, kv, "quotes and backslashes are not supported: the "
		    "command is split on blanks and run without a shell");
		return -1;
	}
	if (split(ps, s, kv, 0, &v, &n) < 0)
		return -1;
	if (n == 0 || v[0][0] != '/') {
		kerr(ps, s, kv, "the command must be an absolute path, not %s",
		    n ? quote(qb, sizeof(qb), v[0]) : "\"\"");
		strv_free(v, n);
		return -1;
	}
	strv_free(*ret, (size_t)-1);
	*ret = v;
	return 0;
}

/*
 * A user (name or number) into *ret.  Returns 0, -ENOENT for an unknown
 * name, -EINVAL for a bad number, or another -errno from the lookup.
 */
static int
lookup_user(const char *s, uid_t *ret)
{
	struct passwd pw, *res = NULL;
	char *buf = NULL, *nbuf;
	size_t size = 4096;
	unsigned long long v = 0;
	const char *p;
	int r;

	if (*s >= '0' && *s <= '9') {
		for (p = s; *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
			v = v * 10 + (unsigned long long)(*p - '0');
		if (*p != '\0' || v >= (uid_t)-1)
			return -EINVAL;
		*ret = (uid_t)v;
		return 0;
	}
	for (;;) {
		nbuf = realloc(buf, size);
		if (nbuf == NULL) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;
		r = getpwnam_r(s, &pw, buf, size, &res);
		if (r != ERANGE || size >= (1 << 20))
			break;
		size *= 2;
	}
	free(buf);
	if (r != 0)
		return -r;
	if (res == NULL)
		return -ENOENT;
	*ret = pw.pw_uid;
	return 0;
}

/* A group (name or number) into *ret; as lookup_user(). */
static int
lookup_group(const char *s, gid_t *ret)
{
	struct group gr, *res = NULL;
	char *buf = NULL, *nbuf;
	size_t size = 4096;
	unsigned long long v = 0;
	const char *p;
	int r;

	if (*s >= '0' && *s <= '9') {
		for (p = s; *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
			v = v * 10 + (unsigned long long)(*p - '0');
		if (*p != '\0' || v >= (gid_t)-1)
			return -EINVAL;
		*ret = (gid_t)v;
		return 0;
	}
	for (;;) {
		nbuf = realloc(buf, size);
		if (nbuf == NULL) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;
		r = getgrnam_r(s, &gr, buf, size, &res);
		if (r != ERANGE || size >= (1 << 20))
			break;
		size *= 2;
	}
	free(buf);
	if (r != 0)
		return -r;
	if (res == NULL)
		return -ENOENT;
	*ret = gr.gr_gid;
	return 0;
}

/*
 * A file rotatord will read at startup: must be a regular file it can open.
 * stat() comes first so that no device or FIFO is ever opened.
 */
static int
check_readable(struct parser *ps, const struct sect *s, const struct kv *kv)
{
	char qb[QBUF];
	struct stat st;
	int fd;

	if (stat(kv->value, &st) < 0) {
		kerr(ps, s, kv, "cannot open %s: %s", qv(qb, sizeof(qb), s, kv),
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		kerr(ps, s, kv, "%s is not a regular file",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	fd = open(kv->value, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		kerr(ps, s, kv, "cannot open %s: %s", qv(qb, sizeof(qb), s, kv),
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * A private key rotatord will read at run time with O_NOFOLLOW and a strict
 * mode check (idp_secret_read_file()): refuse now what would be refused
 * then.
 */
static int
check_private_file(struct parser *ps, const struct sect *s, const struct kv *kv)
{
	char qb[QBUF];
	struct stat st;

	if (lstat(kv->value, &st) == 0 && S_ISLNK(st.st_mode)) {
		kerr(ps, s, kv, "%s is a symbolic link: name the file itself",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	if (check_readable(ps, s, kv) < 0)
		return -1;
	if (stat(kv->value, &st) < 0) {
		kerr(ps, s, kv, "cannot open %s: %s", qv(qb, sizeof(qb), s, kv),
		    strerror(errno));
		return -1;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		kerr(ps, s, kv, "%s has mode %04o: must not be readable by group "
		    "or others", qv(qb, sizeof(qb), s, kv),
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		kerr(ps, s, kv, "%s has mode %04o: must not be accessible by "
		    "group or others", qv(qb, sizeof(qb), s, kv),
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static void
unknown_key(struct parser *ps, const struct sect *s, const struct kv *kv)
{
	kerr(ps, s, kv, "unknown key");
}

static const struct kv *
find_kv(const struct sect *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n_kvs; i++)
		if (strcmp(s->kvs[i].key, key) == 0)
			return &s->kvs[i];
	return NULL;
}

/* Is `inner` equal to or below `outer` (both absolute)? */
static int
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

static void
build_rotatord(struct parser *ps, const struct sect *s)
{
	struct config *c = ps->c;
	const struct kv *min_kv = NULL, *max_kv = NULL, *state_kv = NULL;
	char qb[QBUF];
	size_t i;

	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "output_dir") == 0) {
			get_dir_path(ps, s, kv, &c->output_dir);
		} else if (strcmp(k, "state_dir") == 0) {
			if (get_dir_path(ps, s, kv, &c->state_dir) == 0)
				state_kv = kv;
		} else if (strcmp(k, "renew_at") == 0) {
			get_renew_at(ps, s, kv, &c->renew_at);
		} else if (strcmp(k, "jitter") == 0) {
			get_jitter(ps, s, kv, &c->jitter);
		} else if (strcmp(k, "backdate") == 0) {
			get_duration(ps, s, kv, 0, &c->backdate);
		} else if (strcmp(k, "retry_min") == 0) {
			if (get_duration(ps, s, kv, 1, &c->retry_min) == 0)
				min_kv = kv;
		} else if (strcmp(k, "retry_max") == 0) {
			if (get_duration(ps, s, kv, 1, &c->retry_max) == 0)
				max_kv = kv;
		} else if (strcmp(k, "log_level") == 0) {
			if (log_level_parse(kv->value, &c->log_level) < 0)
				kerr(ps, s, kv, "unknown level %s (debug, info, "
				    "notice, warning or err)",
				    qv(qb, sizeof(qb), s, kv));
		} else if (strcmp(k, "log_format") == 0) {
			if (strcmp(kv->value, "text") == 0)
				c->log_format = LOG_FORMAT_TEXT;
			else if (strcmp(kv->value, "json") == 0)
				c->log_format = LOG_FORMAT_JSON;
			else
				kerr(ps, s, kv, "unknown format %s (text or "
				    "json)", qv(qb, sizeof(qb), s, kv));
		} else if (strcmp(k, "region") == 0) {
			if (!valid_name(kv->value, CONFIG_MAX_NAME))
				kerr(ps, s, kv, "bad region %s: 1 to %d "
				    "characters of A-Z a-z 0-9 . _ -",
				    qv(qb, sizeof(qb), s, kv), CONFIG_MAX_NAME);
			else
				get_string(ps, kv, &c->region);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if ((min_kv != NULL || max_kv != NULL) && c->retry_max < c->retry_min) {
		char a[64], b[64];

		kerr(ps, s, max_kv != NULL ? max_kv : min_kv,
		    "retry_max (%s) is less than retry_min (%s)",
		    fmt_duration(a, sizeof(a), c->retry_max),
		    fmt_duration(b, sizeof(b), c->retry_min));
	}
	/* Private CA and signer keys live in state_dir: never publish them. */
	if (state_kv != NULL && c->output_dir != NULL &&
	    path_within(c->state_dir, c->output_dir))
		kerr(ps, s, state_kv, "must not be output_dir or inside it "
		    "(it holds private keys)");
}

static void
build_ca(struct parser *ps, const struct sect *s, struct cfg_ca *ca)
{
	const struct kv *cert_kv = NULL, *key_kv = NULL;
	size_t i;

	ca->key_type = IDP_KEY_EC_P256;
	ca->lifetime = 365 * DAY_S;
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "key_type") == 0) {
			get_key_type(ps, s, kv, &ca->key_type);
		} else if (strcmp(k, "lifetime") == 0) {
			get_duration(ps, s, kv, MIN_S, &ca->lifetime);
		} else if (strcmp(k, "common_name") == 0) {
			get_common_name(ps, s, kv, &ca->common_name);
		} else if (strcmp(k, "cert_file") == 0) {
			cert_kv = kv;
			if (get_path(ps, s, kv, &ca->cert_file) == 0)
				check_readable(ps, s, kv);
		} else if (strcmp(k, "key_file") == 0) {
			key_kv = kv;
			if (get_path(ps, s, kv, &ca->key_file) == 0)
				check_readable(ps, s, kv);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (cert_kv != NULL && key_kv == NULL)
		kerr(ps, s, cert_kv, "needs key_file as well");
	if (key_kv != NULL && cert_kv == NULL)
		kerr(ps, s, key_kv, "needs cert_file as well");
	if (ca->common_name == NULL) {
		/* "rotatord NAME CA" unless that is too long for a CN. */
		if (strlen(ca->name) + 12 <= CONFIG_MAX_CN) {
			if (asprintf(&ca->common_name, "rotatord %s CA",
			    ca->name) < 0) {
				ca->common_name = NULL;
				ps->oom = 1;
			}
		} else {
			ca->common_name = xstrdup(ps, ca->name);
		}
	}
}

static void
build_signer(struct parser *ps, const struct sect *s, struct cfg_signer *sg)
{
	char qb[QBUF];
	size_t i;

	sg->alg = IDP_ALG_ES256;
	sg->key_lifetime = 7 * DAY_S;
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "issuer") == 0) {
			const char *v = kv->value, *host;

			host = strncmp(v, "https://", 8) == 0 ? v + 8 :
			    strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
			if (host == NULL || host[0] == '\0' || host[0] == '/' ||
			    strpbrk(v, " \t?#") != NULL)
				kerr(ps, s, kv, "bad issuer %s: an https:// or "
				    "http:// URL without query or fragment",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &sg->issuer);
		} else if (strcmp(k, "alg") == 0) {
			if (strcmp(kv->value, "none") == 0)
				kerr(ps, s, kv, "alg \"none\" is never allowed");
			else if (idp_alg_parse(kv->value, &sg->alg) < 0)
				kerr(ps, s, kv, "unknown alg %s (ES256, ES384, "
				    "RS256, PS256 or EdDSA)",
				    qv(qb, sizeof(qb), s, kv));
		} else if (strcmp(k, "key_lifetime") == 0) {
			get_duration(ps, s, kv, MIN_S, &sg->key_lifetime);
		} else if (strcmp(k, "dir") == 0) {
			get_dir(ps, s, kv, &sg->dir);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (find_kv(s, "issuer") == NULL)
		serr(ps, s, "missing required key issuer");
}

/*
 * HOST:PORT or [IPv6]:PORT into new strings *host (without brackets) and
 * *port (replacing any previous ones).  Returns 0, or -1 after reporting.
 */
static int
get_host_port(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret_host, char **ret_port)
{
	char qb[QBUF];
	const char *v = kv->value, *colon, *hb, *he, *p;
	unsigned long port = 0;
	char *host, *pstr;
	int bad;

	if (v[0] == '[') {
		hb = v + 1;
		he = strchr(hb, ']');
		colon = he != NULL && he[1] == ':' ? he + 1 : NULL;
	} else {
		hb = v;
		colon = strrchr(v, ':');
		he = colon;
	}
	if (colon == NULL || he == hb) {
		kerr(ps, s, kv, "bad address %s: HOST:PORT or [IPv6]:PORT",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	for (p = colon + 1; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (p == colon + 1 || *p != '\0' || port < 1 || port > 65535) {
		kerr(ps, s, kv, "bad port in %s (1 to 65535)",
		    qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	host = strndup(hb, (size_t)(he - hb));
	if (host == NULL) {
		ps->oom = 1;
		return -1;
	}
	if (v[0] == '[')
		bad = !is_ip_literal(host) || strchr(host, ':') == NULL;
	else
		bad = strchr(host, ':') != NULL || !valid_hostname(host, 0);
	if (bad) {
		kerr(ps, s, kv, "bad host in %s (a host name, an IPv4 address "
		    "or [IPv6])", qv(qb, sizeof(qb), s, kv));
		free(host);
		return -1;
	}
	pstr = strdup(colon + 1);
	if (pstr == NULL) {
		free(host);
		ps->oom = 1;
		return -1;
	}
	free(*ret_host);
	*ret_host = host;
	free(*ret_port);
	*ret_port = pstr;
	return 0;
}

static void
build_reload(struct parser *ps, const struct sect *s, struct cfg_reload *r)
{
	const struct kv *mode_kv = NULL, *signal_kv = NULL, *verify_kv = NULL;
	char qb[QBUF];
	size_t i, j;

	r->signal = SIGHUP;
	r->debounce = 1 * SEC_S;
	r->timeout = 30 * SEC_S;
	r->verify_timeout = 5 * SEC_S;
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;
		int is_mode;

		is_mode = strcmp(k, "pidfile") == 0 || strcmp(k, "exec") == 0 ||
		    strcmp(k, "unit") == 0;
		if (is_mode) {
			if (mode_kv != NULL) {
				kerr(ps, s, kv, "%s is already set (line %d): "
				    "use one of pidfile, exec or unit",
				    mode_kv->key, mode_kv->line);
				continue;
			}
			mode_kv = kv;
		}
		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "pidfile") == 0) {
			get_path(ps, s, kv, &r->pidfile);
		} else if (strcmp(k, "exec") == 0) {
			get_argv(ps, s, kv, &r->exec);
		} else if (strcmp(k, "unit") == 0) {
			/* Never an option to systemctl. */
			if (kv->value[0] == '-' || strlen(kv->value) > 255 ||
			    strspn(kv->value, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\@-") !=
			    strlen(kv->value))
				kerr(ps, s, kv, "bad unit name %s",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &r->unit);
		} else if (strcmp(k, "signal") == 0) {
			const char *v = kv->value;

			signal_kv = kv;
			if (strncmp(v, "SIG", 3) == 0)
				v += 3;
			for (j = 0; j < sizeof(signals) / sizeof(signals[0]); j++)
				if (strcmp(v, signals[j].name) == 0)
					break;
			if (j == sizeof(signals) / sizeof(signals[0]))
				kerr(ps, s, kv, "unknown signal %s (HUP, USR1, "
				    "USR2, TERM, INT, QUIT or WINCH)",
				    qv(qb, sizeof(qb), s, kv));
			else
				r->signal = signals[j].signo;
		} else if (strcmp(k, "check") == 0) {
			get_argv(ps, s, kv, &r->check);
		} else if (strcmp(k, "debounce") == 0) {
			get_duration(ps, s, kv, 0, &r->debounce);
		} else if (strcmp(k, "timeout") == 0) {
			get_duration(ps, s, kv, 1, &r->timeout);
		} else if (strcmp(k, "verify") == 0) {
			verify_kv = kv;
			get_host_port(ps, s, kv, &r->verify_host,
			    &r->verify_port);
		} else if (strcmp(k, "sni") == 0) {
			if (!valid_hostname(kv->value, 0) ||
			    is_ip_literal(kv->value))
				kerr(ps, s, kv, "bad server name %s",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &r->sni);
		} else if (strcmp(k, "verify_timeout") == 0) {
			get_duration(ps, s, kv, 1, &r->verify_timeout);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (mode_kv == NULL)
		serr(ps, s, "needs one of pidfile, exec or unit");
	if (signal_kv != NULL && mode_kv != NULL &&
	    strcmp(mode_kv->key, "pidfile") != 0)
		kerr(ps, s, signal_kv, "only applies with pidfile");
	if (verify_kv == NULL) {
		const struct kv *kv;

		if ((kv = find_kv(s, "sni")) != NULL)
			kerr(ps, s, kv, "only applies with verify");
		if ((kv = find_kv(s, "verify_timeout")) != NULL)
			kerr(ps, s, kv, "only applies with verify");
	}
}

static const struct sect *
find_sect(const struct parser *ps, int kind, const char *name)
{
	return nametab_get(ps->sect_idx, kind, name);
}

static const char *
auth_method_name(enum idp_auth_method m)
{
	size_t i;

	for (i = 0; i < sizeof(auth_methods) / sizeof(auth_methods[0]); i++)
		if (auth_methods[i].method == m)
			return auth_methods[i].name;
	return "none";
}

static void
build_issuer(struct parser *ps, const struct sect *s, struct cfg_issuer *is)
{
	const struct kv *secret_kv, *key_kv, *kid_kv, *method_kv = NULL;
	const struct kv *trust_kv = NULL, *aud_kv = NULL;
	enum idp_auth_method method = 0;
	char qb[QBUF];
	const char *why;
	size_t i, j;

	is->timeout = 10 * SEC_S;
	is->jwks_cooldown = 30 * SEC_S;
	is->leeway = 60 * SEC_S;
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "url") == 0) {
			if ((why = check_issuer_url(kv->value)) != NULL)
				kerr(ps, s, kv, "bad url %s: %s",
				    qv(qb, sizeof(qb), s, kv), why);
			else
				get_string(ps, kv, &is->url);
		} else if (strcmp(k, "client_id") == 0) {
			if (!valid_printable(kv->value, 256, 1))
				kerr(ps, s, kv, "bad client_id %s: at most 256 "
				    "printable ASCII characters",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &is->client_id);
		} else if (strcmp(k, "client_secret") == 0) {
			get_secret(ps, s, kv, &is->client_secret);
		} else if (strcmp(k, "auth_method") == 0) {
			for (j = 0; j < sizeof(auth_methods) /
			    sizeof(auth_methods[0]); j++)
				if (strcmp(kv->value, auth_methods[j].name) == 0)
					break;
			if (j == sizeof(auth_methods) / sizeof(auth_methods[0])) {
				kerr(ps, s, kv, "unknown auth_method %s "
				    "(client_secret_basic, client_secret_post or "
				    "private_key_jwt)", qv(qb, sizeof(qb), s, kv));
			} else {
				method = auth_methods[j].method;
				method_kv = kv;
			}
		} else if (strcmp(k, "client_key") == 0) {
			if (get_path(ps, s, kv, &is->client_key) == 0)
				check_private_file(ps, s, kv);
		} else if (strcmp(k, "client_key_id") == 0) {
			if (!valid_printable(kv->value, 128, 1))
				kerr(ps, s, kv, "bad client_key_id %s: at most 128 "
				    "printable ASCII characters",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &is->client_key_id);
		} else if (strcmp(k, "ca_file") == 0) {
			if (get_path(ps, s, kv, &is->ca_file) == 0)
				check_readable(ps, s, kv);
		} else if (strcmp(k, "trust") == 0) {
			if (get_bool(ps, s, kv, &is->trust) == 0)
				trust_kv = kv;
		} else if (strcmp(k, "audience") == 0) {
			aud_kv = kv;
			if (!valid_printable(kv->value, 256, 0))
				kerr(ps, s, kv, "bad audience %s: one value of at "
				    "most 256 printable ASCII characters, no blanks",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &is->audience);
		} else if (strcmp(k, "timeout") == 0) {
			get_duration_in(ps, s, kv, SEC_S, 120 * SEC_S,
			    &is->timeout);
		} else if (strcmp(k, "jwks_cooldown") == 0) {
			get_duration_in(ps, s, kv, SEC_S, HOUR_S,
			    &is->jwks_cooldown);
		} else if (strcmp(k, "leeway") == 0) {
			get_duration_in(ps, s, kv, 0, 10 * MIN_S, &is->leeway);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (find_kv(s, "url") == NULL)
		serr(ps, s, "missing required key url");

	/*
	 * How the client authenticates.  Presence decides, not validity, so
	 * that a bad path or reference is one error, not three.
	 */
	secret_kv = find_kv(s, "client_secret");
	key_kv = find_kv(s, "client_key");
	kid_kv = find_kv(s, "client_key_id");
	if (method_kv != NULL && method == IDP_AUTH_PRIVATE_KEY_JWT) {
		if (key_kv == NULL)
			kerr(ps, s, method_kv, "private_key_jwt needs client_key");
		if (secret_kv != NULL)
			kerr(ps, s, secret_kv, "not used by auth_method "
			    "private_key_jwt");
	} else if (method_kv != NULL) {
		if (secret_kv == NULL)
			kerr(ps, s, method_kv, "%s needs client_secret",
			    auth_method_name(method));
		if (key_kv != NULL)
			kerr(ps, s, key_kv, "not used by auth_method %s",
			    auth_method_name(method));
		if (kid_kv != NULL)
			kerr(ps, s, kid_kv, "not used by auth_method %s",
			    auth_method_name(method));
	} else if (find_kv(s, "auth_method") != NULL) {
		/* A bad auth_method was reported: guess nothing. */
	} else if (secret_kv != NULL && key_kv != NULL) {
		/* At the first of the two, before a problem with either. */
		kerr(ps, s, secret_kv->line < key_kv->line ? secret_kv : key_kv,
		    "both client_secret (line %d) and client_key (line %d) are "
		    "set: choose one with auth_method", secret_kv->line,
		    key_kv->line);
	} else if (secret_kv != NULL) {
		method = IDP_AUTH_BASIC;
	} else if (key_kv != NULL) {
		method = IDP_AUTH_PRIVATE_KEY_JWT;
	} else if (kid_kv != NULL) {
		kerr(ps, s, kid_kv, "only applies with client_key");
	}
	is->auth_method = method;
	if ((secret_kv != NULL || key_kv != NULL || find_kv(s, "auth_method")) &&
	    find_kv(s, "client_id") == NULL)
		serr(ps, s, "missing client_id (client_secret, client_key and "
		    "auth_method authenticate a client)");

	if (trust_kv != NULL && is->trust && aud_kv == NULL)
		kerr(ps, s, trust_kv, "trust = yes needs audience");
	/* is is the last issuer built so far; the others come before it. */
	for (i = 0; trust_kv != NULL && is->trust && is->url != NULL &&
	    i + 1 < ps->c->n_issuers; i++) {
		const struct cfg_issuer *o = ps->c->issuers[i];

		if (o->trust && o->url != NULL && strcmp(o->url, is->url) == 0) {
			kerr(ps, s, trust_kv, "issuer \"%s\" (line %d) already "
			    "trusts this url: tokens from it could not be told "
			    "apart", o->name, o->line);
			break;
		}
	}
	/* (Not when a bad trust value was reported already.) */
	if (aud_kv != NULL && !is->trust &&
	    (trust_kv != NULL || find_kv(s, "trust") == NULL))
		kerr(ps, s, aud_kv, "only applies with trust = yes (it is the "
		    "aud that callers' tokens must carry)");
}

/*
 * Indexes a built object under its section's kind and name, for the
 * lookups below (names are unique per kind: read_header() refused the
 * duplicates).
 */
static void
name_index(struct parser *ps, int kind, const char *name, void *v)
{
	struct config *c = ps->c;

	if (name == NULL)
		return;
	if (c->names == NULL && (c->names = nametab_new()) == NULL) {
		ps->oom = 1;
		return;
	}
	if (nametab_put(c->names, kind, name, v, NULL) == -ENOMEM)
		ps->oom = 1;
}

static struct cfg_ca *
find_ca(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_CA, name);
}

static struct cfg_signer *
find_signer(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_SIGNER, name);
}

/* Parses a list into *arr / *n (replacing any previous one). */
static int
get_list(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***arr, size_t *n)
{
	char **v;
	size_t nv;

	if (split(ps, s, kv, ',', &v, &nv) < 0)
		return -1;
	strv_free(*arr, *n);
	*arr = v;
	*n = nv;
	return 0;
}

static void
cred_x509_key(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_cred *cr)
{
	struct config *c = ps->c;
	char qb[QBUF];
	const char *k = kv->key;
	size_t i;

	if (strcmp(k, "ca") == 0) {
		if (!valid_name(kv->value, CONFIG_MAX_NAME))
			kerr(ps, s, kv, "bad name %s", qv(qb, sizeof(qb), s, kv));
		else if ((cr->ca = find_ca(c, kv->value)) == NULL)
			kerr(ps, s, kv, "no section [ca \"%s\"]", kv->value);
	} else if (strcmp(k, "key_type") == 0) {
		get_key_type(ps, s, kv, &cr->key_type);
	} else if (strcmp(k, "common_name") == 0) {
		get_common_name(ps, s, kv, &cr->common_name);
	} else if (strcmp(k, "dns") == 0) {
		if (get_list(ps, s, kv, &cr->dns, &cr->n_dns) < 0)
			return;
		for (i = 0; i < cr->n_dns; i++)
			if (is_ip_literal(cr->dns[i]))
				kerr_el(ps, s, kv, i, "%s is an IP address: put "
				    "it in ip", quote(qb, sizeof(qb), cr->dns[i]));
			else if (!valid_hostname(cr->dns[i], 1))
				kerr_el(ps, s, kv, i, "bad DNS name %s",
				    quote(qb, sizeof(qb), cr->dns[i]));
	} else if (strcmp(k, "ip") == 0) {
		if (get_list(ps, s, kv, &cr->ip, &cr->n_ip) < 0)
			return;
		for (i = 0; i < cr->n_ip; i++)
			if (!is_ip_literal(cr->ip[i]))
				kerr_el(ps, s, kv, i, "bad IP address %s",
				    quote(qb, sizeof(qb), cr->ip[i]));
	} else if (strcmp(k, "uri") == 0) {
		if (get_list(ps, s, kv, &cr->uri, &cr->n_uri) < 0)
			return;
		for (i = 0; i < cr->n_uri; i++)
			if (!valid_uri(cr->uri[i]))
				kerr_el(ps, s, kv, i, "bad URI %s",
				    quote(qb, sizeof(qb), cr->uri[i]));
	} else if (strcmp(k, "usage") == 0) {
		char **v = NULL;
		size_t n = 0;
		int usage = 0;

		if (split(ps, s, kv, ',', &v, &n) < 0)
			return;
		for (i = 0; i < n; i++)
			if (strcmp(v[i], "server") == 0)
				usage |= IDP_USAGE_SERVER;
			else if (strcmp(v[i], "client") == 0)
				usage |= IDP_USAGE_CLIENT;
			else
				break;
		if (i < n)
			kerr(ps, s, kv, "bad usage %s (server, client or "
			    "server,client)", qv(qb, sizeof(qb), s, kv));
		else
			cr->usage = usage;
		strv_free(v, n);
	}
}

static void
cred_jwt_key(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_cred *cr)
{
	char qb[QBUF];
	const char *k = kv->key;

	if (strcmp(k, "signer") == 0) {
		if (!valid_name(kv->value, CONFIG_MAX_NAME))
			kerr(ps, s, kv, "bad name %s", qv(qb, sizeof(qb), s, kv));
		else if ((cr->signer = find_signer(ps->c, kv->value)) == NULL)
			kerr(ps, s, kv, "no section [signer \"%s\"]", kv->value);
	} else if (strcmp(k, "subject") == 0) {
		get_string(ps, kv, &cr->subject);
	} else if (strcmp(k, "audience") == 0) {
		get_list(ps, s, kv, &cr->audience, &cr->n_audience);
	} else if (strcmp(k, "scope") == 0) {
		if (!valid_scope(kv->value))
			kerr(ps, s, kv, "bad scope %s: scope tokens separated "
			    "by single spaces", qv(qb, sizeof(qb), s, kv));
		else
			get_string(ps, kv, &cr->scope);
	}
}

static void
cred_secret_key(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_cred *cr)
{
	unsigned long v;
	const char *k = kv->key;

	if (strcmp(k, "bytes") == 0) {
		if (get_uint(ps, s, kv, 1, 4096, &v) == 0)
			cr->bytes = (size_t)v;
	} else if (strcmp(k, "keep") == 0) {
		if (get_uint(ps, s, kv, 1, 16, &v) == 0)
			cr->keep = (unsigned)v;
	} else if (strcmp(k, "fleet") == 0) {
		get_bool(ps, s, kv, &cr->fleet);
	}
}

/* RFC 6749 3.3 scope-token: NQCHAR except space, so one token. */
static int
valid_scope_token(const char *s)
{
	return strchr(s, ' ') == NULL && valid_scope(s);
}

static void
cred_oauth_key(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_cred *cr)
{
	char qb[QBUF];
	const char *k = kv->key;
	size_t i;

	if (strcmp(k, "issuer") == 0) {
		const struct sect *is;

		if (!valid_name(kv->value, CONFIG_MAX_NAME))
			kerr(ps, s, kv, "bad name %s", qv(qb, sizeof(qb), s, kv));
		else if ((cr->issuer = config_find_issuer(ps->c,
		    kv->value)) == NULL)
			kerr(ps, s, kv, "no section [issuer \"%s\"]", kv->value);
		else if ((is = find_sect(ps, SEC_ISSUER, kv->value)) == NULL)
			;	/* cannot happen: every issuer has a section */
		else if (find_kv(is, "client_id") == NULL)
			kerr(ps, s, kv, "issuer \"%s\" has no client_id",
			    kv->value);
		else if (find_kv(is, "client_secret") == NULL &&
		    find_kv(is, "client_key") == NULL)
			kerr(ps, s, kv, "issuer \"%s\" has no client_secret or "
			    "client_key", kv->value);
	} else if (strcmp(k, "audience") == 0) {
		get_list(ps, s, kv, &cr->audience, &cr->n_audience);
	} else if (strcmp(k, "scope") == 0) {
		char **v = NULL, *joined, *o;
		size_t n = 0, len = 0;

		if (split(ps, s, kv, ',', &v, &n) < 0)
			return;
		for (i = 0; i < n; i++) {
			if (!valid_scope_token(v[i])) {
				kerr(ps, s, kv, "bad scope token %s: printable "
				    "ASCII except blanks, '\"' and '\\' "
				    "(separate scopes with commas)",
				    quote(qb, sizeof(qb), v[i]));
				strv_free(v, n);
				return;
			}
			len += strlen(v[i]) + 1;
		}
		joined = o = malloc(len + 1);
		if (joined == NULL) {
			ps->oom = 1;
			strv_free(v, n);
			return;
		}
		*o = '\0';
		for (i = 0; i < n; i++)
			o = stpcpy(stpcpy(o, i > 0 ? " " : ""), v[i]);
		strv_free(v, n);
		free(cr->scope);
		cr->scope = joined;
	} else if (strcmp(k, "resource") == 0) {
		if (get_list(ps, s, kv, &cr->resource, &cr->n_resource) < 0)
			return;
		for (i = 0; i < cr->n_resource; i++)
			if (!valid_uri(cr->resource[i]) ||
			    strchr(cr->resource[i], '#') != NULL)
				kerr(ps, s, kv, "bad resource %s: an absolute URI "
				    "without fragment (RFC 8707)",
				    quote(qb, sizeof(qb), cr->resource[i]));
	} else if (strcmp(k, "subject_token") == 0) {
		get_secret(ps, s, kv, &cr->subject_token);
	} else if (strcmp(k, "subject_token_type") == 0) {
		if (!valid_uri(kv->value))
			kerr(ps, s, kv, "bad subject_token_type %s: a URI such "
			    "as urn:ietf:params:oauth:token-type:jwt",
			    qv(qb, sizeof(qb), s, kv));
		else
			get_string(ps, kv, &cr->subject_token_type);
	}
}

/* Keys every credential type has. */
static void
cred_common_key(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_cred *cr)
{
	struct config *c = ps->c;
	char qb[QBUF];
	const char *k = kv->key;
	int r;

	if (strcmp(k, "lifetime") == 0) {
		get_duration(ps, s, kv, 1, &cr->lifetime);
	} else if (strcmp(k, "renew_at") == 0) {
		get_renew_at(ps, s, kv, &cr->renew_at);
	} else if (strcmp(k, "jitter") == 0) {
		get_jitter(ps, s, kv, &cr->jitter);
	} else if (strcmp(k, "dir") == 0) {
		get_dir(ps, s, kv, &cr->dir);
	} else if (strcmp(k, "owner") == 0) {
		r = lookup_user(kv->value, &cr->uid);
		if (r == -ENOENT)
			kerr(ps, s, kv, "unknown user %s",
			    qv(qb, sizeof(qb), s, kv));
		else if (r < 0)
			kerr(ps, s, kv, "bad user %s: %s",
			    qv(qb, sizeof(qb), s, kv), strerror(-r));
	} else if (strcmp(k, "group") == 0) {
		r = lookup_group(kv->value, &cr->gid);
		if (r == -ENOENT)
			kerr(ps, s, kv, "unknown group %s",
			    qv(qb, sizeof(qb), s, kv));
		else if (r < 0)
			kerr(ps, s, kv, "bad group %s: %s",
			    qv(qb, sizeof(qb), s, kv), strerror(-r));
	} else if (strcmp(k, "mode") == 0) {
		mode_t m;

		if (config_parse_mode(kv->value, &m) < 0)
			kerr(ps, s, kv, "bad mode %s (3 or 4 octal digits, "
			    "like 0640)", qv(qb, sizeof(qb), s, kv));
		else if (m & 022)
			kerr(ps, s, kv, "mode %s is group- or world-writable",
			    qv(qb, sizeof(qb), s, kv));
		else if (m & 07000)
			kerr(ps, s, kv, "mode %s has setuid, setgid or sticky "
			    "bits", qv(qb, sizeof(qb), s, kv));
		else
			cr->mode = m;
	} else if (strcmp(k, "on_rotate") == 0) {
		char **v = NULL;
		size_t n = 0, i;

		if (split(ps, s, kv, ',', &v, &n) < 0)
			return;
		free(cr->on_rotate);
		cr->n_on_rotate = 0;
		cr->on_rotate = calloc(n, sizeof(*cr->on_rotate));
		if (cr->on_rotate == NULL) {
			ps->oom = 1;
			strv_free(v, n);
			return;
		}
		for (i = 0; i < n; i++) {
			struct cfg_reload *rl = NULL;

			if (!valid_name(v[i], CONFIG_MAX_NAME))
				kerr(ps, s, kv, "bad name %s",
				    quote(qb, sizeof(qb), v[i]));
			else if ((rl = config_find_reload(c, v[i])) == NULL)
				kerr(ps, s, kv, "no section [reload \"%s\"]",
				    v[i]);
			else
				cr->on_rotate[cr->n_on_rotate++] = rl;
		}
		strv_free(v, n);
	}
}

static void
build_cred(struct parser *ps, const struct sect *s, struct cfg_cred *cr)
{
	struct config *c = ps->c;
	const struct kv *type_kv;
	char qb[QBUF];
	size_t i, j;

	cr->renew_at = c->renew_at;
	cr->jitter = c->jitter;
	cr->uid = (uid_t)-1;
	cr->gid = (gid_t)-1;
	cr->mode = 0600;
	cr->key_type = IDP_KEY_EC_P256;
	cr->usage = IDP_USAGE_SERVER;
	cr->bytes = 32;
	cr->keep = 2;

	type_kv = find_kv(s, "type");
	if (type_kv == NULL) {
		serr(ps, s, "missing required key type (x509, jwt, oauth or "
		    "secret)");
	} else if (type_kv->value[0] == '\0') {
		/* Reported with the other keys. */
	} else if (strcmp(type_kv->value, "x509") == 0) {
		cr->type = CRED_X509;
		cr->lifetime = 24 * HOUR_S;
	} else if (strcmp(type_kv->value, "jwt") == 0) {
		cr->type = CRED_JWT;
		cr->lifetime = 1 * HOUR_S;
	} else if (strcmp(type_kv->value, "secret") == 0) {
		cr->type = CRED_SECRET;
		cr->lifetime = 24 * HOUR_S;
	} else if (strcmp(type_kv->value, "oauth") == 0) {
		/* No lifetime: the issuer decides, see check_renewal(). */
		cr->type = CRED_OAUTH;
	} else {
		kerr(ps, s, type_kv, "unknown type %s (x509, jwt, oauth or "
		    "secret)", qv(qb, sizeof(qb), s, type_kv));
	}

	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];

		for (j = 0; j < sizeof(cred_keys) / sizeof(cred_keys[0]); j++)
			if (strcmp(kv->key, cred_keys[j].key) == 0)
				break;
		if (j == sizeof(cred_keys) / sizeof(cred_keys[0])) {
			unknown_key(ps, s, kv);
			continue;
		}
		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
			continue;
		}
		if (kv == type_kv)
			continue;
		if (cr->type == 0)
			continue;	/* cannot tell what applies */
		if (!(cred_keys[j].types & (1u << cr->type))) {
			if (cr->type == CRED_OAUTH &&
			    strcmp(kv->key, "lifetime") == 0)
				kerr(ps, s, kv, "lifetime does not apply to oauth: "
				    "the issuer decides (renewal uses "
				    "expires_in)");
			else
				kerr(ps, s, kv, "not valid for type %s",
				    type_names[cr->type]);
			continue;
		}
		if (cred_keys[j].common)
			cred_common_key(ps, s, kv, cr);
		else if (cr->type == CRED_X509)
			cred_x509_key(ps, s, kv, cr);
		else if (cr->type == CRED_JWT)
			cred_jwt_key(ps, s, kv, cr);
		else if (cr->type == CRED_OAUTH)
			cred_oauth_key(ps, s, kv, cr);
		else
			cred_secret_key(ps, s, kv, cr);
	}

	if (cr->type == CRED_X509) {
		if (find_kv(s, "ca") == NULL)
			serr(ps, s, "missing required key ca for type x509");
		if (find_kv(s, "common_name") == NULL &&
		    find_kv(s, "dns") == NULL && find_kv(s, "ip") == NULL &&
		    find_kv(s, "uri") == NULL)
			serr(ps, s, "needs at least one of common_name, dns, ip "
			    "or uri");
	} else if (cr->type == CRED_JWT) {
		if (find_kv(s, "signer") == NULL)
			serr(ps, s, "missing required key signer for type jwt");
		if (find_kv(s, "subject") == NULL)
			serr(ps, s, "missing required key subject for type jwt");
	} else if (cr->type == CRED_OAUTH) {
		const struct kv *kv;

		if (find_kv(s, "issuer") == NULL)
			serr(ps, s, "missing required key issuer for type oauth");
		if ((kv = find_kv(s, "subject_token_type")) != NULL &&
		    find_kv(s, "subject_token") == NULL)
			kerr(ps, s, kv, "only applies with subject_token");
	} else if (cr->type == CRED_SECRET && cr->fleet && cr->keep < 2) {
		/*
		 * In the rollout a promoted host accepts its keep newest keys
		 * while a host that has not seen the promotion yet still
		 * encrypts with the one before: with one key they cannot
		 * overlap (tests/model/rollout.py, --keep 1).
		 */
		kerr(ps, s, find_kv(s, "keep"), "a fleet secret needs keep >= 2 "
		    "(hosts overlap by one key during a rollout)");
	}
}

/*
 * The renewal window is renew_at +- jitter/2 of the lifetime; it must open
 * at least a second after issuance and close before expiry.  An oauth
 * credential has no configured lifetime (the issuer's expires_in decides),
 * so only the fractions can be checked.
 */
static void
check_renewal(struct parser *ps, const struct sect *s,
    const struct cfg_cred *cr)
{
	char db[64];
	double lo, hi;

	if (cr->type == 0)
		return;
	lo = cr->renew_at - cr->jitter / 2;
	hi = cr->renew_at + cr->jitter / 2;
	if (hi >= 1)
		serr(ps, s, "renewal point would fire after expiry (renew_at "
		    "%.4g + jitter/2 %.4g reaches the end of the lifetime)",
		    cr->renew_at, cr->jitter / 2);
	else if (lo <= 0)
		serr(ps, s, "renewal point would fire at once after issuance "
		    "(renew_at %.4g - jitter/2 %.4g is not after issuance)",
		    cr->renew_at, cr->jitter / 2);
	else if (cr->lifetime > 0 && (double)cr->lifetime * lo < 1000)
		serr(ps, s, "renewal point would fire at once after issuance "
		    "(earliest %.3fs into a %s lifetime; at least 1s needed)",
		    (double)cr->lifetime * lo / 1000,
		    fmt_duration(db, sizeof(db), cr->lifetime));
}

/* Where a credential or signer publishes, for the collision check. */
struct dir_use {
	const char	*dir;
	const char	*label;
	int		 line;		/* of dir = , or the section header */
};

static void
check_dirs(struct parser *ps, struct dir_use *u, size_t n)
{
	struct nametab *seen;
	void *old;
	size_t i;

	if ((seen = nametab_new()) == NULL) {
		ps->oom = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		const struct dir_use *o;

		if (u[i].dir == NULL)
			continue;
		switch (nametab_put(seen, 0, u[i].dir, &u[i], &old)) {
		case 0:
			break;
		case -EEXIST:
			o = old;
			lerr(ps, u[i].line, "%s.dir: directory \"%s\" is "
			    "already used by %s (line %d)", u[i].label,
			    u[i].dir, o->label, o->line);
			break;
		default:
			ps->oom = 1;
			break;
		}
	}
	nametab_free(seen);
}

/* Sets the default dir (the name) and checks it is usable as one. */
static int
default_dir(struct parser *ps, const struct sect *s, const char *name,
    char **dir)
{
	if (*dir != NULL || find_kv(s, "dir") != NULL)
		return 0;
	if (!valid_dir(name)) {
		serr(ps, s, "the name cannot be a directory (it starts with "
		    "'.'): set dir");
		return -1;
	}
	*dir = xstrdup(ps, name);
	return 0;
}

/* [listen], [client] and [route]: the local HTTP API and who may use it. */

#define UNIX_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* A byte count with an optional suffix k (KiB) or M (MiB), min to max. */
static int
get_size(struct parser *ps, const struct sect *s, const struct kv *kv,
    size_t min, size_t max, size_t *ret)
{
	char qb[QBUF];
	unsigned long long v = 0, mult = 1;
	const char *p;

	for (p = kv->value; *p >= '0' && *p <= '9' && v < (1ULL << 40); p++)
		v = v * 10 + (unsigned long long)(*p - '0');
	if (*p == 'k' || *p == 'K') {
		mult = 1024;
		p++;
	} else if (*p == 'M') {
		mult = 1024 * 1024;
		p++;
	}
	if (p == kv->value || *p != '\0' || !(kv->value[0] >= '0' &&
	    kv->value[0] <= '9') || v >= (1ULL << 40)) {
		kerr(ps, s, kv, "bad size %s (bytes, or with a suffix k or M, "
		    "like 16k)", qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	v *= mult;
	if (v < min || v > max) {
		kerr(ps, s, kv, "must be from %zuk to %zuM, not %s",
		    min / 1024, max / (1024 * 1024), qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	*ret = (size_t)v;
	return 0;
}

/* A group (name or gid) into *ret, with the key's error reported. */
static int
get_group(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, gid_t *ret)
{
	char qb[QBUF];
	int r;

	r = lookup_group(name, ret);
	if (r == -ENOENT)
		kerr(ps, s, kv, "unknown group %s", quote(qb, sizeof(qb), name));
	else if (r < 0)
		kerr(ps, s, kv, "bad group %s: %s", quote(qb, sizeof(qb), name),
		    strerror(-r));
	return r < 0 ? -1 : 0;
}

/* As get_group() for a user. */
static int
get_user(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, uid_t *ret)
{
	char qb[QBUF];
	int r;

	r = lookup_user(name, ret);
	if (r == -ENOENT)
		kerr(ps, s, kv, "unknown user %s", quote(qb, sizeof(qb), name));
	else if (r < 0)
		kerr(ps, s, kv, "bad user %s: %s", quote(qb, sizeof(qb), name),
		    strerror(-r));
	return r < 0 ? -1 : 0;
}

static void
build_listen(struct parser *ps, const struct sect *s)
{
	struct cfg_listen *l = &ps->c->listen;
	const struct kv *unix_kv = NULL, *tcp_kv = NULL, *kv2;
	char qb[QBUF];
	unsigned long v;
	mode_t m;
	size_t i;
	int off = 0, insecure = 0;

	l->line = s->line;
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "unix") == 0) {
			unix_kv = kv;
			if (strcmp(kv->value, "off") == 0)
				off = 1;
			else if (kv->value[0] == '/' &&
			    strlen(kv->value) > UNIX_PATH_MAX)
				kerr(ps, s, kv, "longer than %zu bytes, the most "
				    "a unix socket path can have", UNIX_PATH_MAX);
			else if (kv->value[strlen(kv->value) - 1] == '/')
				kerr(ps, s, kv, "%s names a directory: give the "
				    "socket's file name",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_path(ps, s, kv, &l->unix_path);
		} else if (strcmp(k, "unix_mode") == 0) {
			if (config_parse_mode(kv->value, &m) < 0)
				kerr(ps, s, kv, "bad mode %s (3 or 4 octal digits, "
				    "like 0660)", qv(qb, sizeof(qb), s, kv));
			else if (m & 07000)
				kerr(ps, s, kv, "mode %s has setuid, setgid or "
				    "sticky bits", qv(qb, sizeof(qb), s, kv));
			else if (m & 0007)
				kerr(ps, s, kv, "mode %s lets every local user "
				    "connect: give the callers a group with "
				    "unix_group and use a mode like 0660",
				    qv(qb, sizeof(qb), s, kv));
			else
				l->unix_mode = m;
		} else if (strcmp(k, "unix_group") == 0) {
			get_group(ps, s, kv, kv->value, &l->unix_group);
		} else if (strcmp(k, "admin_group") == 0) {
			get_group(ps, s, kv, kv->value, &l->admin_group);
		} else if (strcmp(k, "tcp") == 0) {
			tcp_kv = kv;
			get_host_port(ps, s, kv, &l->tcp_host, &l->tcp_port);
		} else if (strcmp(k, "tcp_insecure") == 0) {
			get_bool(ps, s, kv, &insecure);
		} else if (strcmp(k, "audience") == 0) {
			if (!valid_printable(kv->value, 256, 0))
				kerr(ps, s, kv, "bad audience %s: one value of at "
				    "most 256 printable ASCII characters, no blanks",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &l->audience);
		} else if (strcmp(k, "max_delegation") == 0) {
			if (get_uint(ps, s, kv, 1, 8, &v) == 0)
				l->max_delegation = (unsigned)v;
		} else if (strcmp(k, "max_connections") == 0) {
			if (get_uint(ps, s, kv, 1, 10000, &v) == 0)
				l->max_connections = (unsigned)v;
		} else if (strcmp(k, "per_ip_limit") == 0) {
			if (get_uint(ps, s, kv, 1, 1000, &v) == 0)
				l->per_ip_limit = (unsigned)v;
		} else if (strcmp(k, "per_uid_limit") == 0) {
			if (get_uint(ps, s, kv, 1, 10000, &v) == 0)
				l->per_uid_limit = (unsigned)v;
		} else if (strcmp(k, "timeout") == 0) {
			get_duration_in(ps, s, kv, SEC_S, 10 * MIN_S,
			    &l->timeout);
		} else if (strcmp(k, "max_body") == 0) {
			get_size(ps, s, kv, 1024, 1024 * 1024, &l->max_body);
		} else if (strcmp(k, "max_wait") == 0) {
			get_duration_in(ps, s, kv, SEC_S, HOUR_S, &l->max_wait);
		} else if (strcmp(k, "verify_threads") == 0) {
			if (strcmp(kv->value, "auto") == 0)
				l->verify_threads = -1;
			else if (strspn(kv->value, "0123456789") !=
			    strlen(kv->value))
				kerr(ps, s, kv, "must be auto or a number from "
				    "0 to 8, not %s", qv(qb, sizeof(qb), s, kv));
			else if (get_uint(ps, s, kv, 0, 8, &v) == 0)
				l->verify_threads = (int)v;
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (off) {
		static const char *const unix_only[] = {
			"unix_mode", "unix_group", "admin_group",
			"per_uid_limit",
		};

		for (i = 0; i < sizeof(unix_only) / sizeof(unix_only[0]); i++)
			if ((kv2 = find_kv(s, unix_only[i])) != NULL)
				kerr(ps, s, kv2, "only applies with a unix "
				    "socket (unix = off, line %d)",
				    unix_kv->line);
	}
	if (tcp_kv == NULL && (kv2 = find_kv(s, "per_ip_limit")) != NULL)
		kerr(ps, s, kv2, "only applies with tcp");
	if (tcp_kv == NULL && (kv2 = find_kv(s, "tcp_insecure")) != NULL)
		kerr(ps, s, kv2, "only applies with tcp");
	/*
	 * The listener speaks plain HTTP: bearer tokens on it cross the
	 * network in the clear unless it is loopback.  Not without saying so.
	 */
	if (tcp_kv != NULL && l->tcp_host != NULL && !insecure &&
	    !is_loopback_host(l->tcp_host, strchr(l->tcp_host, ':') != NULL))
		kerr(ps, s, tcp_kv, "%s is not a loopback address: the TCP "
		    "listener has no TLS, so bearer tokens would cross the "
		    "network in the clear; keep it on 127.0.0.1 or [::1] "
		    "behind a TLS proxy, or set tcp_insecure = yes",
		    qv(qb, sizeof(qb), s, tcp_kv));
}

/*
 * The defaults of [listen], and the socket path when the section does not
 * set one: output_dir/api.sock.  ls is the [listen] section or NULL.
 */
static void
listen_defaults(struct parser *ps, const struct sect *ls, int before)
{
	struct config *c = ps->c;
	struct cfg_listen *l = &c->listen;
	const struct sect *rs;
	const struct kv *od;
	size_t i;

	if (before) {
		l->unix_mode = 0660;
		l->unix_group = (gid_t)-1;
		l->admin_group = (gid_t)-1;
		l->max_connections = 512;
		l->per_ip_limit = 8;
		l->per_uid_limit = 256;
		l->timeout = 10 * SEC_S;
		l->max_body = 16 * 1024;
		l->max_wait = 5 * MIN_S;
		l->verify_threads = -1;
		l->audience = xstrdup(ps, "rotatord");
		l->max_delegation = 2;
		return;
	}
	if (ls != NULL && find_kv(ls, "unix") != NULL)
		return;
	if (c->output_dir == NULL)
		return;
	if (strlen(c->output_dir) + strlen("/api.sock") > UNIX_PATH_MAX) {
		/* At output_dir, which is what makes the default too long. */
		od = NULL;
		for (i = 0, rs = NULL; i < ps->n_sects && rs == NULL; i++)
			if (!ps->sects[i]->skip &&
			    ps->sects[i]->kind == SEC_ROTATORD)
				rs = ps->sects[i];
		if (rs != NULL)
			od = find_kv(rs, "output_dir");
		lerr(ps, od != NULL ? od->line : ls != NULL ? ls->line : 1,
		    "the API socket %s/api.sock would be longer than %zu "
		    "bytes: set [listen] unix (a path or off)", c->output_dir,
		    UNIX_PATH_MAX);
		return;
	}
	if (asprintf(&l->unix_path, "%s/api.sock", strcmp(c->output_dir,
	    "/") == 0 ? "" : c->output_dir) < 0) {
		l->unix_path = NULL;
		ps->oom = 1;
	}
}

static void
claims_free(struct cfg_claim *cv, size_t n)
{
	size_t i;

	if (cv == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(cv[i].name);
		free(cv[i].value);
	}
	free(cv);
}

/* A claim name: [A-Za-z0-9_.:-]{1,64}. */
static int
valid_claim_name(const char *s)
{
	size_t n;

	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.:-");
	return n > 0 && n <= 64 && s[n] == '\0';
}

/*
 * claim = NAME=VALUE, NAME=VALUE ... into *ret / *ret_n (replacing any
 * previous ones).  Blanks around '=' are ignored.  A value cannot contain
 * a comma.  Returns 0, or -1 after reporting.
 */
static int
get_claims(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_claim **ret, size_t *ret_n)
{
	char qb[QBUF];
	struct cfg_claim *cv;
	char **v = NULL;
	size_t n = 0, nc = 0, i;
	int bad = 0;

	if (split(ps, s, kv, ',', &v, &n) < 0)
		return -1;
	cv = calloc(n > 0 ? n : 1, sizeof(*cv));
	if (cv == NULL) {
		ps->oom = 1;
		strv_free(v, n);
		return -1;
	}
	for (i = 0; i < n && !bad; i++) {
		char *eq = strchr(v[i], '='), *ne, *val;

		if (eq == NULL || eq == v[i]) {
			kerr(ps, s, kv, "bad claim %s: NAME=VALUE, like "
			    "groups=payments", quote(qb, sizeof(qb), v[i]));
			bad = 1;
			break;
		}
		val = eq + 1 + strspn(eq + 1, " \t");
		for (ne = eq; ne > v[i] && (ne[-1] == ' ' || ne[-1] == '\t');)
			ne--;
		*ne = '\0';
		if (!valid_claim_name(v[i])) {
			kerr(ps, s, kv, "bad claim name %s: 1 to 64 characters "
			    "of A-Z a-z 0-9 _ . : -", quote(qb, sizeof(qb), v[i]));
			bad = 1;
		} else if (*val == '\0') {
			kerr(ps, s, kv, "claim %s has no value (NAME=VALUE)",
			    quote(qb, sizeof(qb), v[i]));
			bad = 1;
		} else {
			cv[nc].name = strdup(v[i]);
			cv[nc].value = strdup(val);
			nc++;
			if (cv[nc - 1].name == NULL || cv[nc - 1].value == NULL) {
				ps->oom = 1;
				bad = 1;
			}
		}
	}
	strv_free(v, n);
	if (bad) {
		claims_free(cv, nc);
		return -1;
	}
	claims_free(*ret, *ret_n);
	*ret = cv;
	*ret_n = nc;
	return 0;
}

/* A list of RFC 6749 scope tokens. */
static int
get_scope_list(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***arr, size_t *n)
{
	char qb[QBUF];
	char **v = NULL;
	size_t nv = 0, i;

	if (split(ps, s, kv, ',', &v, &nv) < 0)
		return -1;
	for (i = 0; i < nv; i++)
		if (!valid_scope_token(v[i])) {
			kerr(ps, s, kv, "bad scope token %s: printable ASCII "
			    "except blanks, '\"' and '\\' (separate scopes "
			    "with commas)", quote(qb, sizeof(qb), v[i]));
			strv_free(v, nv);
			return -1;
		}
	strv_free(*arr, *n);
	*arr = v;
	*n = nv;
	return 0;
}

/*
 * issuer = of a [client] or [route]: a trusted [issuer] or a [signer],
 * the two kinds of token rotatord accepts from callers.
 */
static int
get_caller_issuer(struct parser *ps, const struct sect *s,
    const struct kv *kv, char **ret)
{
	const struct cfg_issuer *is;
	char qb[QBUF];

	if (!valid_name(kv->value, CONFIG_MAX_NAME)) {
		kerr(ps, s, kv, "bad name %s", qv(qb, sizeof(qb), s, kv));
		return -1;
	}
	is = config_find_issuer(ps->c, kv->value);
	if (is == NULL && find_signer(ps->c, kv->value) == NULL) {
		kerr(ps, s, kv, "no section [issuer \"%s\"] or [signer \"%s\"]",
		    kv->value, kv->value);
		return -1;
	}
	if (is != NULL && !is->trust) {
		kerr(ps, s, kv, "issuer \"%s\" is not trusted: its tokens are "
		    "never accepted from callers (set trust = yes and audience "
		    "in [issuer \"%s\"])", kv->value, kv->value);
		return -1;
	}
	return get_string(ps, kv, ret);
}

/* A list of audiences: values of at most 256 printable characters. */
static int
get_audience_list(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***arr, size_t *n)
{
	char qb[QBUF];
	char **v = NULL;
	size_t nv = 0, i;

	if (split(ps, s, kv, ',', &v, &nv) < 0)
		return -1;
	for (i = 0; i < nv; i++)
		if (!valid_printable(v[i], 256, 0)) {
			kerr(ps, s, kv, "bad audience %s: at most 256 printable "
			    "ASCII characters, no blanks",
			    quote(qb, sizeof(qb), v[i]));
			strv_free(v, nv);
			return -1;
		}
	strv_free(*arr, *n);
	*arr = v;
	*n = nv;
	return 0;
}

/* user = and group = of a [client]: lists of names or numbers. */
static void
client_ids(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_client *cl, int users)
{
	char **v = NULL;
	size_t n = 0, i, ok = 0;
	void *ids;

	if (split(ps, s, kv, ',', &v, &n) < 0)
		return;
	ids = calloc(n > 0 ? n : 1, users ? sizeof(uid_t) : sizeof(gid_t));
	if (ids == NULL) {
		ps->oom = 1;
		strv_free(v, n);
		return;
	}
	for (i = 0; i < n; i++) {
		if (users ? get_user(ps, s, kv, v[i], (uid_t *)ids + ok) :
		    get_group(ps, s, kv, v[i], (gid_t *)ids + ok))
			continue;
		ok++;
	}
	strv_free(v, n);
	if (users) {
		free(cl->uids);
		cl->uids = ids;
		cl->n_uids = ok;
	} else {
		free(cl->gids);
		cl->gids = ids;
		cl->n_gids = ok;
	}
}

static void
build_client(struct parser *ps, const struct sect *s, struct cfg_client *cl)
{
	static const char *const unix_sel[] = { "user", "group" };
	static const char *const bearer_sel[] = { "issuer", "subject", "claim" };
	static const char *const mint_keys[] = {
		"token_scopes", "token_signer", "token_lifetime",
		"token_reexchange",
	};
	struct config *c = ps->c;
	const struct kv *ukv = NULL, *bkv = NULL, *aud_kv, *kv2;
	struct cfg_signer *sg;
	char qb[QBUF];
	size_t i, j;

	cl->token_lifetime = 15 * MIN_S;
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "user") == 0) {
			client_ids(ps, s, kv, cl, 1);
		} else if (strcmp(k, "group") == 0) {
			client_ids(ps, s, kv, cl, 0);
		} else if (strcmp(k, "issuer") == 0) {
			get_caller_issuer(ps, s, kv, &cl->issuer);
		} else if (strcmp(k, "subject") == 0) {
			get_string(ps, kv, &cl->subject);
		} else if (strcmp(k, "claim") == 0) {
			get_claims(ps, s, kv, &cl->claims, &cl->n_claims);
		} else if (strcmp(k, "allow") == 0) {
			char **v = NULL;
			size_t n = 0;

			if (split(ps, s, kv, ',', &v, &n) < 0)
				continue;
			free(cl->allow);
			cl->n_allow = 0;
			cl->allow = calloc(n > 0 ? n : 1, sizeof(*cl->allow));
			if (cl->allow == NULL) {
				ps->oom = 1;
				strv_free(v, n);
				continue;
			}
			for (j = 0; j < n; j++) {
				struct cfg_cred *cr;

				if (!valid_name(v[j], CONFIG_MAX_NAME))
					kerr(ps, s, kv, "bad name %s",
					    quote(qb, sizeof(qb), v[j]));
				else if ((cr = config_find_cred(c, v[j])) == NULL)
					kerr(ps, s, kv, "no section [credential "
					    "\"%s\"]", v[j]);
				else
					cl->allow[cl->n_allow++] = cr;
			}
			strv_free(v, n);
		} else if (strcmp(k, "token_audiences") == 0) {
			get_audience_list(ps, s, kv, &cl->token_audiences,
			    &cl->n_token_audiences);
		} else if (strcmp(k, "token_scopes") == 0) {
			get_scope_list(ps, s, kv, &cl->token_scopes,
			    &cl->n_token_scopes);
		} else if (strcmp(k, "token_signer") == 0) {
			if (!valid_name(kv->value, CONFIG_MAX_NAME))
				kerr(ps, s, kv, "bad name %s",
				    qv(qb, sizeof(qb), s, kv));
			else if (find_signer(c, kv->value) == NULL)
				kerr(ps, s, kv, "no section [signer \"%s\"]",
				    kv->value);
			else
				get_string(ps, kv, &cl->token_signer);
		} else if (strcmp(k, "token_lifetime") == 0) {
			get_duration_in(ps, s, kv, MIN_S, DAY_S,
			    &cl->token_lifetime);
		} else if (strcmp(k, "metrics") == 0) {
			get_bool(ps, s, kv, &cl->metrics);
		} else if (strcmp(k, "token_reexchange") == 0) {
			get_bool(ps, s, kv, &cl->token_reexchange);
		} else {
			unknown_key(ps, s, kv);
		}
	}

	/* Selectors: present, and of one kind of caller. */
	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];

		for (j = 0; j < 2 && ukv == NULL; j++)
			if (strcmp(kv->key, unix_sel[j]) == 0)
				ukv = kv;
		for (j = 0; j < 3 && bkv == NULL; j++)
			if (strcmp(kv->key, bearer_sel[j]) == 0)
				bkv = kv;
	}
	if (ukv == NULL && bkv == NULL)
		serr(ps, s, "matches nobody: set user, group, issuer, subject "
		    "or claim");
	else if (ukv != NULL && bkv != NULL)
		kerr(ps, s, ukv->line > bkv->line ? ukv : bkv, "user/group "
		    "select unix-socket callers, issuer/subject/claim select "
		    "bearer-token callers; use two [client] sections");
	/*
	 * A sub names someone only within its issuer (RFC 7519 4.1.2): the
	 * same sub from two issuers is two callers, never one.
	 */
	if (ukv == NULL && (kv2 = find_kv(s, "subject")) != NULL &&
	    find_kv(s, "issuer") == NULL)
		kerr(ps, s, kv2, "needs issuer: a subject names a caller "
		    "only within its issuer");
	if (ukv != NULL && (kv2 = find_kv(s, "metrics")) != NULL)
		kerr(ps, s, kv2, "only applies to bearer-token callers "
		    "(callers of the unix socket may always read /metrics)");

	/* POST /v1/token: which signer mints, and only with audiences. */
	aud_kv = find_kv(s, "token_audiences");
	if (aud_kv == NULL) {
		for (i = 0; i < sizeof(mint_keys) / sizeof(mint_keys[0]); i++)
			if ((kv2 = find_kv(s, mint_keys[i])) != NULL)
				kerr(ps, s, kv2, "only applies with "
				    "token_audiences (what the client may ask "
				    "POST /v1/token for)");
	}
	if (find_kv(s, "token_signer") == NULL) {
		if (c->n_signers == 1) {
			sg = c->signers[0];
			cl->token_signer = xstrdup(ps, sg->name);
		} else if (aud_kv != NULL && c->n_signers == 0) {
			kerr(ps, s, aud_kv, "token_audiences needs a [signer] "
			    "(token_signer): there is none");
		} else if (aud_kv != NULL) {
			kerr(ps, s, aud_kv, "token_audiences needs a [signer] "
			    "(token_signer): there are %zu, name one",
			    c->n_signers);
		}
	}
}

/* HTTP methods a route may name. */
static const char *const http_methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
};

static void
route_methods(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_route *rt)
{
	char qb[QBUF];
	char **v = NULL, *p;
	size_t n = 0, i, j;

	if (split(ps, s, kv, ',', &v, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		for (p = v[i]; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		for (j = 0; j < sizeof(http_methods) / sizeof(http_methods[0]);
		    j++)
			if (strcmp(v[i], http_methods[j]) == 0)
				break;
		if (j == sizeof(http_methods) / sizeof(http_methods[0])) {
			kerr(ps, s, kv, "unknown method %s (GET, HEAD, POST, "
			    "PUT, PATCH, DELETE or OPTIONS)",
			    quote(qb, sizeof(qb), v[i]));
			goto fail;
		}
		for (j = 0; j < i; j++)
			if (strcmp(v[i], v[j]) == 0) {
				kerr(ps, s, kv, "duplicate element %s",
				    quote(qb, sizeof(qb), v[i]));
				goto fail;
			}
	}
	strv_free(rt->methods, rt->n_methods);
	rt->methods = v;
	rt->n_methods = n;
	return;
fail:
	strv_free(v, n);
}

/*
 * A route prefix: '/' and printable ASCII without blanks.  It is matched
 * against the decoded path (see authz_route()), so it holds no %XX
 * escapes, query, fragment, dot segments or empty segments.
 */
static const char *
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

static void
build_route(struct parser *ps, const struct sect *s, struct cfg_route *rt)
{
	struct config *c = ps->c;
	const struct kv *prefix_kv = NULL;
	char qb[QBUF];
	const char *why;
	size_t i;

	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "prefix") == 0) {
			if ((why = check_prefix(kv->value)) != NULL) {
				kerr(ps, s, kv, "bad prefix %s: %s",
				    qv(qb, sizeof(qb), s, kv), why);
			} else if (get_string(ps, kv, &rt->prefix) == 0) {
				prefix_kv = kv;
			}
		} else if (strcmp(k, "methods") == 0) {
			route_methods(ps, s, kv, rt);
		} else if (strcmp(k, "issuer") == 0) {
			get_caller_issuer(ps, s, kv, &rt->issuer);
		} else if (strcmp(k, "scope") == 0) {
			get_scope_list(ps, s, kv, &rt->scopes, &rt->n_scopes);
		} else if (strcmp(k, "claim") == 0) {
			get_claims(ps, s, kv, &rt->claims, &rt->n_claims);
		} else if (strcmp(k, "audience") == 0) {
			if (!valid_printable(kv->value, 256, 0))
				kerr(ps, s, kv, "bad audience %s: one value of at "
				    "most 256 printable ASCII characters, no "
				    "blanks", qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &rt->audience);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (find_kv(s, "prefix") == NULL)
		serr(ps, s, "missing required key prefix");
	/* rt is the last route built so far; the others come before it. */
	for (i = 0; prefix_kv != NULL && i + 1 < c->n_routes; i++) {
		const struct cfg_route *o = c->routes[i];

		if (o->prefix != NULL && strcmp(o->prefix, rt->prefix) == 0) {
			kerr(ps, s, prefix_kv, "prefix %s is already used by "
			    "route \"%s\" (line %d)",
			    qv(qb, sizeof(qb), s, prefix_kv), o->name, o->line);
			break;
		}
	}
}

/*
 * A trusted issuer and a signer of the same name could not be told apart:
 * callers' tokens are known by the name of the section that vouches for
 * them ([client] issuer =, [route] issuer =).
 */
static void
check_caller_issuers(struct parser *ps)
{
	struct config *c = ps->c;
	const struct sect *s;
	const struct kv *kv;
	size_t i;

	for (i = 0; i < c->n_issuers; i++) {
		const struct cfg_issuer *is = c->issuers[i];
		const struct cfg_signer *sg;

		if (!is->trust || (sg = find_signer(c, is->name)) == NULL)
			continue;
		s = find_sect(ps, SEC_ISSUER, is->name);
		kv = s != NULL ? find_kv(s, "trust") : NULL;
		if (s != NULL && kv != NULL)
			kerr(ps, s, kv, "[signer \"%s\"] (line %d) has the same "
			    "name: callers' tokens are told apart by it, "
			    "rename one", sg->name, sg->line);
	}
}

/* [cluster] (see struct cfg_cluster). */
static void
build_cluster(struct parser *ps, const struct sect *s)
{
	struct cfg_cluster *cl = &ps->c->cluster;
	char qb[QBUF], host[256];
	size_t i, n;
	const struct kv *kv;

	cl->line = s->line;
	cl->lease_ttl = 10 * SEC_S;
	cl->timeout = 5 * SEC_S;
	cl->ack_timeout = 60 * SEC_S;
	for (i = 0; i < s->n_kvs; i++) {
		const char *k;

		kv = &s->kvs[i];
		k = kv->key;
		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (strcmp(k, "endpoints") == 0) {
			size_t j;

			if (get_list(ps, s, kv, &cl->endpoints,
			    &cl->n_endpoints) < 0)
				continue;
			for (j = 0; j < cl->n_endpoints; j++) {
				const char *why;

				/* The same rules as an issuer URL. */
				if ((why = check_issuer_url(cl->endpoints[j])) !=
				    NULL)
					kerr(ps, s, kv, "bad endpoint %s: %s",
					    quote(qb, sizeof(qb),
					    cl->endpoints[j]), why);
			}
		} else if (strcmp(k, "ca_file") == 0) {
			if (get_path(ps, s, kv, &cl->ca_file) == 0)
				check_readable(ps, s, kv);
		} else if (strcmp(k, "key_file") == 0) {
			if (get_path(ps, s, kv, &cl->key_file) == 0)
				check_private_file(ps, s, kv);
		} else if (strcmp(k, "client_cert") == 0) {
			if (get_path(ps, s, kv, &cl->client_cert) == 0)
				check_readable(ps, s, kv);
		} else if (strcmp(k, "client_key") == 0) {
			if (get_path(ps, s, kv, &cl->client_key) == 0)
				check_private_file(ps, s, kv);
		} else if (strcmp(k, "prefix") == 0) {
			n = strlen(kv->value);
			if (kv->value[0] != '/' || kv->value[n - 1] != '/' ||
			    n > 128 || n < 2 || strspn(kv->value,
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789/._-") != n)
				kerr(ps, s, kv, "bad prefix %s: like /rotatord/ "
				    "(starts and ends with '/', at most 128 of "
				    "[A-Za-z0-9/._-])", qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &cl->prefix);
		} else if (strcmp(k, "name") == 0) {
			if (!valid_name(kv->value, 64))
				kerr(ps, s, kv, "bad host name %s: 1 to 64 of "
				    "[A-Za-z0-9._-]", qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &cl->name);
		} else if (strcmp(k, "lease_ttl") == 0) {
			get_duration_in(ps, s, kv, 3 * SEC_S, MIN_S,
			    &cl->lease_ttl);
		} else if (strcmp(k, "timeout") == 0) {
			get_duration_in(ps, s, kv, SEC_S, MIN_S, &cl->timeout);
		} else if (strcmp(k, "ack_timeout") == 0) {
			get_duration_in(ps, s, kv, SEC_S, HOUR_S,
			    &cl->ack_timeout);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (cl->n_endpoints == 0)
		serr(ps, s, "missing required key endpoints");
	if ((cl->client_cert == NULL) != (cl->client_key == NULL))
		serr(ps, s, "client_cert and client_key go together");
	if (cl->key_file == NULL)
		serr(ps, s, "missing required key key_file (32 random bytes "
		    "that every host has, e.g. openssl rand -out FILE 32)");
	if (cl->prefix == NULL && (cl->prefix = strdup("/rotatord/")) == NULL)
		ps->oom = 1;
	if (cl->name == NULL) {
		if (gethostname(host, sizeof(host)) < 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		if (!valid_name(host, 64))
			serr(ps, s, "the host name %s is not a usable member "
			    "name: set name", quote(qb, sizeof(qb), host));
		else if ((cl->name = strdup(host)) == NULL)
			ps->oom = 1;
	}
}

static void
build(struct parser *ps)
{
	struct config *c = ps->c;
	struct dir_use *uses = NULL;
	const struct sect *ls = NULL;
	size_t i, n_uses = 0;

	listen_defaults(ps, NULL, 1);
	/* [rotatord] first: credentials inherit from it. */
	for (i = 0; i < ps->n_sects; i++)
		if (!ps->sects[i]->skip && ps->sects[i]->kind == SEC_ROTATORD)
			build_rotatord(ps, ps->sects[i]);

	/* Then what credentials refer to, so references resolve. */
	for (i = 0; i < ps->n_sects; i++) {
		const struct sect *s = ps->sects[i];

		if (s->skip)
			continue;
		if (s->kind == SEC_ISSUER) {
			struct cfg_issuer *is = calloc(1, sizeof(*is)), **v;

			v = is != NULL ? reallocarray(c->issuers,
			    c->n_issuers + 1, sizeof(*v)) : NULL;
			if (v == NULL) {
				free(is);
				ps->oom = 1;
				break;
			}
			c->issuers = v;
			c->issuers[c->n_issuers++] = is;
			is->name = xstrdup(ps, s->name);
			name_index(ps, SEC_ISSUER, is->name, is);
			is->line = s->line;
			if (is->name != NULL)
				build_issuer(ps, s, is);
		} else if (s->kind == SEC_CA) {
			struct cfg_ca *ca = calloc(1, sizeof(*ca)), **v;

			v = ca != NULL ? reallocarray(c->cas, c->n_cas + 1,
			    sizeof(*v)) : NULL;
			if (v == NULL) {
				free(ca);
				ps->oom = 1;
				break;
			}
			c->cas = v;
			c->cas[c->n_cas++] = ca;
			ca->name = xstrdup(ps, s->name);
			name_index(ps, SEC_CA, ca->name, ca);
			ca->line = s->line;
			if (ca->name != NULL)
				build_ca(ps, s, ca);
		} else if (s->kind == SEC_SIGNER) {
			struct cfg_signer *sg = calloc(1, sizeof(*sg)), **v;

			v = sg != NULL ? reallocarray(c->signers,
			    c->n_signers + 1, sizeof(*v)) : NULL;
			if (v == NULL) {
				free(sg);
				ps->oom = 1;
				break;
			}
			c->signers = v;
			c->signers[c->n_signers++] = sg;
			sg->name = xstrdup(ps, s->name);
			name_index(ps, SEC_SIGNER, sg->name, sg);
			sg->line = s->line;
			build_signer(ps, s, sg);
		} else if (s->kind == SEC_RELOAD) {
			struct cfg_reload *r = calloc(1, sizeof(*r)), **v;

			v = r != NULL ? reallocarray(c->reloads,
			    c->n_reloads + 1, sizeof(*v)) : NULL;
			if (v == NULL) {
				free(r);
				ps->oom = 1;
				break;
			}
			c->reloads = v;
			c->reloads[c->n_reloads++] = r;
			r->name = xstrdup(ps, s->name);
			name_index(ps, SEC_RELOAD, r->name, r);
			r->line = s->line;
			build_reload(ps, s, r);
		}
	}
	for (i = 0; i < ps->n_sects && !ps->oom; i++) {
		const struct sect *s = ps->sects[i];
		struct cfg_cred *cr, **v;

		if (s->skip || s->kind != SEC_CRED)
			continue;
		cr = calloc(1, sizeof(*cr));
		v = cr != NULL ? reallocarray(c->creds, c->n_creds + 1,
		    sizeof(*v)) : NULL;
		if (v == NULL) {
			free(cr);
			ps->oom = 1;
			break;
		}
		c->creds = v;
		c->creds[c->n_creds++] = cr;
		cr->name = xstrdup(ps, s->name);
		name_index(ps, SEC_CRED, cr->name, cr);
		cr->line = s->line;
		build_cred(ps, s, cr);
	}

	/* The API: [listen] needs output_dir, the others refer to the above. */
	for (i = 0; i < ps->n_sects && !ps->oom; i++) {
		const struct sect *s = ps->sects[i];

		if (s->skip)
			continue;
		if (s->kind == SEC_LISTEN) {
			ls = s;
			build_listen(ps, s);
		} else if (s->kind == SEC_CLUSTER) {
			build_cluster(ps, s);
		} else if (s->kind == SEC_CLIENT) {
			struct cfg_client *cl = calloc(1, sizeof(*cl)), **v;

			v = cl != NULL ? reallocarray(c->clients,
			    c->n_clients + 1, sizeof(*v)) : NULL;
			if (v == NULL) {
				free(cl);
				ps->oom = 1;
				break;
			}
			c->clients = v;
			c->clients[c->n_clients++] = cl;
			cl->name = xstrdup(ps, s->name);
			cl->line = s->line;
			build_client(ps, s, cl);
		} else if (s->kind == SEC_ROUTE) {
			struct cfg_route *rt = calloc(1, sizeof(*rt)), **v;

			v = rt != NULL ? reallocarray(c->routes,
			    c->n_routes + 1, sizeof(*v)) : NULL;
			if (v == NULL) {
				free(rt);
				ps->oom = 1;
				break;
			}
			c->routes = v;
			c->routes[c->n_routes++] = rt;
			rt->name = xstrdup(ps, s->name);
			rt->line = s->line;
			build_route(ps, s, rt);
		}
	}
	if (ps->oom)
		return;
	listen_defaults(ps, ls, 0);
	check_caller_issuers(ps);
	if (ps->oom)
		return;

	/* Cross-section checks, in file order. */
	uses = calloc(ps->n_sects + 1, sizeof(*uses));
	if (uses == NULL) {
		ps->oom = 1;
		return;
	}
	for (i = 0; i < ps->n_sects; i++) {
		const struct sect *s = ps->sects[i];
		const struct kv *dir_kv;
		char **dir = NULL;
		const char *name = NULL;

		if (s->skip)
			continue;
		if (s->kind == SEC_SIGNER) {
			struct cfg_signer *sg = find_signer(c, s->name);

			dir = &sg->dir;
			name = sg->name;
		} else if (s->kind == SEC_CRED) {
			struct cfg_cred *cr = config_find_cred(c, s->name);

			check_renewal(ps, s, cr);
			if (cr->type == CRED_X509 && cr->ca != NULL &&
			    cr->ca->cert_file == NULL &&
			    cr->lifetime > cr->ca->lifetime) {
				char a[64], b[64];

				serr(ps, s, "lifetime %s is longer than the "
				    "lifetime %s of ca \"%s\"",
				    fmt_duration(a, sizeof(a), cr->lifetime),
				    fmt_duration(b, sizeof(b), cr->ca->lifetime),
				    cr->ca->name);
			}
			dir = &cr->dir;
			name = cr->name;
		} else {
			continue;
		}
		if (default_dir(ps, s, name, dir) < 0)
			continue;
		dir_kv = find_kv(s, "dir");
		uses[n_uses].dir = *dir;
		uses[n_uses].label = s->label;
		uses[n_uses].line = dir_kv != NULL ? dir_kv->line : s->line;
		n_uses++;
	}
	check_dirs(ps, uses, n_uses);
	free(uses);
}

static int
cmp_diag(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
parser_fini(struct parser *ps)
{
	size_t i, j;

	for (i = 0; i < ps->n_sects; i++) {
		struct sect *s = ps->sects[i];

		for (j = 0; j < s->n_kvs; j++) {
			if (is_secret_key(s->kind, s->kvs[j].key))
				explicit_bzero(s->kvs[j].value,
				    strlen(s->kvs[j].value));
			free(s->kvs[j].key);
			free(s->kvs[j].value);
			free(s->kvs[j].segs);
		}
		free(s->kvs);
		free(s->name);
		free(s->label);
		free(s);
	}
	free(ps->sects);
	nametab_free(ps->sect_idx);
	for (i = 0; i < ps->n_diags; i++)
		free(ps->diags[i].msg);
	free(ps->diags);
	free(ps->el_lines);
}

/*
 * Parses buf.  file_mode is the mode of the file it came from, or -1 when
 * unknown (then literal secrets are not checked).
 */
static int
load_buf(const char *name, const char *buf, size_t len, FILE *errf,
    long file_mode, struct config **ret)
{
	struct parser ps;
	struct config *c;
	size_t i;
	int r;

	if (name == NULL)
		name = "(config)";
	if (len > CONFIG_MAX_FILE) {
		if (errf != NULL)
			fprintf(errf, "%s: file too large (max %d bytes)\n",
			    name, CONFIG_MAX_FILE);
		return -EFBIG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	memset(&ps, 0, sizeof(ps));
	ps.path = name;
	ps.p = buf;
	ps.left = len;
	ps.c = c;
	if (file_mode >= 0) {
		ps.check_mode = 1;
		ps.file_mode = (mode_t)file_mode;
	}

	c->path = xstrdup(&ps, name);
	c->output_dir = xstrdup(&ps, "/run/rotatord");
	c->state_dir = xstrdup(&ps, "/var/lib/rotatord");
	c->renew_at = 2.0 / 3.0;
	c->jitter = 0.10;
	c->backdate = 60 * SEC_S;
	c->retry_min = 1 * SEC_S;
	c->retry_max = 60 * SEC_S;
	c->log_level = LOG_INFO;
	c->log_format = LOG_FORMAT_TEXT;

	r = ini_parse_stream(reader, &ps, handler, &ps);
	if (r == -2)
		ps.oom = 1;
	else if (r != 0 && ps.n_diags == 0)
		lerr(&ps, r > 0 ? r : 1, "syntax error");
	if (!ps.oom)
		build(&ps);

	if (ps.oom) {
		r = -ENOMEM;
		if (errf != NULL)
			fprintf(errf, "%s: out of memory\n", name);
	} else if (ps.n_diags > 0) {
		r = -EINVAL;
		qsort(ps.diags, ps.n_diags, sizeof(*ps.diags), cmp_diag);
		for (i = 0; errf != NULL && i < ps.n_diags; i++)
			fprintf(errf, "%s:%d: %s\n", name, ps.diags[i].line,
			    ps.diags[i].msg);
	} else {
		r = 0;
	}
	parser_fini(&ps);
	if (r < 0) {
		config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int
config_load_buf(const char *name, const char *buf, size_t len, FILE *errf,
    struct config **ret)
{
	return load_buf(name, buf, len, errf, -1, ret);
}

int
config_load(const char *path, FILE *errf, struct config **ret)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	struct stat st;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (errf != NULL)
			fprintf(errf, "%s: cannot open: %s\n", path,
			    strerror(-r));
		return r;
	}
	/* The mode of the file read, not of whatever the path names later. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		if (errf != NULL)
			fprintf(errf, "%s: cannot stat: %s\n", path,
			    strerror(-r));
		goto out;
	}
	/* Read up to one byte over the limit, so that too large is seen. */
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > CONFIG_MAX_FILE + 1)
				cap = CONFIG_MAX_FILE + 1;
			if (len == cap)
				break;
			/*
			 * Not realloc(): the buffer may hold a literal secret,
			 * and a moved block would leave a copy behind.
			 */
			nbuf = malloc(cap);
			if (nbuf == NULL) {
				r = -ENOMEM;
				goto out;
			}
			if (len > 0)
				memcpy(nbuf, buf, len);
			if (buf != NULL) {
				explicit_bzero(buf, len);
				free(buf);
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			if (errf != NULL)
				fprintf(errf, "%s: cannot read: %s\n", path,
				    strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = load_buf(path, buf, len, errf, (long)(st.st_mode & 07777), ret);
out:
	if (buf != NULL)
		explicit_bzero(buf, len);
	free(buf);
	close(fd);
	return r;
}

static void
free_issuer(struct cfg_issuer *is)
{
	if (is == NULL)
		return;
	free(is->name);
	free(is->url);
	free(is->client_id);
	secret_clear(&is->client_secret);
	free(is->client_key);
	free(is->client_key_id);
	free(is->ca_file);
	free(is->audience);
	free(is);
}

static void
free_ca(struct cfg_ca *ca)
{
	if (ca == NULL)
		return;
	free(ca->name);
	free(ca->common_name);
	free(ca->cert_file);
	free(ca->key_file);
	free(ca);
}

static void
free_signer(struct cfg_signer *sg)
{
	if (sg == NULL)
		return;
	free(sg->name);
	free(sg->issuer);
	free(sg->dir);
	free(sg);
}

static void
free_cred(struct cfg_cred *cr)
{
	if (cr == NULL)
		return;
	free(cr->name);
	free(cr->dir);
	free(cr->on_rotate);
	free(cr->common_name);
	strv_free(cr->dns, cr->n_dns);
	strv_free(cr->ip, cr->n_ip);
	strv_free(cr->uri, cr->n_uri);
	free(cr->subject);
	strv_free(cr->audience, cr->n_audience);
	free(cr->scope);
	strv_free(cr->resource, cr->n_resource);
	secret_clear(&cr->subject_token);
	free(cr->subject_token_type);
	free(cr);
}

static void
free_reload(struct cfg_reload *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->pidfile);
	strv_free(r->exec, (size_t)-1);
	free(r->unit);
	strv_free(r->check, (size_t)-1);
	free(r->verify_host);
	free(r->verify_port);
	free(r->sni);
	free(r);
}

static void
free_client(struct cfg_client *cl)
{
	if (cl == NULL)
		return;
	free(cl->name);
	free(cl->uids);
	free(cl->gids);
	free(cl->issuer);
	free(cl->subject);
	claims_free(cl->claims, cl->n_claims);
	free(cl->allow);
	strv_free(cl->token_audiences, cl->n_token_audiences);
	strv_free(cl->token_scopes, cl->n_token_scopes);
	free(cl->token_signer);
	free(cl);
}

static void
free_route(struct cfg_route *rt)
{
	if (rt == NULL)
		return;
	free(rt->name);
	free(rt->prefix);
	strv_free(rt->methods, rt->n_methods);
	free(rt->issuer);
	strv_free(rt->scopes, rt->n_scopes);
	claims_free(rt->claims, rt->n_claims);
	free(rt->audience);
	free(rt);
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	nametab_free(c->names);
	for (i = 0; i < c->n_issuers; i++)
		free_issuer(c->issuers[i]);
	free(c->issuers);
	for (i = 0; i < c->n_cas; i++)
		free_ca(c->cas[i]);
	free(c->cas);
	for (i = 0; i < c->n_signers; i++)
		free_signer(c->signers[i]);
	free(c->signers);
	for (i = 0; i < c->n_creds; i++)
		free_cred(c->creds[i]);
	free(c->creds);
	for (i = 0; i < c->n_reloads; i++)
		free_reload(c->reloads[i]);
	free(c->reloads);
	for (i = 0; i < c->n_clients; i++)
		free_client(c->clients[i]);
	free(c->clients);
	for (i = 0; i < c->n_routes; i++)
		free_route(c->routes[i]);
	free(c->routes);
	free(c->listen.unix_path);
	free(c->listen.tcp_host);
	free(c->listen.audience);
	free(c->listen.tcp_port);
	free(c->path);
	free(c->output_dir);
	free(c->state_dir);
	free(c->region);
	strv_free(c->cluster.endpoints, c->cluster.n_endpoints);
	free(c->cluster.ca_file);
	free(c->cluster.client_cert);
	free(c->cluster.client_key);
	free(c->cluster.key_file);
	free(c->cluster.prefix);
	free(c->cluster.name);
	free(c);
}

struct cfg_cred *
config_find_cred(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_CRED, name);
}

struct cfg_reload *
config_find_reload(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_RELOAD, name);
}

struct cfg_issuer *
config_find_issuer(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_ISSUER, name);
}
