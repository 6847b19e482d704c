/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/sinks/reload.c, driven on rotatord's loop as the
 * daemon drives it: requests merged within the debounce and owed while a
 * reload runs, the check command deciding, exec and pidfile targets (a
 * child forked here records the signal it got), unit targets,
 * failures with their reasons and the retry after backoff, timeouts
 * that kill the child, reconfiguration keeping owed reloads, the
 * children's fixed environment, and verify: TLS handshakes with a server
 * forked here until it serves the published leaf.
 *
 * Commands are a shell script (probe.sh) that logs each call and exits
 * as files in the test's directory say; a call can be held on a FIFO
 * until the test lets it go.  Every wait is for a condition with a
 * generous deadline, never a sleep, and nothing asserts how long anything
 * took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <idp/jwk.h>
#include <idp/x509.h>

#include "config/config.h"
#include "core/loop.h"
#include "sinks/reload.h"
#include "util.h"

#define RETRY_MIN	10		/* ms: backoff 10 ms .. 40 ms */
#define RETRY_MAX	40
#define DEADLINE	30000		/* ms: against hangs only */

static const char probe_sh[] =
    "# $1: what is run (check, reload), $2: the test's directory\n"
    "d=$2\n"
    "echo \"$1 $$\" >> \"$d/log\"\n"
    "if [ -e \"$d/block-$1\" ]; then read x < \"$d/go\"; fi\n"
    "if [ -e \"$d/kill-$1\" ]; then kill -9 $$; fi\n"
    "rc=0\n"
    "if [ -e \"$d/rc-$1\" ]; then read rc < \"$d/rc-$1\"; fi\n"
    "exit $rc\n";

#define MAX_CFG	8

static struct {
	char		*dir;
	struct loop	*l;
	struct reloader	*r;
	struct config	*cfg[MAX_CFG];	/* each outlives the reloader's use */
	size_t		 n_cfg;
	int		 go;		/* the FIFO held calls wait on */
	/* done() calls */
	int		 n_done, n_ok, n_fail;
	char		 last_target[64];
	void		 (*on_done)(const char *target, int ok);
	/* what the owner answers */
	const char	*leaf;		/* leaf_sha256() of any credential */
	const char	*leaf_later;	/* returned once got_usr2 is set */
	const char	*sni;		/* sni() of any credential */
	int		 n_leaf_calls;
	int		 saved_stderr;	/* the log is in DIR/stderr meanwhile */
} F;

/* Set when a target signals this process (its pidfile names us). */
static volatile sig_atomic_t got_usr2;

static void
on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

static const char *
op_leaf(void *arg, const char *cred)
{
	F.n_leaf_calls++;
	if (F.leaf_later != NULL && got_usr2)
		return F.leaf_later;
	return F.leaf;
}

static const char *
op_sni(void *arg, const char *cred)
{
	return F.sni;
}

static void
op_done(void *arg, const char *target, int ok)
{
	F.n_done++;
	if (ok)
		F.n_ok++;
	else
		F.n_fail++;
	ut_snprintf(F.last_target, sizeof(F.last_target), "%s", target);
	if (F.on_done != NULL)
		F.on_done(target, ok);
}

static int
setup(void **state)
{
	static const struct reload_ops ops = {
		.leaf_sha256 = op_leaf, .sni = op_sni, .done = op_done,
	};
	char path[4096];

	(void)state;
	memset(&F, 0, sizeof(F));
	signal(SIGPIPE, SIG_IGN);
	F.dir = ut_tmpdir("test-reload", UT_TMP_TMP);
	assert_non_null(F.dir);
	ut_put(path, sizeof(path), F.dir, "probe.sh", probe_sh,
	    strlen(probe_sh), 0644);
	ut_snprintf(path, sizeof(path), "%s/go", F.dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* Read-write: never blocks, and a reader's open does not either. */
	F.go = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(F.go >= 0);
	/* The reloader's log (and cmocka's messages) go to a file: logs(). */
	ut_snprintf(path, sizeof(path), "%s/stderr", F.dir);
	fflush(stderr);
	F.saved_stderr = dup(2);
	assert_true(F.saved_stderr >= 0);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0600);

		assert_true(fd >= 0);
		assert_int_equal(dup2(fd, 2), 2);
		close(fd);
	}
	assert_int_equal(loop_new(&F.l), 0);
	assert_int_equal(reload_new(F.l, &ops, RETRY_MIN, RETRY_MAX, &F.r), 0);
	return 0;
}

/* What was logged so far (free()). */
static char *
logs(void)
{
	char path[4096], *s;

	fflush(stderr);
	ut_snprintf(path, sizeof(path), "%s/stderr", F.dir);
	s = ut_read_file(path, 0, NULL);
	assert_non_null(s);
	return s;
}

