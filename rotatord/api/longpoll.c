/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Long polls (GET /v1/credentials/NAME/FILE?wait=D): a request held
 * suspended until a newer generation is published or its deadline
 * passes.  Its ls_hooks let the listener end them.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/server_int.h"
#include "core/loop.h"

/* May rq be held (again)?  Not once over, nor on a listener going away. */
int
lp_can_wait(const struct req *rq)
{
	return !rq->wait_over && !rq->cn->ls->draining &&
	    !rq->cn->ls->srv->stopping;
}

/*
 * Holds rq until a newer generation of cred than gen is published or the
 * deadline passes.  The request is handled again from the top when it
 * resumes.
 */
enum MHD_Result
lp_wait(struct req *rq, const char *cred, uint64_t gen, int64_t wait_ms)
{
	struct listener *ls = rq->cn->ls;
	struct server *s = ls->srv;

	if (ls->n_waiting >= ls->max_waiting) {
		struct MHD_Response *r;

		r = resp_json(json_pack("{s:s,s:s}", "error",
		    "temporarily_unavailable", "error_description",
		    "too many long polls; retry"));
		if (r != NULL)
			MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		return resp_queue(rq, MHD_HTTP_SERVICE_UNAVAILABLE, r);
	}
	snprintf(rq->wait_cred, sizeof(rq->wait_cred), "%s", cred);
	rq->wait_gen = gen;
	if (rq->deadline == 0)
		rq->deadline = loop_now_mono() + wait_ms;
	rq->wprev = NULL;
	rq->wnext = s->waiters;
	if (s->waiters != NULL)
		s->waiters->wprev = rq;
	s->waiters = rq;
	rq->waiting = 1;
	s->n_waiting++;
	ls->n_waiting++;
	MHD_suspend_connection(rq->mc);
	ls_deadlines_arm(s);
	return MHD_YES;
}

static void
waiter_unlink(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;

	if (!rq->waiting)
		return;
	if (rq->wprev != NULL)
		rq->wprev->wnext = rq->wnext;
	else
		s->waiters = rq->wnext;
	if (rq->wnext != NULL)
		rq->wnext->wprev = rq->wprev;
	rq->wprev = rq->wnext = NULL;
	rq->waiting = 0;
	s->n_waiting--;
	rq->cn->ls->n_waiting--;
}

/*
 * Lets a held request go: it is handled again (over: answer 304 now even
 * when nothing changed).  MHD runs it on the next pass of the loop.
 */
static void
waiter_resume(struct req *rq, int over)
{
	waiter_unlink(rq);
	if (over)
		rq->wait_over = 1;
	MHD_resume_connection(rq->mc);
	ls_run_soon(rq->cn->ls);
}

/* Resumes every held request of ls (or of all listeners when NULL). */
static void
waiters_release(struct server *s, struct listener *ls)
{
	struct req *w, *next;

	for (w = s->waiters; w != NULL; w = next) {
		next = w->wnext;
		if (ls == NULL || w->cn->ls == ls)
			waiter_resume(w, 1);
	}
	ls_deadlines_arm(s);
}

/* The earliest deadline of the long polls (ls_hooks next). */
static int64_t
waiters_next(const struct server *s)
{
	int64_t at = 0;
	const struct req *w;

	for (w = s->waiters; w != NULL; w = w->wnext)
		if (at == 0 || w->deadline < at)
			at = w->deadline;
	return at;
}

/* Answers the long polls whose deadline passed (ls_hooks expire). */
static void
waiters_expire(struct server *s, int64_t now)
{
	struct req *w, *next;

	for (w = s->waiters; w != NULL; w = next) {
		next = w->wnext;
		if (w->deadline <= now)
			waiter_resume(w, 1);
	}
}

static const struct ls_hooks lp_hooks = {
	.going = waiters_release,
	.req_end = waiter_unlink,
	.next = waiters_next,
	.expire = waiters_expire,
};

/* See server_int.h. */
int
lp_start(struct server *s)
{
	return ls_hooks_add(s, &lp_hooks);
}

/* See server_int.h (server_notify). */
void
lp_notify(struct server *s, const char *cred, uint64_t generation)
{
	struct req *w, *next;
	int any = 0;

	for (w = s->waiters; w != NULL; w = next) {
		next = w->wnext;
		if (generation > w->wait_gen && strcmp(w->wait_cred, cred) == 0) {
			waiter_resume(w, 0);
			any = 1;
		}
	}
	if (any)
		ls_deadlines_arm(s);
}
