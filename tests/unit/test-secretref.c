/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/config/secretref.c: every source (file:, env:, cred:,
 * literal), the trailing newline, modes, links, missing and empty secrets,
 * the size limit, and that no reason ever carries the secret; env:
 * variables taken out of the environment and kept (secretref_take_env()).
 * Files live in a fresh directory under $TMPDIR (or /tmp), removed
 * afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <idp/secret.h>

#include "config/config.h"
#include "config/secretref.h"
#include "util.h"

#define VALUE	"S3cr3t-Value-Not-For-Logs"
#define ENVVAR	"ROTATORD_TEST_SECRETREF"

static char dir[256];

static int
setup(void **state)
{
	char *d = ut_tmpdir("test-secretref", 0);

	(void)state;
	if (d == NULL)
		return -1;
	ut_snprintf(dir, sizeof(dir), "%s", d);
	free(d);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return ut_rm_rf(dir);
}

/* Writes len bytes of content to dir/name with mode; path into buf. */
static char *
put(char *buf, size_t size, const char *name, const void *content,
    size_t len, mode_t mode)
{
	return ut_put(buf, size, dir, name, content, len, mode);
}

/*
 * Loads ref; expects rc (and, on success, want).  On failure, checks that
 * why names `names` (if given), never holds the value, and *ret is
 * untouched.
 */
static void
check(enum cfg_secret_source src, const char *arg, size_t max, int rc,
    const char *want, const char *names)
{
	struct idp_secret *sec = (struct idp_secret *)&sec;
	struct cfg_secret ref;
	char why[512] = "";
	int r;

	ref.source = src;
	ref.arg = (char *)arg;
	r = secretref_load(&ref, max, &sec, why, sizeof(why));
	if (r != rc)
		fail_msg("source %d \"%s\": rc %d, wanted %d (%s)", (int)src,
		    arg, r, rc, why);
	if (rc == 0) {
		assert_int_equal(sec->len, strlen(want));
		assert_memory_equal(sec->buf, want, sec->len);
		assert_int_equal(sec->buf[sec->len], '\0');
		idp_secret_free(sec);
		return;
	}
	assert_ptr_equal(sec, (struct idp_secret *)&sec);
	assert_true(why[0] != '\0');
	if (names != NULL && strstr(why, names) == NULL)
		fail_msg("reason \"%s\" does not name %s", why, names);
	if (strstr(why, VALUE) != NULL || strstr(why, "S3cr3t") != NULL)
		fail_msg("reason \"%s\" shows the secret", why);
	/* why may be NULL. */
	assert_int_equal(secretref_load(&ref, max, &sec, NULL, 0), rc);
}

static void
test_file(void **state)
{
	char p[PATH_MAX];

	(void)state;
	put(p, sizeof(p), "a", VALUE "\n", strlen(VALUE) + 1, 0600);
	check(CFG_SECRET_FILE, p, 4096, 0, VALUE, NULL);	/* newline stripped */
	put(p, sizeof(p), "b", VALUE "\r\n", strlen(VALUE) + 2, 0400);
	check(CFG_SECRET_FILE, p, 4096, 0, VALUE, NULL);
	put(p, sizeof(p), "c", VALUE, strlen(VALUE), 0600);
	check(CFG_SECRET_FILE, p, 4096, 0, VALUE, NULL);
	put(p, sizeof(p), "d", VALUE "\n\n", strlen(VALUE) + 2, 0600);
	check(CFG_SECRET_FILE, p, 4096, 0, VALUE "\n", NULL);	/* only one */
	put(p, sizeof(p), "e", " " VALUE " ", strlen(VALUE) + 2, 0600);
	check(CFG_SECRET_FILE, p, 4096, 0, " " VALUE " ", NULL);
}

static void
test_file_refused(void **state)
{
	char p[PATH_MAX], l[PATH_MAX];

	(void)state;
	put(p, sizeof(p), "loose", VALUE "\n", strlen(VALUE) + 1, 0644);
	check(CFG_SECRET_FILE, p, 4096, -EPERM, NULL, p);
	assert_int_equal(chmod(p, 0640), 0);
	check(CFG_SECRET_FILE, p, 4096, -EPERM, NULL, p);
	assert_int_equal(chmod(p, 0604), 0);
	check(CFG_SECRET_FILE, p, 4096, -EPERM, NULL, p);
	assert_int_equal(chmod(p, 0600), 0);
	check(CFG_SECRET_FILE, p, 4096, 0, VALUE, NULL);

	snprintf(l, sizeof(l), "%s/link", dir);
	assert_int_equal(symlink(p, l), 0);
	check(CFG_SECRET_FILE, l, 4096, -ELOOP, NULL, l);

	snprintf(p, sizeof(p), "%s/missing", dir);
	check(CFG_SECRET_FILE, p, 4096, -ENOENT, NULL, p);
	check(CFG_SECRET_FILE, dir, 4096, -EINVAL, NULL, dir);
	check(CFG_SECRET_FILE, "relative/path", 4096, -EINVAL, NULL, NULL);

	put(p, sizeof(p), "empty", "", 0, 0600);
	check(CFG_SECRET_FILE, p, 4096, -ENODATA, NULL, p);
	put(p, sizeof(p), "newline", "\n", 1, 0600);
	check(CFG_SECRET_FILE, p, 4096, -ENODATA, NULL, p);
}