/* Expects the log to hold line (a substring) after offset *at. */
static void
expect_log(const char *line, size_t *at)
{
	char *s = logs(), *p;

	p = strstr(s + (at != NULL ? *at : 0), line);
	if (p == NULL)
		fail_msg("no \"%s\" in the log", line);
	if (at != NULL)
		*at = (size_t)(p - s) + strlen(line);
	free(s);
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	reload_free(F.r);
	loop_free(F.l);
	/* Back to the real stderr, with what was logged meanwhile. */
	{
		char *s = logs();

		assert_int_equal(dup2(F.saved_stderr, 2), 2);
		close(F.saved_stderr);
		fputs(s, stderr);
		free(s);
	}
	for (i = 0; i < F.n_cfg; i++)
		config_free(F.cfg[i]);
	close(F.go);
	ut_rm_rf(F.dir);
	free(F.dir);
	return 0;
}

/* Loads [rotatord] plus fmt's sections and hands them to the reloader. */
static void configure(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void
configure(const char *fmt, ...)
{
	char *tail = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&tail, fmt, ap) >= 0);
	va_end(ap);
	assert_true(F.n_cfg < MAX_CFG);
	F.cfg[F.n_cfg] = ut_config("[rotatord]\noutput_dir = %s/out\n"
	    "state_dir = %s/state\n%s", F.dir, F.dir, tail);
	free(tail);
	assert_int_equal(reload_configure(F.r, F.cfg[F.n_cfg]), 0);
	F.n_cfg++;
}

/* A file of the test's directory with content (a flag for probe.sh). */
static void
flag(const char *name, const char *content)
{
	char path[4096];

	ut_put(path, sizeof(path), F.dir, name, content, strlen(content), 0644);
}

static void
unflag(const char *name)
{
	char path[4096];

	ut_snprintf(path, sizeof(path), "%s/%s", F.dir, name);
	assert_true(unlink(path) == 0 || errno == ENOENT);
}

/* Lets one held call go on. */
static void
release(void)
{
	assert_int_equal(write(F.go, "\n", 1), 1);
}

/* How many lines of the log start with "what ", and the last one's pid. */
static int
count_log(const char *what, pid_t *ret_pid)
{
	char path[4096], *log, *p;
	size_t n = strlen(what);
	int count = 0;

	ut_snprintf(path, sizeof(path), "%s/log", F.dir);
	if ((log = ut_read_file(path, 0, NULL)) == NULL)
		return 0;
	for (p = log; *p != '\0'; p += strcspn(p, "\n") + (p[strcspn(p, "\n")]
	    != '\0')) {
		if (strncmp(p, what, n) == 0 && p[n] == ' ') {
			count++;
			if (ret_pid != NULL)
				*ret_pid = (pid_t)atoi(p + n + 1);
		}
	}
	free(log);
	return count;
}

static int
p_done(void *arg)
{
	return F.n_done >= *(int *)arg;
}

/* Runs the loop until done() has been called n times in all. */
static void
wait_done(int n)
{
	if (!ut_run_until(F.l, p_done, &n, DEADLINE))
		fail_msg("done() called %d times, not %d", F.n_done, n);
}

struct logwait {
	const char	*what;
	int		 n;
};

static int
p_log(void *arg)
{
	struct logwait *w = arg;

	return count_log(w->what, NULL) >= w->n;
}

/* Runs the loop until probe.sh has logged what n times. */
static void
wait_log(const char *what, int n)
{
	struct logwait w = { what, n };

	if (!ut_run_until(F.l, p_log, &w, DEADLINE))
		fail_msg("%s logged %d times, not %d", what, count_log(what,
		    NULL), n);
}

static int
p_idle(void *arg)
{
	return !reload_busy(F.r);
}

static int
gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

#define PROBE(what) "/bin/sh %s/probe.sh " what " %s\n"

/* ---- exec, debounce, owed requests --------------------------------------- */

static void
test_debounce_merges(void **state)
{
	const struct reload_stats *st;

	(void)state;
	configure("[reload \"web\"]\nexec = " PROBE("reload")
	    "debounce = 20ms\n", F.dir, F.dir);
	/* Three credentials change together: one reload, not yet running. */
	reload_request(F.r, "web", "a");
	reload_request(F.r, "web", "b");
	reload_request(F.r, "web", "a");
	reload_request(F.r, "web", "c");
	assert_true(reload_busy(F.r));
	st = reload_get_stats(F.r, "web");
	assert_non_null(st);
	assert_int_equal(st->pending, 1);
	assert_int_equal(count_log("reload", NULL), 0);
	wait_done(1);
	assert_int_equal(F.n_ok, 1);
	assert_string_equal(F.last_target, "web");
	assert_int_equal(count_log("reload", NULL), 1);
	expect_log("reload web: done for a,b,c\n", NULL);
	st = reload_get_stats(F.r, "web");
	assert_int_equal(st->ok, 1);
	assert_int_equal(st->failed, 0);
	assert_int_equal(st->pending, 0);
	assert_true(st->last_ok > 0);
	assert_string_equal(st->last_error, "");
	assert_false(reload_busy(F.r));
	/* No verify configured: the owner is not asked for leaves. */
	assert_int_equal(F.n_leaf_calls, 0);

	/* Unknown targets are ignored. */
	reload_request(F.r, "nope", "a");
	assert_null(reload_get_stats(F.r, "nope"));
	assert_false(reload_busy(F.r));

	/* Later requests: another reload. */
	reload_request(F.r, "web", "a");
	wait_done(2);
	assert_int_equal(count_log("reload", NULL), 2);
	assert_int_equal(reload_get_stats(F.r, "web")->ok, 2);
}

