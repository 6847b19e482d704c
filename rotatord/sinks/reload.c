/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debounced reload state machines; see reload.h.
 *
 * Children (check, exec and the systemctl of unit =) inherit nothing of
 * rotatord's environment, which may hold secrets (env: references are
 * taken out of it, but whatever else systemd or the operator put there
 * stays).  Each is started with exactly:
 *
 *   PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
 *   LANG=C.UTF-8
 *   JOURNAL_STREAM=DEV:INO   only when rotatord has it (and it is that
 *                            form): the child's stdout and stderr are
 *                            rotatord's, so it still describes them
 *
 * Never NOTIFY_SOCKET / WATCHDOG_* (a child must not speak to systemd as
 * rotatord), CREDENTIALS_DIRECTORY (rotatord's credentials), INVOCATION_ID
 * (journald attributes the output by cgroup anyway), HOME, USER or TZ.
 * rotatord sets no variables of its own for children.  They get stdin on
 * /dev/null, rotatord's stdout and stderr, and no other descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/log.h"
#include "core/sched.h"
#include "sinks/reload.h"

#define SYSTEMCTL		"/bin/systemctl"
#define VERIFY_POLL_MS		25
#define VERIFY_CONNECT_MS	1000

#define CHILD_PATH	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CHILD_LANG	"LANG=C.UTF-8"
#define CHILD_JOURNAL	"JOURNAL_STREAM="

enum rstate {
	RS_IDLE,
	RS_DEBOUNCE,	/* waiting for more requests */
	RS_CHECK,	/* check command running */
	RS_RELOAD,	/* exec / systemctl running */
	RS_VERIFY,	/* polling the TLS endpoint */
	RS_BACKOFF,	/* waiting to retry after a failure */
};

struct names {
	char		**v;
	size_t		  n;
};

struct target {
	struct reloader		*r;
	char			 name[CONFIG_MAX_NAME + 1];
	const struct cfg_reload	*cfg;		/* NULL once removed from config */
	enum rstate		 state;
	struct loop_timer	*timer;
	pid_t			 pid;
	int			 pidfd;
	int64_t			 deadline;	/* mono ms, verify */
	unsigned		 failures;
	struct names		 batch;		/* credentials of this attempt */
	char			(*sent)[65];	/* their leaves when signalled */
	struct names		 owed;		/* requests since it started */
	struct reload_stats	 st;
};

struct reloader {
	struct loop		*loop;
	struct reload_ops	 ops;
	int64_t			 retry_min;
	int64_t			 retry_max;
	SSL_CTX			*ssl;
	struct target		**t;
	size_t			 nt;
};

static int64_t target_timer(struct loop *, void *);
static void target_child(struct loop *, int, uint32_t, void *);
static void target_fail(struct target *, const char *, ...)
	__attribute__((format(printf, 2, 3)));

static int
names_add(struct names *ns, const char *s)
{
	char **v;
	size_t i;

	for (i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], s) == 0)
			return 0;
	if ((v = realloc(ns->v, (ns->n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	ns->v = v;
	if ((ns->v[ns->n] = strdup(s)) == NULL)
		return -ENOMEM;
	ns->n++;
	return 0;
}

static void
names_clear(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}

/* Moves every name of from into to. */
static void
names_merge(struct names *to, struct names *from)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		names_add(to, from->v[i]);
	names_clear(from);
}

static struct target *
target_find(const struct reloader *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nt; i++)
		if (strcmp(r->t[i]->name, name) == 0)
			return r->t[i];
	return NULL;
}

int
reload_new(struct loop *l, const struct reload_ops *ops, int64_t retry_min,
    int64_t retry_max, struct reloader **ret)
{
	struct reloader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->loop = l;
	r->ops = *ops;
	r->retry_min = retry_min;
	r->retry_max = retry_max;
	if ((r->ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
		free(r);
		return -ENOMEM;
	}
	/*
	 * The verify handshake compares the served leaf's SHA-256 with the
	 * certificate rotatord just published; that exact match is stronger
	 * than chain validation, which would also accept the old leaf.
	 */
	SSL_CTX_set_verify(r->ssl, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(r->ssl, SSL_SESS_CACHE_OFF);
	*ret = r;
	return 0;
}

static void
target_kill_child(struct target *t)
{
	if (t->pidfd >= 0) {
		loop_del(t->r->loop, t->pidfd);
		if (t->pid > 0) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, NULL, 0);
		}
		close(t->pidfd);
	}
	t->pidfd = -1;
	t->pid = 0;
}

static void
target_free(struct target *t)
{
	if (t == NULL)
		return;
	target_kill_child(t);
	loop_timer_del(t->timer);
	names_clear(&t->batch);
	names_clear(&t->owed);
	free(t->sent);
	free(t);
}

int
reload_configure(struct reloader *r, const struct config *c)
{
	struct target **nt = NULL;
	size_t i, n = 0;
	int rc;

	if (c->n_reloads > 0 &&
	    (nt = calloc(c->n_reloads, sizeof(*nt))) == NULL)
		return -ENOMEM;
	for (i = 0; i < c->n_reloads; i++) {
		struct target *t = target_find(r, c->reloads[i]->name);

		if (t == NULL) {
			if ((t = calloc(1, sizeof(*t))) == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			t->r = r;
			t->pidfd = -1;
			snprintf(t->name, sizeof(t->name), "%s",
			    c->reloads[i]->name);
			t->timer = loop_timer_add(r->loop, target_timer, t);
			if (t->timer == NULL) {
				rc = -ENOMEM;
				free(t);
				goto fail;
			}
		}
		t->cfg = c->reloads[i];
		nt[n++] = t;
	}
	/* Targets no longer configured: drop them, with their owed reloads. */
	for (i = 0; i < r->nt; i++) {
		size_t j;
		int kept = 0;

		for (j = 0; j < n; j++)
			if (nt[j] == r->t[i])
				kept = 1;
		if (!kept)
			target_free(r->t[i]);
	}
	free(r->t);
	r->t = nt;
	r->nt = n;
	return 0;
fail:
	/* New targets made so far are freed; existing ones stay untouched. */
	for (i = 0; i < n; i++)
		if (target_find(r, nt[i]->name) != nt[i])
			target_free(nt[i]);
	free(nt);
	return rc;
}

void
reload_request(struct reloader *r, const char *target, const char *cred)
{
	struct target *t = target_find(r, target);

	if (t == NULL)
		return;
	if (names_add(&t->owed, cred) < 0) {
		log_err("reload %s: out of memory", t->name);
		return;
	}
	t->st.pending = 1;
	if (t->state == RS_IDLE) {
		t->state = RS_DEBOUNCE;
		loop_timer_set(t->timer, loop_now_mono() + t->cfg->debounce);
	}
	/* Busy or waiting: the owed set is picked up when it is done. */
}

const struct reload_stats *
reload_get_stats(const struct reloader *r, const char *target)
{
	const struct target *t = target_find(r, target);

	return t == NULL ? NULL : &t->st;
}

int
reload_busy(const struct reloader *r)
{
	size_t i;

	for (i = 0; i < r->nt; i++)
		if (r->t[i]->state != RS_IDLE || r->t[i]->owed.n > 0)
			return 1;
	return 0;
}

void
reload_free(struct reloader *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nt; i++)
		target_free(r->t[i]);
	free(r->t);
	SSL_CTX_free(r->ssl);
	free(r);
}

/* Is s "DEV:INO", two decimal numbers? */
static int
is_dev_ino(const char *s)
{
	size_t a = strspn(s, "0123456789"), b;

	if (a == 0 || s[a] != ':')
		return 0;
	b = strspn(s + a + 1, "0123456789");
	return b > 0 && s[a + 1 + b] == '\0';
}

/*
 * Fills envp (4 slots) with the environment of a child, the top of this
 * file; buf holds the JOURNAL_STREAM entry.  JOURNAL_STREAM is passed only
 * as DEV:INO, so nothing else can ride along in it.
 */
static void
child_env(char *envp[4], char *buf, size_t size)
{
	const char *js = getenv("JOURNAL_STREAM");
	size_t n = 0;
	int len;

	envp[n++] = (char *)CHILD_PATH;
	envp[n++] = (char *)CHILD_LANG;
	if (js != NULL && is_dev_ino(js) &&
	    (len = snprintf(buf, size, CHILD_JOURNAL "%s", js)) > 0 &&
	    (size_t)len < size)
		envp[n++] = buf;
	envp[n] = NULL;
}

/*
 * Starts argv as a child with default signal dispositions, an empty signal
 * mask, stdin on /dev/null, its own session and the fixed environment of
 * child_env() (posix_spawn() ends in execve(argv[0], argv, envp): no PATH
 * search, nothing inherited).  Returns 0 or -errno.
 */
static int
spawn(char *const argv[], pid_t *ret_pid, int *ret_pidfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	char *envp[4], journal[64];
	pid_t pid;
	int rc, pfd;

	child_env(envp, journal, sizeof(journal));

	sigemptyset(&none);
	sigfillset(&def);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/*
	 * Nothing of rotatord's beyond stdout and stderr: a descriptor a
	 * library opened without O_CLOEXEC (a socket to etcd, a state record)
	 * must not reach a reload script.
	 */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	rc = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0)
		return -rc;
	if ((pfd = pidfd_open(pid, 0)) < 0) {
		rc = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return rc;
	}
	*ret_pid = pid;
	*ret_pidfd = pfd;
	return 0;
}

