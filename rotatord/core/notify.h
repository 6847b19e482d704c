/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sd_notify(3) without libsystemd: the protocol is one datagram on the
 * AF_UNIX socket named by $NOTIFY_SOCKET, which is small enough to speak
 * directly and saves a dependency (and libsystemd's size) for a daemon
 * that must stay under 8 MiB RSS.  No-ops when not run by systemd.
 */
#ifndef ROTATORD_NOTIFY_H
#define ROTATORD_NOTIFY_H

#include <stdint.h>

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC; call once at startup. */
void notify_init(void);

/* Sends state (e.g. "READY=1\nSTATUS=..."), returns 0 or -errno. */
int notify_send(const char *state);

/* Sends STATUS= with a printf-style message. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns the watchdog interval in ms that systemd asked for, or 0. */
int64_t notify_watchdog_ms(void);

#endif