static void
test_owed_while_running(void **state)
{
	const struct reload_stats *st;
	pid_t pid = 0;

	(void)state;
	configure("[reload \"web\"]\nexec = " PROBE("reload")
	    "debounce = 0ms\n", F.dir, F.dir);
	flag("block-reload", "");
	reload_request(F.r, "web", "a");
	wait_log("reload", 1);
	/* Running: more requests are owed, not started beside it. */
	reload_request(F.r, "web", "b");
	reload_request(F.r, "web", "c");
	st = reload_get_stats(F.r, "web");
	assert_int_equal(st->pending, 1);
	assert_true(reload_busy(F.r));
	assert_int_equal(F.n_done, 0);
	unflag("block-reload");
	release();
	/* The first one ends; the owed ones give exactly one more. */
	wait_done(2);
	{
		size_t at = 0;

		expect_log("reload web: done for a\n", &at);
		expect_log("reload web: done for b,c\n", &at);
	}
	assert_int_equal(F.n_ok, 2);
	assert_true(ut_run_until(F.l, p_idle, NULL, DEADLINE));
	assert_int_equal(count_log("reload", &pid), 2);
	assert_int_equal(reload_get_stats(F.r, "web")->ok, 2);
	assert_int_equal(reload_get_stats(F.r, "web")->pending, 0);
	/* Children are reaped. */
	assert_true(pid > 0 && gone(pid));
}

static void
test_two_targets(void **state)
{
	(void)state;
	configure("[reload \"a\"]\nexec = " PROBE("reload-a")
	    "debounce = 0ms\n[reload \"b\"]\nexec = " PROBE("reload-b")
	    "debounce = 0ms\n", F.dir, F.dir, F.dir, F.dir);
	flag("block-reload-a", "");
	reload_request(F.r, "a", "x");
	reload_request(F.r, "b", "x");
	/* b is not held up by a. */
	wait_done(1);
	assert_string_equal(F.last_target, "b");
	assert_int_equal(reload_get_stats(F.r, "a")->ok, 0);
	release();
	wait_done(2);
	assert_string_equal(F.last_target, "a");
	assert_int_equal(F.n_ok, 2);
}

/* ---- check --------------------------------------------------------------- */

static void
check_fixed(const char *target, int ok)
{
	/* After the first failure the check passes. */
	if (!ok)
		unflag("rc-check");
}

static void
test_check_decides(void **state)
{
	const struct reload_stats *st;

	(void)state;
	configure("[reload \"web\"]\nexec = " PROBE("reload")
	    "check = " PROBE("check") "debounce = 0ms\n", F.dir, F.dir, F.dir,
	    F.dir);
	/* The check passes: check, then the reload. */
	reload_request(F.r, "web", "a");
	wait_done(1);
	assert_int_equal(F.n_ok, 1);
	assert_int_equal(count_log("check", NULL), 1);
	assert_int_equal(count_log("reload", NULL), 1);

	/* It fails: no reload, a retry after backoff; it passes then. */
	flag("rc-check", "3\n");
	F.on_done = check_fixed;
	reload_request(F.r, "web", "a");
	wait_done(2);
	assert_int_equal(F.n_fail, 1);
	st = reload_get_stats(F.r, "web");
	assert_int_equal(st->failed, 1);
	assert_string_equal(st->last_error, "check exited with status 3");
	assert_int_equal(st->pending, 1);
	assert_true(reload_busy(F.r));
	assert_int_equal(count_log("check", NULL), 2);
	assert_int_equal(count_log("reload", NULL), 1);
	wait_done(3);
	assert_int_equal(F.n_ok, 2);
	assert_int_equal(count_log("check", NULL), 3);
	assert_int_equal(count_log("reload", NULL), 2);
	st = reload_get_stats(F.r, "web");
	assert_int_equal(st->ok, 2);
	assert_int_equal(st->failed, 1);
	assert_int_equal(st->pending, 0);
	assert_string_equal(st->last_error, "");

	/* A check killed by a signal fails too. */
	F.on_done = NULL;
	flag("kill-check", "");
	reload_request(F.r, "web", "a");
	wait_done(4);
	assert_int_equal(F.n_fail, 2);
	assert_string_equal(reload_get_stats(F.r, "web")->last_error,
	    "check killed by signal 9");
	assert_int_equal(count_log("reload", NULL), 2);
}

/* ---- exec failures, retry, timeouts -------------------------------------- */

static void
fix_reload(const char *target, int ok)
{
	if (!ok && F.n_fail == 2)
		unflag("rc-reload");
}

