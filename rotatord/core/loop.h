/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop: one epoll instance; callbacks per file descriptor.
 * Timers are timerfds and signals a signalfd, registered like any other fd,
 * so the loop knows nothing of tokens or certificates.
 */
#ifndef ROTATORD_LOOP_H
#define ROTATORD_LOOP_H

#include <stdint.h>

struct loop;

typedef void (*loop_cb)(struct loop *l, int fd, uint32_t events, void *arg);

/* Creates a loop.  Returns 0 or -errno; free with loop_free(). */
int loop_new(struct loop **ret);

/* Frees l (registered fds are not closed; timers are deleted before). */
void loop_free(struct loop *l);

/* Watches fd for events (EPOLLIN...).  Returns 0 or -errno. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_cb cb, void *arg);

/* Watches fd like loop_add(), or changes events / callback if watched. */
int loop_set(struct loop *l, int fd, uint32_t events, loop_cb cb, void *arg);

/* Stops watching fd (before the caller closes it). */
void loop_del(struct loop *l, int fd);

/* Calls fn(arg) before each wait for events (e.g. to flush logs). */
void loop_on_idle(struct loop *l, void (*fn)(void *), void *arg);

/* Runs until loop_quit(); returns the value given to it. */
int loop_run(struct loop *l);

/* Makes loop_run() return rc after the current callback. */
void loop_quit(struct loop *l, int rc);

/* Milliseconds on CLOCK_BOOTTIME (monotonic, counts suspend). */
int64_t loop_now_mono(void);
/* Milliseconds since the epoch on CLOCK_REALTIME. */
int64_t loop_now_wall(void);

/*
 * Timers owned by the loop: any number of them on one CLOCK_BOOTTIME
 * timerfd, kept in a heap by deadline (boottime ms, loop_now_mono()).
 * A timer fires once per arming; its callback runs on the loop and
 * returns the next deadline (0: as the callback left it, i.e. disarmed
 * unless it called loop_timer_set() on itself).  A callback may set or
 * delete any timer, itself included.
 */
struct loop_timer;
typedef int64_t (*loop_timer_cb)(struct loop *l, void *arg);

/* A new disarmed timer, or NULL when out of memory. */
struct loop_timer *loop_timer_add(struct loop *l, loop_timer_cb cb,
    void *arg);
/* Arms t at boottime ms at (a past time fires at once); at <= 0 disarms. */
void loop_timer_set(struct loop_timer *t, int64_t at);
/* Its deadline, or 0 when disarmed. */
int64_t loop_timer_when(const struct loop_timer *t);
/* Disarms and frees t; accepts NULL. */
void loop_timer_del(struct loop_timer *t);

/*
 * Creates a timerfd that becomes readable when the wall clock is set or
 * steps (TFD_TIMER_CANCEL_ON_SET).  After it fires call
 * loop_clockwatch_rearm().  Returns the fd or -errno.
 */
int loop_clockwatch_new(void);
int loop_clockwatch_rearm(int fd);

#endif
