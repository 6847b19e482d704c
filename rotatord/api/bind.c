/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The listening sockets (unix, with its mode and group; TCP) and making
 * the listeners match [listen]: on a reload every new listener starts
 * before an old one drains, and a kept address is handed over without
 * being bound again.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/server_int.h"
#include "config/config.h"
#include "core/log.h"

/* Removes ls's socket file if it is still the one ls made. */
void
bind_unlink(struct listener *ls)
{
	struct stat st;

	if (ls->path != NULL && lstat(ls->path, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && st.st_dev == ls->dev &&
	    st.st_ino == ls->ino)
		unlink(ls->path);
}

/* Is a unix socket at path accepting connections? */
static int
unix_alive(const struct sockaddr_un *sa)
{
	int fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return 0;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	rc = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return rc;
}

/*
 * Creates the listening unix socket at path with mode and group (-1:
 * unchanged).  A stale socket file is replaced; any other file, or a
 * socket someone still listens on, is not.  Returns the fd (and the
 * file's identity) or -errno after logging.
 */
static int
unix_listen(const char *path, mode_t mode, gid_t group, dev_t *ret_dev,
    ino_t *ret_ino)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("http: socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("http: %s exists and is not a socket; not "
			    "replacing it", path);
			return -EEXIST;
		}
		if (unix_alive(&sa)) {
			log_err("http: %s: another process listens there", path);
			return -EADDRINUSE;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			log_err("http: cannot remove stale socket %s: %s", path,
			    strerror(errno));
			return rc;
		}
	} else if (errno != ENOENT) {
		rc = -errno;
		log_err("http: %s: %s", path, strerror(errno));
		return rc;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		goto fail;
	/*
	 * bind() creates the file with the socket inode's mode minus the
	 * umask: narrowing it first means the file is never more open than
	 * mode, even before the chmod that sets it exactly.
	 */
	if (fchmod(fd, mode) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    chmod(path, mode) < 0 ||
	    (group != (gid_t)-1 && lchown(path, (uid_t)-1, group) < 0) ||
	    listen(fd, SOMAXCONN) < 0)
		goto fail;
	*ret_dev = st.st_dev;
	*ret_ino = st.st_ino;
	return fd;
fail:
	rc = -errno;
	log_err("http: cannot listen on %s: %s", path, strerror(errno));
	if (fd >= 0) {
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		close(fd);
	}
	return rc;
}

/* Binds and listens on numeric host:port.  Returns the fd or -errno. */
static int
tcp_listen(const char *host, const char *port)
{
	struct addrinfo hints, *ai = NULL;
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_err("http: bad address %s:%s: %s", host, port,
		    gai_strerror(rc));
		return -EINVAL;
	}
	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		log_err("http: cannot listen on %s:%s: %s", host, port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	return fd;
}

/* A listener (not started) with the settings of l for one socket kind. */
static struct listener *
listener_alloc(struct server *s, const struct cfg_listen *l, int is_unix)
{
	struct listener *ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return NULL;
	ls->srv = s;
	ls->is_unix = is_unix;
	ls->epfd = ls->lfd = -1;
	ls->max_conn = l->max_connections > 0 ? l->max_connections : 512;
	ls->per_ip = is_unix ? 0 : l->per_ip_limit;
	ls->timeout_s = l->timeout > 0 ? (unsigned)((l->timeout + 999) / 1000) :
	    10;
	/* Long polls may use 3/4 of the connections; the rest stay free. */
	ls->max_waiting = ls->max_conn - ls->max_conn / 4;
	if (ls->max_waiting == 0)
		ls->max_waiting = 1;
	ls->mode = l->unix_mode;
	ls->group = l->unix_group;
	if (is_unix)
		ls->path = strdup(l->unix_path);
	else {
		ls->host = strdup(l->tcp_host);
		ls->port = strdup(l->tcp_port);
	}
	if (is_unix ? ls->path == NULL : ls->host == NULL || ls->port == NULL) {
		free(ls->path);
		free(ls->host);
		free(ls->port);
		free(ls);
		return NULL;
	}
	return ls;
}

/* The live (not draining) listener of a kind, or NULL. */
static struct listener *
listener_live(struct server *s, int is_unix)
{
	struct listener *ls;

	for (ls = s->listeners; ls != NULL; ls = ls->next)
		if (!ls->draining && ls->is_unix == is_unix)
			return ls;
	return NULL;
}

/* Do the connection limits of old and a new [listen] l differ? */
static int
limits_differ(const struct listener *old, const struct cfg_listen *l,
    int is_unix)
{
	struct listener tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.max_conn = l->max_connections > 0 ? l->max_connections : 512;
	tmp.per_ip = is_unix ? 0 : l->per_ip_limit;
	tmp.timeout_s = l->timeout > 0 ? (unsigned)((l->timeout + 999) / 1000) :
	    10;
	return old->max_conn != tmp.max_conn || old->per_ip != tmp.per_ip ||
	    old->timeout_s != tmp.timeout_s;
}