static void
test_exec_failures_retry(void **state)
{
	const struct reload_stats *st;

	(void)state;
	configure("[reload \"web\"]\nexec = " PROBE("reload")
	    "debounce = 0ms\n[reload \"missing\"]\n"
	    "exec = /nonexistent/rotatord-test-cmd\ndebounce = 0ms\n", F.dir,
	    F.dir);
	/* Fails twice, then works: retried without a new request. */
	flag("rc-reload", "7\n");
	F.on_done = fix_reload;
	reload_request(F.r, "web", "a");
	wait_done(3);
	assert_int_equal(F.n_fail, 2);
	assert_int_equal(F.n_ok, 1);
	assert_int_equal(count_log("reload", NULL), 3);
	st = reload_get_stats(F.r, "web");
	assert_int_equal(st->failed, 2);
	assert_int_equal(st->ok, 1);
	assert_int_equal(st->pending, 0);
	assert_true(ut_run_until(F.l, p_idle, NULL, DEADLINE));

	/* A command that cannot be run. */
	F.on_done = NULL;
	reload_request(F.r, "missing", "a");
	wait_done(4);
	st = reload_get_stats(F.r, "missing");
	assert_int_equal(st->failed, 1);
	assert_non_null(strstr(st->last_error,
	    "cannot run /nonexistent/rotatord-test-cmd: "));
	/* It keeps retrying (and failing) on its own. */
	wait_done(6);
	assert_true(reload_get_stats(F.r, "missing")->failed >= 3);
	assert_int_equal(reload_get_stats(F.r, "missing")->ok, 0);
	assert_int_equal(reload_get_stats(F.r, "missing")->pending, 1);
}

static void
test_timeout_kills(void **state)
{
	const struct reload_stats *st;
	pid_t pid = 0;

	(void)state;
	configure("[reload \"web\"]\nexec = " PROBE("reload")
	    "debounce = 0ms\ntimeout = 100ms\n", F.dir, F.dir);
	flag("block-reload", "");
	reload_request(F.r, "web", "a");
	wait_done(1);
	assert_int_equal(F.n_fail, 1);
	st = reload_get_stats(F.r, "web");
	assert_string_equal(st->last_error,
	    "reload command timed out after 0.1s");
	/* Killed and reaped, not left waiting. */
	assert_int_equal(count_log("reload", &pid), 1);
	assert_true(pid > 0 && gone(pid));
}

static void
test_free_kills(void **state)
{
	pid_t pid = 0;

	(void)state;
	configure("[reload \"web\"]\nexec = " PROBE("reload")
	    "debounce = 0ms\n", F.dir, F.dir);
	flag("block-reload", "");
	reload_request(F.r, "web", "a");
	wait_log("reload", 1);
	count_log("reload", &pid);
	assert_false(gone(pid));
	reload_free(F.r);
	F.r = NULL;
	assert_true(gone(pid));
	assert_int_equal(F.n_done, 0);
}

/* ---- unit = -------------------------------------------------------------- */

static void
test_unit_target(void **state)
{
	const struct reload_stats *st;

	(void)state;
	/*
	 * No systemd here, or no such unit: systemctl fails, or cannot be
	 * run; either way a failure with a reason.
	 */
	configure("[reload \"svc\"]\nunit = rotatord-test-no-such.service\n"
	    "debounce = 0ms\ntimeout = 20s\n");
	reload_request(F.r, "svc", "a");
	wait_done(1);
	assert_int_equal(F.n_fail, 1);
	st = reload_get_stats(F.r, "svc");
	assert_true(strstr(st->last_error, "reload command exited with status")
	    != NULL || strstr(st->last_error, "cannot run /bin/systemctl") !=
	    NULL);
}

/* ---- the environment of children ----------------------------------------- */

/* Runs one reload of target with stdout in a file; returns it. */
static char *
output_of_child(const char *target)
{
	char path[4096], *out;
	int fd, saved;

	ut_snprintf(path, sizeof(path), "%s/env.out", F.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(1);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 1), 1);
	close(fd);
	reload_request(F.r, target, "a");
	wait_done(F.n_done + 1);
	fflush(stdout);
	assert_int_equal(dup2(saved, 1), 1);
	close(saved);
	out = ut_read_file(path, 0, NULL);
	assert_non_null(out);
	return out;
}

static char *
env_of_child(void)
{
	return output_of_child("env");
}

/* A descriptor rotatord holds without O_CLOEXEC is not inherited. */
static void
test_child_descriptors(void **state)
{
	char *out, *p;
	int fd;

	(void)state;
	configure("[reload \"fds\"]\nexec = /bin/ls /proc/self/fd\n"
	    "debounce = 0ms\n");
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 200), 200);
	close(fd);
	out = output_of_child("fds");
	close(200);
	assert_int_equal(F.n_ok, 1);
	/* 0, 1, 2 and the directory ls reads; never 200. */
	for (p = strtok(out, "\n"); p != NULL; p = strtok(NULL, "\n"))
		assert_true(atoi(p) < 200);
	free(out);
}

