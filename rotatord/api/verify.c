/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bearer verification: a token not in the cache is checked on a
 * verifier thread while its request is suspended (one check for every
 * request presenting the same token meanwhile), or on the loop when
 * there are no threads.  A request whose token names an unknown kid of
 * an issuer whose keys are being fetched is held until they come
 * (KEY_HOLD_MS at most).  Its ls_hooks let the listener end these.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>

#include "api/server_int.h"
#include "api/trust.h"
#include "core/loop.h"
#include "core/work.h"

#define KEY_HOLD_MS		5000		/* longest wait for an issuer's keys */

/*
 * A signature check on a verifier thread, shared by every request that
 * presents the same token while it runs.
 */
struct vjob {
	struct work		 w;
	struct server		*s;
	struct trust		*trust;		/* a reference */
	uint64_t		 epoch;
	unsigned char		 key[IDP_SHA256_LEN];
	char			*tok;
	size_t			 len;
	int64_t			 now_s;
	int			(*verify)(const struct trust *, const char *,
				    size_t, int64_t, struct trust_result *);
	struct trust_result	 res;
	struct req		*waiters;	/* via vnext */
	struct vjob		*hnext;		/* in s->vj[] */
};

static struct vjob **
vj_bucket(struct server *s, const unsigned char *key)
{
	return &s->vj[key[0] % VJ_BUCKETS];
}

static void
vjob_run(struct work *w)
{
	struct vjob *j = (struct vjob *)w;

	j->verify(j->trust, j->tok, j->len, j->now_s, &j->res);
}

/* Lets a request suspended for a verification go on. */
static void
vf_resume(struct req *rq)
{
	struct listener *ls = rq->cn->ls;

	if (ls->n_verifying > 0)
		ls->n_verifying--;
	ls_resume(rq);
}

/* Gives rq its outcome and resumes it. */
static void
req_verified(struct req *rq, int rc, struct tok_val *tv, const char *why)
{
	rq->vjob = NULL;
	rq->vnext = NULL;
	rq->vstate = V_DONE;
	rq->vrc = rc;
	rq->vtv = tv;
	if (tv != NULL)
		tv->refs++;
	snprintf(rq->vwhy, sizeof(rq->vwhy), "%s", why);
	vf_resume(rq);
}

/* May rq be suspended for a verification (and held for keys)? */
static int
can_suspend(const struct req *rq)
{
	return !rq->cn->ls->draining && !rq->cn->ls->srv->stopping;
}

/*
 * A verification finished (loop thread).  On an unknown kid of an
 * [issuer] whose keys are being fetched, the requests that have not been
 * verified again yet are held until the fetch ends (server_keys_changed)
 * instead of being refused while the new keys are on their way.
 */
static void
vjob_done(struct work *w)
{
	struct vjob *j = (struct vjob *)w, **pp;
	struct server *s = j->s;
	struct tok_val *tv = NULL;
	struct req *rq, *next;
	char why[128];
	int rc, hold = 0, any_held = 0;

	for (pp = vj_bucket(s, j->key); *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == j) {
			*pp = j->hnext;
			break;
		}
	if (j->res.rc == -ENOKEY && j->res.upstream && j->res.name != NULL &&
	    s->ops.unknown_kid != NULL && !s->stopping)
		hold = s->ops.unknown_kid(s->ops.arg, j->res.name) == 1;
	/* A result from a trust set replaced meanwhile is not remembered. */
	rc = tc_finish(s, j->key, j->tok, j->len, &j->res,
	    j->epoch == s->epoch, &tv, why, sizeof(why));
	for (rq = j->waiters; rq != NULL; rq = next) {
		next = rq->vnext;
		if (hold && !rq->vretried && can_suspend(rq)) {
			rq->vjob = NULL;
			rq->vstate = V_HELD;
			rq->hold_until = loop_now_mono() + KEY_HOLD_MS;
			rq->vnext = s->held;
			s->held = rq;
			s->verify_held++;
			any_held = 1;
			continue;
		}
		req_verified(rq, rc, tv, why);
	}
	tc_unref(tv);
	if (any_held)
		ls_deadlines_arm(s);
	trust_unref(j->trust);
	idp_wipe(j->tok, j->len);
	free(j->tok);
	free(j);
}

