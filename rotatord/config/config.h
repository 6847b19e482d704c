/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration: one ini file read with inih into an immutable struct
 * config.  Parsing collects every error as "FILE:LINE: message" before
 * giving up; a config that parsed is complete and every reference in it is
 * resolved (pointers between sections are set).
 */
#ifndef ROTATORD_CONFIG_H
#define ROTATORD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <idp/jwk.h>
#include <idp/oauth.h>

#define CONFIG_DEFAULT_PATH	"/etc/rotatord/rotatord.ini"
/*
 * Longer lines (in bytes, not counting "\n" or "\r\n") are an error.  199 is
 * the most the system libinih can hold: it hands its reader a 200-byte
 * buffer (INI_MAX_LINE, including the NUL) and cuts longer lines in two.
 * If an inih is built with a smaller buffer, that smaller size applies.
 */
#define CONFIG_MAX_LINE		199
#define CONFIG_MAX_NAME		64	/* section names: [A-Za-z0-9._-] */

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

enum cred_type { CRED_X509 = 1, CRED_JWT, CRED_SECRET, CRED_OAUTH };

struct cfg_reload;

/* Where a secret-bearing value comes from; see config_parse_secret_ref(). */
enum cfg_secret_source {
	CFG_SECRET_LITERAL = 1,	/* the value itself */
	CFG_SECRET_FILE,	/* file:PATH (absolute) */
	CFG_SECRET_ENV,		/* env:NAME */
	CFG_SECRET_CRED,	/* cred:NAME in systemd's $CREDENTIALS_DIRECTORY */
};

/*
 * A secret-bearing value as configured (client_secret, subject_token).  The
 * config holds only the reference; secretref_load() reads the secret at run
 * time.  source 0 means the key was not set.  For CFG_SECRET_LITERAL, arg is
 * the secret itself (config_free() wipes it).
 */
struct cfg_secret {
	enum cfg_secret_source	 source;	/* 0: not set */
	char			*arg;		/* path, variable, credential name or literal */
};

/* [issuer "NAME"]: an upstream OAuth 2.0 / OIDC issuer. */
struct cfg_issuer {
	char			*name;
	int			 line;
	char			*url;		/* required; exactly as written (no normalising) */
	char			*client_id;	/* NULL: none (trust-only issuer) */
	struct cfg_secret	 client_secret;	/* source 0: none */
	enum idp_auth_method	 auth_method;	/* 0 when neither client_secret nor client_key */
	char			*client_key;	/* absolute path of a PEM private key, or NULL */
	char			*client_key_id;	/* kid of client assertions, or NULL */
	char			*ca_file;	/* absolute, or NULL: system trust store */
	int			 trust;		/* boolean: accept its JWTs from callers */
	char			*audience;	/* required with trust */
	int64_t			 timeout;	/* ms, default 10s, 1s..2m */
	int64_t			 jwks_cooldown;	/* ms, default 30s, 1s..1h */
	int64_t			 leeway;	/* ms, default 60s, 0..10m */
};

/* [ca "NAME"] */
struct cfg_ca {
	char			*name;
	int			 line;
	enum idp_key_type	 key_type;	/* default ec-p256 */
	int64_t			 lifetime;	/* ms, default 365d */
	char			*common_name;	/* default "rotatord NAME CA" */
	char			*cert_file;	/* absolute, optional (with key_file) */
	char			*key_file;	/* absolute, optional (with cert_file) */
};

/* [signer "NAME"] */
struct cfg_signer {
	char			*name;
	int			 line;
	char			*issuer;	/* required URL, used as iss */
	enum idp_alg		 alg;		/* default ES256 */
	int64_t			 key_lifetime;	/* ms, default 7d */
	char			*dir;		/* under output_dir, default NAME */
};

/* [credential "NAME"] */
struct cfg_cred {
	char			*name;
	int			 line;
	enum cred_type		 type;
	int64_t			 lifetime;	/* ms; x509 24h, jwt 1h, secret 24h; oauth 0 */
	double			 renew_at;	/* fraction; inherited from [rotatord] */
	double			 jitter;	/* fraction; inherited from [rotatord] */
	char			*dir;		/* under output_dir, default NAME */
	uid_t			 uid;		/* owner; (uid_t)-1: no chown, stays rotatord's euid */
	gid_t			 gid;		/* group; (gid_t)-1: no chown, stays rotatord's egid */
	mode_t			 mode;		/* default 0600 for keys, see sink */
	struct cfg_reload	**on_rotate;	/* resolved [reload] sections */
	size_t			 n_on_rotate;

