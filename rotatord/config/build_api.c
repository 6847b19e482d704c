/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [listen], [client] and [route]: the local API's sockets and limits, who
 * a caller is and what it may ask for.
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

void
build_listen(struct parser *ps, const struct sect *s)
{
	struct cfg_listen *l = &ps->c->listen;
	const struct kv *unix_kv = NULL, *tcp_kv = NULL, *kv2;
	char qb[QBUF];
	unsigned long v;
	mode_t m;
	size_t i;
	int off = 0;

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
		} else if (strcmp(k, "audience") == 0) {
			if (!valid_printable(kv->value, 256, 0))
				kerr(ps, s, kv, "bad audience %s: one value of at "
				    "most 256 printable ASCII characters, no blanks",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &l->audience);
		} else if (key_read(ps, s, kv, l) != 0) {
			/* keytab.c */
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
	if (tcp_kv != NULL && l->tcp_host != NULL && !l->tcp_insecure &&
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
void
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
		key_defaults(SEC_LISTEN, l);
		l->verify_threads = -1;
		l->audience = cfg_strdup(ps, "rotatord");
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

void
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

	if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
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
			    "groups=payments", cfg_quote(qb, sizeof(qb), v[i]));
			bad = 1;
			break;
		}
		val = eq + 1 + strspn(eq + 1, " \t");
		for (ne = eq; ne > v[i] && (ne[-1] == ' ' || ne[-1] == '\t');)
			ne--;
		*ne = '\0';
		if (!valid_claim_name(v[i])) {
			kerr(ps, s, kv, "bad claim name %s: 1 to 64 characters "
			    "of A-Z a-z 0-9 _ . : -", cfg_quote(qb, sizeof(qb), v[i]));
			bad = 1;
		} else if (*val == '\0') {
			kerr(ps, s, kv, "claim %s has no value (NAME=VALUE)",
			    cfg_quote(qb, sizeof(qb), v[i]));
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

	if (cfg_split(ps, s, kv, ',', &v, &nv) < 0)
		return -1;
	for (i = 0; i < nv; i++)
		if (!valid_scope_token(v[i])) {
			kerr(ps, s, kv, "bad scope token %s: printable ASCII "
			    "except blanks, '\"' and '\\' (separate scopes "
			    "with commas)", cfg_quote(qb, sizeof(qb), v[i]));
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

	if (cfg_split(ps, s, kv, ',', &v, &nv) < 0)
		return -1;
	for (i = 0; i < nv; i++)
		if (!valid_printable(v[i], 256, 0)) {
			kerr(ps, s, kv, "bad audience %s: at most 256 printable "
			    "ASCII characters, no blanks",
			    cfg_quote(qb, sizeof(qb), v[i]));
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

	if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
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

/* allow = credential names, into cl->allow (replacing any before). */
static void
client_allow(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_client *cl)
{
	char qb[QBUF], **v = NULL;
	size_t j, n = 0;

	if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
		return;
	free(cl->allow);
	cl->n_allow = 0;
	cl->allow = calloc(n > 0 ? n : 1, sizeof(*cl->allow));
	if (cl->allow == NULL) {
		ps->oom = 1;
		strv_free(v, n);
		return;
	}
	for (j = 0; j < n; j++) {
		struct cfg_cred *cr;

		if (!valid_name(v[j], CONFIG_MAX_NAME))
			kerr(ps, s, kv, "bad name %s",
			    cfg_quote(qb, sizeof(qb), v[j]));
		else if ((cr = config_find_cred(ps->c, v[j])) == NULL)
			kerr(ps, s, kv, "no section [credential \"%s\"]", v[j]);
		else
			cl->allow[cl->n_allow++] = cr;
	}
	strv_free(v, n);
}

void
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

	key_defaults(SEC_CLIENT, cl);
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
		} else if (key_read(ps, s, kv, cl) != 0) {
			/* keytab.c */
		} else if (strcmp(k, "claim") == 0) {
			get_claims(ps, s, kv, &cl->claims, &cl->n_claims);
		} else if (strcmp(k, "allow") == 0) {
			client_allow(ps, s, kv, cl);
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
			cl->token_signer = cfg_strdup(ps, sg->name);
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

	if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
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
			    cfg_quote(qb, sizeof(qb), v[i]));
			goto fail;
		}
		for (j = 0; j < i; j++)
			if (strcmp(v[i], v[j]) == 0) {
				kerr(ps, s, kv, "duplicate element %s",
				    cfg_quote(qb, sizeof(qb), v[i]));
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

void
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
void
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
