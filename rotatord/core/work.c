/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Worker threads (work.h).  One mutex guards both queues; jobs are a few
 * dozen microseconds each, so the lock is never held for long.  Finished
 * jobs go on a list and an eventfd wakes the loop, which drains the list
 * and calls each done() in the order the jobs finished.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/work.h"

#define MAX_THREADS	8

struct workers {
	struct loop	*loop;
	void		(*after)(void *);
	void		*after_arg;
	unsigned	 want;		/* threads to run */
	unsigned	 n;		/* threads started */
	pthread_t	 th[MAX_THREADS];
	int		 efd;		/* eventfd: finished jobs wait */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct work	*q_head, *q_tail;	/* to run */
	struct work	*d_head, *d_tail;	/* run, done() owed */
	unsigned	 pending;	/* submitted, done() not yet called */
	int		 stop;
	int		 failed;	/* a thread could not be started */
};

static void
push(struct work **head, struct work **tail, struct work *w)
{
	w->next = NULL;
	if (*tail != NULL)
		(*tail)->next = w;
	else
		*head = w;
	*tail = w;
}

static void *
worker_main(void *arg)
{
	struct workers *p = arg;
	struct work *w;
	uint64_t one = 1;
	int wake;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->q_head == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if ((w = p->q_head) == NULL)
			break;			/* stopping, queue empty */
		if ((p->q_head = w->next) == NULL)
			p->q_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		w->run(w);
		pthread_mutex_lock(&p->mu);
		wake = p->d_head == NULL;
		push(&p->d_head, &p->d_tail, w);
		/* One wake-up per batch: the loop drains the whole list. */
		if (wake && write(p->efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, the loop is woken. */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Calls done() of every finished job (loop thread). */
static void
drain(struct workers *p)
{
	struct work *w, *next;

	pthread_mutex_lock(&p->mu);
	w = p->d_head;
	p->d_head = p->d_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	if (w == NULL)
		return;
	for (; w != NULL; w = next) {
		next = w->next;
		p->pending--;
		w->done(w);
	}
	if (p->after != NULL)
		p->after(p->after_arg);
}

static void
on_done(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct workers *p = arg;
	uint64_t n;

	(void)l;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("workers: reading the eventfd: %s", strerror(errno));
	drain(p);
}

int
workers_new(struct loop *l, unsigned n, void (*after)(void *), void *arg,
    struct workers **ret)
{
	struct workers *p;
	long cpus;
	int rc;

	if (n == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->loop = l;
	p->after = after;
	p->after_arg = arg;
	p->want = n;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return -ENOMEM;
	}
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return -ENOMEM;
	}
	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (rc = loop_add(l, p->efd, EPOLLIN, on_done, p)) < 0) {
		rc = p->efd < 0 ? -errno : rc;
		if (p->efd >= 0)
			close(p->efd);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return rc;
	}
	*ret = p;
	return 0;
}

/*
 * Starts the threads (on the first submit).  They block every signal:
 * the loop takes signals through a signalfd, which needs them blocked
 * in every thread.
 */
static int
start(struct workers *p)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (p->n < p->want) {
		if ((rc = pthread_create(&p->th[p->n], NULL, worker_main,
		    p)) != 0) {
			log_warn("workers: cannot start a thread: %s",
			    strerror(rc));
			break;
		}
		p->n++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->n < p->want)
		p->failed = 1;
	return p->n > 0 ? 0 : -rc;
}

int
workers_submit(struct workers *p, struct work *w)
{
	int rc;

	if (p == NULL || p->stop)
		return -ESHUTDOWN;
	if (p->n < p->want && !p->failed && (rc = start(p)) < 0)
		return rc;
	if (p->n == 0)
		return -EAGAIN;
	pthread_mutex_lock(&p->mu);
	push(&p->q_head, &p->q_tail, w);
	p->pending++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

unsigned
workers_pending(const struct workers *p)
{
	return p != NULL ? p->pending : 0;
}

void
workers_free(struct workers *p)
{
	unsigned i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	/* Threads are gone; with none ever started nothing was queued. */
	drain(p);
	loop_del(p->loop, p->efd);
	close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