/* Takes rq off whatever verification holds it (it is going away). */
static void
verify_detach(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;
	struct req **pp;

	if (rq->vstate == V_RUNNING && rq->vjob != NULL)
		pp = &rq->vjob->waiters;
	else if (rq->vstate == V_HELD)
		pp = &s->held;
	else
		pp = NULL;
	for (; pp != NULL && *pp != NULL; pp = &(*pp)->vnext)
		if (*pp == rq) {
			*pp = rq->vnext;
			break;
		}
	if ((rq->vstate == V_RUNNING || rq->vstate == V_HELD) &&
	    rq->cn->ls->n_verifying > 0)
		rq->cn->ls->n_verifying--;
	tc_unref(rq->vtv);
	rq->vtv = NULL;
	rq->vjob = NULL;
	rq->vnext = NULL;
	rq->vstate = V_NONE;
}

/*
 * Answers every request of ls (all when NULL) suspended for a
 * verification: the listener or the server is going away.
 */
static void
verify_release(struct server *s, struct listener *ls)
{
	struct req *rq, **pp;
	size_t i;

	for (i = 0; i < VJ_BUCKETS; i++) {
		struct vjob *j;

		for (j = s->vj[i]; j != NULL; j = j->hnext)
			for (pp = &j->waiters; (rq = *pp) != NULL;) {
				if (ls != NULL && rq->cn->ls != ls) {
					pp = &rq->vnext;
					continue;
				}
				*pp = rq->vnext;
				req_verified(rq, -ESHUTDOWN, NULL,
				    "the server is shutting down");
			}
	}
	for (pp = &s->held; (rq = *pp) != NULL;) {
		if (ls != NULL && rq->cn->ls != ls) {
			pp = &rq->vnext;
			continue;
		}
		*pp = rq->vnext;
		req_verified(rq, -ESHUTDOWN, NULL, "the server is shutting down");
	}
}

/*
 * Lets requests held for an issuer's keys go on (those whose hold ended
 * by now; all when now is 0): each is verified again, once, against the
 * trust set of then.
 */
static void
held_release(struct server *s, int64_t now)
{
	struct req *rq, **pp;

	for (pp = &s->held; (rq = *pp) != NULL;) {
		if (now != 0 && rq->hold_until > now) {
			pp = &rq->vnext;
			continue;
		}
		*pp = rq->vnext;
		rq->vnext = NULL;
		rq->vstate = V_NONE;
		rq->vretried = 1;
		vf_resume(rq);
	}
}

/* The earliest end of a hold for an issuer's keys (ls_hooks next). */
static int64_t
held_next(const struct server *s)
{
	int64_t at = 0;
	const struct req *w;

	for (w = s->held; w != NULL; w = w->vnext)
		if (at == 0 || w->hold_until < at)
			at = w->hold_until;
	return at;
}

static const struct ls_hooks vf_hooks = {
	.going = verify_release,
	.req_end = verify_detach,
	.next = held_next,
	.expire = held_release,
};

/* See server_int.h. */
int
vf_start(struct server *s, const struct config *c)
{
	int rc;

	if ((rc = ls_hooks_add(s, &vf_hooks)) < 0)
		return rc;
	/*
	 * Signature checks of bearer tokens run on these threads (started
	 * on the first one), so a burst of new tokens does not hold up the
	 * loop.  Read once: a reload does not change the count.
	 */
	if (c->listen.verify_threads != 0 && (rc = workers_new(s->loop,
	    c->listen.verify_threads < 0 ? 0 :
	    (unsigned)c->listen.verify_threads, ls_resumed_run, s,
	    &s->pool)) < 0)
		return rc;
	return 0;
}

/* See server_int.h. */
void
vf_stop(struct server *s)
{
	workers_free(s->pool);
	s->pool = NULL;
}

