/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading back what the state record vouches for (sink_read_current(),
 * sink_read_file()) and the startup repair (sink_repair()).  Writes no state
 * record and no generation: repair only removes, relinks and re-points.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <idp/crypto.h>

#include "core/log.h"
#include "sinks/sink_int.h"

int
sink_read_current(struct sink *s, const char *dir, struct sink_current *ret)
{
	const struct sink_record *rec;
	unsigned char digest[32];
	char gen[GEN_BUF];
	int cfd, r, ld, checked;

	memset(ret, 0, sizeof(*ret));
	if (!name_valid(dir))
		return -EINVAL;
	if (s->rc_checked && s->rc_valid && strcmp(s->rc->dir, dir) == 0) {
		/*
		 * sink_repair() of this directory has just read "..data" and
		 * checked its files against this record: nothing to open.
		 */
		cfd = -1;
		ld = 0;
		memcpy(gen, s->rc->gen_dir, GEN_LEN);
		gen[GEN_LEN] = '\0';
	} else {
		s->rc_checked = 0;
		cfd = open_cred_dir(s, dir, 0);
		ld = cfd >= 0 ? read_data_link(cfd, gen) : cfd;
	}
	if (ld < 0 && ld != -ENOENT) {
		why_set(ret->why, sizeof(ret->why), "%s%s: %s", dir,
		    cfd >= 0 ? "/" DATA_LINK : "", ld == -ELOOP ?
		    "a symlink rotatord did not make" : strerror(-ld));
		r = ld;
		goto out;
	}
	r = rec_get(s, dir, ld == 0 ? gen : NULL, 0, &rec, ret->why,
	    sizeof(ret->why));
	/*
	 * Still set only when the cached record was reused: sink_repair()
	 * checked these very files against it a moment ago.
	 */
	checked = r == 0 && s->rc_checked;
	s->rc_checked = 0;
	if (r < 0) {
		/* Neither published nor recorded: nothing to say. */
		if (r == -ENOENT && ld == -ENOENT)
			ret->why[0] = '\0';
		goto out;
	}
	ret->generation = rec->generation;
	if (ld == -ENOENT) {
		why_set(ret->why, sizeof(ret->why), "nothing published in %s"
		    " (the state record names generation %llu)", dir,
		    (unsigned long long)rec->generation);
		r = -ENOENT;
		goto out;
	}
	if (strcmp(rec->gen_dir, gen) != 0) {
		why_set(ret->why, sizeof(ret->why), DATA_LINK " names %s, the"
		    " state record %s", gen, rec->gen_dir);
		r = -ESTALE;
		goto out;
	}
	if (!checked) {
		r = rec_verify(s, cfd, rec, ret->why, sizeof(ret->why));
		if (r < 0) {
			/* The next publish must not call it unchanged. */
			last_drop(s, dir);
			goto out;
		}
	}
	rec_current(rec, ret);
	if (rec_digest(s, rec, digest) == 0)
		last_put(s, dir, gen, rec->generation, digest, 0);
	r = 0;
out:
	if (cfd >= 0)
		close(cfd);
	return r;
}

/*
 * Reads regular file fd of at most SINK_MAX_FILE_SIZE bytes into a buffer
 * sized once from fstat, so plaintext is never left behind by a realloc.
 */