static void
test_child_environment(void **state)
{
	char *env;

	(void)state;
	configure("[reload \"env\"]\nexec = /usr/bin/env\ndebounce = 0ms\n");
	assert_int_equal(setenv("ROTATORD_TEST_SECRET", "s3cret", 1), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1), 0);
	assert_int_equal(setenv("JOURNAL_STREAM", "8:12345", 1), 0);
	env = env_of_child();
	assert_string_equal(env,
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	    "LANG=C.UTF-8\nJOURNAL_STREAM=8:12345\n");
	free(env);
	/* JOURNAL_STREAM only as DEV:INO: nothing rides along in it. */
	assert_int_equal(setenv("JOURNAL_STREAM", "8:1\nLD_PRELOAD=/x.so", 1),
	    0);
	env = env_of_child();
	assert_string_equal(env,
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	    "LANG=C.UTF-8\n");
	free(env);
	unsetenv("JOURNAL_STREAM");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("ROTATORD_TEST_SECRET");
	assert_int_equal(F.n_ok, 2);
}

/* ---- pidfile ------------------------------------------------------------- */

static int sig_pipe = -1;

static void
on_sig(int sig)
{
	unsigned char c = (unsigned char)sig;

	(void)!write(sig_pipe, &c, 1);
}

/*
 * Forks a child that writes the number of every signal it gets (of HUP,
 * USR1, USR2, WINCH) as one byte to a pipe; returns its pid and the
 * pipe's read end (non-blocking) once it is ready.
 */
static pid_t
fork_recorder(int *ret_fd)
{
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH };
	struct pollfd p;
	char c;
	int fds[2], ready[2];
	size_t i;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sigaction sa;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sig_pipe = fds[1];
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sig;
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &sa, NULL);
		(void)!write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	close(fds[1]);
	close(ready[1]);
	p.fd = ready[0];
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, DEADLINE), 1);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	*ret_fd = fds[0];
	return pid;
}

static void
stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

struct sigrec {
	int	fd;
	int	sigs[8];
	int	n;
	int	want;	/* for p_sigs() */
};

static void
on_sigpipe(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct sigrec *s = arg;
	unsigned char c;

	while (read(fd, &c, 1) == 1)
		if (s->n < 8)
			s->sigs[s->n++] = c;
}


static int
p_sigs(void *arg)
{
	struct sigrec *s = arg;

	return s->n >= s->want;
}

static void
test_pidfile_signals(void **state)
{
	struct sigrec rec;
	char pid_s[32];
	pid_t pid;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	pid = fork_recorder(&rec.fd);
	assert_int_equal(loop_add(F.l, rec.fd, EPOLLIN, on_sigpipe, &rec), 0);
	ut_snprintf(pid_s, sizeof(pid_s), "%d\n", (int)pid);
	flag("app.pid", pid_s);
	configure("[reload \"hup\"]\npidfile = %s/app.pid\ndebounce = 0ms\n"
	    "[reload \"usr1\"]\npidfile = %s/app.pid\nsignal = USR1\n"
	    "debounce = 0ms\n[reload \"winch\"]\npidfile = %s/app.pid\n"
	    "signal = SIGWINCH\ndebounce = 0ms\n", F.dir, F.dir, F.dir);
	/* HUP by default; each target its own signal, one at a time. */
	reload_request(F.r, "hup", "a");
	wait_done(1);
	rec.want = 1;
	assert_true(ut_run_until(F.l, p_sigs, &rec, DEADLINE));
	reload_request(F.r, "usr1", "a");
	wait_done(2);
	rec.want = 2;
	assert_true(ut_run_until(F.l, p_sigs, &rec, DEADLINE));
	reload_request(F.r, "winch", "a");
	wait_done(3);
	rec.want = 3;
	assert_true(ut_run_until(F.l, p_sigs, &rec, DEADLINE));
	assert_int_equal(F.n_ok, 3);
	assert_int_equal(reload_get_stats(F.r, "usr1")->ok, 1);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.sigs[0], SIGHUP);
	assert_int_equal(rec.sigs[1], SIGUSR1);
	assert_int_equal(rec.sigs[2], SIGWINCH);
	/* A pid without a newline is read as well. */
	ut_snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	flag("app.pid", pid_s);
	reload_request(F.r, "usr1", "a");
	wait_done(4);
	rec.want = 4;
	assert_true(ut_run_until(F.l, p_sigs, &rec, DEADLINE));
	assert_int_equal(rec.sigs[3], SIGUSR1);
	assert_int_equal(F.n_ok, 4);
	stop_child(pid);
	loop_del(F.l, rec.fd);
	close(rec.fd);
}

static const char *const bad_pidfiles[] = {
	"missing", "empty", "garbage", "one", "big", "space", "neg", "link",
	"dead",
};
#define N_BAD	(sizeof(bad_pidfiles) / sizeof(bad_pidfiles[0]))

static int
p_all_failed(void *arg)
{
	size_t i;

	for (i = 0; i < N_BAD; i++)
		if (reload_get_stats(F.r, bad_pidfiles[i])->failed == 0)
			return 0;
	return 1;
}

