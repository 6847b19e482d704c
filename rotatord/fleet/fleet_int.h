/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of fleet/ share, and nothing outside fleet/ sees: the
 * fleet, its view of the prefix, and the functions one file offers the
 * others, a prefix per file (fl_ fleet.c, rp_ report.c, mb_ member.c,
 * vw_ view.c, ld_ leader.c, ro_ rollout.c, sc_ secrets.c, hs_ hosts.c,
 * rq_ rotate.c, pk_ pubs.c).  How it fits together: the comment at the
 * top of fleet.c.
 */
#ifndef ROTATORD_FLEET_INT_H
#define ROTATORD_FLEET_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <idp/secret.h>

#include "config/config.h"
#include "core/loop.h"
#include "fleet/etcd.h"
#include "fleet/fleet.h"
#include "fleet/fleetrec.h"
#include "fleet/fleetstate.h"

#define DUTY_MS		1000		/* the leader looks at its duties */
#define ROTATE_KEEP_MS	(24LL * 3600 * 1000)	/* rotate requests */
#define LOGGED		128		/* refusals remembered for log-once */

enum state { F_LEASE, F_REGISTER, F_SYNC, F_RUN };

/* Why a record was refused (a label of the metric each). */
enum refusal {
	RF_LEADER, RF_HOST, RF_ACK, RF_PUB, RF_SECRET, RF_ROLLBACK,
	RF_ROTATE, RF_DONE, RF_STALE, RF_OTHER, RF_N,
};

struct fsecret {
	char			 name[CONFIG_MAX_NAME + 1];
	const struct cfg_cred	*cfg;		/* NULL: no longer configured */
	/* The generation this host holds. */
	int64_t			 gen;		/* 0: none */
	char			 fp[FLEETREC_FP_LEN + 1];
	struct idp_secret	*plain;		/* its document */
	struct idp_secret	*keys[FLEET_MAX_KEYS];	/* newest first */
	int64_t			 issued[FLEET_MAX_KEYS];
	size_t			 n;
	size_t			 active;	/* the key that encrypts */
	int64_t			 lifetime;
	int64_t			 applied;	/* gen published here */
	int64_t			 acked;		/* gen acknowledged */
	/* What etcd holds at PREFIX/secrets/NAME. */
	int64_t			 mod_rev;	/* 0: absent */
	int64_t			 etcd_gen;	/* 0: absent or not authentic */
	char			 etcd_fp[FLEETREC_FP_LEN + 1];
	int64_t			 waiting_since;	/* leader: promotion pending */
	int64_t			 warned;
};

struct host {
	char		 name[65];
	int64_t		 lease;
	char		*secrets;	/* ",a,b," the fleet secrets it serves */
	int64_t		 left;		/* boottime ms its registration went */
};

struct ack {
	char		 secret[CONFIG_MAX_NAME + 1];
	char		 host[65];
	int64_t		 gen;
	char		 fp[FLEETREC_FP_LEN + 1];
};

struct rotreq {
	char		 id[FLEET_ID_MAX + 1];
	int64_t		 at;
	char		**names;
	size_t		 n;
	int		 asked;		/* leader: removal asked */
};

struct done {
	char		 id[FLEET_ID_MAX + 1];
	char		 name[CONFIG_MAX_NAME + 1];
};

struct stale {
	char		 host[65];
	char		 secret[CONFIG_MAX_NAME + 1];
	int64_t		 gen;
	int		 asked;		/* leader: removal asked */
};

/* Public keys of a signer or a CA's certificates: another host's or ours. */
struct pub {
	char		 host[65];
	int		 ca;		/* a CA's certificates, not a JWKS */
	char		 signer[CONFIG_MAX_NAME + 1];	/* signer or CA name */
	char		*doc;		/* JWKS or PEM; own: the record body */
	int64_t		 until;		/* wall ms */
	int		 written;	/* own: in etcd since the last sync */
	int		 asked;		/* leader: removal asked */
};

/* The leader's write in flight. */
struct write {
	uint64_t		 id;		/* 0: none */
	struct fsecret		*s;
	int64_t			 gen;
	char			 fp[FLEETREC_FP_LEN + 1];
	struct idp_secret	*plain;
	char			*key;		/* PREFIX/secrets/NAME */
};

