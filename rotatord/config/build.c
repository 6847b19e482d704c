/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The second pass: struct config from the stored sections, in dependency
 * order ([rotatord] first, then what credentials refer to, then the API),
 * and the cross-section checks.  [rotatord], [ca], [signer], [reload] and
 * [cluster] are built here; [issuer] and [credential] in build_cred.c;
 * [listen], [client] and [route] in build_api.c.
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

static const struct {
	const char	*name;
	int		 signo;
} signals[] = {

	{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "WINCH", SIGWINCH },
};

static void
build_rotatord(struct parser *ps, const struct sect *s)
{
	struct config *c = ps->c;
	const struct kv *min_kv, *max_kv, *state_kv;
	char qb[QBUF];
	size_t i;

	for (i = 0; i < s->n_kvs; i++) {
		const struct kv *kv = &s->kvs[i];
		const char *k = kv->key;

		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (key_read(ps, s, kv, c) != 0) {
			/* keytab.c */
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
	min_kv = find_good_kv(s, "retry_min");
	max_kv = find_good_kv(s, "retry_max");
	state_kv = find_good_kv(s, "state_dir");
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
	const struct kv *cert_kv, *key_kv;
	size_t i;

	key_defaults(SEC_CA, ca);
	for (i = 0; i < s->n_kvs; i++)
		if (key_read(ps, s, &s->kvs[i], ca) == 0)
			unknown_key(ps, s, &s->kvs[i]);
	cert_kv = find_kv(s, "cert_file");
	key_kv = find_kv(s, "key_file");
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
			ca->common_name = cfg_strdup(ps, ca->name);
		}
	}
}

static void
build_signer(struct parser *ps, const struct sect *s, struct cfg_signer *sg)
{
	char qb[QBUF];
	size_t i;

	sg->alg = IDP_ALG_ES256;
	key_defaults(SEC_SIGNER, sg);
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
		} else if (key_read(ps, s, kv, sg) != 0) {
			/* keytab.c */
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (find_kv(s, "issuer") == NULL)
		serr(ps, s, "missing required key issuer");
}

static void
build_reload(struct parser *ps, const struct sect *s, struct cfg_reload *r)
{
	const struct kv *mode_kv = NULL, *signal_kv = NULL, *verify_kv = NULL;
	char qb[QBUF];
	size_t i, j;

	r->signal = SIGHUP;
	key_defaults(SEC_RELOAD, r);
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
		} else if (key_read(ps, s, kv, r) != 0) {
			/* keytab.c */
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
	*dir = cfg_strdup(ps, name);
	return 0;
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
	key_defaults(SEC_CLUSTER, cl);
	for (i = 0; i < s->n_kvs; i++) {
		const char *k;

		kv = &s->kvs[i];
		k = kv->key;
		if (kv->value[0] == '\0') {
			kerr(ps, s, kv, "empty value");
		} else if (key_read(ps, s, kv, cl) != 0) {
			/* keytab.c */
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
					    cfg_quote(qb, sizeof(qb),
					    cl->endpoints[j]), why);
			}
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
			    "name: set name", cfg_quote(qb, sizeof(qb), host));
		else if ((cl->name = strdup(host)) == NULL)
			ps->oom = 1;
	}
}

/*
 * The checks across sections, in file order: renewal against lifetimes,
 * and the output directories of signers and credentials (default_dir(),
 * check_dirs()).
 */
static void
check_sections(struct parser *ps)
{
	struct config *c = ps->c;
	struct dir_use *uses;
	size_t i, n_uses = 0;

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

/*
 * Appends a new zeroed element e to the array v of n pointers, with the
 * name and line of section s; e is NULL (and ps->oom set) without memory.
 * A macro so that every array keeps its own type.
 */
#define SECT_NEW(ps, s, v, n, e) do {					\
	void *nv_ = NULL;						\
									\
	if (((e) = calloc(1, sizeof(*(e)))) != NULL)			\
		nv_ = reallocarray((v), (n) + 1, sizeof(*(v)));		\
	if (nv_ == NULL) {						\
		free(e);						\
		(e) = NULL;						\
		(ps)->oom = 1;						\
	} else {							\
		(v) = nv_;						\
		(v)[(n)++] = (e);					\
		(e)->name = cfg_strdup((ps), (s)->name);		\
		(e)->line = (s)->line;					\
	}								\
} while (0)

void
build_config(struct parser *ps)
{
	struct config *c = ps->c;
	const struct sect *ls = NULL;
	size_t i;

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
			struct cfg_issuer *is;

			SECT_NEW(ps, s, c->issuers, c->n_issuers, is);
			if (is == NULL)
				break;
			name_index(ps, SEC_ISSUER, is->name, is);
			if (is->name != NULL)
				build_issuer(ps, s, is);
		} else if (s->kind == SEC_CA) {
			struct cfg_ca *ca;

			SECT_NEW(ps, s, c->cas, c->n_cas, ca);
			if (ca == NULL)
				break;
			name_index(ps, SEC_CA, ca->name, ca);
			if (ca->name != NULL)
				build_ca(ps, s, ca);
		} else if (s->kind == SEC_SIGNER) {
			struct cfg_signer *sg;

			SECT_NEW(ps, s, c->signers, c->n_signers, sg);
			if (sg == NULL)
				break;
			name_index(ps, SEC_SIGNER, sg->name, sg);
			build_signer(ps, s, sg);
		} else if (s->kind == SEC_RELOAD) {
			struct cfg_reload *r;

			SECT_NEW(ps, s, c->reloads, c->n_reloads, r);
			if (r == NULL)
				break;
			name_index(ps, SEC_RELOAD, r->name, r);
			build_reload(ps, s, r);
		}
	}
	for (i = 0; i < ps->n_sects && !ps->oom; i++) {
		const struct sect *s = ps->sects[i];
		struct cfg_cred *cr;

		if (s->skip || s->kind != SEC_CRED)
			continue;
		SECT_NEW(ps, s, c->creds, c->n_creds, cr);
		if (cr == NULL)
			break;
		name_index(ps, SEC_CRED, cr->name, cr);
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
			struct cfg_client *cl;

			SECT_NEW(ps, s, c->clients, c->n_clients, cl);
			if (cl == NULL)
				break;
			build_client(ps, s, cl);
		} else if (s->kind == SEC_ROUTE) {
			struct cfg_route *rt;

			SECT_NEW(ps, s, c->routes, c->n_routes, rt);
			if (rt == NULL)
				break;
			build_route(ps, s, rt);
		}
	}
	if (ps->oom)
		return;
	listen_defaults(ps, ls, 0);
	check_caller_issuers(ps);
	if (!ps->oom)
		check_sections(ps);
}
