/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plain keys: one row each, {section, key, type, min, max, field,
 * default}.  A key whose value stands alone (a duration in a range, a
 * number, a boolean, a path that must be readable) is a row here and
 * nothing else; build*.c keep only the keys whose syntax is their own and
 * the rules between keys.  Adding such a key is one row, and one entry in
 * rotatord.ini(5) (test_manpages.py compares the two).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/parse.h"

enum key_type {
	K_DUR = 1,	/* int64_t ms: min.., or min..max when max > 0 */
	K_UINT,		/* unsigned, min..max */
	K_SIZE,		/* size_t bytes (k, M suffixes), min..max */
	K_BOOL,		/* int */
	K_RENEW,	/* double, 0 < v < 1 */
	K_JITTER,	/* double, 0 <= v < 1 */
	K_STR,		/* char *, any text */
	K_PATH,		/* char *, absolute */
	K_READ,		/* char *, absolute, a file rotatord can read */
	K_PRIV,		/* char *, absolute, a private (0600) file */
	K_DIRPATH,	/* char *, absolute or ./relative */
	K_DIR,		/* char *, one component under output_dir */
	K_CN,		/* char *, an X.509 common name */
	K_KEYTYPE,	/* enum idp_key_type */
	K_SECRET,	/* struct cfg_secret */
};

struct key_def {
	int		 sect;		/* SEC_* */
	const char	*key;
	enum key_type	 type;
	int64_t		 min, max;
	size_t		 off;		/* of the field in its struct */
	double		 def;		/* 0: none (the struct starts zeroed) */
};

#define ROT(k, t, mn, mx, f, d) \
	{ SEC_ROTATORD, k, t, mn, mx, offsetof(struct config, f), d }
#define CA(k, t, mn, mx, f, d) \
	{ SEC_CA, k, t, mn, mx, offsetof(struct cfg_ca, f), d }
#define SIG(k, t, mn, mx, f, d) \
	{ SEC_SIGNER, k, t, mn, mx, offsetof(struct cfg_signer, f), d }
#define RLD(k, t, mn, mx, f, d) \
	{ SEC_RELOAD, k, t, mn, mx, offsetof(struct cfg_reload, f), d }
#define ISS(k, t, mn, mx, f, d) \
	{ SEC_ISSUER, k, t, mn, mx, offsetof(struct cfg_issuer, f), d }
#define LST(k, t, mn, mx, f, d) \
	{ SEC_LISTEN, k, t, mn, mx, offsetof(struct cfg_listen, f), d }
#define CLU(k, t, mn, mx, f, d) \
	{ SEC_CLUSTER, k, t, mn, mx, offsetof(struct cfg_cluster, f), d }
#define CLI(k, t, mn, mx, f, d) \
	{ SEC_CLIENT, k, t, mn, mx, offsetof(struct cfg_client, f), d }

static const struct key_def keys[] = {
	ROT("output_dir", K_DIRPATH, 0, 0, output_dir, 0),
	ROT("state_dir", K_DIRPATH, 0, 0, state_dir, 0),
	ROT("renew_at", K_RENEW, 0, 0, renew_at, 2.0 / 3.0),
	ROT("jitter", K_JITTER, 0, 0, jitter, 0.10),
	ROT("backdate", K_DUR, 0, 0, backdate, 60 * SEC_S),
	ROT("retry_min", K_DUR, 1, 0, retry_min, SEC_S),
	ROT("retry_max", K_DUR, 1, 0, retry_max, 60 * SEC_S),

	CA("key_type", K_KEYTYPE, 0, 0, key_type, IDP_KEY_EC_P256),
	CA("lifetime", K_DUR, MIN_S, 0, lifetime, 365 * DAY_S),
	CA("common_name", K_CN, 0, 0, common_name, 0),
	CA("cert_file", K_READ, 0, 0, cert_file, 0),
	CA("key_file", K_READ, 0, 0, key_file, 0),

	SIG("key_lifetime", K_DUR, MIN_S, 0, key_lifetime, 7 * DAY_S),
	SIG("dir", K_DIR, 0, 0, dir, 0),

	RLD("pidfile", K_PATH, 0, 0, pidfile, 0),
	RLD("debounce", K_DUR, 0, 0, debounce, SEC_S),
	RLD("timeout", K_DUR, 1, 0, timeout, 30 * SEC_S),
	RLD("verify_timeout", K_DUR, 1, 0, verify_timeout, 5 * SEC_S),

	ISS("client_secret", K_SECRET, 0, 0, client_secret, 0),
	ISS("client_key", K_PRIV, 0, 0, client_key, 0),
	ISS("ca_file", K_READ, 0, 0, ca_file, 0),
	ISS("trust", K_BOOL, 0, 0, trust, 0),
	ISS("timeout", K_DUR, SEC_S, 2 * MIN_S, timeout, 10 * SEC_S),
	ISS("jwks_cooldown", K_DUR, SEC_S, HOUR_S, jwks_cooldown, 30 * SEC_S),
	ISS("leeway", K_DUR, 0, 10 * MIN_S, leeway, 60 * SEC_S),

	LST("tcp_insecure", K_BOOL, 0, 0, tcp_insecure, 0),
	LST("max_delegation", K_UINT, 1, 8, max_delegation, 2),
	LST("max_connections", K_UINT, 1, 10000, max_connections, 512),
	LST("per_ip_limit", K_UINT, 1, 1000, per_ip_limit, 8),
	LST("per_uid_limit", K_UINT, 1, 10000, per_uid_limit, 256),
	LST("timeout", K_DUR, SEC_S, 10 * MIN_S, timeout, 10 * SEC_S),
	LST("max_body", K_SIZE, 1024, 1024 * 1024, max_body, 16 * 1024),
	LST("max_wait", K_DUR, SEC_S, HOUR_S, max_wait, 5 * MIN_S),

	CLU("ca_file", K_READ, 0, 0, ca_file, 0),
	CLU("key_file", K_PRIV, 0, 0, key_file, 0),
	CLU("client_cert", K_READ, 0, 0, client_cert, 0),
	CLU("client_key", K_PRIV, 0, 0, client_key, 0),
	CLU("lease_ttl", K_DUR, 3 * SEC_S, MIN_S, lease_ttl, 10 * SEC_S),
	CLU("timeout", K_DUR, SEC_S, MIN_S, timeout, 5 * SEC_S),
	CLU("ack_timeout", K_DUR, SEC_S, HOUR_S, ack_timeout, 60 * SEC_S),

	CLI("subject", K_STR, 0, 0, subject, 0),
	CLI("token_lifetime", K_DUR, MIN_S, DAY_S, token_lifetime, 15 * MIN_S),
	CLI("metrics", K_BOOL, 0, 0, metrics, 0),
	CLI("token_reexchange", K_BOOL, 0, 0, token_reexchange, 0),
};