static int
target_spawn(struct target *t, char *const argv[], enum rstate next)
{
	int rc;

	if ((rc = spawn(argv, &t->pid, &t->pidfd)) < 0)
		return rc;
	if ((rc = loop_add(t->r->loop, t->pidfd, EPOLLIN, target_child, t)) < 0) {
		target_kill_child(t);
		return rc;
	}
	t->state = next;
	loop_timer_set(t->timer, loop_now_mono() + t->cfg->timeout);
	return 0;
}

static void
target_success(struct target *t)
{
	const struct reload_ops *ops = &t->r->ops;
	const char *sep = "";
	char list[256];
	size_t i, off = 0;
	int leaf = 0;

	list[0] = '\0';
	for (i = 0; i < t->batch.n; i++) {
		if (off < sizeof(list))
			off += snprintf(list + off, sizeof(list) - off, "%s%s",
			    sep, t->batch.v[i]);
		sep = ",";
		/* Verified only when the batch has a certificate. */
		if (t->cfg->verify_host != NULL &&
		    ops->leaf_sha256(ops->arg, t->batch.v[i]) != NULL)
			leaf = 1;
	}
	log_notice("reload %s: done for %s%s", t->name, list,
	    leaf ? " (new certificate served)" : "");
	t->failures = 0;
	t->st.ok++;
	t->st.last_ok = loop_now_wall();
	t->st.last_error[0] = '\0';
	names_clear(&t->batch);
	if (t->owed.n > 0) {
		t->state = RS_DEBOUNCE;
		loop_timer_set(t->timer, loop_now_mono() + t->cfg->debounce);
	} else {
		t->state = RS_IDLE;
		t->st.pending = 0;
		loop_timer_set(t->timer, 0);
	}
	if (t->r->ops.done != NULL)
		t->r->ops.done(t->r->ops.arg, t->name, 1);
}

