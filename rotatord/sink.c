/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sink: atomic generation swap under output_dir through directory file
 * descriptors.  The on-disk algorithm of one publish, in order:
 *
 *   1. validate names, modes and limits; SHA-256 every file (EVP_Digest);
 *   2. open output_dir/DIR with O_NOFOLLOW (mkdirat 0755 + fchmod the
 *      first time);
 *   3. readlinkat "..data" and accept only a target of our own
 *      "..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN" form; learn the current
 *      generation's number and file hashes, from what this handle last
 *      wrote there or else from its meta.json; identical names and hashes
 *      (and spec): return 0, nothing written;
 *   4. list DIR once; refuse a visible name that is not our own
 *      "NAME -> ..data/NAME" link, before anything is written;
 *   5. mkdirat "..TS.tmp" 0700 (TS after every listed generation); create
 *      each file and then meta.json in it with O_CREAT|O_EXCL|O_NOFOLLOW
 *      and the final mode, fchown and fchmod before the first byte, write
 *      fully, fsync, close; fchown and fchmod the directory to dir_mode,
 *      fsync it; rename it to "..TS" (RENAME_NOREPLACE); fsync DIR;
 *   6. unlink our links to names leaving the set while the old generation
 *      is still current, so that no visible link ever dangles;
 *   7. symlink "..data_tmp" -> "..TS" and rename it over "..data": the one
 *      atomic step;
 *   8. symlink each new visible name "NAME" -> "..data/NAME";
 *   9. prune: keep the current generation and the keep_old newest before
 *      it, remove the rest (and any never-visible newer one);
 *  10. fsync DIR.
 *
 * fsync is skipped on tmpfs and ramfs, where it cannot add durability.  A
 * SIGKILL at any point leaves "..data" on a complete generation and every
 * visible link resolving into it; sink_repair() removes what an
 * interrupted publish left behind.
 *
 * One writer per credential directory is assumed (one rotatord), and a
 * handle is used by one thread at a time: it owns reusable buffers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/openat2.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "sink.h"

#define DATA_LINK	"..data"
#define DATA_TMP	"..data_tmp"
#define DATA_PREFIX	"..data/"
#define META_NAME	"meta.json"
#define META_MODE	0644
#define META_MAX	(64 * 1024)
#define META_STR_MAX	256		/* meta->name and meta->type */
#define SPEC_MAX	64		/* sizeof(sink_current.spec) - 1 */
#define TMP_SUFFIX	".tmp"
#define TMP_SUFFIX_LEN	(sizeof(TMP_SUFFIX) - 1)

/* "..2026_11_29_04_50_01.123456789": D is a digit, the rest literal. */
#define GEN_TEMPLATE	"..DDDD_DD_DD_DD_DD_DD.DDDDDDDDD"
#define GEN_LEN		(sizeof(GEN_TEMPLATE) - 1)
#define GEN_BUF		(GEN_LEN + TMP_SUFFIX_LEN + 1)
#define GEN_TRIES	64

/* Longest directory entry the sink may have made: "NAME.tmp". */
#define DENT_NAME_MAX	(SINK_NAME_MAX + TMP_SUFFIX_LEN)
#define DENTS_MAX	4096
#define LINK_BUF	(sizeof(DATA_PREFIX) + SINK_NAME_MAX + 1)
#define HEX_LEN		(2 * 32)

#define LAST_BUCKETS	256

/*
 * What this handle last swapped into a directory.  Generation directories
 * are immutable, so while "..data" still names gen, its meta.json says
 * exactly this and is not read back (nor parsed) on the next publish.
 * After a restart, a repair or another writer, "..data" names something
 * else and meta.json is read as usual.
 */
struct last {
	struct last	*next;
	uint64_t	 generation;
	unsigned char	 digest[32];	/* see set_digest() */
	char		 gen[GEN_BUF];
	char		 dir[];
};

struct dent {
	char		 name[DENT_NAME_MAX + 1];
	unsigned char	 type;
	unsigned char	 unlinked;	/* link removed before a swap */
};

struct sink {
	int		 dfd;		/* output_dir */
	unsigned	 keep_old;
	int		 sync;		/* 0 on tmpfs or ramfs */
	int		 no_openat2;	/* openat2 refused */
	EVP_MD		*sha256;	/* fetched once */
	char		*buf;		/* META_MAX + 1, meta.json */
	struct dent	*dents;		/* listing of the directory */
	size_t		 n_dents;
	size_t		 cap_dents;
	struct last	*last[LAST_BUCKETS];
};

/* States of a visible name before a publish. */
enum {
	LINK_ABSENT,
	LINK_OURS,
};

/* Returns 1 when c may appear in a file or directory name. */
static int
name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/*
 * Returns 1 for a name the sink accepts for a credential directory or a
 * visible file: [A-Za-z0-9._-], not hidden (which also rules out "." and
 * "..", and every name of ours starting with ".."), and not ending in
 * ".tmp", which is kept for temporary entries that repair may delete.
 */
