/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers: blocking loopback sockets (util.h), for servers that run
 * in child processes (test-http.c) and for free ports (test-server.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

int
ut_listen_loopback(int *ret_port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

int
ut_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int
ut_send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t
ut_read_request(int fd, char *buf, size_t sz)
{
	size_t have = 0, want = 0;
	ssize_t n;
	char *end, *cl;

	for (;;) {
		if (have + 1 >= sz)
			return (ssize_t)have;
		n = read(fd, buf + have, sz - have - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return have > 0 ? (ssize_t)have : -1;
		have += (size_t)n;
		buf[have] = '\0';
		/* Not HTTP (a TLS ClientHello, say): stop reading. */
		if (buf[0] < 'A' || buf[0] > 'Z')
			return (ssize_t)have;
		if ((end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (want == 0) {
			want = (size_t)(end + 4 - buf);
			cl = strcasestr(buf, "\r\ncontent-length:");
			if (cl != NULL && cl < end)
				want += strtoul(cl + 17, NULL, 10);
		}
		if (have >= want)
			return (ssize_t)have;
	}
}