static int
read_fd(int fd, char **ret, size_t *ret_len)
{
	struct stat st;
	ssize_t n;
	char *buf;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > SINK_MAX_FILE_SIZE)
		return -E2BIG;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return -ENOMEM;
	n = read_full(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

int
sink_read_file(struct sink *s, const char *dir, const char *name, char **ret,
    size_t *ret_len)
{
	const struct sink_record_file *f;
	const struct sink_record *rec;
	char gen[GEN_BUF], hex[HEX_LEN + 1];
	size_t len = 0;
	char *buf = NULL;
	int cfd, fd, r;

	if (!name_valid(dir) || !(name_valid(name) ||
	    (name != NULL && strcmp(name, META_NAME) == 0)))
		return -EINVAL;
	cfd = open_cred_dir(s, dir, 0);
	if (cfd < 0)
		return cfd;
	r = read_data_link(cfd, gen);
	if (r < 0)
		goto out;
	/* Only what the state record vouches for is handed out. */
	r = rec_get(s, dir, gen, 0, &rec, NULL, 0);
	if (r < 0) {
		r = r == -ENOENT ? -ESTALE : r;
		goto out;
	}
	if (strcmp(rec->gen_dir, gen) != 0) {
		r = -ESTALE;
		goto out;
	}
	if ((f = rec_file(rec, name)) == NULL) {
		r = -ENOENT;
		goto out;
	}
	fd = open_gen_file(s, cfd, gen, name);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	r = read_fd(fd, &buf, &len);
	close(fd);
	if (r == 0)
		r = sha256_hex(s, buf, len, hex);
	if (r == 0 && (len != f->size || strcmp(hex, f->sha256) != 0)) {
		log_warn("sink: %s: %s/%s differs from its state record,"
		    " not reading it", dir, gen, name);
		last_drop(s, dir);
		r = -EBADMSG;
	}
	if (r < 0 && buf != NULL) {
		idp_wipe(buf, len);
		free(buf);
	} else if (r == 0) {
		*ret = buf;
		*ret_len = len;
	}
out:
	close(cfd);
	return r;
}

/*
 * Checks that generation gen of cfd is complete: meta.json parses and
 * every file it lists is a regular file with the listed size (and hash,
 * for the public files that have one).  This only tells a half-made
 * generation from a whole one; whether it may be believed is for the
 * state record (rec_verify()).  Returns 0 and the meta in *ret
 * (json_decref() it), or -errno.
 */
static int
gen_verify(struct sink *s, int cfd, const char *gen, json_t **ret)
{
	char hex[HEX_LEN + 1];
	const char *name, *h;
	json_t *m = NULL, *files, *e;
	char *buf;
	size_t len;
	int gfd = -1, fd, r;

	r = meta_load(s, cfd, gen, &m);
	if (r < 0)
		return r;
	files = meta_files(m);
	if (files == NULL || meta_generation(m) == 0) {
		r = -EBADMSG;
		goto out;
	}
	gfd = open_dir_at(cfd, gen);
	if (gfd < 0) {
		r = gfd;
		goto out;
	}
	json_object_foreach(files, name, e) {
		fd = openat(gfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK);
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		r = read_fd(fd, &buf, &len);
		close(fd);
		if (r < 0)
			goto out;
		h = json_string_value(json_object_get(e, "sha256"));
		if (h != NULL)
			r = sha256_hex(s, buf, len, hex);
		idp_wipe(buf, len);
		free(buf);
		if (r == 0 && ((json_int_t)len !=
		    json_integer_value(json_object_get(e, "size")) ||
		    (h != NULL && strcmp(hex, h) != 0)))
			r = -EBADMSG;
		if (r < 0)
			goto out;
	}
	*ret = m;
	m = NULL;
out:
	if (gfd >= 0)
		close(gfd);
	json_decref(m);
	return r;
}

/* Keeps the first error of a repair while the repair goes on. */
static void
first_err(int *r, int e)
{
	if (e < 0 && *r == 0)
		*r = e;
}

/*
 * Removes the temporary entries of an interrupted publish: "..data_tmp",
 * half-made generations, and "NAME.tmp" links to "..data/NAME" (only
 * those are ours).  Returns 0 or the first -errno.
 */
static int
repair_temps(struct sink *s, int cfd)
{
	char target[LINK_BUF];
	size_t i, len;
	int r = 0;

	for (i = 0; i < s->n_dents; i++) {
		const struct dent *d = &s->dents[i];

		len = strlen(d->name);
		if (strcmp(d->name, DATA_TMP) == 0) {
			if (unlinkat(cfd, d->name, 0) < 0 && errno != ENOENT)
				first_err(&r, -errno);
		} else if (gen_is_tmp(d->name)) {
			first_err(&r, remove_tree(cfd, d->name, 1));
		} else if (d->name[0] != '.' && len > TMP_SUFFIX_LEN &&
		    strcmp(d->name + len - TMP_SUFFIX_LEN, TMP_SUFFIX) == 0) {
			ssize_t n = readlinkat(cfd, d->name, target,
			    sizeof(target));

			if (n > 0 && (size_t)n < sizeof(target) &&
			    (size_t)n == sizeof(DATA_PREFIX) - 1 + len -
			    TMP_SUFFIX_LEN &&
			    memcmp(target, DATA_PREFIX,
			    sizeof(DATA_PREFIX) - 1) == 0 &&
			    memcmp(target + sizeof(DATA_PREFIX) - 1, d->name,
			    len - TMP_SUFFIX_LEN) == 0 &&
			    unlinkat(cfd, d->name, 0) < 0)
				first_err(&r, -errno);
		}
	}
	return r;
}

/*
 * Makes the visible links one per name of the current generation and no
 * others of ours.  Returns 0 or the first -errno.
 */
static int
repair_links(struct sink *s, int cfd, const char *dir, const char **names,
    size_t n_names)
{
	const char *name;
	size_t i, j;
	int r = 0, e;

	for (i = 0; i < s->n_dents; i++) {
		name = s->dents[i].name;
		if (!name_valid(name))
			continue;
		for (j = 0; j < n_names && strcmp(names[j], name) != 0; j++)
			;
		if (j < n_names)
			continue;
		if (link_state(cfd, name) == LINK_OURS &&
		    unlinkat(cfd, name, 0) < 0)
			first_err(&r, -errno);
	}
	for (j = 0; j < n_names; j++) {
		name = names[j];
		e = link_state(cfd, name);
		if (e == LINK_ABSENT)
			e = link_create(cfd, name);
		if (e < 0) {
			log_warn("sink: %s: cannot link %s: %s", dir, name,
			    strerror(-e));
			first_err(&r, e);
		}
	}
	return r;
}

int
sink_repair(struct sink *s, const char *dir)
{
	char cur[GEN_BUF];
	const char *names[SINK_MAX_FILES + 1];
	const struct sink_record *rec = NULL;
	json_t *m = NULL, *v;
	const char *cur_ok = NULL, *name;
	int cfd, r = 0, e;
	size_t i, n_names = 0;

	if (!name_valid(dir))
		return -EINVAL;
	last_drop(s, dir);
	cfd = open_cred_dir(s, dir, 0);
	if (cfd < 0)
		return cfd == -ENOENT ? 0 : cfd;
	e = list_dir(s, cfd);
	if (e < 0) {
		close(cfd);
		return e;
	}

	first_err(&r, repair_temps(s, cfd));

	/* The current generation, or else the newest complete one. */
	e = read_data_link(cfd, cur);
	if (e == -ELOOP || e == -EEXIST) {
		log_warn("sink: %s: ..data was not made by rotatord, leaving"
		    " it alone", dir);
		first_err(&r, e);
		goto out;
	}
	/*
	 * A current generation that its state record vouches for is complete
	 * (and sink_read_current() need not check it again); otherwise
	 * meta.json tells whether it is whole, which is all repair needs.
	 */
	if (e == 0 && rec_get(s, dir, NULL, 1, &rec, NULL, 0) == 0 &&
	    strcmp(rec->gen_dir, cur) == 0 &&
	    rec_verify(s, cfd, rec, NULL, 0) == 0) {
		cur_ok = cur;
		s->rc_checked = 1;
		for (i = 0; i < rec->n_files; i++)
			if (strcmp(rec->files[i].name, META_NAME) != 0)
				names[n_names++] = rec->files[i].name;
	} else if (e == 0 && gen_verify(s, cfd, cur, &m) == 0)
		cur_ok = cur;
	for (i = s->n_dents; cur_ok == NULL && i-- > 0; ) {
		const char *g = s->dents[i].name;

		if (!dent_is_gen(&s->dents[i]) ||
		    (e == 0 && strcmp(g, cur) == 0) ||
		    gen_verify(s, cfd, g, &m) < 0)
			continue;
		e = data_swap(cfd, g);
		if (e < 0) {
			json_decref(m);
			m = NULL;
			first_err(&r, e);
			goto out;
		}
		log_warn("sink: %s: current generation missing or incomplete,"
		    " ..data now points to %s", dir, g);
		memcpy(cur, g, GEN_LEN + 1);
		cur_ok = cur;
	}
	if (cur_ok == NULL) {
		/*
		 * No complete generation anywhere.  Without "..data" nothing
		 * was ever published here, which is no error; a "..data" to
		 * an incomplete generation is reported and left as it is.
		 */
		if (e != -ENOENT)
			first_err(&r, -ENOENT);
		goto out;
	}

	/* Visible links: one per file of the current generation, no others. */
	json_object_foreach(json_object_get(m, "files"), name, v)
		if (n_names < SINK_MAX_FILES)
			names[n_names++] = name;
	first_err(&r, repair_links(s, cfd, dir, names, n_names));
	prune(s, cfd, dir, cur_ok, cur_ok, NULL, 0, NULL);
out:
	if (s->sync && fsync(cfd) < 0)
		first_err(&r, -errno);
	json_decref(m);
	close(cfd);
	return r;
}
