/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed key readers: one value of a key into its field, or a message at
 * the key's line naming what was expected.  Also the lookups that cannot
 * wait for runtime (users, groups, readable files).
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

#include <idp/jwk.h>
#include <idp/x509.h>

#include "config/config.h"
#include "config/parse.h"
#include "core/log.h"

/*
 * Splits s at sep (',' for lists, 0 for blanks as in argv) into a new
 * NULL-terminated array; elements are trimmed.  Reports empty and, for lists,
 * duplicate elements.  Returns 0, or -1 after reporting.
 */
int
cfg_split(struct parser *ps, const struct sect *s, const struct kv *kv, int sep,
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
		nv = el != NULL ? cfg_grow(v, &cap, n, sizeof(*v)) : NULL;
		nl = nv != NULL ? cfg_grow(ps->el_lines, &ps->cap_el_lines, n,
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
				    cfg_quote(qb, sizeof(qb), el));
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

/* Second pass: typed values, with the key's error reported. */

/*
 * A duration of at least min_ms (0: zero allowed) and at most 100 years.
 * Returns 0 and sets *ret, or -1 after reporting.
 */
int
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
int
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
int
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
	d = cfg_strdup(ps, arg);
	if (d == NULL)
		return -1;
	secret_clear(ret);
	ret->source = src;
	ret->arg = d;
	return 0;
}

/* renew_at: a fraction strictly between 0 and 1. */
int
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
int
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

int
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
int
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
int
get_string(struct parser *ps, const struct kv *kv, char **ret)
{
	char *d;

	d = cfg_strdup(ps, kv->value);
	if (d == NULL)
		return -1;
	free(*ret);
	*ret = d;
	return 0;
}

int
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
int
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

int
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

int
get_common_name(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret)
{
	if (strlen(kv->value) > CONFIG_MAX_CN) {
		kerr(ps, s, kv, "longer than %d bytes", CONFIG_MAX_CN);
		return -1;
	}
	return get_string(ps, kv, ret);
}

int
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
int
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
	if (cfg_split(ps, s, kv, 0, &v, &n) < 0)
		return -1;
	if (n == 0 || v[0][0] != '/') {
		kerr(ps, s, kv, "the command must be an absolute path, not %s",
		    n ? cfg_quote(qb, sizeof(qb), v[0]) : "\"\"");
		strv_free(v, n);
		return -1;
	}
	strv_free(*ret, (size_t)-1);
	*ret = v;
	return 0;
}

/*
 * A user, or with group a group, by name or number into *ret.  Returns 0,
 * -ENOENT for an unknown name, -EINVAL for a bad number, or another -errno
 * from the lookup.
 */
static int
lookup_id(const char *s, int group, id_t *ret)
{
	struct passwd pw, *pres = NULL;
	struct group gr, *gres = NULL;
	char *buf = NULL, *nbuf;
	size_t size = 4096;
	unsigned long long v = 0;
	const char *p;
	int r;

	if (*s >= '0' && *s <= '9') {
		for (p = s; *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
			v = v * 10 + (unsigned long long)(*p - '0');
		if (*p != '\0' || v >= (id_t)-1)
			return -EINVAL;
		*ret = (id_t)v;
		return 0;
	}
	for (;;) {
		nbuf = realloc(buf, size);
		if (nbuf == NULL) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;
		r = group ? getgrnam_r(s, &gr, buf, size, &gres) :
		    getpwnam_r(s, &pw, buf, size, &pres);
		if (r != ERANGE || size >= (1 << 20))
			break;
		size *= 2;
	}
	free(buf);
	if (r != 0)
		return -r;
	if (group ? gres == NULL : pres == NULL)
		return -ENOENT;
	*ret = group ? gr.gr_gid : pw.pw_uid;
	return 0;
}

int
lookup_user(const char *s, uid_t *ret)
{
	id_t v;
	int r;

	if ((r = lookup_id(s, 0, &v)) == 0)
		*ret = (uid_t)v;
	return r;
}

int
lookup_group(const char *s, gid_t *ret)
{
	id_t v;
	int r;

	if ((r = lookup_id(s, 1, &v)) == 0)
		*ret = (gid_t)v;
	return r;
}

/*
 * A file rotatord will read at startup: must be a regular file it can open.
 * stat() comes first so that no device or FIFO is ever opened.
 */
int
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
int
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

/*
 * HOST:PORT or [IPv6]:PORT into new strings *host (without brackets) and
 * *port (replacing any previous ones).  Returns 0, or -1 after reporting.
 */
int
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

/* Parses a list into *arr / *n (replacing any previous one). */
int
get_list(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***arr, size_t *n)
{
	char **v;
	size_t nv;

	if (cfg_split(ps, s, kv, ',', &v, &nv) < 0)
		return -1;
	strv_free(*arr, *n);
	*arr = v;
	*n = nv;
	return 0;
}

/* [listen], [client] and [route]: the local HTTP API and who may use it. */


/* A byte count with an optional suffix k (KiB) or M (MiB), min to max. */
int
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

/* A user or, with group, a group into *ret, with the key's error reported. */
static int
get_id(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, int group, id_t *ret)
{
	const char *what = group ? "group" : "user";
	char qb[QBUF];
	int r;

	r = lookup_id(name, group, ret);
	if (r == -ENOENT)
		kerr(ps, s, kv, "unknown %s %s", what,
		    cfg_quote(qb, sizeof(qb), name));
	else if (r < 0)
		kerr(ps, s, kv, "bad %s %s: %s", what,
		    cfg_quote(qb, sizeof(qb), name), strerror(-r));
	return r < 0 ? -1 : 0;
}

int
get_group(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, gid_t *ret)
{
	id_t v;

	if (get_id(ps, s, kv, name, 1, &v) < 0)
		return -1;
	*ret = (gid_t)v;
	return 0;
}

int
get_user(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, uid_t *ret)
{
	id_t v;

	if (get_id(ps, s, kv, name, 0, &v) < 0)
		return -1;
	*ret = (uid_t)v;
	return 0;
}