static void
test_pidfile_errors(void **state)
{
	char *ini = NULL, *next, path[4096], link[4096], want[4200], pid_s[32];
	const struct reload_stats *st;
	pid_t dead;
	size_t i;

	(void)state;
	for (i = 0; i < N_BAD; i++) {
		next = ut_asprintf("%s[reload \"%s\"]\npidfile = %s/%s.pid\n"
		    "debounce = 0ms\n", ini != NULL ? ini : "", bad_pidfiles[i],
		    F.dir, bad_pidfiles[i]);
		free(ini);
		ini = next;
	}
	configure("%s", ini);
	free(ini);
	flag("empty.pid", "");
	flag("garbage.pid", "nginx\n");
	flag("one.pid", "1\n");			/* init: never */
	flag("big.pid", "99999999\n");
	flag("space.pid", "1234 \n");
	flag("neg.pid", "-5\n");
	ut_snprintf(path, sizeof(path), "%s/target.pid", F.dir);
	ut_snprintf(pid_s, sizeof(pid_s), "%d\n", (int)getpid());
	flag("target.pid", pid_s);
	ut_snprintf(link, sizeof(link), "%s/link.pid", F.dir);
	assert_int_equal(symlink(path, link), 0);	/* not followed */
	/* A process that has exited (and was reaped). */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	ut_snprintf(pid_s, sizeof(pid_s), "%d\n", (int)dead);
	flag("dead.pid", pid_s);

	for (i = 0; i < N_BAD; i++)
		reload_request(F.r, bad_pidfiles[i], "a");
	assert_true(ut_run_until(F.l, p_all_failed, NULL, DEADLINE));
	assert_int_equal(F.n_ok, 0);
	for (i = 0; i < N_BAD; i++) {
		const char *why = "Bad message";

		st = reload_get_stats(F.r, bad_pidfiles[i]);
		if (strcmp(bad_pidfiles[i], "missing") == 0)
			why = "No such file or directory";
		else if (strcmp(bad_pidfiles[i], "link") == 0)
			why = "Too many levels of symbolic links";
		if (strcmp(bad_pidfiles[i], "dead") == 0)
			ut_snprintf(want, sizeof(want), "cannot signal pid %d: "
			    "No such process", (int)dead);
		else
			ut_snprintf(want, sizeof(want), "cannot read pid from "
			    "%s/%s.pid: %s", F.dir, bad_pidfiles[i], why);
		if (strcmp(st->last_error, want) != 0)
			fail_msg("%s: \"%s\", not \"%s\"", bad_pidfiles[i],
			    st->last_error, want);
		assert_int_equal(st->pending, 1);
	}
}

/* ---- reconfiguration ----------------------------------------------------- */

static void
test_reconfigure(void **state)
{
	(void)state;
	configure("[reload \"keep\"]\nexec = " PROBE("reload-keep")
	    "debounce = 30ms\n[reload \"drop\"]\nexec = " PROBE("reload-drop")
	    "debounce = 0ms\n", F.dir, F.dir, F.dir, F.dir);
	reload_request(F.r, "keep", "a");
	reload_request(F.r, "drop", "a");
	/* A new config before either ran: keep's owed reload stays. */
	configure("[reload \"keep\"]\nexec = " PROBE("reload-keep")
	    "debounce = 30ms\n[reload \"new\"]\nexec = " PROBE("reload-new")
	    "debounce = 0ms\n", F.dir, F.dir, F.dir, F.dir);
	assert_null(reload_get_stats(F.r, "drop"));
	assert_non_null(reload_get_stats(F.r, "new"));
	assert_int_equal(reload_get_stats(F.r, "new")->pending, 0);
	assert_int_equal(reload_get_stats(F.r, "keep")->pending, 1);
	wait_done(1);
	assert_string_equal(F.last_target, "keep");
	assert_true(ut_run_until(F.l, p_idle, NULL, DEADLINE));
	assert_int_equal(count_log("reload-keep", NULL), 1);
	assert_int_equal(count_log("reload-drop", NULL), 0);
	assert_int_equal(count_log("reload-new", NULL), 0);
	assert_int_equal(F.n_done, 1);

	/* Removed while its command runs: the command is killed. */
	{
		pid_t pid = 0;

		flag("block-reload-new", "");
		reload_request(F.r, "new", "a");
		wait_log("reload-new", 1);
		count_log("reload-new", &pid);
		assert_false(gone(pid));
		configure("[reload \"keep\"]\nexec = " PROBE("reload-keep")
		    "debounce = 30ms\n", F.dir, F.dir);
		assert_true(gone(pid));
		assert_false(reload_busy(F.r));
	}
	/* Stats survive a reconfiguration. */
	assert_int_equal(reload_get_stats(F.r, "keep")->ok, 1);
	/* No targets at all. */
	configure("%s", "");
	assert_null(reload_get_stats(F.r, "keep"));
	reload_request(F.r, "keep", "a");
	assert_false(reload_busy(F.r));
}

