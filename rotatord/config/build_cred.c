/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [issuer] and [credential]: the keys of each credential type, and the
 * renewal arithmetic a credential must satisfy.
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

static const char *
auth_method_name(enum idp_auth_method m)
{
	size_t i;

	for (i = 0; i < sizeof(auth_methods) / sizeof(auth_methods[0]); i++)
		if (auth_methods[i].method == m)
			return auth_methods[i].name;
	return "none";
}

/*
 * How the client of issuer is authenticates: auth_method when given
 * (method, 0 when absent or refused), else what client_secret or
 * client_key imply.  Presence decides, not validity, so that a bad path or
 * reference is one error, not three.
 */
static void
issuer_auth(struct parser *ps, const struct sect *s, struct cfg_issuer *is,
    enum idp_auth_method method)
{
	const struct kv *secret_kv, *key_kv, *kid_kv, *method_kv;

	method_kv = method != 0 ? find_kv(s, "auth_method") : NULL;
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
}

void
build_issuer(struct parser *ps, const struct sect *s, struct cfg_issuer *is)
{
	const struct kv *method_kv = NULL, *trust_kv, *aud_kv = NULL;
	enum idp_auth_method method = 0;
	char qb[QBUF];
	const char *why;
	size_t i, j;

	key_defaults(SEC_ISSUER, is);
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
		} else if (key_read(ps, s, kv, is) != 0) {
			/* keytab.c */
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
		} else if (strcmp(k, "client_key_id") == 0) {
			if (!valid_printable(kv->value, 128, 1))
				kerr(ps, s, kv, "bad client_key_id %s: at most 128 "
				    "printable ASCII characters",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &is->client_key_id);
		} else if (strcmp(k, "audience") == 0) {
			aud_kv = kv;
			if (!valid_printable(kv->value, 256, 0))
				kerr(ps, s, kv, "bad audience %s: one value of at "
				    "most 256 printable ASCII characters, no blanks",
				    qv(qb, sizeof(qb), s, kv));
			else
				get_string(ps, kv, &is->audience);
		} else {
			unknown_key(ps, s, kv);
		}
	}
	if (find_kv(s, "url") == NULL)
		serr(ps, s, "missing required key url");

	issuer_auth(ps, s, is, method_kv != NULL ? method : 0);

	trust_kv = find_good_kv(s, "trust");
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

static struct cfg_ca *
find_ca(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_CA, name);
}

struct cfg_signer *
find_signer(const struct config *c, const char *name)
{
	return nametab_get(c->names, SEC_SIGNER, name);
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
				    "it in ip", cfg_quote(qb, sizeof(qb), cr->dns[i]));
			else if (!valid_hostname(cr->dns[i], 1))
				kerr_el(ps, s, kv, i, "bad DNS name %s",
				    cfg_quote(qb, sizeof(qb), cr->dns[i]));
	} else if (strcmp(k, "ip") == 0) {
		if (get_list(ps, s, kv, &cr->ip, &cr->n_ip) < 0)
			return;
		for (i = 0; i < cr->n_ip; i++)
			if (!is_ip_literal(cr->ip[i]))
				kerr_el(ps, s, kv, i, "bad IP address %s",
				    cfg_quote(qb, sizeof(qb), cr->ip[i]));
	} else if (strcmp(k, "uri") == 0) {
		if (get_list(ps, s, kv, &cr->uri, &cr->n_uri) < 0)
			return;
		for (i = 0; i < cr->n_uri; i++)
			if (!valid_uri(cr->uri[i]))
				kerr_el(ps, s, kv, i, "bad URI %s",
				    cfg_quote(qb, sizeof(qb), cr->uri[i]));
	} else if (strcmp(k, "usage") == 0) {
		char **v = NULL;
		size_t n = 0;
		int usage = 0;

		if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
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

		if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
			return;
		for (i = 0; i < n; i++) {
			if (!valid_scope_token(v[i])) {
				kerr(ps, s, kv, "bad scope token %s: printable "
				    "ASCII except blanks, '\"' and '\\' "
				    "(separate scopes with commas)",
				    cfg_quote(qb, sizeof(qb), v[i]));
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
				    cfg_quote(qb, sizeof(qb), cr->resource[i]));
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

		if (cfg_split(ps, s, kv, ',', &v, &n) < 0)
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
				    cfg_quote(qb, sizeof(qb), v[i]));
			else if ((rl = config_find_reload(c, v[i])) == NULL)
				kerr(ps, s, kv, "no section [reload \"%s\"]",
				    v[i]);
			else
				cr->on_rotate[cr->n_on_rotate++] = rl;
		}
		strv_free(v, n);
	}
}

void
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
void
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
