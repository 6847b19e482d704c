/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small pool of worker threads for CPU-bound jobs the loop must not
 * wait for (signature checks of bearer tokens).  A job's run() is called
 * on a worker; its done() then on the loop thread, from the loop, so
 * done() may touch daemon state freely.  Workers start on the first
 * submit, so a daemon that never needs them has no threads.
 *
 * run() must not touch daemon state, log, or call into the loop.
 */
#ifndef ROTATORD_WORK_H
#define ROTATORD_WORK_H

#include "core/loop.h"

struct work {
	void		(*run)(struct work *);	/* on a worker thread */
	void		(*done)(struct work *);	/* then on the loop thread */
	struct work	 *next;			/* the pool's */
};

struct workers;

/*
 * Makes a pool of n threads (0: the online CPUs, at most 8) whose done()
 * callbacks run on loop l, a batch at a time; after(arg), when not NULL,
 * runs after each batch (to act once for many jobs).  Returns 0 or
 * -errno.
 */
int workers_new(struct loop *l, unsigned n, void (*after)(void *),
    void *arg, struct workers **ret);

/*
 * Queues job w.  Returns 0, or -errno when no worker can run it (then
 * nothing happens and the caller does the work itself).
 */
int workers_submit(struct workers *p, struct work *w);

/* Jobs queued or running whose done() has not been called. */
unsigned workers_pending(const struct workers *p);

/*
 * Stops the threads after the jobs already queued have run, then calls
 * every done() that is still owed, on this thread.  Accepts NULL.
 */
void workers_free(struct workers *p);

#endif
