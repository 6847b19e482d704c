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
 * The files: config.c (this: loading, freeing, lookups), read.c (the first
 * pass), values.c (pure value syntax), keys.c (typed key readers with
 * their messages), build.c, build_cred.c and build_api.c (the second pass,
 * by section), parse.h (the parser's state, shared by them only).
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

#include "config/config.h"
#include "config/parse.h"
#include "core/log.h"
#include "config/nametab.h"

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

	c->path = cfg_strdup(&ps, name);
	c->output_dir = cfg_strdup(&ps, "/run/rotatord");
	c->state_dir = cfg_strdup(&ps, "/var/lib/rotatord");
	key_defaults(SEC_ROTATORD, c);
	c->log_level = LOG_INFO;
	c->log_format = LOG_FORMAT_TEXT;

	r = ini_parse_stream(read_line, &ps, read_pair, &ps);
	if (r == -2)
		ps.oom = 1;
	else if (r != 0 && ps.n_diags == 0)
		lerr(&ps, r > 0 ? r : 1, "syntax error");
	if (!ps.oom)
		build_config(&ps);

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
	key_free(SEC_ISSUER, is);
	free(is->name);
	free(is->url);
	free(is->client_id);
	free(is->client_key_id);
	free(is->audience);
	free(is);
}

static void
free_ca(struct cfg_ca *ca)
{
	if (ca == NULL)
		return;
	key_free(SEC_CA, ca);
	free(ca->name);
	free(ca);
}

static void
free_signer(struct cfg_signer *sg)
{
	if (sg == NULL)
		return;
	key_free(SEC_SIGNER, sg);
	free(sg->name);
	free(sg->issuer);
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
	key_free(SEC_RELOAD, r);
	free(r->name);
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
	key_free(SEC_CLIENT, cl);
	free(cl->issuer);
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
	key_free(SEC_LISTEN, &c->listen);
	key_free(SEC_CLUSTER, &c->cluster);
	key_free(SEC_ROTATORD, c);
	free(c->path);
	free(c->region);
	strv_free(c->cluster.endpoints, c->cluster.n_endpoints);
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
