/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of the HTTP API share, and nothing outside api/ sees:
 * a server, its listeners, their connections and requests, and the
 * functions one file offers the others (a prefix per file: txt_ text.c,
 * resp_ resp.c, tc_ tokcache.c, vf_ verify.c, caller_ caller.c,
 * lp_ longpoll.c, ls_ listener.c, bind_ bind.c, http_ http.c, h_ the
 * handler files h_*.c).
 *
 * A suspended request (a long poll, a bearer verification, a request
 * held for an issuer's keys) belongs to its listener: longpoll.c and
 * verify.c register struct ls_hooks at server start, and the listener
 * ends such requests through them when it goes or the request ends, so
 * that listener.c calls neither by name.
 */
#ifndef ROT_API_SERVER_INT_H
#define ROT_API_SERVER_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>
#include <jansson.h>
#include <idp/crypto.h>
#include <idp/jsonw.h>
#include <idp/jwt.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/mhd_dl.h"
#include "config/config.h"
#include "core/loop.h"

#define VJ_BUCKETS		64		/* verifications in flight, by key */
#define MAX_TOKEN_LEN		IDP_JWT_MAX_LEN	/* a whole compact JWT */
#define MAX_NAME		CONFIG_MAX_NAME
#define EXE_MAX			256
#define LS_MAX_HOOKS		4		/* parts that suspend */
/* The largest body built in memory: 16 files of 1 MiB, in base64. */
#define RESP_MAX		(32u << 20)
#define N_STATUS		14		/* codes counted one by one */
#define N_CODES			(N_STATUS + 1)	/* and "other" */

#define CT_JSON			"application/json"

/* The route label of rotatord_http_requests_total: a fixed set. */
enum route {
	R_CRED_LIST, R_CRED, R_CRED_FILE, R_TOKEN, R_AUTHZ, R_DISCOVERY,
	R_JWKS, R_HEALTHZ, R_READYZ, R_METRICS, R_ADMIN, R_OTHER, R_N
};

struct server;
struct listener;
struct conn;
struct req;
struct form;
struct vjob;
struct tok_slot;
struct resp_slot;

/*
 * A verified token: what vf_bearer() said, copied (the config it
 * pointed into may be swapped) with header and audit texts made once.
 * Refcounted: the cache holds one reference, a request in flight another.
 */
struct tok_val {
	int		 refs;
	char		*issuer;	/* [issuer] / [signer] section name */
	char		*subject;	/* sub, or NULL */
	json_t		*claims;	/* own reference */
	char		*h_sub;		/* X-Auth-Subject, printable ASCII */
	char		*h_iss;		/* X-Auth-Issuer: the iss claim */
	char		*h_scope;	/* X-Auth-Scope */
	char		*desc;		/* audit: "iss=... sub=..." */
	/* authz_api_audience() under s->epoch api_epoch - 1; 0: not yet. */
	uint64_t	 api_epoch;
	int		 api_aud;
};

/* The unix peer of a connection, read once on its first request. */
struct peer {
	int		 done;
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 pid;
	gid_t		*groups;
	size_t		 n_groups;
	char		 desc[64 + EXE_MAX];	/* audit: "uid=N pid=N exe=PATH" */
};

/*
 * Per-request state.  HTTP/1.1 requests on one connection are sequential,
 * so it lives in the connection (no allocation per request) and is reset
 * by the request-completed callback.
 */
struct req {
	struct conn		*cn;
	struct MHD_Connection	*mc;
	int			 used;		/* set up: not clear yet */
	int			 queued;	/* a response is queued */
	enum route		 route;
	char			*body;		/* POST body, wiped when freed */
	size_t			 body_len;
	size_t			 body_cap;
	size_t			 seen;		/* body bytes, kept or not */
	/* ?wait= long poll */
	struct req		*wprev, *wnext;
	int			 waiting;	/* suspended, on s->waiters */
	int			 wait_over;	/* deadline passed or draining */
	uint64_t		 wait_gen;
	int64_t			 deadline;	/* boottime ms; 0: not yet */
	char			 wait_cred[MAX_NAME + 1];
	/* Bearer verification on a verifier thread (V_*) */
	int			 vstate;
	struct vjob		*vjob;		/* V_RUNNING: held on it */
	struct req		*vnext;		/* on vjob->waiters or s->held */
	int			 vretried;	/* verified again after new keys */
	int			 vrc;		/* V_DONE: the outcome */
	struct tok_val		*vtv;
	unsigned char		 vkey[IDP_SHA256_LEN];
	char			 vwhy[128];
	int64_t			 hold_until;	/* V_HELD: boottime ms */
	struct form		*form;		/* POST /v1/token, parsed once */
};

/*
 * Where a request's bearer verification is.  V_RUNNING and V_HELD keep
 * the connection suspended; V_DONE holds the outcome for the handler's
 * next pass.
 */
enum { V_NONE, V_RUNNING, V_HELD, V_DONE };

struct conn {
	struct listener		*ls;
	struct peer		 peer;
	struct req		 rq;
	int			 counted;	/* in ls->uids[] */
	int			 refused;	/* over per_uid_limit */
	/*
	 * The last bearer token sent on this connection and its cache key:
	 * a keep-alive client that sends the same token again is compared
	 * (in constant time), not hashed again.  Wiped when replaced and
	 * when the connection closes.
	 */
	char			*tok;
	size_t			 tok_len;
	unsigned char		 tok_key[IDP_SHA256_LEN];
};

/* Open connections of one uid on a unix listener. */
struct uid_count {
	uid_t			 uid;
	unsigned		 n;
};

struct listener {
	struct server		*srv;
	struct listener		*next;
	int			 is_unix;
	struct MHD_Daemon	*d;		/* NULL while dormant */
	int			 lfd;		/* dormant: the listening socket */
	int			 epfd;		/* MHD's, watched by the loop */
	struct loop_timer	*timer;		/* MHD_get_timeout() */
	int64_t			 armed;		/* boottime ms it fires; 0: off */
	int			 draining;	/* replaced: no accepts, ends soon */
	int64_t			 drain_until;
	unsigned		 n_waiting;
	unsigned		 max_waiting;
	unsigned		 n_verifying;	/* suspended for a verification */
	int			 resumed;	/* connections resumed: MHD_run */
	/* What it was made from, to tell whether [listen] changed. */
	char			*path;		/* unix */
	mode_t			 mode;
	gid_t			 group;
	dev_t			 dev;		/* the socket file we made */
	ino_t			 ino;
	char			*host;		/* tcp */
	char			*port;
	unsigned		 max_conn;
	unsigned		 per_ip;
	unsigned		 timeout_s;
	struct uid_count	*uids;		/* unix: per_uid_limit */
	size_t			 n_uids, cap_uids;
	int64_t			 uid_logged;	/* mono ms of the last refusal line */
};

/*
 * What a part that suspends requests gives the listeners (ls_hooks_add),
 * called in the order registered; a member may be NULL.
 */
struct ls_hooks {
	/* ls goes (drained or destroyed): answer its suspended requests. */
	void		(*going)(struct server *s, struct listener *ls);
	/* rq ends or is reset: take it off whatever holds it. */
	void		(*req_end)(struct req *rq);
	/* The earliest deadline (boottime ms) it waits for; 0: none. */
	int64_t		(*next)(const struct server *s);
	/* The deadline timer fired at now: let go what is due. */
	void		(*expire)(struct server *s, int64_t now);
};

/* Grouped by the file that owns the members. */
struct server {
	/* server.c */
	struct loop		*loop;
	struct api_ops		 ops;
	const struct config	*cfg;
	int			 stopping;
	uint64_t		 epoch;		/* bumped when trust is replaced */
	/* listener.c, bind.c */
	struct listener		*listeners;	/* live and draining */
	MHD_AccessHandlerCallback access;	/* http.c's, set by server.c */
	const struct ls_hooks	*hooks[LS_MAX_HOOKS];
	size_t			 n_hooks;
	struct loop_timer	*deadlines;	/* the hooks' next() */
	uint64_t		 uid_refused;	/* over per_uid_limit */
	int64_t			 log_window;
	unsigned		 log_count;
	unsigned		 log_dropped;
	/* resp.c */
	uint64_t		 requests[R_N][N_CODES];
	/* longpoll.c */
	struct req		*waiters;
	size_t			 n_waiting;
	/* verify.c */
	struct workers		*pool;		/* verifier threads, or NULL */
	struct vjob		*vj[VJ_BUCKETS];	/* in flight */
	struct req		*held;		/* waiting for an issuer's keys */
	uint64_t		 verify_async;	/* verifications on threads */
	uint64_t		 verify_inline;	/* on the loop thread */
	uint64_t		 verify_held;	/* held for an issuer's keys */
	/* tokcache.c */
	struct tok_slot		*tc;		/* TC_SETS * TC_WAYS, lazily */
	struct idp_sha256	*sha256;	/* one context, for tc keys */
	uint64_t		 tc_tick;
	uint64_t		 tc_hits;
	uint64_t		 tc_misses;
	/* h_creds.c */
	struct resp_slot	*rc;		/* RC_SLOTS, lazily */
};

/* Who is calling, for one request. */
struct caller {
	struct authz_caller	 who;
	const char		*desc;		/* for audit lines */
	struct tok_val		*tv;		/* bearer: a held reference */
};

/* text.c */
/* s as printable ASCII for a log line, at most max bytes, in buf. */
const char *txt_safe(char *buf, size_t size, const char *s, size_t max);
/* A new printable-ASCII copy of s, for a header value. */
char *txt_header_dup(const char *s);
/* Is s (len bytes) a name of at most max bytes? */
int txt_name_ok(const char *s, size_t len, size_t max);
/* Are n bytes at p valid UTF-8 without NUL? */
int txt_utf8_ok(const unsigned char *p, size_t n);
/* Is method GET or HEAD? */
int txt_is_get(const char *method);
/* Does header value v start with media type t? */
int txt_media_type_is(const char *v, const char *t);

/* resp.c */
/* The route labels of the metrics and audit lines. */
extern const char *const resp_route_names[R_N];
/* A response taking a secret body p, wiped when MHD lets it go. */
struct MHD_Response *resp_secret(char *p, size_t len, size_t cap);
/* A response over blob b (the reference taken), no copy. */
struct MHD_Response *resp_blob(struct blob *b);
/* A response with a copy of n bytes at p. */
struct MHD_Response *resp_copy(const void *p, size_t n, const char *ctype);
/* A response taking p (malloc'ed). */
struct MHD_Response *resp_take(char *p, size_t n, const char *ctype);
/* A response with j (reference stolen) as compact JSON. */
struct MHD_Response *resp_json(json_t *j);
/* Counts one answer of route with code. */
void resp_count(struct server *s, enum route route, unsigned code);
/* Queues r (NULL: close) with code, counts it, destroys r. */
enum MHD_Result resp_queue(struct req *rq, unsigned code,
    struct MHD_Response *r);
/* Queues r, shared between requests, and counts it. */
enum MHD_Result resp_shared(struct req *rq, unsigned code,
    struct MHD_Response *r);
/* A JSON error body, not queued. */
struct MHD_Response *resp_error_body(const char *error, const char *fmt,
    va_list ap) __attribute__((format(printf, 2, 0)));
/* Queues a JSON error. */
enum MHD_Result resp_error(struct req *rq, unsigned code, const char *error,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Queues 401 with WWW-Authenticate. */
enum MHD_Result resp_401(struct req *rq, const char *why);
/* Queues 401, or 503 when a bearer's failure was not its own fault. */
enum MHD_Result resp_unverified(struct req *rq, int rc, const char *why);
/* Queues 405 with Allow. */
enum MHD_Result resp_405(struct req *rq, const char *allow);
/* Writes rotatord_http_requests_total. */
void resp_metrics(const struct server *s, FILE *out);

/* tokcache.c */
/* Drops a reference to tv (NULL: nothing). */
void tc_unref(struct tok_val *tv);
/* Forgets every verified token. */
void tc_clear(struct server *s);
/* The cache key of a token. */
void tc_key(struct server *s, const char *tok, size_t len,
    unsigned char *key);
/* The same, remembered on cn for its next request (cn NULL: tc_key). */
void tc_key_conn(struct server *s, struct conn *cn, const char *tok,
    size_t len, unsigned char *key);
/* 1 when tok is the token that cn sent last (constant time), or 0. */
int tc_conn_same(const struct conn *cn, const char *tok, size_t len);
/* Wipes and frees what tc_key_conn() remembered on cn. */
void tc_conn_forget(struct conn *cn);
/* Looks key up: 1 with the cached outcome, or 0. */
int tc_lookup(struct server *s, const unsigned char *key, int64_t now,
    struct tok_val **ret, int *rc, char *why, size_t whylen);
/* A verification's result as a tok_val, remembered when cache is set. */
int tc_finish(struct server *s, const unsigned char *key, const char *tok,
    size_t len, struct trust_result *res, int cache, struct tok_val **ret,
    char *why, size_t whylen);

/* verify.c */
/* Starts the verifier threads of c and registers verify's ls_hooks. */
int vf_start(struct server *s, const struct config *c);
/* Stops the verifier threads (every request has left). */
void vf_stop(struct server *s);
/*
 * Verifies a bearer token for rq; -EINPROGRESS: rq is suspended.  With
 * VF_HEADER, tok is the Authorization header's (caller_bearer_of()
 * checked it) and is remembered on rq's connection for its next request.
 */
#define VF_HEADER	0x1
int vf_bearer(struct server *s, struct req *rq, const char *tok, size_t len,
    unsigned flags, struct tok_val **ret, char *why, size_t whylen);
/* Lets requests held for an issuer's keys be verified again. */
void vf_keys_changed(struct server *s);

/* caller.c */
/* Who sends rq: 0, or -1 with the error response queued in *ret. */
int caller_get(struct req *rq, struct caller *cl, enum MHD_Result *ret);
/* A bearer caller holding tv. */
void caller_bearer(struct tok_val *tv, struct caller *cl);
/* Drops what a caller holds. */
void caller_done(struct caller *cl);
/* The token of an "Authorization: Bearer" header: 0 or -EBADMSG. */
int caller_bearer_of(const struct conn *cn, const char *h, const char **ret,
    size_t *ret_len);

/* longpoll.c */
/* Registers the long polls' ls_hooks. */
int lp_start(struct server *s);
/* May rq be held (again)? */
int lp_can_wait(const struct req *rq);
/* Holds rq until cred is newer than gen or wait_ms pass. */
enum MHD_Result lp_wait(struct req *rq, const char *cred, uint64_t gen,
    int64_t wait_ms);
/* Resumes the long polls on cred older than generation. */
void lp_notify(struct server *s, const char *cred, uint64_t generation);

/* listener.c */
/* Registers h (kept, not copied); -ENOSPC when full. */
int ls_hooks_add(struct server *s, const struct ls_hooks *h);
/* Creates the deadline timer of the hooks' next() on the loop. */
int ls_deadlines_start(struct server *s);
/* Arms the deadline timer at the earliest hook deadline. */
void ls_deadlines_arm(struct server *s);
/* Closes the deadline timer. */
void ls_deadlines_stop(struct server *s);
/* Resumes a suspended request; ls_resumed_run() runs MHD for it. */
void ls_resume(struct req *rq);
/* Runs MHD for every listener with resumed connections (arg: server). */
void ls_resumed_run(void *arg);
/* Runs ls's MHD on the next pass of the loop. */
void ls_run_soon(struct listener *ls);
/* Reads the peer credentials of a unix connection: 0 or -errno. */
int ls_peer_load(struct conn *cn, struct MHD_Connection *mc);
/* Ends rq (through the hooks) and clears it for the next request. */
void ls_req_reset(struct req *rq);
/* Serves ls on listening socket lfd (taken over): 0 or -errno. */
int ls_start(struct listener *ls, int lfd);
/* Stops ls's daemon (its suspended requests answered) and frees it. */
void ls_destroy(struct listener *ls);
/* Frees a listener that was never started (nor listed). */
void ls_free(struct listener *ls);
/* Stops accepting on ls and lets its connections finish. */
void ls_drain(struct listener *ls);

/* bind.c */
/* Makes the listeners match [listen] of c. */
int bind_apply(struct server *s, const struct config *c);
/* Removes ls's socket file if it is still the one ls made. */
void bind_unlink(struct listener *ls);

/* http.c */
/* The MHD access handler (cls: the listener). */
enum MHD_Result http_access(void *cls, struct MHD_Connection *mc,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls);

/* h_creds.c */
/* GET /v1/credentials, /v1/credentials/NAME, /v1/credentials/NAME/FILE */
enum MHD_Result h_cred_list(struct req *rq, const struct caller *cl);
enum MHD_Result h_cred(struct req *rq, const struct caller *cl,
    const char *name);
enum MHD_Result h_cred_file(struct req *rq, const struct caller *cl,
    const char *name, const char *file);
/* Drops the cached responses of cred, or all of them when NULL. */
void h_cred_cache_clear(struct server *s, const char *cred);

/* h_token.c */
/* POST /v1/token */
enum MHD_Result h_token(struct req *rq);

/* h_authz.c */
/* GET /v1/authz (nginx auth_request) */
enum MHD_Result h_authz(struct req *rq);

/* h_public.c */
/* The discovery document, or the JWKS when jwks is set. */
enum MHD_Result h_signer_doc(struct req *rq, int jwks);
/* GET /readyz, GET /metrics */
enum MHD_Result h_readyz(struct req *rq);
enum MHD_Result h_metrics(struct req *rq);

/* h_admin.c */
/* /v1/admin/WHAT (unix socket only) */
enum MHD_Result h_admin(struct req *rq, const char *what,
    const char *method);

#endif
