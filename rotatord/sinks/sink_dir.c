/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A credential directory through directory fds and O_NOFOLLOW: opening it,
 * listing it, "..data" and the visible links, a generation's files, removing
 * and pruning generations.  Reads no state record, parses no meta.json.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/openat2.h>

#include "core/log.h"
#include "sinks/sink_int.h"

/*
 * Returns 1 when the directory holding fd is on tmpfs or ramfs: nothing
 * there survives a reboot, so fsync buys nothing and costs a system call.
 */
int
fs_volatile(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return 0;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

/* Writes all of buf, across short writes and signals; returns 0 or -errno. */
int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads up to max bytes of regular file fd into buf; returns the count or
 * -errno.  A short read is the end of a regular file: no further read(2)
 * to see EOF.
 */
ssize_t
read_full(int fd, char *buf, size_t max)
{
	size_t done = 0, want;
	ssize_t n;

	while (done < max) {
		want = max - done;
		n = read(fd, buf + done, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	return (ssize_t)done;
}

/*
 * Opens directory name below dfd without following a symlink.  An opened
 * symlink reports ENOTDIR on Linux; report ELOOP instead so that callers
 * can tell a planted link from a plain file.  Returns the fd or -errno.
 */
int
open_dir_at(int dfd, const char *name)
{
	struct stat st;
	int fd, e;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	e = errno;
	if (e == ENOTDIR && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return -ELOOP;
	return -e;
}

/*
 * Returns fd when the credential directory it names is ours: owned by our
 * euid and not writable by group or others (whoever else could write it
 * could swap "..data").  Otherwise closes fd, logs and returns -EPERM.
 */
static int
cred_dir_owned(const struct sink *s, const char *dir, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	if (st.st_uid == s->euid && (st.st_mode & 022) == 0)
		return fd;
	log_warn("sink: %s: owned by uid %u with mode %04o, not by rotatord"
	    " (uid %u) and not writable by others: refusing it", dir,
	    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
	    (unsigned)s->euid);
	close(fd);
	return -EPERM;
}

/*
 * Opens the credential directory dir, creating it with mode 0755 (readers
 * must traverse it) when create is set; refuses one that is not ours
 * (cred_dir_owned()).  Returns the fd or -errno.
 */
int
open_cred_dir(struct sink *s, const char *dir, int create)
{
	int fd;

	fd = open_dir_at(s->dfd, dir);
	if (fd >= 0)
		return cred_dir_owned(s, dir, fd);
	if (fd != -ENOENT || !create)
		return fd;
	if (mkdirat(s->dfd, dir, 0755) < 0) {
		if (errno != EEXIST)
			return -errno;
		fd = open_dir_at(s->dfd, dir);
		return fd < 0 ? fd : cred_dir_owned(s, dir, fd);
	}
	fd = open_dir_at(s->dfd, dir);
	if (fd < 0)
		return fd;
	/* The umask may have stripped the traverse bits readers need. */
	if (fchmod(fd, 0755) < 0 || (s->sync && fsync(s->dfd) < 0)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/*
 * Reads the "..data" link of cfd into gen (GEN_BUF bytes).  Returns 0,
 * -ENOENT when there is none, -EEXIST when "..data" is not a symlink, or
 * -ELOOP when it points anywhere but a generation name of ours.
 */
int
read_data_link(int cfd, char *gen)
{
	char buf[GEN_BUF];
	ssize_t n;

	n = readlinkat(cfd, DATA_LINK, buf, sizeof(buf));
	if (n < 0)
		return errno == EINVAL ? -EEXIST : -errno;
	if ((size_t)n >= sizeof(buf))
		return -ELOOP;
	buf[n] = '\0';
	if (!gen_is_name(buf))
		return -ELOOP;
	memcpy(gen, buf, (size_t)n + 1);
	return 0;
}

/*
 * Classifies the visible name "name" of cfd: LINK_OURS for a symlink to
 * "..data/name", LINK_ABSENT, -ELOOP for any other symlink, -EEXIST for
 * anything that is not a symlink.
 */
int
link_state(int cfd, const char *name)
{
	char buf[LINK_BUF];
	size_t plen = sizeof(DATA_PREFIX) - 1;
	ssize_t n;

	n = readlinkat(cfd, name, buf, sizeof(buf));
	if (n < 0) {
		if (errno == ENOENT)
			return LINK_ABSENT;
		return errno == EINVAL ? -EEXIST : -errno;
	}
	if ((size_t)n >= sizeof(buf))
		return -ELOOP;
	buf[n] = '\0';
	if ((size_t)n <= plen || memcmp(buf, DATA_PREFIX, plen) != 0 ||
	    strcmp(buf + plen, name) != 0)
		return -ELOOP;
	return LINK_OURS;
}

/* Creates the visible link "name" -> "..data/name"; returns 0 or -errno. */
int
link_create(int cfd, const char *name)
{
	char target[LINK_BUF];
	int n;

	n = snprintf(target, sizeof(target), DATA_PREFIX "%s", name);
	if (n < 0 || (size_t)n >= sizeof(target))
		return -ENAMETOOLONG;
	if (symlinkat(target, cfd, name) < 0)
		return -errno;
	return 0;
}

/*
 * Points "..data" at gen: a fresh "..data_tmp" symlink renamed over
 * "..data", so a reader sees either the old or the new target, never
 * neither.  Returns 0 or -errno.
 */
int
data_swap(int cfd, const char *gen)
{
	int e;

	if (symlinkat(gen, cfd, DATA_TMP) < 0) {
		if (errno != EEXIST)
			return -errno;
		/* Left by an interrupted swap; the name is reserved for it. */
		if (unlinkat(cfd, DATA_TMP, 0) < 0 ||
		    symlinkat(gen, cfd, DATA_TMP) < 0)
			return -errno;
	}
	if (renameat(cfd, DATA_TMP, cfd, DATA_LINK) < 0) {
		e = -errno;
		(void)unlinkat(cfd, DATA_TMP, 0);
		return e;
	}
	return 0;
}

/*
 * Removes directory name below dfd and everything in it, descending at
 * most depth levels.  Never follows a symlink: directories are opened with
 * O_NOFOLLOW and links are unlinked as links.  Returns 0 (also when name
 * is gone already) or the first -errno met.
 */
int
remove_tree(int dfd, const char *name, int depth)
{
	_Alignas(struct dirent64) char buf[4096];
	struct dirent64 *d;
	ssize_t n, off;
	int fd, r = 0, rr, pass;

	fd = open_dir_at(dfd, name);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	/* A second pass catches entries a directory walk may skip. */
	for (pass = 0; pass < 2; pass++) {
		if (pass > 0 && lseek(fd, 0, SEEK_SET) < 0)
			break;
		while ((n = getdents64(fd, buf, sizeof(buf))) > 0) {
			for (off = 0; off < n; off += d->d_reclen) {
				d = (struct dirent64 *)(void *)(buf + off);
				if (strcmp(d->d_name, ".") == 0 ||
				    strcmp(d->d_name, "..") == 0)
					continue;
				rr = 0;
				if (d->d_type != DT_DIR &&
				    unlinkat(fd, d->d_name, 0) == 0)
					continue;
				if (d->d_type == DT_DIR || errno == EISDIR)
					rr = depth > 0 ?
					    remove_tree(fd, d->d_name,
					    depth - 1) : -ENOTEMPTY;
				else if (errno != ENOENT)
					rr = -errno;
				if (rr < 0 && r == 0)
					r = rr;
			}
		}
		if (n < 0 && r == 0)
			r = -errno;
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			close(fd);
			return r;
		}
		if (errno != ENOTEMPTY)
			break;
	}
	if (r == 0)
		r = -errno;
	close(fd);
	return r;
}

static int
dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name,
	    ((const struct dent *)b)->name);
}

/*
 * Lists cfd into s->dents, sorted by name so that generation names come
 * out oldest first.  Entries longer than any name of ours are skipped.
 * Returns 0, -E2BIG past DENTS_MAX entries, or -errno.
 */
int
list_dir(struct sink *s, int cfd)
{
	_Alignas(struct dirent64) char buf[8192];
	struct dirent64 *d;
	struct dent *nd;
	ssize_t n, off;
	size_t len;

	s->n_dents = 0;
	while ((n = getdents64(cfd, buf, sizeof(buf))) > 0) {
		int end;

		/*
		 * tmpfs and ramfs fill the buffer while the next entry fits:
		 * with room left for the largest one, this was the end, and
		 * the call that would return 0 is saved.
		 */
		end = !s->sync && (size_t)n <= sizeof(buf) -
		    sizeof(struct dirent64);
		for (off = 0; off < n; off += d->d_reclen) {
			d = (struct dirent64 *)(void *)(buf + off);
			len = strlen(d->d_name);
			if (len > DENT_NAME_MAX ||
			    strcmp(d->d_name, ".") == 0 ||
			    strcmp(d->d_name, "..") == 0)
				continue;
			if (s->n_dents == s->cap_dents) {
				size_t cap = s->cap_dents ?
				    2 * s->cap_dents : 32;

				if (cap > DENTS_MAX)
					return -E2BIG;
				nd = reallocarray(s->dents, cap, sizeof(*nd));
				if (nd == NULL)
					return -ENOMEM;
				s->dents = nd;
				s->cap_dents = cap;
			}
			memcpy(s->dents[s->n_dents].name, d->d_name, len + 1);
			s->dents[s->n_dents].ino = d->d_ino;
			s->dents[s->n_dents].type = d->d_type;
			s->dents[s->n_dents].unlinked = 0;
			s->n_dents++;
		}
		if (end)
			break;
	}
	if (n < 0)
		return -errno;
	/* qsort() and bsearch() want a valid base even for no entries. */
	if (s->n_dents > 1)
		qsort(s->dents, s->n_dents, sizeof(*s->dents), dent_cmp);
	return 0;
}

const struct dent *
dent_find(const struct sink *s, const char *name)
{
	struct dent key;

	if (s->n_dents == 0 || strlen(name) > DENT_NAME_MAX)
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, s->dents, s->n_dents, sizeof(*s->dents), dent_cmp);
}

/* Returns 1 when a listed entry may be a generation directory of ours. */
int
dent_is_gen(const struct dent *d)
{
	return (d->type == DT_DIR || d->type == DT_UNKNOWN) &&
	    gen_is_name(d->name);
}

int
in_set(const struct material_file *files, size_t n_files, const char *name)
{
	size_t i;

	for (i = 0; i < n_files; i++)
		if (strcmp(files[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * Removes generation directory name of cfd.  Its files are normally those
 * just published or those of the previous generation (old, its state
 * record, may be NULL), so they are unlinked by name first and the
 * directory is only walked when something else is left: that saves two
 * getdents calls per publish.  Returns 0 or -errno.
 */
static int
remove_gen(int cfd, const char *name, const struct material_file *files,
    size_t n_files, const struct sink_record *old)
{
	const char *k;
	size_t i;
	int gfd, meta = 0;

	if (n_files > 0 || old != NULL) {
		gfd = open_dir_at(cfd, name);
		if (gfd < 0)
			return gfd == -ENOENT ? 0 : gfd;
		for (i = 0; i < n_files; i++)
			(void)unlinkat(gfd, files[i].name, 0);
		for (i = 0; old != NULL && i < old->n_files; i++) {
			k = old->files[i].name;
			if (strcmp(k, META_NAME) == 0)
				meta = 1;
			if (name_valid(k) && !in_set(files, n_files, k))
				(void)unlinkat(gfd, k, 0);
		}
		/* files never holds it; an old record might not list it. */
		if (!meta)
			(void)unlinkat(gfd, META_NAME, 0);
		close(gfd);
		if (unlinkat(cfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
	}
	return remove_tree(cfd, name, 1);
}

/*
 * Removes generation directories of cfd (from the listing) beyond the
 * grace.  keep (the current generation) is never removed and not counted.
 * When limit is given, every generation newer than it was made by an
 * interrupted publish and never visible, so it goes; of the others, the
 * keep_old newest stay.  files and old name what the directories likely
 * hold (see remove_gen()).  Failures are logged: a leftover directory
 * costs space, not correctness, and the next prune retries it.
 */
void
prune(struct sink *s, int cfd, const char *dir, const char *keep,
    const char *limit, const struct material_file *files, size_t n_files,
    const struct sink_record *old)
{
	unsigned kept = 0;
	size_t i;
	int r;

	for (i = s->n_dents; i-- > 0; ) {
		const struct dent *d = &s->dents[i];

		if (!dent_is_gen(d) ||
		    (keep != NULL && strcmp(d->name, keep) == 0))
			continue;
		if ((limit == NULL || strcmp(d->name, limit) <= 0) &&
		    kept < s->keep_old) {
			kept++;
			continue;
		}
		r = remove_gen(cfd, d->name, files, n_files, old);
		if (r < 0)
			log_warn("sink: %s: cannot remove old generation %s:"
			    " %s, retrying at the next publish", dir, d->name,
			    strerror(-r));
	}
}

/*
 * Opens file name of generation gen of cfd for reading, following no
 * symlink on the way.  One openat2() with RESOLVE_NO_SYMLINKS does it in a
 * single system call; where the kernel (before 5.6) or a seccomp filter
 * refuses it, two openat() calls with O_NOFOLLOW do the same.  O_NONBLOCK
 * keeps a planted FIFO from hanging us.  Returns the fd or -errno.
 */
int
open_gen_file(struct sink *s, int cfd, const char *gen, const char *name)
{
	struct open_how how;
	char path[GEN_BUF + 1 + SINK_NAME_MAX + 1];
	int gfd, fd, n;

	if (!s->no_openat2) {
		n = snprintf(path, sizeof(path), "%s/%s", gen, name);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
		how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
		    RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, cfd, path, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		s->no_openat2 = 1;
	}
	gfd = open_dir_at(cfd, gen);
	if (gfd < 0)
		return gfd;
	fd = openat(gfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		fd = -errno;
	close(gfd);
	return fd;
}