static int
name_valid(const char *name)
{
	size_t i, len;

	if (name == NULL || name[0] == '\0' || name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (i >= SINK_NAME_MAX || !name_char(name[i]))
			return 0;
	len = i;
	if (len >= TMP_SUFFIX_LEN &&
	    strcmp(name + len - TMP_SUFFIX_LEN, TMP_SUFFIX) == 0)
		return 0;
	return 1;
}

/* Returns 1 when the first GEN_LEN bytes of s follow GEN_TEMPLATE. */
static int
gen_prefix(const char *s)
{
	size_t i;

	for (i = 0; i < GEN_LEN; i++) {
		if (GEN_TEMPLATE[i] == 'D') {
			if (s[i] < '0' || s[i] > '9')
				return 0;
		} else if (s[i] != GEN_TEMPLATE[i])
			return 0;
	}
	return 1;
}

/* Returns 1 for a generation directory name of ours, "..TS". */
static int
gen_is_name(const char *s)
{
	return strlen(s) == GEN_LEN && gen_prefix(s);
}

/* Returns 1 for a half-made generation directory name, "..TS.tmp". */
static int
gen_is_tmp(const char *s)
{
	return strlen(s) == GEN_LEN + TMP_SUFFIX_LEN && gen_prefix(s) &&
	    strcmp(s + GEN_LEN, TMP_SUFFIX) == 0;
}

/* Parses the time of a generation name (either form); returns 0 or -EINVAL. */
static int
gen_parse(const char *s, struct timespec *ret)
{
	struct tm tm;
	long nsec;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!gen_prefix(s) || sscanf(s, "..%4d_%2d_%2d_%2d_%2d_%2d.%9ld",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &nsec) != 7)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	ret->tv_sec = t;
	ret->tv_nsec = nsec;
	return 0;
}