#define FIELD(base, d, type)	((type *)(void *)((char *)(base) + (d)->off))

static const struct key_def *
find_def(int sect, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sect == sect && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

/* A path into its field, then the checks its type asks for. */
static int
read_path(struct parser *ps, const struct sect *s, const struct kv *kv,
    const struct key_def *d, char **field)
{
	if (get_path(ps, s, kv, field) < 0)
		return -1;
	if (d->type == K_READ)
		return check_readable(ps, s, kv);
	if (d->type == K_PRIV)
		return check_private_file(ps, s, kv);
	return 0;
}

int
key_read(struct parser *ps, const struct sect *s, const struct kv *kv,
    void *base)
{
	const struct key_def *d;
	unsigned long v;
	int r = -1;

	if ((d = find_def(s->kind, kv->key)) == NULL)
		return 0;
	if (kv->value[0] == '\0') {
		kerr(ps, s, kv, "empty value");
		return -1;
	}
	switch (d->type) {
	case K_DUR:
		if (d->max > 0)
			r = get_duration_in(ps, s, kv, d->min, d->max,
			    FIELD(base, d, int64_t));
		else
			r = get_duration(ps, s, kv, d->min,
			    FIELD(base, d, int64_t));
		break;
	case K_UINT:
		if ((r = get_uint(ps, s, kv, (unsigned long)d->min,
		    (unsigned long)d->max, &v)) == 0)
			*FIELD(base, d, unsigned) = (unsigned)v;
		break;
	case K_SIZE:
		r = get_size(ps, s, kv, (size_t)d->min, (size_t)d->max,
		    FIELD(base, d, size_t));
		break;
	case K_BOOL:
		r = get_bool(ps, s, kv, FIELD(base, d, int));
		break;
	case K_RENEW:
		r = get_renew_at(ps, s, kv, FIELD(base, d, double));
		break;
	case K_JITTER:
		r = get_jitter(ps, s, kv, FIELD(base, d, double));
		break;
	case K_STR:
		r = get_string(ps, kv, FIELD(base, d, char *));
		break;
	case K_PATH:
	case K_READ:
	case K_PRIV:
		r = read_path(ps, s, kv, d, FIELD(base, d, char *));
		break;
	case K_DIRPATH:
		r = get_dir_path(ps, s, kv, FIELD(base, d, char *));
		break;
	case K_DIR:
		r = get_dir(ps, s, kv, FIELD(base, d, char *));
		break;
	case K_CN:
		r = get_common_name(ps, s, kv, FIELD(base, d, char *));
		break;
	case K_KEYTYPE:
		r = get_key_type(ps, s, kv, FIELD(base, d, enum idp_key_type));
		break;
	case K_SECRET:
		r = get_secret(ps, s, kv, FIELD(base, d, struct cfg_secret));
		break;
	}
	return r == 0 ? 1 : -1;
}

void
key_free(int sect, void *base)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key_def *d = &keys[i];

		if (d->sect != sect)
			continue;
		switch (d->type) {
		case K_STR:
		case K_PATH:
		case K_READ:
		case K_PRIV:
		case K_DIRPATH:
		case K_DIR:
		case K_CN:
			free(*FIELD(base, d, char *));
			*FIELD(base, d, char *) = NULL;
			break;
		case K_SECRET:
			secret_clear(FIELD(base, d, struct cfg_secret));
			break;
		default:
			break;
		}
	}
}

void
key_defaults(int sect, void *base)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key_def *d = &keys[i];

		if (d->sect != sect || d->def == 0)
			continue;
		switch (d->type) {
		case K_DUR:
			*FIELD(base, d, int64_t) = (int64_t)d->def;
			break;
		case K_UINT:
			*FIELD(base, d, unsigned) = (unsigned)d->def;
			break;
		case K_SIZE:
			*FIELD(base, d, size_t) = (size_t)d->def;
			break;
		case K_BOOL:
			*FIELD(base, d, int) = (int)d->def;
			break;
		case K_RENEW:
		case K_JITTER:
			*FIELD(base, d, double) = d->def;
			break;
		case K_KEYTYPE:
			*FIELD(base, d, enum idp_key_type) =
			    (enum idp_key_type)d->def;
			break;
		default:
			break;		/* strings: defaults are code */
		}
	}
}
