/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret references: file:, env:, cred: or a literal, resolved at run time.
 * Files go through idp_secret_read_file(), which reads without reallocating
 * plaintext and refuses links and loose modes.  Nothing here logs: the
 * caller decides what a failure means, with the reason from why.
 *
 * env: variables are taken out of the environment once (take_env()): the
 * value goes into a store of idp_secret buffers keyed by name, the
 * variable is unset, and when its "NAME=value" string lies in the initial
 * environment block (the strings the kernel copied onto the stack at
 * execve, between /proc/self/stat's env_start and env_end, which is what
 * /proc/PID/environ reads) the whole string is explicit_bzero()ed after
 * unsetenv() dropped the pointer.  Strings outside that block come from
 * setenv() (glibc keeps and may reuse them) or putenv() (the caller's):
 * they are unset, not written.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/idp.h>
#include <idp/secret.h>

#include "config/secretref.h"

extern char **environ;

/* Values taken from the environment, by variable name. */
struct env_value {
	char			*name;
	struct idp_secret	*value;
};

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env_value *env_store;
static size_t env_n;

/* Initial environment block: 1 known, -1 unknown (no /proc), 0 not read. */
static int env_block_state;
static uintptr_t env_block_start, env_block_end;

/*
 * Reads env_start and env_end (fields 50 and 51, Linux 3.5+) from
 * /proc/self/stat, once.  The second field is the state, after the last
 * ')' (the command name may hold anything).
 */
static void
env_block_read(void)
{
	char buf[2048], *p, *save = NULL;
	unsigned long long v, start = 0, end = 0;
	size_t n;
	FILE *f;
	int field;

	if (env_block_state != 0)
		return;
	env_block_state = -1;
	if ((f = fopen("/proc/self/stat", "re")) == NULL)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return;
	for (field = 3, p = strtok_r(p + 1, " \n", &save); p != NULL;
	    p = strtok_r(NULL, " \n", &save), field++) {
		if (field != 50 && field != 51)
			continue;
		v = strtoull(p, NULL, 10);
		if (field == 50)
			start = v;
		else {
			end = v;
			break;
		}
	}
	if (start == 0 || end <= start)
		return;
	env_block_start = (uintptr_t)start;
	env_block_end = (uintptr_t)end;
	env_block_state = 1;
}

/* Does the string s (with its NUL) lie in the initial environment block? */
static int
in_env_block(const char *s)
{
	uintptr_t a = (uintptr_t)s;

	return env_block_state == 1 && a >= env_block_start &&
	    a < env_block_end && strnlen(s, env_block_end - a) < env_block_end - a;
}

/* Is e "name=..."? */
static int
env_match(const char *e, const char *name, size_t len)
{
	return strncmp(e, name, len) == 0 && e[len] == '=';
}

static struct env_value *
env_find(const char *name)
{
	size_t i;

	for (i = 0; i < env_n; i++)
		if (strcmp(env_store[i].name, name) == 0)
			return &env_store[i];
	return NULL;
}

/*
 * Moves variable name from the environment into the store, if it is set.
 * Returns 0 (also when it is not set) or -ENOMEM (then it stays set).
 * Called with env_lock held.
 */
static int
env_take(const char *name)
{
	struct env_value *ev, *nv;
	struct idp_secret *val;
	size_t len = strlen(name), n = 0, i;
	char **ep, **wipe;
	const char *v;

	if (len == 0 || strchr(name, '=') != NULL || (v = getenv(name)) == NULL)
		return 0;
	if ((val = idp_secret_dup(v, strlen(v))) == NULL)
		return -ENOMEM;
	if ((ev = env_find(name)) == NULL) {
		if ((nv = realloc(env_store, (env_n + 1) * sizeof(*nv))) == NULL) {
			idp_secret_free(val);
			return -ENOMEM;
		}
		env_store = nv;
		ev = &env_store[env_n];
		if ((ev->name = strdup(name)) == NULL) {
			idp_secret_free(val);
			return -ENOMEM;
		}
		ev->value = NULL;
		env_n++;
	}
	idp_secret_free(ev->value);
	ev->value = val;

	/* Every copy (the block may name it twice), then unset, then wipe. */
	env_block_read();
	for (ep = environ; ep != NULL && *ep != NULL; ep++)
		if (env_match(*ep, name, len) && in_env_block(*ep))
			n++;
	wipe = n > 0 ? calloc(n, sizeof(*wipe)) : NULL;
	n = 0;
	for (ep = environ; wipe != NULL && *ep != NULL; ep++)
		if (env_match(*ep, name, len) && in_env_block(*ep))
			wipe[n++] = *ep;
	if (wipe == NULL)	/* out of memory: at least the values go */
		for (ep = environ; ep != NULL && *ep != NULL; ep++)
			if (env_match(*ep, name, len) && in_env_block(*ep))
				explicit_bzero(*ep + len + 1, strlen(*ep + len + 1));
	unsetenv(name);
	for (i = 0; i < n; i++)
		explicit_bzero(wipe[i], strlen(wipe[i]));
	free(wipe);
	return 0;
}

static int
take_ref(const struct cfg_secret *s)
{
	if (s->source != CFG_SECRET_ENV || s->arg == NULL)
		return 0;
	return env_take(s->arg);
}

int
secretref_take_env(const struct config *c)
{
	size_t i;
	int rc = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&env_lock);
	for (i = 0; i < c->n_issuers; i++)
		if (take_ref(&c->issuers[i]->client_secret) < 0)
			rc = -ENOMEM;
	for (i = 0; i < c->n_creds; i++)
		if (take_ref(&c->creds[i]->subject_token) < 0)
			rc = -ENOMEM;
	pthread_mutex_unlock(&env_lock);
	return rc;
}

