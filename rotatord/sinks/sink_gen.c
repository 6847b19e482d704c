/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names the sink accepts, generation names "..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN"
 * and picking a new one, and writing a generation under its temporary name.
 * Never touches "..data", a visible link or a state record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sinks/sink_int.h"

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
int
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
int
gen_is_name(const char *s)
{
	return strlen(s) == GEN_LEN && gen_prefix(s);
}

/* Returns 1 for a half-made generation directory name, "..TS.tmp". */
int
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
void
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

void
ts_bump(struct timespec *ts)
{
	if (++ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec = 0;
	}
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
 * meta.json, then the directory's own owner and mode, then fsync.  The
 * SHA-256 and size of meta.json and the owner the directory ended up with
 * go into *mrec.  Returns 0 or -errno.
 */
int
write_generation(struct sink *s, int cfd, const char *tmp,
    const struct material_file *files, size_t n_files, char hex[][HEX_LEN + 1],
    const struct material_meta *meta, uint64_t generation, uid_t uid, gid_t gid,
    mode_t dir_mode, int sync, int made_exact, struct sink_record *mrec)
{
	struct sink_record_file *mf = &mrec->files[n_files];
	struct stat st;
	ssize_t mlen;
	size_t i;
	int gfd, r = 0;

	gfd = open_dir_at(cfd, tmp);
	if (gfd < 0)
		return gfd;
	/* The caller cleared the umask: each file gets exactly its mode. */
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
	r = sha256_hex(s, s->buf, (size_t)mlen, mf->sha256);
	if (r < 0)
		goto out;
	snprintf(mf->name, sizeof(mf->name), "%s", META_NAME);
	mf->size = (uint64_t)mlen;
	mf->mode = META_MODE;
	r = write_file(gfd, META_NAME, s->buf, (size_t)mlen, META_MODE, uid,
	    gid, sync, 1);
	if (r < 0)
		goto out;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(gfd, uid, gid) < 0)
		r = -errno;
	else if (!made_exact && fchmod(gfd, dir_mode) < 0)
		r = -errno;
	else if (fstat(gfd, &st) < 0)
		r = -errno;
	else if (sync && fsync(gfd) < 0)
		r = -errno;
	if (r == 0) {
		/* Files and directory were made alike: one owner for all. */
		mrec->uid = st.st_uid;
		mrec->gid = st.st_gid;
		mrec->dir_mode = dir_mode;
	}
out:
	close(gfd);
	return r;
}

/*
 * Picks the name of a new generation into gen: the time now, or just
 * after the newest listed generation (either form) when the clock is
 * behind it, so that name order stays publish order; pruning relies on
 * it.  Returns the time the name stands for.
 */
void
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
int
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