struct fleet {
	struct loop		*loop;
	const struct config	*cfg;
	struct fleet_ops	 ops;
	struct etcd		*e;
	struct fleetrec_keys	 k;
	struct fleetstate	*st;
	char			*prefix;
	char			*name;
	int64_t			 ttl;		/* ms */
	int64_t			 ack_timeout;	/* ms */
	enum state		 state;
	int64_t			 lease;		/* 0: none */
	int64_t			 rev;		/* last revision seen */
	uint64_t		 call;		/* the state machine's call */
	uint64_t		 watch;		/* the prefix but acks/ */
	/*
	 * The leader's view of acks/ (only the leader reads other hosts'
	 * acknowledgements, so only it watches them): complete up to
	 * ack_rev while acks_ok, followed by ack_watch from there.
	 */
	uint64_t		 ack_watch;
	uint64_t		 ack_call;	/* its read */
	int64_t			 ack_rev;
	int			 acks_ok;
	uint64_t		 ka_call;
	uint64_t		 campaign;
	uint64_t		 clean;		/* leader: a removal */
	struct write		 wr;
	int64_t			 ka_sent;	/* when ka_call went out */
	int64_t			 last_ka;	/* when the last good one did */
	int			 leader;
	int64_t			 leader_rev;	/* create_revision of our leader key */
	char			 leader_name[65];
	int64_t			 forged_leader;	/* mod_rev of a forged leader key */
	unsigned		 failures;
	struct loop_timer	*step_t;	/* retry / next step */
	struct loop_timer	*ka_t;		/* keepalive */
	struct loop_timer	*duty_t;	/* leader duties */
	struct fsecret		*s;
	size_t			 n_s;
	struct host		*hosts;
	size_t			 n_hosts;
	/*
	 * Hosts whose registration went in the last lease TTL: still waited
	 * for, so that a registration removed by hand (or by someone who can
	 * write to etcd) cannot make the leader promote past a live host.
	 */
	struct host		*left;
	size_t			 n_left;
	struct ack		*acks;
	size_t			 n_acks;
	struct rotreq		*reqs;
	size_t			 n_reqs;
	struct done		*dones;
	size_t			 n_dones;
	struct stale		*stales;
	size_t			 n_stales;
	int			 self_stale;
	int			 syncing;	/* on_range() is applying */
	struct pub		*pubs;		/* other hosts' signer keys */
	size_t			 n_pubs;
	struct pub		*own;		/* this host's */
	size_t			 n_own;
	uint64_t		 errors;
	uint64_t		 writes;
	uint64_t		 refused[RF_N];
	uint64_t		 logged[LOGGED];	/* hashes of refused records */
	size_t			 n_logged;
	char			 last_error[256];
};

