/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mhd_bare: the bare libmicrohttpd baseline of the credential GET row of
 * make bench (README.md, Performance).  It serves one file's bytes from
 * memory to every GET, in the threading mode rotatord's api/ uses:
 * MHD_USE_EPOLL with no MHD thread, MHD's epoll fd watched by a
 * single-threaded epoll loop of our own that calls MHD_run(), a timeout
 * from MHD_get_timeout().  What rotatord adds on top (routing, bearer
 * check, audit line, per-request response) is what the row measures.
 *
 *   mhd_bare FILE     listens on 127.0.0.1 on a free port, prints
 *                     "port N", serves until killed
 *
 * libmicrohttpd rules kept (reference/perf-anchors.md): the response is
 * queued on the second access-handler call only (queuing on the first
 * makes MHD close the connection after it), and it is one
 * MHD_RESPMEM_PERSISTENT response made once and shared.  Limits as
 * rotatord sets them: connections, timeout, 32 KiB per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

static struct MHD_Response *shared;
static int first_call_marker;

static void
die(const char *what)
{
	fprintf(stderr, "mhd_bare: %s: %s\n", what, strerror(errno));
	exit(2);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	if (*con_cls == NULL) {
		/* First call, headers only: never queue here. */
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(mc, MHD_HTTP_OK, shared);
}

static char *
read_all(const char *path, size_t *ret_len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
		die(path);
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		die("malloc");
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, buf + off, (size_t)st.st_size - off)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			die(path);
		}
		off += (size_t)n;
	}
	close(fd);
	*ret_len = off;
	return buf;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct epoll_event ev, evs[16];
	const union MHD_DaemonInfo *di;
	struct MHD_Daemon *d;
	MHD_UNSIGNED_LONG_LONG t;
	char *body;
	size_t len;
	int lfd, ep, one = 1, timeout;

	if (argc != 2) {
		fprintf(stderr, "usage: mhd_bare FILE\n");
		return 2;
	}
	body = read_all(argv[1], &len);
	shared = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_PERSISTENT);
	if (shared == NULL)
		die("MHD_create_response_from_buffer");
	MHD_add_response_header(shared, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/octet-stream");

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, SOMAXCONN) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		die("listen");

	d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_CONNECTION_LIMIT, 256u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	    MHD_OPTION_END);
	if (d == NULL)
		die("MHD_start_daemon");
	if ((di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)) == NULL)
		die("MHD_DAEMON_INFO_EPOLL_FD");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, di->epoll_fd, &ev) < 0)
		die("epoll_ctl");

	printf("port %u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);

	for (;;) {
		timeout = -1;
		if (MHD_get_timeout(d, &t) == MHD_YES)
			timeout = t > 1000 ? 1000 : (int)t;
		if (epoll_wait(ep, evs, 16, timeout) < 0 && errno != EINTR)
			die("epoll_wait");
		MHD_run(d);
	}
}
