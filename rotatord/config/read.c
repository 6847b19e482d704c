/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The first pass: the file's text into sections and key = value pairs with
 * their line numbers (our reader under ini_parse_stream()), and every
 * message about the text itself: long lines, bad headers, duplicates.
 * The inih traps this handles are described in config.c.
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

#include "config/config.h"
#include "config/parse.h"
#include "core/log.h"

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

/*
 * Makes room for element n (and one more, for a NULL terminator) in the
 * array p of *cap elements of size.  Returns the array, maybe moved, or
 * NULL (p is then unchanged).
 */
void *
cfg_grow(void *p, size_t *cap, size_t n, size_t size)
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

char *
cfg_strdup(struct parser *ps, const char *s)
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
	d = cfg_grow(ps->diags, &ps->cap_diags, ps->n_diags, sizeof(*ps->diags));
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
void __attribute__((format(printf, 3, 4)))
lerr(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_diag(ps, line, "", fmt, ap);
	va_end(ap);
}

/* Reports a problem with a whole section, at its header line. */
void __attribute__((format(printf, 3, 4)))
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
void __attribute__((format(printf, 4, 5)))
kerr(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *fmt, ...)
{
	char prefix[240];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s.%s: ", s->label, kv->key);
	va_start(ap, fmt);
	add_diag(ps, kv->line, prefix, fmt, ap);
	va_end(ap);
	/* kv is one of ps's own pairs, passed const to the builders. */
	((struct kv *)kv)->refused = 1;
}

/* The line of the part of kv's value that starts at offset off. */
int
kv_line_at(const struct kv *kv, size_t off)
{
	size_t i;
	int line = kv->line;

	for (i = 0; i < kv->n_segs && kv->segs[i].off <= off; i++)
		line = kv->segs[i].line;
	return line;
}

/*
 * As kerr(), for element el of the list that the last cfg_split() of kv made:
 * at the line that element is on.
 */
void __attribute__((format(printf, 5, 6)))
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
	((struct kv *)kv)->refused = 1;
}

/*
 * Writes s into buf as a double-quoted string for a message: at most 64
 * bytes of it, with quotes, backslashes and control characters escaped.
 */
const char *
cfg_quote(char *buf, size_t size, const char *s)
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

int
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
const char *
qv(char *buf, size_t size, const struct sect *s, const struct kv *kv)
{
	if (is_secret_key(s->kind, kv->key)) {
		snprintf(buf, size, "(value not shown)");
		return buf;
	}
	return cfg_quote(buf, size, kv->value);
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

/*
 * The part of a header after the type word w: nothing for an unnamed
 * section, or ' "NAME"' (q is changed in place) for a named one.  Sets
 * *ret (NULL: unnamed) and returns 0, or -1 after reporting.
 */
static int
header_name(struct parser *ps, int w, char *q, char **ret)
{
	char qb[QBUF], *name;
	size_t len = strlen(q);

	*ret = NULL;
	if (len == 0) {
		if (!sect_words[w].named)
			return 0;
		lerr(ps, ps->lineno, "section [%s] needs a name: [%s \"NAME\"]",
		    sect_words[w].word, sect_words[w].word);
		return -1;
	}
	if (len < 3 || q[0] != ' ' || q[1] != '"' || q[len - 1] != '"') {
		if (sect_words[w].named)
			lerr(ps, ps->lineno, "bad section header, expected "
			    "[%s \"NAME\"]", sect_words[w].word);
		else
			lerr(ps, ps->lineno, "bad section header, expected "
			    "[%s]", sect_words[w].word);
		return -1;
	}
	q[len - 1] = '\0';
	name = q + 2;
	if (!sect_words[w].named) {
		lerr(ps, ps->lineno, "section [%s] takes no name",
		    sect_words[w].word);
		return -1;
	}
	if (!valid_name(name, CONFIG_MAX_NAME)) {
		lerr(ps, ps->lineno, "bad section name %s: 1 to %d characters "
		    "of A-Z a-z 0-9 . _ -", cfg_quote(qb, sizeof(qb), name),
		    CONFIG_MAX_NAME);
		return -1;
	}
	*ret = name;
	return 0;
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
	ns = sect != NULL ? cfg_grow(ps->sects, &ps->cap_sects, ps->n_sects,
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
			    cfg_quote(qb, sizeof(qb), inner));
		return;
	}
	if (sect_words[w].kind == 0) {
		lerr(ps, ps->lineno, "section [%s] is not supported in this "
		    "version", sect_words[w].word);
		return;
	}
	kind = sect_words[w].kind;
	if (header_name(ps, w, inner + wl, &name) < 0)
		return;

	if (name != NULL) {
		sect->name = cfg_strdup(ps, name);
		if (asprintf(&sect->label, "%s \"%s\"", sect_words[w].word,
		    name) < 0)
			sect->label = NULL;
	} else {
		sect->label = cfg_strdup(ps, sect_words[w].word);
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
char *
read_line(char *str, int num, void *stream)
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
	ns = cfg_grow(kv->segs, &cap, kv->n_segs == 0 ? 1 : kv->n_segs,
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
int
read_pair(void *user, const char *section, const char *name, const char *value)
{
	struct parser *ps = user;
	struct sect *s = ps->cur;
	struct kv *nkv, *kv;
	char qb[QBUF];
	size_t i;
	const char *v;

	(void)section;	/* always "": inih never sees our headers */
	if (s == NULL) {
		if (!ps->too_many)
			lerr(ps, ps->lineno, "key %s outside of any section",
			    cfg_quote(qb, sizeof(qb), name));
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
		    cfg_quote(qb, sizeof(qb), name));
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
	nkv = cfg_grow(s->kvs, &s->cap_kvs, s->n_kvs, sizeof(*s->kvs));
	if (nkv == NULL) {
		ps->oom = 1;
		return 1;
	}
	s->kvs = nkv;
	kv = &s->kvs[s->n_kvs];
	memset(kv, 0, sizeof(*kv));
	kv->key = cfg_strdup(ps, name);
	kv->value = cfg_strdup(ps, value);
	kv->line = ps->lineno;
	if (kv->key == NULL || kv->value == NULL) {
		free(kv->key);
		free(kv->value);
		return 1;
	}
	s->n_kvs++;
	return 1;
}

void
unknown_key(struct parser *ps, const struct sect *s, const struct kv *kv)
{
	kerr(ps, s, kv, "unknown key");
}

const struct kv *
find_kv(const struct sect *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n_kvs; i++)
		if (strcmp(s->kvs[i].key, key) == 0)
			return &s->kvs[i];
	return NULL;
}

const struct kv *
find_good_kv(const struct sect *s, const char *key)
{
	const struct kv *kv = find_kv(s, key);

	return kv != NULL && !kv->refused ? kv : NULL;
}

const struct sect *
find_sect(const struct parser *ps, int kind, const char *name)
{
	return nametab_get(ps->sect_idx, kind, name);
}

/*
 * Indexes a built object under its section's kind and name, for the
 * lookups below (names are unique per kind: read_header() refused the
 * duplicates).
 */
void
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