/* ---- verify -------------------------------------------------------------- */

static volatile sig_atomic_t switch_leaf;

static void
on_hup(int sig)
{
	switch_leaf = 1;
}

static int sni_pipe = -1;

static int
on_servername(SSL *ssl, int *al, void *arg)
{
	const char *n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char buf[300];
	int len;

	len = snprintf(buf, sizeof(buf), "%s\n", n != NULL ? n : "-");
	(void)!write(sni_pipe, buf, (size_t)len);
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
server_ctx(struct idp_cert *leaf, struct idp_key *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(idp_cert_load_pubkey(leaf), 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, idp_cert_x509(leaf)), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, idp_key_evp(key)), 1);
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	return ctx;
}

/* The TLS server: leaf a until SIGHUP, then leaf b. */
static void __attribute__((noreturn))
serve_tls(int lfd, SSL_CTX *a, SSL_CTX *b)
{
	struct sigaction sa;
	SSL *ssl;
	int c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;		/* no SA_RESTART: accept() returns */
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	(void)!write(sni_pipe, "ready\n", 6);
	for (;;) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		ssl = SSL_new(switch_leaf ? b : a);
		if (ssl != NULL) {
			SSL_set_fd(ssl, c);
			if (SSL_accept(ssl) == 1)
				SSL_shutdown(ssl);
			SSL_free(ssl);
		}
		close(c);
	}
}

struct tls {
	pid_t		 pid;
	int		 port;
	int		 sni_fd;
	char		 sha_a[65], sha_b[65];
	char		 names[1024];	/* SNIs asked for, one a line */
};

static void
tls_start(struct tls *t)
{
	struct idp_key *ca_key = NULL, *ka = NULL, *kb = NULL;
	struct idp_cert *ca = NULL, *a = NULL, *b = NULL;
	struct idp_cert_info info;
	struct idp_cert_req req;
	struct idp_err err = { "" };
	const char *dns[] = { "web.test" };
	int64_t now = time(NULL);
	SSL_CTX *ca_ctx, *cb_ctx;
	int lfd, fds[2];

	memset(t, 0, sizeof(*t));
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &ca_key), 0);
	assert_int_equal(idp_cert_ca_create(ca_key, "test-reload CA", now - 3600,
	    now + 86400, &ca, &err), 0);
	memset(&req, 0, sizeof(req));
	req.common_name = "web.test";
	req.dns = dns;
	req.n_dns = 1;
	req.usage = IDP_USAGE_SERVER;
	req.not_before = now - 3600;
	req.not_after = now + 86400;
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &ka), 0);
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &kb), 0);
	assert_int_equal(idp_cert_mint(ca, ca_key, ka, &req, &a, &err), 0);
	assert_int_equal(idp_cert_mint(ca, ca_key, kb, &req, &b, &err), 0);
	assert_int_equal(idp_cert_get_info(a, &info), 0);
	memcpy(t->sha_a, info.sha256, sizeof(t->sha_a));
	assert_int_equal(idp_cert_get_info(b, &info), 0);
	memcpy(t->sha_b, info.sha256, sizeof(t->sha_b));
	ca_ctx = server_ctx(a, ka);
	cb_ctx = server_ctx(b, kb);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	lfd = ut_listen_loopback(&t->port);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		sni_pipe = fds[1];
		serve_tls(lfd, ca_ctx, cb_ctx);
	}
	close(fds[1]);
	close(lfd);
	/* SIGHUP would kill it before it has its handler. */
	{
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		char buf[6];

		assert_int_equal(poll(&p, 1, DEADLINE), 1);
		assert_int_equal(read(fds[0], buf, 6), 6);
		assert_memory_equal(buf, "ready\n", 6);
	}
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	t->sni_fd = fds[0];
	SSL_CTX_free(ca_ctx);
	SSL_CTX_free(cb_ctx);
	idp_cert_free(a);
	idp_cert_free(b);
	idp_cert_free(ca);
	idp_key_free(ka);
	idp_key_free(kb);
	idp_key_free(ca_key);
}

/* The SNIs the server was asked for so far. */
static const char *
tls_names(struct tls *t)
{
	size_t n = strlen(t->names);
	ssize_t r;

	while (n + 1 < sizeof(t->names) &&
	    (r = read(t->sni_fd, t->names + n, sizeof(t->names) - n - 1)) > 0)
		n += (size_t)r;
	t->names[n] = '\0';
	return t->names;
}

static void
tls_stop(struct tls *t)
{
	stop_child(t->pid);
	close(t->sni_fd);
}