	/* x509 */
	struct cfg_ca		*ca;
	enum idp_key_type	 key_type;	/* leaf key, default ec-p256 */
	char			*common_name;
	char			**dns;
	size_t			 n_dns;
	char			**ip;
	size_t			 n_ip;
	char			**uri;
	size_t			 n_uri;
	int			 usage;		/* IDP_USAGE_*; default server */

	/* jwt */
	struct cfg_signer	*signer;
	char			*subject;
	char			**audience;	/* also oauth */
	size_t			 n_audience;
	char			*scope;		/* also oauth: space-separated */

	/* oauth */
	struct cfg_issuer	*issuer;
	char			**resource;	/* RFC 8707 absolute URIs */
	size_t			 n_resource;
	struct cfg_secret	 subject_token;	/* source 0: client_credentials grant */
	char			*subject_token_type; /* NULL: ..:token-type:jwt */

	/* secret */
	size_t			 bytes;		/* default 32, 1..4096 */
	unsigned		 keep;		/* keys kept, default 2, 1..16 */
	int			 fleet;		/* boolean */
};

/* [reload "NAME"]: exactly one of pidfile, exec, unit. */
struct cfg_reload {
	char			*name;
	int			 line;
	char			*pidfile;	/* absolute */
	int			 signal;	/* default SIGHUP */
	char			**exec;		/* argv, NULL-terminated */
	char			*unit;		/* systemd unit to reload */
	char			**check;	/* argv, NULL-terminated, optional */
	int64_t			 debounce;	/* ms, default 1s */
	int64_t			 timeout;	/* ms for check / exec, default 30s */
	char			*verify_host;	/* verify = HOST:PORT, optional */
	char			*verify_port;
	char			*sni;		/* default: the credential's CN/DNS */
	int64_t			 verify_timeout; /* ms, default 5s */
};

/* name=value of a [client] or [route] claim selector. */
struct cfg_claim {
	char			*name;
	char			*value;
};

/* [listen]: the local HTTP API. */
struct cfg_listen {
	int			 line;		/* 0 when the section is absent */
	char			*unix_path;	/* default output_dir/api.sock; NULL: off */
	mode_t			 unix_mode;	/* default 0660 */
	gid_t			 unix_group;	/* default (gid_t)-1: rotatord's */
	gid_t			 admin_group;	/* default (gid_t)-1: root only */
	char			*tcp_host;	/* tcp = HOST:PORT, optional */
	char			*tcp_port;
	int			 tcp_insecure;	/* boolean: tcp may be non-loopback */
	unsigned		 max_connections; /* default 512 */
	unsigned		 per_ip_limit;	/* default 8 (TCP) */
	unsigned		 per_uid_limit;	/* default 256 (unix, not root) */
	int64_t			 timeout;	/* ms, idle connection timeout, default 10s */
	size_t			 max_body;	/* bytes, default 16 KiB */
	int64_t			 max_wait;	/* ms, longest ?wait=, default 5m */
	int			 verify_threads; /* bearer checks; -1: auto (CPUs) */
	char			*audience;	/* aud of own tokens on the API, default "rotatord" */
	unsigned		 max_delegation; /* act depth of minted tokens, default 2 */
};

/*
 * [cluster]: hosts sharing one etcd cluster (README.md, Fleet).  line
 * is 0 when the section is absent (a single host).
 */
struct cfg_cluster {
	int			 line;
	char			**endpoints;	/* http(s)://host:port, list */
	size_t			 n_endpoints;
	char			*ca_file;	/* TLS to etcd; NULL: system store */
	char			*client_cert;	/* mutual TLS to etcd, or NULL */
	char			*client_key;	/* its key (0600) */
	char			*key_file;	/* the fleet key (32 bytes), 0600 */
	char			*prefix;	/* key prefix, default /rotatord/ */
	char			*name;		/* this host, default the host name */
	int64_t			 lease_ttl;	/* ms, default 10s */
	int64_t			 timeout;	/* ms, per etcd call, default 5s */
	int64_t			 ack_timeout;	/* ms: a silent host is left behind */
};

