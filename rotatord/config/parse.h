/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside config/: the parser's state (sections and pairs as read, the
 * messages so far) and the functions its files share.  Nothing outside
 * config/ includes this; the rest of rotatord sees only config.h.
 */
#ifndef ROTATORD_CONFIG_PARSE_H
#define ROTATORD_CONFIG_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "config/config.h"
#include "config/nametab.h"

#define CONFIG_MAX_FILE		(8 << 20)	/* bytes */
#define CONFIG_MAX_SECTIONS	131072
#define CONFIG_MAX_KEYS		64		/* per section */
#define CONFIG_MAX_LIST		1024		/* elements of a list */
#define CONFIG_MAX_ARGV		64		/* words of a command */
#define CONFIG_MAX_DURATION	(36500LL * 86400 * 1000) /* 100 years, in ms */
#define CONFIG_MAX_CN		64		/* X.509 ub-common-name */
#define QBUF			300		/* a quoted value in a message */

#define UNIX_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

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
	int		 refused;	/* kerr() reported its value */
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

	int		*el_lines;	/* line of each element of the last split */
	size_t		 cap_el_lines;

	int		 check_mode;	/* file_mode is known (config_load()) */
	mode_t		 file_mode;	/* of the config file */

	struct config	*c;
};

/* read.c */
void *cfg_grow(void *p, size_t *cap, size_t n, size_t size);
char *cfg_strdup(struct parser *ps, const char *s);
/* Reports a problem at line, with no section prefix. */
void lerr(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports a problem with a whole section, at its header line. */
void serr(struct parser *ps, const struct sect *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports a problem with one key, at its line. */
void kerr(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The line of the part of kv's value that starts at offset off. */
int kv_line_at(const struct kv *kv, size_t off);
/*
 * As kerr(), for element el of the list that the last cfg_split() of kv made:
 * at the line that element is on.
 */
void kerr_el(struct parser *ps, const struct sect *s, const struct kv *kv,
    size_t el, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Writes s into buf as a double-quoted string for a message: at most 64
 * bytes of it, with quotes, backslashes and control characters escaped.
 */
const char *cfg_quote(char *buf, size_t size, const char *s);
int is_secret_key(int kind, const char *key);
/* The value of kv quoted for a message, or a placeholder for secrets. */
const char *qv(char *buf, size_t size, const struct sect *s,
    const struct kv *kv);
char *read_line(char *str, int num, void *stream);
/* ini_handler: stores one key = value in the current section. */
int read_pair(void *user, const char *section, const char *name,
    const char *value);
void unknown_key(struct parser *ps, const struct sect *s, const struct kv *kv);
const struct kv *find_kv(const struct sect *s, const char *key);
/* As find_kv(), when kerr() did not refuse its value. */
const struct kv *find_good_kv(const struct sect *s, const char *key);
const struct sect *find_sect(const struct parser *ps, int kind,
    const char *name);
void name_index(struct parser *ps, int kind, const char *name, void *v);

/* values.c */
/* Formats ms as "1h30m", "500ms", "0s" for messages. */
const char *fmt_duration(char *buf, size_t size, int64_t ms);
/* [A-Za-z0-9._-]{1,max} */
int valid_name(const char *s, size_t max);
/* A host name (labels of [A-Za-z0-9_-]), optionally "*." + host name. */
int valid_hostname(const char *s, int wildcard);
int is_ip_literal(const char *s);
/* scheme ":" something, no blanks. */
int valid_uri(const char *s);
/* RFC 6749 3.3: scope tokens of %x21 / %x23-5B / %x5D-7E, one space apart. */
int valid_scope(const char *s);
/*
 * 1 to max bytes of printable ASCII (%x20-7E), without blanks unless
 * blank_ok.
 */
int valid_printable(const char *s, size_t max, int blank_ok);
/* 127.0.0.0/8, ::1 (bracketed is set for "[...]") or localhost. */
int is_loopback_host(const char *host, int bracketed);
const char *check_issuer_url(const char *v);
/* Empties s, wiping a literal secret. */
void secret_clear(struct cfg_secret *s);
/* Frees an array of n strings, or of strings up to a NULL if n is -1. */
void strv_free(char **v, size_t n);
/* A directory under output_dir: one path component, not hidden. */
int valid_dir(const char *d);
/* Is `inner` equal to or below `outer` (both absolute)? */
int path_within(const char *inner, const char *outer);
/* RFC 6749 3.3 scope-token: NQCHAR except space, so one token. */
int valid_scope_token(const char *s);
/* A claim name: [A-Za-z0-9_.:-]{1,64}. */
int valid_claim_name(const char *s);
const char *check_prefix(const char *v);

/* keytab.c */
/*
 * Reads kv when it is a key of keytab.c's table into its field of base (the
 * section's struct).  Returns 1 when it was read, -1 after reporting, 0
 * when kv is not in the table.
 */
int key_read(struct parser *ps, const struct sect *s, const struct kv *kv,
    void *base);
/* Sets the table's defaults of section kind sect in base. */
void key_defaults(int sect, void *base);
/* Frees (and clears) the string and secret fields of the table's keys. */
void key_free(int sect, void *base);

/* keys.c */
int cfg_split(struct parser *ps, const struct sect *s, const struct kv *kv,
    int sep, char ***ret, size_t *ret_n);
/*
 * A duration of at least min_ms (0: zero allowed) and at most 100 years.
 * Returns 0 and sets *ret, or -1 after reporting.
 */
int get_duration(struct parser *ps, const struct sect *s, const struct kv *kv,
    int64_t min_ms, int64_t *ret);
/* A duration from min_ms to max_ms. */
int get_duration_in(struct parser *ps, const struct sect *s,
    const struct kv *kv, int64_t min_ms, int64_t max_ms, int64_t *ret);
int get_secret(struct parser *ps, const struct sect *s, const struct kv *kv,
    struct cfg_secret *ret);
/* renew_at: a fraction strictly between 0 and 1. */
int get_renew_at(struct parser *ps, const struct sect *s, const struct kv *kv,
    double *ret);
/* jitter: a fraction from 0 (no jitter) to less than 1. */
int get_jitter(struct parser *ps, const struct sect *s, const struct kv *kv,
    double *ret);
int get_bool(struct parser *ps, const struct sect *s, const struct kv *kv,
    int *ret);
/* An integer in [min, max]. */
int get_uint(struct parser *ps, const struct sect *s, const struct kv *kv,
    unsigned long min, unsigned long max, unsigned long *ret);
/* A copy of the value, or -1 (out of memory). */
int get_string(struct parser *ps, const struct kv *kv, char **ret);
int get_path(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret);
int get_dir_path(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret);
int get_key_type(struct parser *ps, const struct sect *s, const struct kv *kv,
    enum idp_key_type *ret);
int get_common_name(struct parser *ps, const struct sect *s,
    const struct kv *kv, char **ret);
int get_dir(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret);
/* An argv for exec and check: split on blanks, no shell, no quoting. */
int get_argv(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***ret);
/*
 * A user (name or number) into *ret.  Returns 0, -ENOENT for an unknown
 * name, -EINVAL for a bad number, or another -errno from the lookup.
 */
int lookup_user(const char *s, uid_t *ret);
/* A group (name or number) into *ret; as lookup_user(). */
int lookup_group(const char *s, gid_t *ret);
/*
 * A file rotatord will read at startup: must be a regular file it can open.
 * stat() comes first so that no device or FIFO is ever opened.
 */
int check_readable(struct parser *ps, const struct sect *s,
    const struct kv *kv);
int check_private_file(struct parser *ps, const struct sect *s,
    const struct kv *kv);
/*
 * HOST:PORT or [IPv6]:PORT into new strings *host (without brackets) and
 * *port (replacing any previous ones).  Returns 0, or -1 after reporting.
 */
int get_host_port(struct parser *ps, const struct sect *s, const struct kv *kv,
    char **ret_host, char **ret_port);
/* Parses a list into *arr / *n (replacing any previous one). */
int get_list(struct parser *ps, const struct sect *s, const struct kv *kv,
    char ***arr, size_t *n);
/* A byte count with an optional suffix k (KiB) or M (MiB), min to max. */
int get_size(struct parser *ps, const struct sect *s, const struct kv *kv,
    size_t min, size_t max, size_t *ret);
/* A group (name or gid) into *ret, with the key's error reported. */
int get_group(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, gid_t *ret);
/* As get_group() for a user. */
int get_user(struct parser *ps, const struct sect *s, const struct kv *kv,
    const char *name, uid_t *ret);

/* build.c */
void build_config(struct parser *ps);

/* build_cred.c */
void build_issuer(struct parser *ps, const struct sect *s,
    struct cfg_issuer *is);
struct cfg_signer *find_signer(const struct config *c, const char *name);
void build_cred(struct parser *ps, const struct sect *s, struct cfg_cred *cr);
void check_renewal(struct parser *ps, const struct sect *s,
    const struct cfg_cred *cr);

/* build_api.c */
void build_listen(struct parser *ps, const struct sect *s);
/*
 * The defaults of [listen], and the socket path when the section does not
 * set one: output_dir/api.sock.  ls is the [listen] section or NULL.
 */
void listen_defaults(struct parser *ps, const struct sect *ls, int before);
void claims_free(struct cfg_claim *cv, size_t n);
void build_client(struct parser *ps, const struct sect *s,
    struct cfg_client *cl);
void build_route(struct parser *ps, const struct sect *s, struct cfg_route *rt);
void check_caller_issuers(struct parser *ps);

#endif
