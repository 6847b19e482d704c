/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NOTIFY_SOCKET datagram protocol (see sd_notify(3)).
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/notify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static int64_t watchdog_ms;

void
notify_init(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	const char *w = getenv("WATCHDOG_USEC");
	const char *wp = getenv("WATCHDOG_PID");
	size_t n;

	notify_len = 0;
	if (p != NULL && (p[0] == '/' || p[0] == '@') &&
	    (n = strlen(p)) < sizeof(notify_addr.sun_path)) {
		memset(&notify_addr, 0, sizeof(notify_addr));
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, p, n);
		if (p[0] == '@')	/* abstract namespace */
			notify_addr.sun_path[0] = '\0';
		notify_len = offsetof(struct sockaddr_un, sun_path) + n;
	}
	if (w != NULL && (wp == NULL || atol(wp) == (long)getpid()))
		watchdog_ms = strtoll(w, NULL, 10) / 1000;
	/* Children (reload commands) must not talk to systemd as us. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int
notify_send(const char *state)
{
	int fd, rc = 0;

	if (notify_len == 0)
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

void
notify_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (notify_len == 0)
		return;
	n = snprintf(buf, sizeof(buf), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	notify_send(buf);
}

int64_t
notify_watchdog_ms(void)
{
	return watchdog_ms;
}