/* Writes the generation name of ts into buf (GEN_BUF bytes). */
static void
gen_format(char *buf, const struct timespec *ts)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	/* The modulos bound each field for the compiler; none is exceeded. */
	snprintf(buf, GEN_BUF, "..%04u_%02u_%02u_%02u_%02u_%02u.%09lu",
	    (unsigned)(tm.tm_year + 1900) % 10000u,
	    (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
	    (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
	    (unsigned)tm.tm_sec % 100u,
	    (unsigned long)ts->tv_nsec % 1000000000ul);
}

static void
ts_bump(struct timespec *ts)
{
	if (++ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec = 0;
	}
}

/*
 * Returns 1 when the directory holding fd is on tmpfs or ramfs: nothing
 * there survives a reboot, so fsync buys nothing and costs a system call.
 */
static int
fs_volatile(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return 0;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

/* Writes all of buf, across short writes and signals; returns 0 or -errno. */
static int
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

/* Reads up to max bytes into buf; returns the count or -errno. */
static ssize_t
read_full(int fd, char *buf, size_t max)
{
	size_t done = 0;
	ssize_t n;

	while (done < max) {
		n = read(fd, buf + done, max - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Opens directory name below dfd without following a symlink.  An opened
 * symlink reports ENOTDIR on Linux; report ELOOP instead so that callers
 * can tell a planted link from a plain file.  Returns the fd or -errno.
 */
static int
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
 * Opens the credential directory dir, creating it with mode 0755 (readers
 * must traverse it) when create is set.  Returns the fd or -errno.
 */
static int
open_cred_dir(struct sink *s, const char *dir, int create)
{
	int fd;

	fd = open_dir_at(s->dfd, dir);
	if (fd != -ENOENT || !create)
		return fd;
	if (mkdirat(s->dfd, dir, 0755) < 0) {
		if (errno != EEXIST)
			return -errno;
		return open_dir_at(s->dfd, dir);
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
static int
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
static int
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
static int
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
static int
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
static int
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
static int
list_dir(struct sink *s, int cfd)
{
	_Alignas(struct dirent64) char buf[8192];
	struct dirent64 *d;
	struct dent *nd;
	ssize_t n, off;
	size_t len;

	s->n_dents = 0;
	while ((n = getdents64(cfd, buf, sizeof(buf))) > 0) {
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
			s->dents[s->n_dents].type = d->d_type;
			s->dents[s->n_dents].unlinked = 0;
			s->n_dents++;
		}
	}
	if (n < 0)
		return -errno;
	/* qsort() and bsearch() want a valid base even for no entries. */
	if (s->n_dents > 1)
		qsort(s->dents, s->n_dents, sizeof(*s->dents), dent_cmp);
	return 0;
}

static const struct dent *
dent_find(const struct sink *s, const char *name)
{
	struct dent key;

	if (s->n_dents == 0 || strlen(name) > DENT_NAME_MAX)
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, s->dents, s->n_dents, sizeof(*s->dents), dent_cmp);
}

/* Returns 1 when a listed entry may be a generation directory of ours. */
static int
dent_is_gen(const struct dent *d)
{
	return (d->type == DT_DIR || d->type == DT_UNKNOWN) &&
	    gen_is_name(d->name);
}

static int
in_set(const struct sink_file *files, size_t n_files, const char *name)
{
	size_t i;

	for (i = 0; i < n_files; i++)
		if (strcmp(files[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * Removes generation directory name of cfd.  Its files are normally those
 * just published or those of the previous generation (old, a "files"
 * object, may be NULL), so they are unlinked by name first and the
 * directory is only walked when something else is left: that saves two
 * getdents calls per publish.  Names from old are validated before use,
 * since they come from a file on disk.  Returns 0 or -errno.
 */
static int
remove_gen(int cfd, const char *name, const struct sink_file *files,
    size_t n_files, json_t *old)
{
	const char *k;
	json_t *v;
	size_t i;
	int gfd;

	if (n_files > 0 || old != NULL) {
		gfd = open_dir_at(cfd, name);
		if (gfd < 0)
			return gfd == -ENOENT ? 0 : gfd;
		for (i = 0; i < n_files; i++)
			(void)unlinkat(gfd, files[i].name, 0);
		json_object_foreach(old, k, v)
			if (name_valid(k) && !in_set(files, n_files, k))
				(void)unlinkat(gfd, k, 0);
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
static void
prune(struct sink *s, int cfd, const char *dir, const char *keep,
    const char *limit, const struct sink_file *files, size_t n_files,
    json_t *old)
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

/* Writes the lowercase hex of the SHA-256 of data into hex (HEX_LEN + 1). */
static int
sha256_hex(const struct sink *s, const void *data, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (!EVP_Digest(data != NULL ? data : "", len, md, &mdlen, s->sha256,
	    NULL) || mdlen * 2 != HEX_LEN)
		return -EIO;
	for (i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[HEX_LEN] = '\0';
	return 0;
}

/*
 * Opens file name of generation gen of cfd for reading, following no
 * symlink on the way.  One openat2() with RESOLVE_NO_SYMLINKS does it in a
 * single system call; where the kernel (before 5.6) or a seccomp filter
 * refuses it, two openat() calls with O_NOFOLLOW do the same.  O_NONBLOCK
 * keeps a planted FIFO from hanging us.  Returns the fd or -errno.
 */
static int
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

/*
 * Loads meta.json of generation gen into *ret (json_decref() it).  Returns
 * 0, -ENOENT, -EBADMSG when it is not a JSON object, -E2BIG, or -errno.
 */
static int
meta_load(struct sink *s, int cfd, const char *gen, json_t **ret)
{
	json_error_t jerr;
	json_t *m;
	ssize_t n;
	int fd;

	fd = open_gen_file(s, cfd, gen, META_NAME);
	if (fd < 0)
		return fd;
	/*
	 * One read: a regular file on a local file system returns less than
	 * asked only at its end, and a truncated meta.json fails to parse.
	 */
	do {
		n = read(fd, s->buf, META_MAX + 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	if (n > META_MAX)
		return -E2BIG;
	m = json_loadb(s->buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (m == NULL)
		return -EBADMSG;
	if (!json_is_object(m)) {
		json_decref(m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

static int
meta_int(const json_t *m, const char *key, int64_t *ret)
{
	const json_t *v = json_object_get(m, key);

	if (!json_is_integer(v))
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

/* Fills c from a loaded meta.json; returns 0 or -EBADMSG. */
static int
meta_current(const json_t *m, const char *gen, struct sink_current *c)
{
	const json_t *v;
	int64_t g;

	if (meta_int(m, "generation", &g) < 0 || g < 1 ||
	    meta_int(m, "issued_at", &c->issued_at) < 0 ||
	    meta_int(m, "not_before", &c->not_before) < 0 ||
	    meta_int(m, "not_after", &c->not_after) < 0 ||
	    meta_int(m, "renew_at", &c->renew_at) < 0)
		return -EBADMSG;
	v = json_object_get(m, "spec");
	if (v == NULL)
		c->spec[0] = '\0';
	else if (!json_is_string(v) || json_string_length(v) > SPEC_MAX)
		return -EBADMSG;
	else
		memcpy(c->spec, json_string_value(v),
		    json_string_length(v) + 1);
	c->generation = (uint64_t)g;
	snprintf(c->gen_dir, sizeof(c->gen_dir), "%s", gen);
	return 0;
}

/* Returns the generation number of meta m, or 0 when it has none. */
static uint64_t
meta_generation(const json_t *m)
{
	int64_t g;

	if (meta_int(m, "generation", &g) < 0 || g < 1)
		return 0;
	return (uint64_t)g;
}

/*
 * Returns the "files" object of m when every entry is well formed (valid
 * name, 64 hex digits, a size within limits), else NULL.  Borrowed.
 */
static json_t *
meta_files(json_t *m)
{
	json_t *files, *e, *h, *sz;
	const char *name, *hex;
	size_t i;

	files = json_object_get(m, "files");
	if (!json_is_object(files) || json_object_size(files) == 0 ||
	    json_object_size(files) > SINK_MAX_FILES)
		return NULL;
	json_object_foreach(files, name, e) {
		if (!name_valid(name) || strcmp(name, META_NAME) == 0)
			return NULL;
		h = json_object_get(e, "sha256");
		sz = json_object_get(e, "size");
		if (!json_is_string(h) || !json_is_integer(sz) ||
		    json_integer_value(sz) < 0 ||
		    json_integer_value(sz) > SINK_MAX_FILE_SIZE)
			return NULL;
		hex = json_string_value(h);
		if (strlen(hex) != HEX_LEN)
			return NULL;
		for (i = 0; i < HEX_LEN; i++)
			if (!((hex[i] >= '0' && hex[i] <= '9') ||
			    (hex[i] >= 'a' && hex[i] <= 'f')))
				return NULL;
	}
	return files;
}

/*
 * Returns 1 when meta m lists exactly files with the hashes in hex, and
 * the same spec (absent and empty are the same).  A malformed entry simply
 * compares unequal, so no validation pass first.
 */
static int
meta_same(json_t *m, const char *spec, const struct sink_file *files,
    size_t n_files, char hex[][HEX_LEN + 1])
{
	json_t *fo, *e;
	const char *h;
	size_t i;

	h = json_string_value(json_object_get(m, "spec"));
	if (strcmp(h != NULL ? h : "", spec != NULL ? spec : "") != 0)
		return 0;
	fo = json_object_get(m, "files");
	if (json_object_size(fo) != n_files)
		return 0;
	for (i = 0; i < n_files; i++) {
		e = json_object_get(fo, files[i].name);
		h = json_string_value(json_object_get(e, "sha256"));
		if (h == NULL || strcmp(h, hex[i]) != 0 ||
		    !json_is_integer(json_object_get(e, "size")) ||
		    json_integer_value(json_object_get(e, "size")) !=
		    (json_int_t)files[i].len)
			return 0;
	}
	return 1;
}

/* A bounded output buffer; overflow is sticky and reported at the end. */
struct obuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 over;
};

static void
ob_put(struct obuf *o, const char *s, size_t n)
{
	if (o->over || n > o->cap - o->len) {
		o->over = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
ob_str(struct obuf *o, const char *s)
{
	ob_put(o, s, strlen(s));
}

/* Appends s as a JSON string; check_args() allowed only printable ASCII. */
static void
ob_jstr(struct obuf *o, const char *s)
{
	const char *run;

	ob_put(o, "\"", 1);
	for (run = s; *s != '\0'; s++) {
		if (*s != '"' && *s != '\\')
			continue;
		ob_put(o, run, (size_t)(s - run));
		ob_put(o, "\\", 1);
		run = s;
	}
	ob_put(o, run, (size_t)(s - run));
	ob_put(o, "\"", 1);
}

static void
ob_int(struct obuf *o, int64_t v)
{
	char tmp[24], *q = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--q = '-';
	ob_put(o, q, (size_t)(tmp + sizeof(tmp) - q));
}

/*
 * Serializes meta.json for a new generation into s->buf and returns its
 * length, or -E2BIG.  It holds names, times and hashes, never content.
 * Written by hand rather than through jansson: every string in it is
 * validated ASCII, and this runs on every publish.
 */
static ssize_t
meta_build(struct sink *s, const struct sink_meta *meta, uint64_t generation,
    const struct sink_file *files, size_t n_files, char hex[][HEX_LEN + 1])
{
	struct obuf o = { s->buf, 0, META_MAX, 0 };
	char expires[32] = "";
	time_t t = (time_t)meta->not_after;
	struct tm tm;
	size_t i;

	if (gmtime_r(&t, &tm) != NULL)
		strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ob_str(&o, "{\n  \"name\": ");
	ob_jstr(&o, meta->name);
	ob_str(&o, ",\n  \"type\": ");
	ob_jstr(&o, meta->type);
	if (meta->spec != NULL && meta->spec[0] != '\0') {
		ob_str(&o, ",\n  \"spec\": ");
		ob_jstr(&o, meta->spec);
	}
	ob_str(&o, ",\n  \"generation\": ");
	ob_int(&o, (int64_t)generation);
	ob_str(&o, ",\n  \"issued_at\": ");
	ob_int(&o, meta->issued_at);
	ob_str(&o, ",\n  \"not_before\": ");
	ob_int(&o, meta->not_before);
	ob_str(&o, ",\n  \"not_after\": ");
	ob_int(&o, meta->not_after);
	ob_str(&o, ",\n  \"renew_at\": ");
	ob_int(&o, meta->renew_at);
	ob_str(&o, ",\n  \"expires\": ");
	ob_jstr(&o, expires);
	ob_str(&o, ",\n  \"files\": {");
	for (i = 0; i < n_files; i++) {
		ob_str(&o, i == 0 ? "\n    " : ",\n    ");
		ob_jstr(&o, files[i].name);
		ob_str(&o, ": {\"sha256\": \"");
		ob_put(&o, hex[i], HEX_LEN);
		ob_str(&o, "\", \"size\": ");
		ob_int(&o, (int64_t)files[i].len);
		ob_str(&o, "}");
	}
	ob_str(&o, "\n  }\n}\n");
	return o.over ? -E2BIG : (ssize_t)o.len;
}

/*
 * Creates file name in gfd with its final mode and owner before the first
 * byte: O_EXCL so nothing already there is reused, O_NOFOLLOW, then fchown
 * and, unless the caller cleared the umask (exact), fchmod (the umask may
 * have narrowed the mode), write, fsync.  Returns 0 or -errno.
 */
static int
write_file(int gfd, const char *name, const void *data, size_t len,
    mode_t mode, uid_t uid, gid_t gid, int sync, int exact)
{
	int fd, r = 0;

	fd = openat(gfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		r = -errno;
	else if (!exact && fchmod(fd, mode) < 0)
		r = -errno;
	else
		r = write_all(fd, data, len);
	if (r == 0 && sync && fsync(fd) < 0)
		r = -errno;
	/* Linux frees the fd even when close fails; never retry it. */
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	return r;
}

/*
 * Fills the half-made generation directory tmp of cfd: every file, then
 * meta.json, then the directory's own owner and mode, then fsync.
 * Returns 0 or -errno.
 */
static int
write_generation(struct sink *s, int cfd, const char *tmp,
    const struct sink_file *files, size_t n_files, char hex[][HEX_LEN + 1],
    const struct sink_meta *meta, uint64_t generation, uid_t uid, gid_t gid,
    mode_t dir_mode, int sync)
{
	ssize_t mlen;
	size_t i;
	mode_t mask;
	int gfd, r = 0;

	gfd = open_dir_at(cfd, tmp);
	if (gfd < 0)
		return gfd;
	/*
	 * With the umask cleared, openat() gives every file exactly its mode,
	 * which saves an fchmod per file.  rotatord is single-threaded where
	 * files are made, and every file it creates names its mode.
	 */
	mask = umask(0);
	for (i = 0; i < n_files && r == 0; i++)
		r = write_file(gfd, files[i].name, files[i].data, files[i].len,
		    files[i].mode, uid, gid, sync, 1);
	if (r < 0)
		goto out;
	mlen = meta_build(s, meta, generation, files, n_files, hex);
	if (mlen < 0) {
		r = (int)mlen;
		goto out;
	}
	r = write_file(gfd, META_NAME, s->buf, (size_t)mlen, META_MODE, uid,
	    gid, sync, 1);
	if (r < 0)
		goto out;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(gfd, uid, gid) < 0)
		r = -errno;
	else if (fchmod(gfd, dir_mode) < 0)
		r = -errno;
	else if (sync && fsync(gfd) < 0)
		r = -errno;
out:
	umask(mask);
	close(gfd);
	return r;
}

/*
 * Returns the highest generation number found in the meta.json of any
 * listed generation, or 0.  Only used when the current meta.json is
 * unreadable, so that numbers keep increasing.
 */
static uint64_t
newest_generation(struct sink *s, int cfd)
{
	uint64_t g, best = 0;
	json_t *m;
	size_t i;

	for (i = 0; i < s->n_dents; i++) {
		if (!dent_is_gen(&s->dents[i]) ||
		    meta_load(s, cfd, s->dents[i].name, &m) < 0)
			continue;
		g = meta_generation(m);
		if (g > best)
			best = g;
		json_decref(m);
	}
	return best;
}

/*
 * Picks the name of a new generation into gen: the time now, or just
 * after the newest listed generation (either form) when the clock is
 * behind it, so that name order stays publish order; pruning relies on
 * it.  Returns the time the name stands for.
 */
static void
gen_pick(const struct sink *s, char *gen, struct timespec *ret)
{
	struct timespec now;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &now);
	gen_format(gen, &now);
	/* Sorted listing: the last entry with a generation prefix is newest. */
	for (i = s->n_dents; i-- > 0; ) {
		if (!gen_prefix(s->dents[i].name))
			continue;
		if (strncmp(gen, s->dents[i].name, GEN_LEN) <= 0 &&
		    gen_parse(s->dents[i].name, &now) == 0) {
			ts_bump(&now);
			gen_format(gen, &now);
		}
		break;
	}
	*ret = now;
}

/* Returns 1 for a non-NULL printable ASCII string of at most max bytes. */
static int
ascii_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

static unsigned
last_bucket(const char *dir)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *dir != '\0'; dir++)
		h = (h ^ (unsigned char)*dir) * 16777619u;
	return h % LAST_BUCKETS;
}

static struct last *
last_find(struct sink *s, const char *dir)
{
	struct last *l;

	for (l = s->last[last_bucket(dir)]; l != NULL; l = l->next)
		if (strcmp(l->dir, dir) == 0)
			return l;
	return NULL;
}

/* Records a publish; without memory the next publish just reads meta.json. */
static void
last_put(struct sink *s, const char *dir, const char *gen, uint64_t generation,
    const unsigned char *digest)
{
	struct last *l = last_find(s, dir);
	unsigned b;

	if (l == NULL) {
		l = malloc(sizeof(*l) + strlen(dir) + 1);
		if (l == NULL)
			return;
		strcpy(l->dir, dir);
		b = last_bucket(dir);
		l->next = s->last[b];
		s->last[b] = l;
	}
	l->generation = generation;
	memcpy(l->digest, digest, sizeof(l->digest));
	memcpy(l->gen, gen, GEN_LEN + 1);
}

/* Forgets dir, so that its next publish reads meta.json again. */
static void
last_drop(struct sink *s, const char *dir)
{
	struct last *l = last_find(s, dir);

	if (l != NULL)
		l->gen[0] = '\0';
}

/*
 * Digests what decides "unchanged": spec, then each file's name, hash and
 * size in name order (so the caller's order does not matter), into out.
 * Returns 0 or -EIO.
 */
static int
set_digest(const struct sink *s, const char *spec,
    const struct sink_file *files, size_t n_files, char hex[][HEX_LEN + 1],
    unsigned char *out)
{
	char buf[SPEC_MAX + 2 +
	    SINK_MAX_FILES * (SINK_NAME_MAX + HEX_LEN + 24)];
	size_t idx[SINK_MAX_FILES], i, j, t, len;
	unsigned int mdlen = 0;
	int n;

	/* check_args() bounded spec to SPEC_MAX printable bytes. */
	n = snprintf(buf, sizeof(buf), "%s\n", spec != NULL ? spec : "");
	if (n < 0)
		return -EIO;
	len = (size_t)n;
	for (i = 0; i < n_files; i++) {
		for (j = i; j > 0 && strcmp(files[idx[j - 1]].name,
		    files[i].name) > 0; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
	for (i = 0; i < n_files; i++) {
		t = idx[i];
		n = snprintf(buf + len, sizeof(buf) - len, "%s/%s/%zu\n",
		    files[t].name, hex[t], files[t].len);
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			return -EIO;
		len += (size_t)n;
	}
	if (!EVP_Digest(buf, len, out, &mdlen, s->sha256, NULL) || mdlen != 32)
		return -EIO;
	return 0;
}

static int
check_args(const char *dir, const struct sink_file *files, size_t n_files,
    const struct sink_meta *meta, mode_t dir_mode)
{
	size_t i, j;

	if (!name_valid(dir) || files == NULL || n_files == 0 ||
	    n_files > SINK_MAX_FILES || meta == NULL ||
	    !ascii_valid(meta->name, META_STR_MAX) ||
	    !ascii_valid(meta->type, META_STR_MAX) ||
	    (meta->spec != NULL && !ascii_valid(meta->spec, SPEC_MAX)))
		return -EINVAL;
	/* Generations are never group- or world-writable. */
	if ((dir_mode & ~(mode_t)0755) != 0 || (dir_mode & 0700) != 0700)
		return -EINVAL;
	for (i = 0; i < n_files; i++) {
		if (!name_valid(files[i].name) ||
		    strcmp(files[i].name, META_NAME) == 0 ||
		    (files[i].mode & ~(mode_t)0755) != 0 ||
		    (files[i].data == NULL && files[i].len > 0))
			return -EINVAL;
		if (files[i].len > SINK_MAX_FILE_SIZE)
			return -E2BIG;
		for (j = 0; j < i; j++)
			if (strcmp(files[i].name, files[j].name) == 0)
				return -EINVAL;
	}
	return 0;
}

int
sink_publish(struct sink *s, const char *dir, const struct sink_file *files,
    size_t n_files, const struct sink_meta *meta, uid_t uid, gid_t gid,
    mode_t dir_mode, uint64_t *ret_generation)
{
	char hex[SINK_MAX_FILES][HEX_LEN + 1];
	char cur[GEN_BUF], gen[GEN_BUF], tmp[GEN_BUF];
	unsigned char digest[32];
	int state[SINK_MAX_FILES];
	struct last *last;
	struct timespec ts;
	json_t *old = NULL;
	uint64_t generation = 0;
	const char *cur_ok = NULL;
	int cfd = -1, r, sync, tries;
	size_t i;

	if (dir_mode == 0)
		dir_mode = SINK_DIR_MODE_DEFAULT;
	r = check_args(dir, files, n_files, meta, dir_mode);
	if (r < 0)
		return r;
	for (i = 0; i < n_files; i++) {
		r = sha256_hex(s, files[i].data, files[i].len, hex[i]);
		if (r < 0)
			return r;
	}
	r = set_digest(s, meta->spec, files, n_files, hex, digest);
	if (r < 0)
		return r;
	cfd = open_cred_dir(s, dir, 1);
	if (cfd < 0)
		return cfd;

	/* The current generation decides "unchanged" and the number. */
	r = read_data_link(cfd, cur);
	last = r == 0 ? last_find(s, dir) : NULL;
	if (last != NULL && strcmp(last->gen, cur) == 0) {
		generation = last->generation;
		cur_ok = cur;
		if (memcmp(last->digest, digest, sizeof(digest)) == 0)
			goto out;
	} else if (r == 0) {
		r = meta_load(s, cfd, cur, &old);
		if (r == 0 && (generation = meta_generation(old)) != 0) {
			cur_ok = cur;
			if (meta_same(old, meta->spec, files, n_files, hex)) {
				last_put(s, dir, cur, generation, digest);
				r = 0;
				goto out;
			}
		} else
			log_warn("sink: %s: current generation %s has no valid"
			    " meta.json, writing a new one", dir, cur);
	} else if (r != -ENOENT)
		goto out;

	r = list_dir(s, cfd);
	if (r < 0)
		goto out;
	if (cur_ok == NULL)
		generation = newest_generation(s, cfd);

	/* Refuse before writing anything if a visible name is not ours. */
	for (i = 0; i < n_files; i++) {
		state[i] = dent_find(s, files[i].name) == NULL ? LINK_ABSENT :
		    link_state(cfd, files[i].name);
		if (state[i] < 0) {
			r = state[i];
			goto out;
		}
	}
	sync = s->sync;

	gen_pick(s, gen, &ts);
	for (tries = 0;; tries++, ts_bump(&ts), gen_format(gen, &ts)) {
		memcpy(tmp, gen, GEN_LEN);
		memcpy(tmp + GEN_LEN, TMP_SUFFIX, TMP_SUFFIX_LEN + 1);
		if (mkdirat(cfd, tmp, 0700) == 0)
			break;
		if (errno != EEXIST || tries == GEN_TRIES) {
			r = -errno;
			goto out;
		}
	}
	r = write_generation(s, cfd, tmp, files, n_files, hex, meta,
	    generation + 1, uid, gid, dir_mode, sync);
	for (tries = 0; r == 0; tries++, ts_bump(&ts), gen_format(gen, &ts)) {
		if (renameat2(cfd, tmp, cfd, gen, RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || tries == GEN_TRIES)
			r = -errno;
	}
	if (r < 0) {
		(void)remove_tree(cfd, tmp, 0);
		goto out;
	}
	/* The directory entry must be durable before "..data" names it. */
	if (sync && fsync(cfd) < 0) {
		r = -errno;
		(void)remove_tree(cfd, gen, 0);
		goto out;
	}

	/*
	 * Unlink our links to names leaving the set while the old generation
	 * is still current, so no visible link ever dangles.
	 */
	for (i = 0; i < s->n_dents; i++) {
		struct dent *d = &s->dents[i];

		if (!name_valid(d->name) || in_set(files, n_files, d->name) ||
		    (d->type != DT_LNK && d->type != DT_UNKNOWN) ||
		    link_state(cfd, d->name) != LINK_OURS)
			continue;
		if (unlinkat(cfd, d->name, 0) == 0)
			d->unlinked = 1;
		else
			log_warn("sink: %s: cannot remove link %s: %s", dir,
			    d->name, strerror(errno));
	}

	r = data_swap(cfd, gen);
	if (r < 0) {
		/* The old generation stays current: give its links back. */
		for (i = 0; i < s->n_dents; i++)
			if (s->dents[i].unlinked)
				(void)link_create(cfd, s->dents[i].name);
		(void)remove_tree(cfd, gen, 0);
		goto out;
	}
	generation++;
	r = 1;
	last_put(s, dir, gen, generation, digest);

	/*
	 * The generation is visible now: what follows cannot undo it, so
	 * failures are logged and left to the next publish or to repair.
	 */
	for (i = 0; i < n_files; i++) {
		int e;

		if (state[i] == LINK_ABSENT &&
		    (e = link_create(cfd, files[i].name)) < 0)
			log_warn("sink: %s: cannot create link %s: %s, the file"
			    " stays reachable as ..data/%s", dir, files[i].name,
			    strerror(-e), files[i].name);
	}
	prune(s, cfd, dir, gen, cur_ok, files, n_files,
	    json_object_get(old, "files"));
	if (sync && fsync(cfd) < 0)
		log_warn("sink: %s: fsync: %s", dir, strerror(errno));
out:
	if (r >= 0 && ret_generation != NULL)
		*ret_generation = generation;
	json_decref(old);
	if (cfd >= 0)
		close(cfd);
	return r;
}

int
sink_read_current(struct sink *s, const char *dir, struct sink_current *ret)
{
	struct sink_current c;
	char gen[GEN_BUF];
	json_t *m = NULL;
	int cfd, r;

	if (!name_valid(dir))
		return -EINVAL;
	cfd = open_cred_dir(s, dir, 0);
	if (cfd < 0)
		return cfd;
	r = read_data_link(cfd, gen);
	if (r == 0)
		r = meta_load(s, cfd, gen, &m);
	if (r == 0)
		r = meta_current(m, gen, &c);
	if (r == 0)
		*ret = c;
	json_decref(m);
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
	char gen[GEN_BUF];
	int cfd, fd, r;

	if (!name_valid(dir) || !(name_valid(name) ||
	    (name != NULL && strcmp(name, META_NAME) == 0)))
		return -EINVAL;
	cfd = open_cred_dir(s, dir, 0);
	if (cfd < 0)
		return cfd;
	r = read_data_link(cfd, gen);
	if (r == 0) {
		fd = open_gen_file(s, cfd, gen, name);
		if (fd < 0)
			r = fd;
		else {
			r = read_fd(fd, ret, ret_len);
			close(fd);
		}
	}
	close(cfd);
	return r;
}

/*
 * Checks that generation gen of cfd is complete: meta.json parses and
 * every file it lists is a regular file with the recorded size and hash.
 * Returns 0 and the meta in *ret (json_decref() it), or -errno.
 */
static int
gen_verify(struct sink *s, int cfd, const char *gen, json_t **ret)
{
	char hex[HEX_LEN + 1];
	const char *name;
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
		r = sha256_hex(s, buf, len, hex);
		OPENSSL_cleanse(buf, len);
		free(buf);
		if (r == 0 && ((json_int_t)len !=
		    json_integer_value(json_object_get(e, "size")) ||
		    strcmp(hex, json_string_value(json_object_get(e,
		    "sha256"))) != 0))
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

int
sink_repair(struct sink *s, const char *dir)
{
	char cur[GEN_BUF], target[LINK_BUF];
	json_t *m = NULL, *files, *v;
	const char *cur_ok = NULL, *name;
	int cfd, r = 0, e;
	size_t i, len;

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

	/* Temporary entries of an interrupted publish. */
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
			/* Only "NAME.tmp" -> "..data/NAME" links are ours. */
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

	/* The current generation, or else the newest complete one. */
	e = read_data_link(cfd, cur);
	if (e == -ELOOP || e == -EEXIST) {
		log_warn("sink: %s: ..data was not made by rotatord, leaving"
		    " it alone", dir);
		first_err(&r, e);
		goto out;
	}
	if (e == 0 && gen_verify(s, cfd, cur, &m) == 0)
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
	files = json_object_get(m, "files");
	for (i = 0; i < s->n_dents; i++) {
		name = s->dents[i].name;
		if (!name_valid(name) || json_object_get(files, name) != NULL)
			continue;
		if (link_state(cfd, name) == LINK_OURS &&
		    unlinkat(cfd, name, 0) < 0)
			first_err(&r, -errno);
	}
	json_object_foreach(files, name, v) {
		e = link_state(cfd, name);
		if (e == LINK_ABSENT)
			e = link_create(cfd, name);
		if (e < 0) {
			log_warn("sink: %s: cannot link %s: %s", dir, name,
			    strerror(-e));
			first_err(&r, e);
		}
	}
	prune(s, cfd, dir, cur_ok, cur_ok, NULL, 0, NULL);
out:
	if (s->sync && fsync(cfd) < 0)
		first_err(&r, -errno);
	json_decref(m);
	close(cfd);
	return r;
}

int
sink_open(const char *output_dir, struct sink **ret)
{
	struct sink *s;
	int fd, created = 0, r;

	if (output_dir == NULL || output_dir[0] == '\0')
		return -EINVAL;
	/* The operator chose output_dir, so a symlink on its path is fine. */
	fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(output_dir, 0755) == 0)
			created = 1;
		else if (errno != EEXIST)
			return -errno;
		fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	/* Readers must traverse it whatever the umask was. */
	if (created && fchmod(fd, 0755) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		return -ENOMEM;
	}
	s->dfd = fd;
	s->keep_old = SINK_KEEP_OLD;
	/*
	 * Checked once: credential directories are made inside output_dir,
	 * so they share its file system unless an operator mounts over one.
	 */
	s->sync = !fs_volatile(fd);
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	s->buf = malloc(META_MAX + 1);
	if (s->sha256 == NULL || s->buf == NULL) {
		r = s->buf == NULL ? -ENOMEM : -EIO;
		sink_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

void
sink_close(struct sink *s)
{
	struct last *l, *next;
	unsigned b;

	if (s == NULL)
		return;
	for (b = 0; b < LAST_BUCKETS; b++)
		for (l = s->last[b]; l != NULL; l = next) {
			next = l->next;
			free(l);
		}
	if (s->dfd >= 0)
		close(s->dfd);
	EVP_MD_free(s->sha256);
	free(s->buf);
	free(s->dents);
	free(s);
}

void
sink_set_keep_old(struct sink *s, unsigned keep_old)
{
	s->keep_old = keep_old;
}