void
secretref_forget_env(void)
{
	size_t i;

	pthread_mutex_lock(&env_lock);
	for (i = 0; i < env_n; i++) {
		free(env_store[i].name);
		idp_secret_free(env_store[i].value);
	}
	free(env_store);
	env_store = NULL;
	env_n = 0;
	pthread_mutex_unlock(&env_lock);
}

/*
 * The value of variable name: taken from the environment if it is (still)
 * there, else the one taken before.  Returns 0, -ENOENT or -ENOMEM.
 */
static int
env_get(const char *name, struct idp_secret **ret)
{
	struct env_value *ev;
	int rc;

	pthread_mutex_lock(&env_lock);
	if ((rc = env_take(name)) == 0) {
		if ((ev = env_find(name)) == NULL)
			rc = -ENOENT;
		else if ((*ret = idp_secret_dup(ev->value->buf,
		    ev->value->len)) == NULL)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&env_lock);
	return rc;
}

static int __attribute__((format(printf, 4, 5)))
fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * Reads path as a secret file; the reason comes from libidp (it names the
 * path).  max applies after the trailing newline is stripped, so a secret
 * of exactly max bytes may end with "\r\n".
 */
static int
load_file(const char *path, size_t max, struct idp_secret **ret, char *why,
    size_t whylen)
{
	struct idp_secret *sec = NULL;
	struct idp_err err;
	int rc;

	err.msg[0] = '\0';
	rc = idp_secret_read_file(path, max <= SIZE_MAX - 2 ? max + 2 : max,
	    IDP_SECRET_STRICT_MODE | IDP_SECRET_STRIP_NL, &sec, &err);
	if (rc == -E2BIG || (rc == 0 && sec->len > max)) {
		idp_secret_free(sec);
		return fail(why, whylen, -E2BIG, "secret file %s: larger than "
		    "%zu bytes", path, max);
	}
	if (rc < 0)
		return fail(why, whylen, rc, "%s", err.msg[0] != '\0' ? err.msg :
		    strerror(-rc));
	*ret = sec;
	return 0;
}

int
secretref_load(const struct cfg_secret *s, size_t max,
    struct idp_secret **ret, char *why, size_t whylen)
{
	struct idp_secret *sec = NULL;
	const char *dir;
	char path[PATH_MAX];
	size_t len;
	int rc, n;

	if (s == NULL || s->source == 0 || s->arg == NULL)
		return fail(why, whylen, -EINVAL, "no secret configured");
	switch (s->source) {
	case CFG_SECRET_FILE:
		if ((rc = load_file(s->arg, max, &sec, why, whylen)) < 0)
			return rc;
		if (sec->len == 0) {
			idp_secret_free(sec);
			return fail(why, whylen, -ENODATA, "secret file %s is "
			    "empty", s->arg);
		}
		break;
	case CFG_SECRET_ENV:
		if ((rc = env_get(s->arg, &sec)) == -ENOENT)
			return fail(why, whylen, -ENOENT, "environment variable "
			    "%s is not set", s->arg);
		if (rc < 0)
			return fail(why, whylen, rc, "out of memory");
		len = sec->len;
		if (len == 0 || len > max) {
			idp_secret_free(sec);
			if (len == 0)
				return fail(why, whylen, -ENODATA, "environment "
				    "variable %s is empty", s->arg);
			return fail(why, whylen, -E2BIG, "environment variable "
			    "%s is longer than %zu bytes", s->arg, max);
		}
		break;
	case CFG_SECRET_CRED:
		/* The name was checked by the config: no '/', not "." or "..". */
		if (strchr(s->arg, '/') != NULL || s->arg[0] == '.' ||
		    s->arg[0] == '\0')
			return fail(why, whylen, -EINVAL, "bad credential name "
			    "%s", s->arg);
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || dir[0] == '\0')
			return fail(why, whylen, -ENOENT, "credential %s: "
			    "CREDENTIALS_DIRECTORY is not set (systemd "
			    "LoadCredential= or SetCredential=)", s->arg);
		if (dir[0] != '/')
			return fail(why, whylen, -EINVAL, "credential %s: "
			    "CREDENTIALS_DIRECTORY is not an absolute path",
			    s->arg);
		n = snprintf(path, sizeof(path), "%s/%s", dir, s->arg);
		if (n < 0 || (size_t)n >= sizeof(path))
			return fail(why, whylen, -ENAMETOOLONG, "credential %s: "
			    "path too long", s->arg);
		if ((rc = load_file(path, max, &sec, why, whylen)) < 0)
			return rc;
		if (sec->len == 0) {
			idp_secret_free(sec);
			return fail(why, whylen, -ENODATA, "credential %s (%s) is "
			    "empty", s->arg, path);
		}
		break;
	case CFG_SECRET_LITERAL:
		len = strlen(s->arg);
		if (len == 0)
			return fail(why, whylen, -ENODATA, "literal secret is "
			    "empty");
		if (len > max)
			return fail(why, whylen, -E2BIG, "literal secret is "
			    "longer than %zu bytes", max);
		if ((sec = idp_secret_dup(s->arg, len)) == NULL)
			return fail(why, whylen, -ENOMEM, "out of memory");
		break;
	default:
		return fail(why, whylen, -EINVAL, "unknown secret source %d",
		    (int)s->source);
	}
	*ret = sec;
	return 0;
}