/*
 * What configuring one socket kind (unix or tcp) to l needs: nothing
 * (*ret NULL, *ret_drain NULL), or a new listener to start and an old one
 * to drain once every new listener started.  Returns 0 or -errno (nothing
 * changed then).
 */
static int
plan_kind(struct server *s, const struct cfg_listen *l, int is_unix,
    struct listener **ret, struct listener **ret_drain)
{
	struct listener *old = listener_live(s, is_unix), *ls;
	const union MHD_DaemonInfo *di;
	int want, same_addr, fd, rc;

	*ret = NULL;
	*ret_drain = NULL;
	want = is_unix ? l->unix_path != NULL : l->tcp_host != NULL &&
	    l->tcp_port != NULL;
	if (!want) {
		*ret_drain = old;
		return 0;
	}
	same_addr = old != NULL && (is_unix ? strcmp(old->path,
	    l->unix_path) == 0 : strcmp(old->host, l->tcp_host) == 0 &&
	    strcmp(old->port, l->tcp_port) == 0);
	if (same_addr && !limits_differ(old, l, is_unix))
		return 0;
	if ((ls = listener_alloc(s, l, is_unix)) == NULL)
		return -ENOMEM;
	if (same_addr) {
		/*
		 * Same address, new limits: the new daemon gets a duplicate of
		 * the listening socket, the old one drains; nothing is
		 * re-bound and no connection attempt is refused meanwhile.
		 */
		if (old->d != NULL) {
			di = MHD_get_daemon_info(old->d,
			    MHD_DAEMON_INFO_LISTEN_FD);
			fd = di != NULL ? fcntl(di->listen_fd, F_DUPFD_CLOEXEC,
			    3) : -1;
		} else
			fd = old->lfd >= 0 ? fcntl(old->lfd, F_DUPFD_CLOEXEC,
			    3) : -1;
		if (fd < 0) {
			rc = -errno;
			goto fail;
		}
		ls->dev = old->dev;
		ls->ino = old->ino;
	} else if (is_unix) {
		if ((fd = unix_listen(ls->path, ls->mode, ls->group, &ls->dev,
		    &ls->ino)) < 0) {
			rc = fd;
			goto fail;
		}
	} else if ((fd = tcp_listen(ls->host, ls->port)) < 0) {
		rc = fd;
		goto fail;
	}
	if ((rc = ls_start(ls, fd)) < 0) {
		if (is_unix && !same_addr)
			bind_unlink(ls);
		goto fail;
	}
	*ret = ls;
	*ret_drain = old;
	return 0;
fail:
	/* ls_start() failing leaves nothing started. */
	ls_free(ls);
	return rc;
}

/* Undoes a planned listener that was started but is not wanted after all. */
static void
plan_undo(struct server *s, struct listener *ls, const struct listener *old)
{
	if (ls == NULL)
		return;
	if (ls->is_unix && (old == NULL || strcmp(old->path, ls->path) != 0))
		bind_unlink(ls);
	ls->next = s->listeners;
	s->listeners = ls;
	ls_destroy(ls);
}

/*
 * Makes the listeners match [listen] of c: all new ones start first;
 * only then are old ones drained (and their socket files removed).
 */
int
bind_apply(struct server *s, const struct config *c)
{
	struct listener *nu = NULL, *du = NULL, *nt = NULL, *dt = NULL;
	int rc;

	if ((rc = plan_kind(s, &c->listen, 1, &nu, &du)) < 0)
		return rc;
	if ((rc = plan_kind(s, &c->listen, 0, &nt, &dt)) < 0) {
		plan_undo(s, nu, du);
		return rc;
	}
	/* A kept socket file whose mode or group changed: set in place. */
	if (c->listen.unix_path != NULL && (nu == NULL || (du != NULL &&
	    strcmp(du->path, nu->path) == 0))) {
		struct listener *old = du != NULL ? du : listener_live(s, 1);

		if (old != NULL && (old->mode != c->listen.unix_mode ||
		    old->group != c->listen.unix_group)) {
			if (chmod(old->path, c->listen.unix_mode) < 0 ||
			    (c->listen.unix_group != (gid_t)-1 &&
			    lchown(old->path, (uid_t)-1,
			    c->listen.unix_group) < 0)) {
				rc = -errno;
				log_err("http: cannot change the mode or group "
				    "of %s: %s", old->path, strerror(errno));
				plan_undo(s, nu, du);
				plan_undo(s, nt, dt);
				return rc;
			}
			old->mode = c->listen.unix_mode;
			old->group = c->listen.unix_group;
		}
	}
	if (du != NULL) {
		if (nu == NULL || strcmp(du->path, nu->path) != 0)
			bind_unlink(du);
		ls_drain(du);
	}
	if (dt != NULL)
		ls_drain(dt);
	if (nu != NULL) {
		nu->next = s->listeners;
		s->listeners = nu;
		log_info("http: listening on %s", nu->path);
	}
	if (nt != NULL) {
		nt->next = s->listeners;
		s->listeners = nt;
		log_info("http: listening on %s:%s", nt->host, nt->port);
	}
	return 0;
}