/* [client "NAME"]: who may fetch what. */
struct cfg_client {
	char			*name;
	int			 line;
	uid_t			*uids;		/* user = name or uid, list */
	size_t			 n_uids;
	gid_t			*gids;		/* group = name or gid, list */
	size_t			 n_gids;
	char			*issuer;	/* a trusted [issuer] or a [signer] name */
	char			*subject;	/* exact sub */
	struct cfg_claim	*claims;	/* claim = a=b, c=d */
	size_t			 n_claims;
	struct cfg_cred		**allow;	/* credentials it may read */
	size_t			 n_allow;
	char			**token_audiences; /* POST /v1/token lanes */
	size_t			 n_token_audiences;
	char			**token_scopes;
	size_t			 n_token_scopes;
	char			*token_signer;	/* [signer] that mints for it; default: the only one */
	int64_t			 token_lifetime; /* ms, default 15m */
	int			 metrics;	/* may read /metrics on TCP */
	int			 token_reexchange; /* may exchange rotatord's own tokens */
};

/* [route "NAME"]: rules for GET /v1/authz. */
struct cfg_route {
	char			*name;
	int			 line;
	char			*prefix;	/* required, starts with '/' */
	char			**methods;	/* upper case; NULL: any */
	size_t			 n_methods;
	char			*issuer;	/* trusted [issuer] or [signer] name; NULL: any */
	char			**scopes;	/* all required */
	size_t			 n_scopes;
	struct cfg_claim	*claims;	/* all required */
	size_t			 n_claims;
	char			*audience;	/* tokens of a [signer] must carry it */
};

struct nametab;

struct config {
	char			*path;
	char			*output_dir;	/* absolute */
	char			*state_dir;	/* absolute */
	double			 renew_at;	/* default 2/3 */
	double			 jitter;	/* default 10% */
	int64_t			 backdate;	/* ms, default 60s */
	int64_t			 retry_min;	/* ms, default 1s */
	int64_t			 retry_max;	/* ms, default 60s */
	int			 log_level;	/* syslog priority, default LOG_INFO */
	enum log_format		 log_format;
	char			*region;

	struct cfg_issuer	**issuers;
	size_t			 n_issuers;
	struct cfg_ca		**cas;
	size_t			 n_cas;
	struct cfg_signer	**signers;
	size_t			 n_signers;
	struct cfg_cred		**creds;
	size_t			 n_creds;
	struct cfg_reload	**reloads;
	size_t			 n_reloads;
	struct cfg_listen	 listen;
	struct cfg_cluster	 cluster;
	struct cfg_client	**clients;
	size_t			 n_clients;
	struct cfg_route	**routes;
	size_t			 n_routes;
	struct nametab		*names;		/* the lookups below */
};

/*
 * Reads and validates the config at path.  Every problem is written to errf
 * (may be NULL) as "PATH:LINE: message", one per line.  A literal secret
 * (client_secret, subject_token) is an error when the file is readable by
 * group or others.  Returns 0 and a new config in *ret (free with
 * config_free()), -EINVAL if the file had errors, or -errno if it could not
 * be read at all.
 */
int config_load(const char *path, FILE *errf, struct config **ret);

/*
 * As config_load() on an in-memory buffer; name is used in messages.  There
 * is no file mode to check, so literal secrets are accepted.
 */
int config_load_buf(const char *name, const char *buf, size_t len, FILE *errf,
    struct config **ret);

/* Frees c; accepts NULL. */
void config_free(struct config *c);

/* Lookups by name; return NULL when absent. */
struct cfg_cred *config_find_cred(const struct config *c, const char *name);
struct cfg_reload *config_find_reload(const struct config *c, const char *name);
struct cfg_issuer *config_find_issuer(const struct config *c, const char *name);

/* Parsers for config values, exported for tests.  Return 0 or -EINVAL. */
int config_parse_duration(const char *s, int64_t *ret_ms);
int config_parse_fraction(const char *s, double *ret);
int config_parse_bool(const char *s, int *ret);
int config_parse_mode(const char *s, mode_t *ret);

/*
 * Classifies a value of a secret-bearing key (client_secret ...):
 * "file:PATH", "env:NAME", "cred:NAME" or a literal.  *ret_arg points into s
 * (the path, variable name, credential name or the literal).  Does no I/O;
 * reading the secret is the caller's job.  Returns 0 or -EINVAL for a
 * malformed reference (relative path, bad variable or credential name).
 */
int config_parse_secret_ref(const char *s, enum cfg_secret_source *ret_source,
    const char **ret_arg);

#endif