static void
test_verify(void **state)
{
	const struct reload_stats *st;
	char pid_s[32], want[512];
	struct tls t;
	int port;

	(void)state;
	tls_start(&t);
	ut_snprintf(pid_s, sizeof(pid_s), "%d\n", (int)t.pid);
	flag("tls.pid", pid_s);
	ut_snprintf(pid_s, sizeof(pid_s), "%d\n", (int)getpid());
	flag("self.pid", pid_s);
	port = ut_free_port();
	configure("[reload \"tls\"]\npidfile = %s/tls.pid\ndebounce = 0ms\n"
	    "verify = 127.0.0.1:%d\nverify_timeout = 10s\n"
	    "[reload \"sni\"]\npidfile = %s/tls.pid\ndebounce = 0ms\n"
	    "verify = 127.0.0.1:%d\nsni = other.test\nverify_timeout = 300ms\n"
	    "[reload \"short\"]\npidfile = %s/tls.pid\ndebounce = 0ms\n"
	    "verify = 127.0.0.1:%d\nverify_timeout = 300ms\n"
	    "[reload \"down\"]\npidfile = %s/tls.pid\ndebounce = 0ms\n"
	    "verify = 127.0.0.1:%d\nverify_timeout = 300ms\n"
	    "[reload \"later\"]\npidfile = %s/self.pid\ndebounce = 0ms\n"
	    "signal = USR2\nverify = 127.0.0.1:%d\nverify_timeout = 300ms\n",
	    F.dir, t.port, F.dir, t.port, F.dir, t.port, F.dir, port, F.dir,
	    t.port);

	/*
	 * The new leaf is b; the server serves a until the reload's SIGHUP:
	 * polled until it serves b, under the credential's name.
	 */
	F.leaf = t.sha_b;
	F.sni = "web.test";
	reload_request(F.r, "tls", "web");
	wait_done(1);
	if (F.n_ok != 1)
		fail_msg("%s", reload_get_stats(F.r, "tls")->last_error);
	assert_int_equal(reload_get_stats(F.r, "tls")->failed, 0);
	assert_true(F.n_leaf_calls >= 1);
	assert_non_null(strstr(tls_names(&t), "web.test\n"));
	assert_null(strstr(tls_names(&t), "other.test"));

	/* sni = overrides the credential's name. */
	reload_request(F.r, "sni", "web");
	wait_done(2);
	assert_int_equal(F.n_ok, 2);
	assert_non_null(strstr(tls_names(&t), "other.test\n"));

	/*
	 * A newer leaf is published once the reload has been sent (target
	 * "later" signals this process; the server already serves b): the
	 * leaf it was sent for counts, and nothing waits for a leaf the
	 * server was never told about (the newer one is owed its own
	 * reload).
	 */
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr2;
		sigaction(SIGUSR2, &sa, NULL);
	}
	F.leaf_later = "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100";
	reload_request(F.r, "later", "web");
	wait_done(3);
	if (F.n_ok != 3)
		fail_msg("%s", reload_get_stats(F.r, "later")->last_error);
	assert_true(got_usr2);
	F.leaf_later = NULL;
	signal(SIGUSR2, SIG_DFL);

	/* A leaf that is never served: failed at verify_timeout, retried. */
	F.leaf = "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff";
	reload_request(F.r, "short", "web");
	wait_done(4);
	assert_int_equal(F.n_fail, 1);
	st = reload_get_stats(F.r, "short");
	ut_snprintf(want, sizeof(want), "verify 127.0.0.1:%d: web.test still "
	    "serves %.16s, not %.16s", t.port, t.sha_b, F.leaf);
	assert_string_equal(st->last_error, want);
	assert_int_equal(st->pending, 1);
	/* short keeps retrying (and failing) meanwhile. */
	reload_request(F.r, "sni", "web");
	while (reload_get_stats(F.r, "sni")->failed == 0)
		wait_done(F.n_done + 1);
	ut_snprintf(want, sizeof(want), "verify 127.0.0.1:%d: other.test still "
	    "serves %.16s", t.port, t.sha_b);
	assert_string_equal(reload_get_stats(F.r, "sni")->last_error, want);

	/* Nothing listens: the reason says so. */
	reload_request(F.r, "down", "web");
	while (reload_get_stats(F.r, "down")->failed == 0)
		wait_done(F.n_done + 1);
	ut_snprintf(want, sizeof(want), "verify 127.0.0.1:%d: Connection "
	    "refused", port);
	assert_string_equal(reload_get_stats(F.r, "down")->last_error, want);

	/* No x509 credential in the batch: nothing to wait for. */
	reload_free(F.r);
	{
		static const struct reload_ops ops = {
			.leaf_sha256 = op_leaf, .sni = op_sni, .done = op_done,
		};

		assert_int_equal(reload_new(F.l, &ops, RETRY_MIN, RETRY_MAX,
		    &F.r), 0);
	}
	assert_int_equal(reload_configure(F.r, F.cfg[F.n_cfg - 1]), 0);
	F.leaf = NULL;
	F.n_done = F.n_ok = F.n_fail = 0;
	reload_request(F.r, "down", "tickets");
	wait_done(1);
	assert_int_equal(F.n_ok, 1);
	tls_stop(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_debounce_merges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_owed_while_running, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_targets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_check_decides, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exec_failures_retry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_kills, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unit_target, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_child_environment, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_child_descriptors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pidfile_signals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pidfile_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