/* See server_int.h (server_keys_changed). */
void
vf_keys_changed(struct server *s)
{
	if (s->held == NULL)
		return;
	held_release(s, 0);
	ls_resumed_run(s);
	ls_deadlines_arm(s);
}

/*
 * Verifies bearer token tok (len bytes) for request rq: a token seen
 * before costs a SHA-256 from the cache, and the token that the same
 * connection sent last (VF_HEADER) only a compare.  Otherwise the
 * signature is checked on a verifier thread while rq's connection is suspended
 * (-EINPROGRESS: return MHD_YES, the handler runs again with the
 * outcome), or here when there are no threads or rq is NULL.  Returns 0
 * with a held reference in *ret (tc_unref() it), or -errno with a reason
 * in why.
 */
int
vf_bearer(struct server *s, struct req *rq, const char *tok, size_t len,
    unsigned flags, struct tok_val **ret, char *why, size_t whylen)
{
	unsigned char key[IDP_SHA256_LEN];
	struct trust_result res;
	struct trust *t;
	struct vjob *j;
	int64_t now = loop_now_wall();
	int rc;

	if (len == 0 || len > MAX_TOKEN_LEN) {
		snprintf(why, whylen, len == 0 ? "empty token" :
		    "token too long");
		return -EBADMSG;
	}
	tc_key_conn(s, rq != NULL && (flags & VF_HEADER) ? rq->cn : NULL, tok,
	    len, key);
	/* The outcome of this request's own verification, once. */
	if (rq != NULL && rq->vstate == V_DONE) {
		rc = rq->vrc;
		if (memcmp(rq->vkey, key, sizeof(key)) == 0) {
			*ret = rq->vtv;
			rq->vtv = NULL;
			snprintf(why, whylen, "%s", rq->vwhy);
			rq->vstate = V_NONE;
			return rc;
		}
		verify_detach(rq);
	}
	if (tc_lookup(s, key, now, ret, &rc, why, whylen)) {
		s->tc_hits++;
		return rc;
	}
	s->tc_misses++;
	t = s->ops.trust(s->ops.arg);
	if (rq != NULL && s->pool != NULL && can_suspend(rq)) {
		/* The same token already on its way: wait for that one. */
		for (j = *vj_bucket(s, key); j != NULL; j = j->hnext)
			if (memcmp(j->key, key, sizeof(key)) == 0)
				break;
		if (j == NULL && (j = calloc(1, sizeof(*j))) != NULL) {
			j->w.run = vjob_run;
			j->w.done = vjob_done;
			j->s = s;
			j->epoch = s->epoch;
			memcpy(j->key, key, sizeof(key));
			j->len = len;
			j->now_s = now / 1000;
			j->verify = s->ops.verify;
			if ((j->tok = malloc(len)) == NULL) {
				free(j);
				j = NULL;
			} else {
				memcpy(j->tok, tok, len);
				j->trust = trust_ref(t);
				if (workers_submit(s->pool, &j->w) < 0) {
					trust_unref(j->trust);
					free(j->tok);
					free(j);
					j = NULL;
				} else {
					j->hnext = *vj_bucket(s, key);
					*vj_bucket(s, key) = j;
					s->verify_async++;
				}
			}
		}
		if (j != NULL) {
			memcpy(rq->vkey, key, sizeof(key));
			rq->vstate = V_RUNNING;
			rq->vjob = j;
			rq->vnext = j->waiters;
			j->waiters = rq;
			rq->cn->ls->n_verifying++;
			MHD_suspend_connection(rq->mc);
			return -EINPROGRESS;
		}
	}
	/* No thread: here, on the loop. */
	s->verify_inline++;
	s->ops.verify(t, tok, len, now / 1000, &res);
	if (res.rc == -ENOKEY && res.upstream && res.name != NULL &&
	    s->ops.unknown_kid != NULL)
		s->ops.unknown_kid(s->ops.arg, res.name);
	return tc_finish(s, key, tok, len, &res, 1, ret, why, whylen);
}