static void
target_fail(struct target *t, const char *fmt, ...)
{
	int64_t delay;
	va_list ap;

	target_kill_child(t);
	va_start(ap, fmt);
	vsnprintf(t->st.last_error, sizeof(t->st.last_error), fmt, ap);
	va_end(ap);
	t->failures++;
	t->st.failed++;
	delay = sched_backoff(t->r->retry_min, t->r->retry_max, t->failures,
	    sched_random());
	log_warn("reload %s: %s; published files unchanged, retrying in %.1fs",
	    t->name, t->st.last_error, delay / 1000.0);
	t->state = RS_BACKOFF;
	loop_timer_set(t->timer, loop_now_mono() + delay);
	if (t->r->ops.done != NULL)
		t->r->ops.done(t->r->ops.arg, t->name, 0);
}

/* Reads a pid from a pidfile without following symlinks; 0 or -errno. */
static int
read_pidfile(const char *path, pid_t *ret)
{
	char buf[32], *end;
	ssize_t n;
	long v;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 ? -EBADMSG : -errno;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') ||
	    v <= 1 || v > 4194304)
		return -EBADMSG;
	*ret = (pid_t)v;
	return 0;
}

static void
target_start_verify(struct target *t)
{
	if (t->cfg->verify_host == NULL) {
		target_success(t);
		return;
	}
	t->state = RS_VERIFY;
	t->deadline = loop_now_mono() + t->cfg->verify_timeout;
	loop_timer_set(t->timer, loop_now_mono() + VERIFY_POLL_MS);
}