/* fleet.c: records under the prefix */
/* PREFIX followed by fmt, as a new string (free()), or NULL. */
char *fl_key_of(const struct fleet *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s as a base64 JSON string (new), or NULL. */
json_t *fl_b64s(const char *s);
/* The etcd value of an authenticated record (body taken), or NULL. */
json_t *fl_record(const struct fleet *f, const char *key, json_t *body);
/* Writes an authenticated record (body taken).  Returns 0 or -errno. */
int fl_put_record(struct fleet *f, const char *key, json_t *body,
    int64_t lease, etcd_cb cb, uint64_t *ret_id);
/* A txn operation that writes an authenticated record (body taken). */
json_t *fl_put_op(const struct fleet *f, const char *key, json_t *body);
/* The body of record kv (new), or NULL after refusing it as why. */
json_t *fl_open_record(struct fleet *f, enum refusal why,
    const struct etcd_kv *kv);
/* Is member name of body the string want (len bytes)? */
int fl_body_says(const json_t *body, const char *name, const char *want,
    size_t len);
/* A name of the fleet: 1 to max bytes of [A-Za-z0-9._-]? */
int fl_good_name(const char *s, size_t len, size_t max);

/* report.c: failures and refusals */
/* Records and logs a failure (once per change of reason at warning). */
void rp_fail(struct fleet *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Counts record kv as refused for why, and logs it once. */
void rp_refuse(struct fleet *f, enum refusal why, const struct etcd_kv *kv,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* member.c: lease, registration, the steps of the state machine */
/* Sets the step timer again after a backoff that grows with failures. */
void mb_retry(struct fleet *f);
/* Writes this host's registration (ret_id: as the state machine's step). */
int mb_register_self(struct fleet *f, uint64_t *ret_id);
/* The timers of the state machine's steps and of the lease keepalives. */
int64_t mb_on_step_timer(struct loop *l, void *arg);
int64_t mb_on_ka_timer(struct loop *l, void *arg);

/* view.c: the read of the prefix, the watch, each key to its reader */
/* Hands one key of the prefix to its reader (live: from the watch). */
void vw_apply(struct fleet *f, const struct etcd_kv *kv, int live);
/* Watches the prefix from the revision after the last one seen. */
void vw_watch_start(struct fleet *f);
/* The answer to the read of the whole prefix (an etcd_cb). */
void vw_on_range(void *arg, int rc, json_t *reply, const char *why);
/*
 * Leader: reads acks/ if its view of them is not complete, else watches
 * them from where it is.  Returns whether the view is complete.
 */
int vw_acks_follow(struct fleet *f);
/* Stops following acks/ and forgets that the view of them is complete. */
void vw_acks_stop(struct fleet *f);

/* leader.c: the leader key, the campaign, the leader's duties */
/* No longer leads (why is logged); a no-op when not leading. */
void ld_step_down(struct fleet *f, const char *why);
/* "leader": who leads, bound to that host's lease. */
void ld_leader_rec(struct fleet *f, const struct etcd_kv *kv);
/* The leader's next steps; sets the duty timer or leaves it to a write. */
void ld_duties(struct fleet *f);
int64_t ld_on_duty_timer(struct loop *l, void *arg);
/* Takes the leader key if nobody holds it. */
void ld_campaign(struct fleet *f);

/* rollout.c: the leader's writes of fleet secrets */
/* Cancels and forgets the leader's write in flight. */
void ro_write_clear(struct fleet *f);
/* One secret's next step, if any.  Returns 1 when a write started, 0 or -1. */
int ro_duty(struct fleet *f, struct fsecret *s, int64_t now);

/* secrets.c: the fleet secrets this host holds */
/* Fleet secret name (len bytes), or NULL. */
struct fsecret *sc_secret_find(struct fleet *f, const char *name, size_t len);
/* Frees s's keys. */
void sc_secret_clear_keys(struct fsecret *s);
/* The document of one generation, as a new secret, or NULL. */
struct idp_secret *sc_doc_plain(const struct fsecret *s, int64_t gen,
    struct idp_secret *const *keys, const int64_t *issued, size_t n,
    size_t active);
/* Publishes s here (when it changed) and acknowledges its generation. */
void sc_secret_apply(struct fleet *f, struct fsecret *s);
/* Takes generation gen of s (plain taken).  Returns 0 or -EBADMSG. */
int sc_secret_take(struct fleet *f, struct fsecret *s, int64_t gen,
    const char *fp, struct idp_secret *plain);
/* "secrets/NAME": a generation of fleet secret NAME. */
void sc_secret_rec(struct fleet *f, const struct etcd_kv *kv,
    const char *name, size_t nlen);

/* hosts.c: registrations, acknowledgements, stale marks */
/* Registered host h (len bytes), or NULL. */
struct host *hs_host_find(struct fleet *f, const char *h, size_t len);
/* Does host x serve fleet secret name? */
int hs_host_serves(const struct host *x, const char *name);
/* Has host h acknowledged exactly what this host holds of s? */
int hs_host_acked(const struct fleet *f, const struct fsecret *s,
    const char *h);
/* "hosts/HOST", "acks/SECRET/HOST", "stale/HOST". */
void hs_host_rec(struct fleet *f, const struct etcd_kv *kv, const char *h,
    size_t len);
void hs_ack_rec(struct fleet *f, const struct etcd_kv *kv, const char *k,
    size_t len);
void hs_stale_rec(struct fleet *f, const struct etcd_kv *kv, const char *h,
    size_t len);

/* rotate.c: rotate --fleet requests */
/* Frees what r holds (not r). */
void rq_free(struct rotreq *r);
/* Does request r name credential name (or every one)? */
int rq_names(const struct rotreq *r, const char *name);
/* Is request id's new key of fleet secret name made? */
int rq_done_known(const struct fleet *f, const char *id, const char *name);
/* A request waiting for a new key of fleet secret s, or NULL. */
const struct rotreq *rq_secret_pending(const struct fleet *f,
    const struct fsecret *s);
/* "rotate/ID" and "done/ID/NAME". */
void rq_rec(struct fleet *f, const struct etcd_kv *kv, const char *id,
    size_t len);
void rq_done_rec(struct fleet *f, const struct etcd_kv *kv, const char *k,
    size_t len);

/* pubs.c: signer keys and CA certificates of the hosts */
/* Frees the documents of v[0..*n) and sets *n to 0. */
void pk_pubs_clear(struct pub *v, size_t *n);
/* "pub/HOST/jwks/SIGNER" or "pub/HOST/ca/CA". */
void pk_pub_rec(struct fleet *f, const struct etcd_kv *kv, const char *k,
    size_t len);
/* The answer to a write or removal of published keys (an etcd_cb). */
void pk_on_pub_put(void *arg, int rc, json_t *reply, const char *why);
/* Writes this host's signer keys that are not in etcd yet. */
void pk_own_write(struct fleet *f);
/* Leader: other hosts' keys past their time go. */
void pk_pubs_expire(struct fleet *f, int64_t now);

#endif
