/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet's persistent state (fleetstate.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fleet/fleetstate.h"

#define STATE_MAX	(4 << 20)
#define MAX_APPLIED	4096

void
fleetstate_free(struct fleetstate *st)
{
	if (st == NULL)
		return;
	free(st->path);
	free(st->prefix);
	free(st->hw);
	free(st->applied);
	free(st);
}

/* Reads the trusted file at path into a new NUL-terminated buffer. */
static int
read_trusted(const char *path, char **ret, char *why, size_t whylen)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = -EPERM;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		goto out;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
		snprintf(why, whylen, "%s is not this user's own file with "
		    "mode 0600 (owner %u, mode %04o): not trusted", path,
		    (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	rc = -E2BIG;
	if (sb.st_size > STATE_MAX) {
		snprintf(why, whylen, "%s is too large", path);
		goto out;
	}
	rc = -ENOMEM;
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL)
		goto out;
	while (len < (size_t)sb.st_size) {
		n = read(fd, buf + len, (size_t)sb.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(why, whylen, "%s: cannot read", path);
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
parse(struct fleetstate *st, const char *text, char *why, size_t whylen)
{
	json_t *j, *secrets, *applied, *v;
	const char *name, *fp, *prefix;
	size_t i;
	int rc = -EBADMSG;

	j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	secrets = json_object_get(j, "secrets");
	applied = json_object_get(j, "applied");
	if (json_integer_value(json_object_get(j, "v")) != 1 ||
	    (prefix = json_string_value(json_object_get(j, "prefix"))) ==
	    NULL || !json_is_object(secrets) || !json_is_array(applied) ||
	    !json_is_integer(json_object_get(j, "joined"))) {
		snprintf(why, whylen, "%s is malformed", st->path);
		goto out;
	}
	if (strcmp(prefix, st->prefix) != 0) {
		snprintf(why, whylen, "%s is for the prefix %s", st->path,
		    prefix);
		rc = -ESTALE;
		goto out;
	}
	st->joined = json_integer_value(json_object_get(j, "joined"));
	json_object_foreach(secrets, name, v) {
		fp = json_string_value(json_object_get(v, "fp"));
		if (strlen(name) > CONFIG_MAX_NAME || fp == NULL ||
		    strlen(fp) != FLEETREC_FP_LEN ||
		    !json_is_integer(json_object_get(v, "gen")))
			continue;
		if (fleetstate_set_hw(st, name, json_integer_value(
		    json_object_get(v, "gen")), fp) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	json_array_foreach(applied, i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));

		if (id == NULL || strlen(id) > FLEET_ID_MAX)
			continue;
		if (fleetstate_mark_applied(st, id, json_integer_value(
		    json_object_get(v, "at")), 0) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int
fleetstate_load(const char *state_dir, const char *prefix, int64_t now,
    struct fleetstate **ret, char *why, size_t whylen)
{
	struct fleetstate *st;
	char *text = NULL;
	int rc;

	why[0] = '\0';
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -ENOMEM;
	if (asprintf(&st->path, "%s/fleet.json", state_dir) < 0) {
		st->path = NULL;
		fleetstate_free(st);
		return -ENOMEM;
	}
	if ((st->prefix = strdup(prefix)) == NULL) {
		fleetstate_free(st);
		return -ENOMEM;
	}
	st->joined = now;
	rc = read_trusted(st->path, &text, why, whylen);
	if (rc == 0)
		rc = parse(st, text, why, whylen);
	free(text);
	if (rc == -ENOMEM) {
		fleetstate_free(st);
		return rc;
	}
	if (rc < 0) {
		/* Start afresh: nothing from that file is believed. */
		st->joined = now;
		st->n_hw = 0;
		st->n_applied = 0;
	}
	*ret = st;
	return 0;
}

int
fleetstate_save(const struct fleetstate *st)
{
	json_t *j, *secrets, *applied;
	char *text = NULL, *tmp = NULL, *dir = NULL, *slash;
	size_t i, len, off = 0;
	ssize_t n;
	int fd = -1, dfd = -1, rc = -ENOMEM;

	secrets = json_object();
	applied = json_array();
	for (i = 0; i < st->n_hw; i++)
		json_object_set_new(secrets, st->hw[i].name, json_pack(
		    "{s:I,s:s}", "gen", (json_int_t)st->hw[i].gen, "fp",
		    st->hw[i].fp));
	for (i = 0; i < st->n_applied; i++)
		json_array_append_new(applied, json_pack("{s:s,s:I}", "id",
		    st->applied[i].id, "at", (json_int_t)st->applied[i].at));
	j = json_pack("{s:i,s:s,s:I,s:o,s:o}", "v", 1, "prefix", st->prefix,
	    "joined", (json_int_t)st->joined, "secrets", secrets, "applied",
	    applied);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL || asprintf(&tmp, "%s.tmp", st->path) < 0 ||
	    (dir = strdup(st->path)) == NULL)
		goto out;
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		goto out;
	}
	len = strlen(text);
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, st->path) < 0) {
		rc = -errno;
		goto out;
	}
	if ((dfd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0)
		(void)fsync(dfd);
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		(void)unlink(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	json_decref(j);
	free(text);
	free(tmp);
	free(dir);
	return rc;
}

const struct fleet_hw *
fleetstate_hw(const struct fleetstate *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->n_hw; i++)
		if (strcmp(st->hw[i].name, name) == 0)
			return &st->hw[i];
	return NULL;
}

int
fleetstate_set_hw(struct fleetstate *st, const char *name, int64_t gen,
    const char *fp)
{
	struct fleet_hw *h = (struct fleet_hw *)fleetstate_hw(st, name), *nh;

	if (strlen(name) > CONFIG_MAX_NAME || strlen(fp) > FLEETREC_FP_LEN)
		return -EINVAL;
	if (h == NULL) {
		if ((nh = reallocarray(st->hw, st->n_hw + 1,
		    sizeof(*nh))) == NULL)
			return -ENOMEM;
		st->hw = nh;
		h = &st->hw[st->n_hw++];
		snprintf(h->name, sizeof(h->name), "%s", name);
	}
	h->gen = gen;
	snprintf(h->fp, sizeof(h->fp), "%s", fp);
	return 0;
}

int
fleetstate_applied(const struct fleetstate *st, const char *id)
{
	size_t i;

	for (i = 0; i < st->n_applied; i++)
		if (strcmp(st->applied[i].id, id) == 0)
			return 1;
	return 0;
}

int
fleetstate_mark_applied(struct fleetstate *st, const char *id, int64_t at,
    int64_t forget_before)
{
	struct fleet_applied *na;
	size_t i, j;

	for (i = j = 0; i < st->n_applied; i++)
		if (st->applied[i].at >= forget_before)
			st->applied[j++] = st->applied[i];
	st->n_applied = j;
	if (strlen(id) > FLEET_ID_MAX || fleetstate_applied(st, id))
		return 0;
	/* Bounded: the oldest goes first (they are in arrival order). */
	if (st->n_applied == MAX_APPLIED) {
		memmove(st->applied, st->applied + 1, (MAX_APPLIED - 1) *
		    sizeof(*st->applied));
		st->n_applied--;
	}
	if ((na = reallocarray(st->applied, st->n_applied + 1,
	    sizeof(*na))) == NULL)
		return -ENOMEM;
	st->applied = na;
	snprintf(na[st->n_applied].id, sizeof(na->id), "%s", id);
	na[st->n_applied].at = at;
	st->n_applied++;
	return 0;
}