static void
test_max(void **state)
{
	char buf[66], p[PATH_MAX];

	(void)state;
	memset(buf, 'k', sizeof(buf));
	/* Exactly max bytes, with or without a newline; one more is too many. */
	put(p, sizeof(p), "max", buf, 64, 0600);
	check(CFG_SECRET_FILE, p, 64, 0, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", NULL);
	buf[64] = '\n';
	put(p, sizeof(p), "max-nl", buf, 65, 0600);
	check(CFG_SECRET_FILE, p, 64, 0, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", NULL);
	buf[64] = '\r';
	buf[65] = '\n';
	put(p, sizeof(p), "max-crlf", buf, 66, 0600);
	check(CFG_SECRET_FILE, p, 64, 0, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", NULL);
	buf[64] = 'k';
	put(p, sizeof(p), "over", buf, 65, 0600);
	check(CFG_SECRET_FILE, p, 64, -E2BIG, NULL, "larger than 64 bytes");
	buf[65] = 'k';
	put(p, sizeof(p), "over2", buf, 66, 0600);
	check(CFG_SECRET_FILE, p, 64, -E2BIG, NULL, "larger than 64 bytes");

	assert_int_equal(setenv(ENVVAR, VALUE, 1), 0);
	check(CFG_SECRET_ENV, ENVVAR, strlen(VALUE), 0, VALUE, NULL);
	check(CFG_SECRET_ENV, ENVVAR, strlen(VALUE) - 1, -E2BIG, NULL, ENVVAR);
	check(CFG_SECRET_LITERAL, VALUE, strlen(VALUE), 0, VALUE, NULL);
	check(CFG_SECRET_LITERAL, VALUE, strlen(VALUE) - 1, -E2BIG, NULL,
	    "longer than");
	unsetenv(ENVVAR);
}

static void
test_env(void **state)
{
	(void)state;
	secretref_forget_env();
	assert_int_equal(setenv(ENVVAR, VALUE, 1), 0);
	check(CFG_SECRET_ENV, ENVVAR, 4096, 0, VALUE, NULL);
	/* Taken out of the environment at first use, and kept. */
	assert_null(getenv(ENVVAR));
	check(CFG_SECRET_ENV, ENVVAR, 4096, 0, VALUE, NULL);
	/* Taken as is: no newline stripping for variables. */
	assert_int_equal(setenv(ENVVAR, VALUE "\n", 1), 0);
	check(CFG_SECRET_ENV, ENVVAR, 4096, 0, VALUE "\n", NULL);
	assert_int_equal(setenv(ENVVAR, "", 1), 0);
	check(CFG_SECRET_ENV, ENVVAR, 4096, -ENODATA, NULL, ENVVAR);
	assert_null(getenv(ENVVAR));
	check(CFG_SECRET_ENV, ENVVAR, 4096, -ENODATA, NULL, ENVVAR);
	/* Never set, or forgotten: not set. */
	check(CFG_SECRET_ENV, ENVVAR "_NEVER", 4096, -ENOENT, NULL,
	    ENVVAR "_NEVER");
	secretref_forget_env();
	check(CFG_SECRET_ENV, ENVVAR, 4096, -ENOENT, NULL, ENVVAR);
}

/*
 * secretref_take_env(): the variables a config names leave the
 * environment and keep working; others stay; an unset one stays an error
 * at use; a second take (a config re-read) keeps the values.
 */
static void
test_take_env(void **state)
{
	static const char text[] =
	    "[rotatord]\noutput_dir = /tmp/o\nstate_dir = /tmp/s\n"
	    "[issuer \"a\"]\nurl = https://idp.example\nclient_id = c\n"
	    "client_secret = env:" ENVVAR "_A\n"
	    "[issuer \"b\"]\nurl = https://idp2.example\nclient_id = c\n"
	    "client_secret = env:" ENVVAR "_UNSET\n"
	    "[credential \"t\"]\ntype = oauth\nissuer = a\nscope = s\n"
	    "subject_token = env:" ENVVAR "_B\n";
	struct config *c = NULL;

	(void)state;
	secretref_forget_env();
	c = ut_config("%s", text);
	assert_int_equal(setenv(ENVVAR "_A", VALUE "-a", 1), 0);
	assert_int_equal(setenv(ENVVAR "_B", VALUE "-b", 1), 0);
	assert_int_equal(setenv(ENVVAR "_C", VALUE "-c", 1), 0);
	unsetenv(ENVVAR "_UNSET");
	assert_int_equal(secretref_take_env(c), 0);
	assert_null(getenv(ENVVAR "_A"));
	assert_null(getenv(ENVVAR "_B"));
	assert_string_equal(getenv(ENVVAR "_C"), VALUE "-c");
	check(CFG_SECRET_ENV, ENVVAR "_A", 4096, 0, VALUE "-a", NULL);
	check(CFG_SECRET_ENV, ENVVAR "_B", 4096, 0, VALUE "-b", NULL);
	check(CFG_SECRET_ENV, ENVVAR "_UNSET", 4096, -ENOENT, NULL,
	    ENVVAR "_UNSET");
	/* The same config again (SIGHUP): nothing changes. */
	assert_int_equal(secretref_take_env(c), 0);
	check(CFG_SECRET_ENV, ENVVAR "_A", 4096, 0, VALUE "-a", NULL);
	check(CFG_SECRET_ENV, ENVVAR "_B", 4096, 0, VALUE "-b", NULL);
	assert_int_equal(secretref_take_env(NULL), 0);
	config_free(c);
	unsetenv(ENVVAR "_C");
	secretref_forget_env();
	check(CFG_SECRET_ENV, ENVVAR "_A", 4096, -ENOENT, NULL, ENVVAR "_A");
}

static void
test_cred(void **state)
{
	char p[PATH_MAX], sub[PATH_MAX];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/creds", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	put(p, sizeof(p), "creds/okta.secret", VALUE "\n", strlen(VALUE) + 1,
	    0400);

	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	check(CFG_SECRET_CRED, "okta.secret", 4096, -ENOENT, NULL,
	    "CREDENTIALS_DIRECTORY is not set");
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
	check(CFG_SECRET_CRED, "okta.secret", 4096, -ENOENT, NULL,
	    "CREDENTIALS_DIRECTORY is not set");
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "creds", 1), 0);
	check(CFG_SECRET_CRED, "okta.secret", 4096, -EINVAL, NULL,
	    "not an absolute path");

	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", sub, 1), 0);
	check(CFG_SECRET_CRED, "okta.secret", 4096, 0, VALUE, NULL);
	check(CFG_SECRET_CRED, "other", 4096, -ENOENT, NULL, "other");
	check(CFG_SECRET_CRED, "../creds/okta.secret", 4096, -EINVAL, NULL,
	    NULL);
	assert_int_equal(chmod(p, 0644), 0);
	check(CFG_SECRET_CRED, "okta.secret", 4096, -EPERM, NULL, "okta.secret");
	assert_int_equal(chmod(p, 0400), 0);
	check(CFG_SECRET_CRED, "okta.secret", 8, -E2BIG, NULL, "okta.secret");
	put(p, sizeof(p), "creds/empty", "", 0, 0400);
	check(CFG_SECRET_CRED, "empty", 4096, -ENODATA, NULL, "empty");
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void
test_literal_and_unset(void **state)
{
	struct idp_secret *sec = NULL;
	struct cfg_secret ref = { 0, NULL };
	char why[256];

	(void)state;
	check(CFG_SECRET_LITERAL, VALUE, 4096, 0, VALUE, NULL);
	check(CFG_SECRET_LITERAL, "", 4096, -ENODATA, NULL, "empty");
	assert_int_equal(secretref_load(&ref, 4096, &sec, why, sizeof(why)),
	    -EINVAL);
	assert_null(sec);
	assert_int_equal(secretref_load(NULL, 4096, &sec, why, sizeof(why)),
	    -EINVAL);
	/* A short why buffer is truncated, not overrun. */
	ref.source = CFG_SECRET_ENV;
	ref.arg = (char *)ENVVAR;
	unsetenv(ENVVAR);
	secretref_forget_env();
	memset(why, 'x', sizeof(why));
	assert_int_equal(secretref_load(&ref, 4096, &sec, why, 8), -ENOENT);
	assert_int_equal(strlen(why), 7);
	assert_int_equal(why[8], 'x');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_refused),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_take_env),
		cmocka_unit_test(test_cred),
		cmocka_unit_test(test_literal_and_unset),
	};

	return cmocka_run_group_tests_name("secretref", tests, setup, teardown);
}