/*
 * Notes the leaf each certificate of the batch has as the reload is sent:
 * what the consumer is about to load.  A newer generation published
 * while the reload is under way is owed (reload_request()), and the
 * consumer may already have read it: verify accepts either.
 */
static int
target_note_sent(struct target *t)
{
	const struct reload_ops *ops = &t->r->ops;
	const char *w;
	size_t i;

	free(t->sent);
	t->sent = NULL;
	if (t->batch.n == 0 || t->cfg->verify_host == NULL)
		return 0;
	if ((t->sent = calloc(t->batch.n, sizeof(*t->sent))) == NULL)
		return -ENOMEM;
	for (i = 0; i < t->batch.n; i++)
		if ((w = ops->leaf_sha256(ops->arg, t->batch.v[i])) != NULL)
			snprintf(t->sent[i], sizeof(t->sent[i]), "%s", w);
	return 0;
}

static void
target_do_reload(struct target *t)
{
	const struct cfg_reload *c = t->cfg;
	pid_t pid = 0;
	int rc;

	if (target_note_sent(t) < 0) {
		target_fail(t, "out of memory");
		return;
	}
	if (c->pidfile != NULL) {
		if ((rc = read_pidfile(c->pidfile, &pid)) < 0) {
			target_fail(t, "cannot read pid from %s: %s", c->pidfile,
			    strerror(-rc));
			return;
		}
		if (kill(pid, c->signal) < 0) {
			target_fail(t, "cannot signal pid %d: %s", (int)pid,
			    strerror(errno));
			return;
		}
		log_info("reload %s: sent SIG%s to pid %d", t->name,
		    sigabbrev_np(c->signal), (int)pid);
		target_start_verify(t);
	} else if (c->exec != NULL) {
		if ((rc = target_spawn(t, c->exec, RS_RELOAD)) < 0)
			target_fail(t, "cannot run %s: %s", c->exec[0],
			    strerror(-rc));
	} else {
		char *argv[] = { SYSTEMCTL, "reload", c->unit, NULL };

		if ((rc = target_spawn(t, argv, RS_RELOAD)) < 0)
			target_fail(t, "cannot run %s: %s", SYSTEMCTL,
			    strerror(-rc));
	}
}

static void
target_start(struct target *t)
{
	int rc;

	names_merge(&t->batch, &t->owed);
	if (t->cfg->check != NULL) {
		if ((rc = target_spawn(t, t->cfg->check, RS_CHECK)) < 0)
			target_fail(t, "cannot run check %s: %s",
			    t->cfg->check[0], strerror(-rc));
		return;
	}
	target_do_reload(t);
}

static void
target_child(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct target *t = arg;
	siginfo_t si;
	enum rstate was = t->state;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return;
	loop_del(l, fd);
	close(fd);
	t->pidfd = -1;
	t->pid = 0;
	loop_timer_set(t->timer, 0);
	if (si.si_code != CLD_EXITED || si.si_status != 0) {
		const char *what = was == RS_CHECK ? "check" : "reload command";

		if (si.si_code == CLD_EXITED)
			target_fail(t, "%s exited with status %d", what,
			    si.si_status);
		else
			target_fail(t, "%s killed by signal %d", what,
			    si.si_status);
		return;
	}
	if (was == RS_CHECK)
		target_do_reload(t);
	else
		target_start_verify(t);
}

/* Waits for fd to become ready for events within ms; 0 or -ETIMEDOUT. */
static int
wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : -ETIMEDOUT;
}

/*
 * One TLS handshake to host:port with SNI sni; writes the served leaf's
 * SHA-256 in hex.  Returns 0 or -errno.  Bounded by VERIFY_CONNECT_MS per
 * blocking step.
 */
static int
served_leaf(SSL_CTX *ctx, const char *host, const char *port, const char *sni,
    char out[65])
{
	struct addrinfo hints, *ai = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	X509 *peer = NULL;
	SSL *ssl = NULL;
	int fd = -1, rc = -EPROTO, n, err;
	socklen_t elen = sizeof(err);

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto out;
		}
		if ((rc = wait_fd(fd, POLLOUT, VERIFY_CONNECT_MS)) < 0)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
			rc = -(err ? err : errno);
			goto out;
		}
	}
	if ((ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(ssl, fd)) {
		rc = -ENOMEM;
		goto out;
	}
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	for (;;) {
		n = SSL_connect(ssl);
		if (n == 1)
			break;
		err = SSL_get_error(ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			rc = wait_fd(fd, POLLIN, VERIFY_CONNECT_MS);
		else if (err == SSL_ERROR_WANT_WRITE)
			rc = wait_fd(fd, POLLOUT, VERIFY_CONNECT_MS);
		else
			rc = -EPROTO;
		if (rc < 0)
			goto out;
	}
	if ((peer = SSL_get1_peer_certificate(ssl)) == NULL ||
	    !X509_digest(peer, EVP_sha256(), md, &mdlen)) {
		rc = -EPROTO;
		goto out;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	ERR_clear_error();
	X509_free(peer);
	if (ssl != NULL) {
		SSL_set_quiet_shutdown(ssl, 1);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

/*
 * Returns 1 when the endpoint serves what was published: with an explicit
 * sni, the served leaf is a leaf of a credential of the batch; without,
 * each x509 credential of the batch is asked for under its own name.  A
 * leaf counts when it is the one the reload was sent for or the current
 * one (published since, and owed another reload).  0 when not yet,
 * -errno when the endpoint cannot be reached.
 */
static int
target_verify_once(struct target *t, char *why, size_t whylen)
{
	const struct reload_ops *ops = &t->r->ops;
	const struct cfg_reload *c = t->cfg;
	char got[65];
	size_t i;
	int rc, checked = 0, any = 0;

	for (i = 0; i < t->batch.n; i++) {
		const char *now = ops->leaf_sha256(ops->arg, t->batch.v[i]);
		const char *sent = t->sent != NULL ? t->sent[i] : "";
		const char *sni;

		if (now == NULL)
			continue;
		if (sent[0] == '\0')
			sent = now;
		any = 1;
		if (c->sni != NULL) {
			if (!checked) {
				rc = served_leaf(t->r->ssl, c->verify_host,
				    c->verify_port, c->sni, got);
				if (rc < 0) {
					snprintf(why, whylen, "%s", strerror(-rc));
					return rc;
				}
				checked = 1;
			}
			if (strcmp(got, sent) == 0 || strcmp(got, now) == 0)
				return 1;
			continue;
		}
		sni = ops->sni(ops->arg, t->batch.v[i]);
		rc = served_leaf(t->r->ssl, c->verify_host, c->verify_port, sni,
		    got);
		if (rc < 0) {
			snprintf(why, whylen, "%s", strerror(-rc));
			return rc;
		}
		if (strcmp(got, sent) != 0 && strcmp(got, now) != 0) {
			snprintf(why, whylen, "%s still serves %.16s, not %.16s",
			    sni != NULL ? sni : "endpoint", got, sent);
			return 0;
		}
	}
	if (c->sni != NULL && any) {
		snprintf(why, whylen, "%s still serves %.16s", c->sni, got);
		return 0;
	}
	return 1;
}

static int64_t
target_timer(struct loop *l, void *arg)
{
	struct target *t = arg;
	char why[160];
	int rc;

	switch (t->state) {
	case RS_DEBOUNCE:
	case RS_BACKOFF:
		target_start(t);
		break;
	case RS_CHECK:
	case RS_RELOAD:
		target_fail(t, "%s timed out after %.1fs",
		    t->state == RS_CHECK ? "check" : "reload command",
		    t->cfg->timeout / 1000.0);
		break;
	case RS_VERIFY:
		why[0] = '\0';
		rc = target_verify_once(t, why, sizeof(why));
		if (rc == 1)
			target_success(t);
		else if (loop_now_mono() >= t->deadline)
			target_fail(t, "verify %s:%s: %s", t->cfg->verify_host,
			    t->cfg->verify_port, why);
		else
			return loop_now_mono() + VERIFY_POLL_MS;
		break;
	case RS_IDLE:
		break;
	}
	return 0;
}
