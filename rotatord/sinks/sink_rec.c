/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state records, state_dir/creds/DIR.json: text form, load (trusted
 * only as our own 0600 file), store, check a generation against one; the
 * SHA-256 of files and of what decides "unchanged".  Never writes output_dir.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <idp/crypto.h>
#include <idp/jsonw.h>

#include "sinks/sink_int.h"

/* Writes the lowercase hex of a SHA-256 digest into hex (HEX_LEN + 1). */
static void
digest_hex(const unsigned char md[IDP_SHA256_LEN], char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < IDP_SHA256_LEN; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[HEX_LEN] = '\0';
}

/* Writes the lowercase hex of the SHA-256 of data into hex (HEX_LEN + 1). */
int
sha256_hex(const struct sink *s, const void *data, size_t len, char *hex)
{
	unsigned char md[IDP_SHA256_LEN];

	if (idp_sha256(data, len, md) != 0)
		return -EIO;
	digest_hex(md, hex);
	return 0;
}

/* One file as "unchanged" sees it. */
struct dig_ent {
	const char	*name;
	const char	*hex;
	uint64_t	 len;
};

/*
 * Digests what decides "unchanged": spec, then each file's name, hash and
 * size in name order (so the caller's order does not matter), into out.
 * Sorts e.  Returns 0 or -EIO.
 */
static int
digest_ents(const struct sink *s, const char *spec, struct dig_ent *e,
    size_t n_ents, unsigned char *out)
{
	char buf[SPEC_MAX + 2 +
	    SINK_MAX_FILES * (SINK_NAME_MAX + HEX_LEN + 24)];
	struct dig_ent t;
	size_t i, j, len;
	int n;

	if (n_ents > SINK_MAX_FILES)
		return -EIO;
	/* check_args() bounded spec to SPEC_MAX printable bytes. */
	n = snprintf(buf, sizeof(buf), "%s\n", spec != NULL ? spec : "");
	if (n < 0)
		return -EIO;
	len = (size_t)n;
	for (i = 1; i < n_ents; i++) {
		t = e[i];
		for (j = i; j > 0 && strcmp(e[j - 1].name, t.name) > 0; j--)
			e[j] = e[j - 1];
		e[j] = t;
	}
	for (i = 0; i < n_ents; i++) {
		n = snprintf(buf + len, sizeof(buf) - len, "%s/%s/%llu\n",
		    e[i].name, e[i].hex, (unsigned long long)e[i].len);
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			return -EIO;
		len += (size_t)n;
	}
	return idp_sha256(buf, len, out) != 0 ? -EIO : 0;
}

int
set_digest(const struct sink *s, const char *spec,
    const struct material_file *files, size_t n_files, char hex[][HEX_LEN + 1],
    unsigned char *out)
{
	struct dig_ent e[SINK_MAX_FILES];
	size_t i;

	for (i = 0; i < n_files && i < SINK_MAX_FILES; i++)
		e[i] = (struct dig_ent){ files[i].name, hex[i], files[i].len };
	return digest_ents(s, spec, e, n_files, out);
}

/* The same digest of what a state record lists (meta.json aside). */
int
rec_digest(const struct sink *s, const struct sink_record *r,
    unsigned char *out)
{
	struct dig_ent e[SINK_MAX_FILES + 1];
	size_t i, n = 0;

	for (i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].name, META_NAME) != 0)
			e[n++] = (struct dig_ent){ r->files[i].name,
			    r->files[i].sha256, r->files[i].size };
	return digest_ents(s, r->spec, e, n, out);
}

void
why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void
ob_mode(struct idp_jw *o, mode_t m)
{
	char tmp[8];

	snprintf(tmp, sizeof(tmp), "\"%04o\"", (unsigned)(m & 07777));
	idp_jw_lit(o, tmp);
}

/* One member of a record after the first: ",\n  "key": ' and the value. */
static void
rf_key(struct idp_jw *o, const char *key)
{
	idp_jw_lit(o, ",\n  \"");
	idp_jw_lit(o, key);
	idp_jw_lit(o, "\": ");
}

static void
rf_str(struct idp_jw *o, const char *key, const char *v)
{
	rf_key(o, key);
	idp_jw_str(o, v);
}

static void
rf_int(struct idp_jw *o, const char *key, int64_t v)
{
	rf_key(o, key);
	idp_jw_int(o, v);
}

ssize_t
sink_record_format(const struct sink_record *r, char *buf, size_t cap)
{
	struct idp_jw o;
	size_t i;

	idp_jw_fixed(&o, buf, cap);
	idp_jw_lit(&o, "{\n  \"version\": 1");
	rf_str(&o, "dir", r->dir);
	rf_str(&o, "name", r->name);
	rf_str(&o, "type", r->type);
	rf_str(&o, "spec", r->spec);
	rf_int(&o, "generation", (int64_t)r->generation);
	rf_str(&o, "gen_dir", r->gen_dir);
	rf_int(&o, "issued_at", r->issued_at);
	rf_int(&o, "not_before", r->not_before);
	rf_int(&o, "not_after", r->not_after);
	rf_int(&o, "renew_at", r->renew_at);
	rf_int(&o, "uid", (int64_t)r->uid);
	rf_int(&o, "gid", (int64_t)r->gid);
	rf_key(&o, "dir_mode");
	ob_mode(&o, r->dir_mode);
	idp_jw_lit(&o, ",\n  \"files\": {");
	for (i = 0; i < r->n_files; i++) {
		idp_jw_lit(&o, i == 0 ? "\n    " : ",\n    ");
		idp_jw_str(&o, r->files[i].name);
		idp_jw_lit(&o, ": {\"sha256\": \"");
		idp_jw_raw(&o, r->files[i].sha256, HEX_LEN);
		idp_jw_lit(&o, "\", \"size\": ");
		idp_jw_int(&o, (int64_t)r->files[i].size);
		idp_jw_lit(&o, ", \"mode\": ");
		ob_mode(&o, r->files[i].mode);
		idp_jw_lit(&o, "}");
	}
	idp_jw_lit(&o, "\n  }\n}\n");
	return o.bad ? -E2BIG : (ssize_t)o.len;
}

static int
rj_int(const json_t *o, const char *key, int64_t min, int64_t max,
    int64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

/* Copies printable ASCII string key of at most max bytes into out. */
static int
rj_str(const json_t *o, const char *key, size_t max, char *out)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v == NULL || !ascii_valid(v, max))
		return -EBADMSG;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* Parses "0644": a leading 0 and three octal digits. */
static int
rj_mode(const json_t *o, const char *key, mode_t *ret)
{
	const char *v = json_string_value(json_object_get(o, key));
	mode_t m = 0;
	size_t i;

	if (v == NULL || strlen(v) != 4 || v[0] != '0')
		return -EBADMSG;
	for (i = 1; i < 4; i++) {
		if (v[i] < '0' || v[i] > '7')
			return -EBADMSG;
		m = m * 8 + (mode_t)(v[i] - '0');
	}
	*ret = m;
	return 0;
}

int
hex_valid(const char *hex)
{
	size_t i;

	if (hex == NULL || strlen(hex) != HEX_LEN)
		return 0;
	for (i = 0; i < HEX_LEN; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f')))
			return 0;
	return 1;
}

int
sink_record_parse(const char *buf, size_t len, struct sink_record *r)
{
	struct sink_record_file *f;
	json_t *j, *files, *e;
	const char *name;
	int64_t v;
	int rc = -EBADMSG, metas = 0;

	memset(r, 0, sizeof(*r));
	if (buf == NULL || len > REC_MAX)
		return -EBADMSG;
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j))
		goto out;
	if (rj_int(j, "version", 1, 1, &v) < 0 ||
	    rj_str(j, "dir", SINK_NAME_MAX, r->dir) < 0 ||
	    !name_valid(r->dir) ||
	    rj_str(j, "name", META_STR_MAX, r->name) < 0 ||
	    rj_str(j, "type", META_STR_MAX, r->type) < 0 ||
	    rj_str(j, "spec", SPEC_MAX, r->spec) < 0 ||
	    rj_str(j, "gen_dir", GEN_LEN, r->gen_dir) < 0 ||
	    !gen_is_name(r->gen_dir) ||
	    rj_int(j, "generation", 1, (int64_t)GEN_NUM_MAX, &v) < 0)
		goto out;
	r->generation = (uint64_t)v;
	if (rj_int(j, "issued_at", INT64_MIN, INT64_MAX, &r->issued_at) < 0 ||
	    rj_int(j, "not_before", INT64_MIN, INT64_MAX, &r->not_before) < 0 ||
	    rj_int(j, "not_after", INT64_MIN, INT64_MAX, &r->not_after) < 0 ||
	    rj_int(j, "renew_at", INT64_MIN, INT64_MAX, &r->renew_at) < 0)
		goto out;
	/* (uid_t)-1 means "no owner"; a record holds the owner found. */
	if (rj_int(j, "uid", 0, (int64_t)UINT32_MAX - 1, &v) < 0)
		goto out;
	r->uid = (uid_t)v;
	if (rj_int(j, "gid", 0, (int64_t)UINT32_MAX - 1, &v) < 0)
		goto out;
	r->gid = (gid_t)v;
	if (rj_mode(j, "dir_mode", &r->dir_mode) < 0 ||
	    (r->dir_mode & ~(mode_t)0755) != 0 ||
	    (r->dir_mode & 0700) != 0700)
		goto out;
	files = json_object_get(j, "files");
	if (!json_is_object(files) || json_object_size(files) < 2 ||
	    json_object_size(files) > SINK_MAX_FILES + 1)
		goto out;
	json_object_foreach(files, name, e) {
		f = &r->files[r->n_files];
		if (strcmp(name, META_NAME) == 0)
			metas++;
		else if (!name_valid(name))
			goto out;
		if (!json_is_object(e) ||
		    !hex_valid(json_string_value(json_object_get(e,
		    "sha256"))) ||
		    rj_int(e, "size", 0, strcmp(name, META_NAME) == 0 ?
		    META_MAX : SINK_MAX_FILE_SIZE, &v) < 0 ||
		    rj_mode(e, "mode", &f->mode) < 0 ||
		    (f->mode & ~(mode_t)0755) != 0)
			goto out;
		memcpy(f->name, name, strlen(name) + 1);
		memcpy(f->sha256, json_string_value(json_object_get(e,
		    "sha256")), HEX_LEN + 1);
		f->size = (uint64_t)v;
		r->n_files++;
	}
	if (metas != 1)
		goto out;
	rc = 0;
out:
	json_decref(j);
	if (rc < 0)
		memset(r, 0, sizeof(*r));
	return rc;
}

/*
 * Hashes what is left of regular file fd into hex, which must come to
 * exactly size bytes (-EBADMSG otherwise).  Returns 0 or -errno.
 */
static int
hash_fd(struct sink *s, int fd, uint64_t size, char *hex)
{
	unsigned char buf[16384], md[IDP_SHA256_LEN];
	uint64_t done = 0;
	size_t used = 0;	/* of buf, to wipe */
	ssize_t n;
	int r = 0;

	/*
	 * Each read asks for one byte more than is left: a regular file that
	 * has exactly size bytes ends with a short read, without another
	 * read(2) to see EOF.  (A short read for any other reason reads as a
	 * mismatch, which costs a re-mint, never a wrong reuse.)
	 */
	for (;;) {
		size_t want = size - done + 1 < sizeof(buf) ?
		    (size_t)(size - done + 1) : sizeof(buf);

		n = read(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > used)
			used = (size_t)n;
		done += (uint64_t)n;
		if (done > size) {
			r = -EBADMSG;
			break;
		}
		idp_sha256_update(s->sha256, buf, (size_t)n);
		if ((size_t)n < want)
			break;
	}
	/*
	 * What was read may be a key: wipe that, and only that (the buffer
	 * is 16 KiB, most files a few hundred bytes).
	 */
	idp_wipe(buf, used);
	/* Always final: it also starts the context's next message. */
	if (idp_sha256_final(s->sha256, md) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && done != size)
		r = -EBADMSG;
	if (r < 0)
		return r;
	digest_hex(md, hex);
	return 0;
}

/*
 * Loads the state record of dir into r, trusting only a regular file (not
 * a symlink) owned by our euid with no group or other bits.  Returns 0,
 * -ENOENT, -EPERM (untrusted), -EBADMSG (malformed) or -errno, with the
 * reason in why.
 */
static int
rec_load(struct sink *s, const char *dir, struct sink_record *r, char *why,
    size_t whylen)
{
	char name[SINK_NAME_MAX + sizeof(REC_SUFFIX)];
	struct stat st;
	ssize_t n;
	int fd, e;

	if (s->sfd < 0)
		return -ENOENT;
	snprintf(name, sizeof(name), "%s" REC_SUFFIX, dir);
	fd = openat(s->sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		if (e == -ENOENT)
			why_set(why, whylen, "no state record " STATE_SUB
			    "/%s", name);
		else if (e == -ELOOP) {
			why_set(why, whylen, "state record " STATE_SUB
			    "/%s is a symlink, not trusted", name);
			e = -EPERM;
		} else
			why_set(why, whylen, "cannot open state record "
			    STATE_SUB "/%s: %s", name, strerror(-e));
		return e;
	}
	e = 0;
	if (fstat(fd, &st) < 0) {
		e = -errno;
		why_set(why, whylen, "cannot stat state record " STATE_SUB
		    "/%s: %s", name, strerror(-e));
	} else if (!S_ISREG(st.st_mode)) {
		e = -EPERM;
		why_set(why, whylen, "state record " STATE_SUB "/%s is not a"
		    " regular file, not trusted", name);
	} else if (st.st_uid != s->euid) {
		e = -EPERM;
		why_set(why, whylen, "state record " STATE_SUB "/%s is owned"
		    " by uid %u, not %u, not trusted", name,
		    (unsigned)st.st_uid, (unsigned)s->euid);
	} else if ((st.st_mode & 077) != 0) {
		e = -EPERM;
		why_set(why, whylen, "state record " STATE_SUB "/%s has mode"
		    " %04o (group or other bits), not trusted", name,
		    (unsigned)(st.st_mode & 07777));
	} else if (st.st_size > REC_MAX) {
		e = -EBADMSG;
		why_set(why, whylen, "state record " STATE_SUB "/%s is too"
		    " large", name);
	}
	if (e == 0) {
		n = read_full(fd, s->buf, REC_MAX + 1);
		if (n < 0) {
			e = (int)n;
			why_set(why, whylen, "cannot read state record "
			    STATE_SUB "/%s: %s", name, strerror(-e));
		} else if (sink_record_parse(s->buf, (size_t)n, r) < 0 ||
		    strcmp(r->dir, dir) != 0) {
			e = -EBADMSG;
			why_set(why, whylen, "state record " STATE_SUB "/%s is"
			    " malformed", name);
		}
	}
	close(fd);
	return e;
}

/*
 * Returns the state record of dir: the cached one when it names gen (the
 * current generation; NULL: any), or else loaded into the cache from disk
 * (always when fresh).  Another handle, or a process forked from this
 * one, may have written the record since.  0, or rec_load()'s error.
 */
int
rec_get(struct sink *s, const char *dir, const char *gen, int fresh,
    const struct sink_record **ret, char *why, size_t whylen)
{
	int e;

	if (!fresh && s->rc_valid && strcmp(s->rc->dir, dir) == 0 &&
	    (gen == NULL || strcmp(s->rc->gen_dir, gen) == 0)) {
		*ret = s->rc;
		return 0;
	}
	s->rc_valid = 0;
	s->rc_checked = 0;
	e = rec_load(s, dir, s->rc, why, whylen);
	if (e < 0)
		return e;
	s->rc_valid = 1;
	*ret = s->rc;
	return 0;
}

static void
rfd_drop(struct rec_fd *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static struct rec_fd *
rfd_find(struct sink *s, const char *dir)
{
	unsigned i;

	for (i = 0; i < REC_FDS; i++)
		if (s->rfd[i].fd >= 0 && strcmp(s->rfd[i].dir, dir) == 0)
			return &s->rfd[i];
	return NULL;
}

/*
 * Rewrites the existing record name of dir in place with the len bytes
 * in s->buf, padded with spaces to the file's size (JSON allows them), so
 * that the file never holds a tail of an older record and is never
 * truncated.  The file stays open for the next store (REC_FDS of them).
 * One pwrite of a record (about 1 KiB, one page) is not torn by a crash
 * of the process; a torn one after a power loss fails to parse and the
 * credential is minted again, never trusted.  Returns 0, or -errno
 * (-ENOENT: no record yet; -EPERM: not ours to rewrite).
 */
static int
rec_in_place(struct sink *s, const char *dir, const char *name, size_t len)
{
	struct rec_fd *c = rfd_find(s, dir);
	struct stat st;
	size_t n, off;
	ssize_t w;
	int fd;

	if (c == NULL) {
		fd = openat(s->sfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_uid != s->euid || (st.st_mode & 077) != 0 ||
		    st.st_size > REC_MAX) {
			close(fd);
			return -EPERM;
		}
		c = &s->rfd[s->rfd_next++ % REC_FDS];
		rfd_drop(c);
		c->fd = fd;
		c->size = (size_t)st.st_size;
		snprintf(c->dir, sizeof(c->dir), "%s", dir);
	}
	if (c->size > REC_MAX)
		return -E2BIG;
	n = len;
	if (c->size > n) {
		memset(s->buf + n, ' ', c->size - n);
		n = c->size;
	}
	for (off = 0; off < n; off += (size_t)w)
		if ((w = pwrite(c->fd, s->buf + off, n - off, (off_t)off)) <= 0) {
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			w = w < 0 ? -errno : -EIO;
			rfd_drop(c);
			return (int)w;
		}
	if (s->ssync && fsync(c->fd) < 0) {
		w = -errno;
		rfd_drop(c);
		return (int)w;
	}
	c->size = n;
	return 0;
}

/*
 * Stores r as the state record of r->dir: rewritten in place when it
 * exists (rec_in_place()); the first one (or one that cannot be) as an
 * O_EXCL temporary of mode 0600, written, fsynced, renamed over the
 * record, the directory fsynced (not on tmpfs).  Then r is the cached
 * record.  Returns 0 or -errno.
 */
int
rec_store(struct sink *s, const struct sink_record *r)
{
	struct rec_fd *c;
	char name[SINK_NAME_MAX + sizeof(REC_SUFFIX)];
	char tmp[SINK_NAME_MAX + sizeof(REC_SUFFIX) + TMP_SUFFIX_LEN + 1];
	ssize_t len;
	int fd, e = 0, tries;

	if (s->sfd < 0)
		return -EBADF;
	len = sink_record_format(r, s->buf, REC_MAX);
	if (len < 0)
		return (int)len;
	snprintf(name, sizeof(name), "%s" REC_SUFFIX, r->dir);
	snprintf(tmp, sizeof(tmp), ".%s" REC_SUFFIX TMP_SUFFIX, r->dir);
	s->rc_valid = 0;
	s->rc_checked = 0;
	if (rec_in_place(s, r->dir, name, (size_t)len) == 0)
		goto stored;
	/* The rename below replaces the inode an open record points to. */
	if ((c = rfd_find(s, r->dir)) != NULL)
		rfd_drop(c);
	for (tries = 0;; tries++) {
		fd = openat(s->sfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		/* Left by a crash; the name is reserved for it. */
		if (errno != EEXIST || tries > 0 ||
		    (unlinkat(s->sfd, tmp, 0) < 0 && errno != ENOENT))
			return -errno;
	}
	/* Only a umask that takes the owner's own bits calls for fchmod. */
	if ((s->umask & 0600) != 0 && fchmod(fd, 0600) < 0)
		e = -errno;
	else
		e = write_all(fd, s->buf, (size_t)len);
	if (e == 0 && s->ssync && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && e == 0 && errno != EINTR)
		e = -errno;
	if (e == 0 && renameat(s->sfd, tmp, s->sfd, name) < 0)
		e = -errno;
	if (e < 0) {
		(void)unlinkat(s->sfd, tmp, 0);
		return e;
	}
	if (s->ssync && fsync(s->sfd) < 0)
		return -errno;
stored:
	if (s->rc != r)
		memcpy(s->rc, r, sizeof(*r));
	s->rc_valid = 1;
	return 0;
}

/*
 * Checks generation r->gen_dir of cfd against record r: the directory and
 * every file (not a symlink, a regular file) with the recorded owner and
 * mode, and every file with the recorded size and SHA-256.  Returns 0, or
 * -EPERM, -EBADMSG or -errno with the reason in why.
 */
int
rec_verify(struct sink *s, int cfd, const struct sink_record *r, char *why,
    size_t whylen)
{
	char hex[HEX_LEN + 1];
	const struct sink_record_file *f;
	struct stat st;
	int gfd, fd, e = 0;
	size_t i;

	gfd = open_dir_at(cfd, r->gen_dir);
	if (gfd < 0) {
		why_set(why, whylen, "cannot open %s: %s", r->gen_dir,
		    strerror(-gfd));
		return gfd;
	}
	if (fstat(gfd, &st) < 0) {
		e = -errno;
		why_set(why, whylen, "cannot stat %s: %s", r->gen_dir,
		    strerror(-e));
		goto out;
	}
	if (st.st_uid != r->uid || st.st_gid != r->gid ||
	    (st.st_mode & 07777) != r->dir_mode) {
		e = -EPERM;
		why_set(why, whylen, "%s is %u:%u mode %04o, the state record"
		    " says %u:%u mode %04o", r->gen_dir, (unsigned)st.st_uid,
		    (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777),
		    (unsigned)r->uid, (unsigned)r->gid,
		    (unsigned)r->dir_mode);
		goto out;
	}
	for (i = 0; i < r->n_files; i++) {
		f = &r->files[i];
		fd = openat(gfd, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			e = -errno;
			if (e == -ELOOP)
				why_set(why, whylen, "%s/%s is a symlink",
				    r->gen_dir, f->name);
			else
				why_set(why, whylen, "cannot open %s/%s: %s",
				    r->gen_dir, f->name, strerror(-e));
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			e = -errno;
			why_set(why, whylen, "cannot stat %s/%s: %s",
			    r->gen_dir, f->name, strerror(-e));
		} else if (!S_ISREG(st.st_mode)) {
			e = -EPERM;
			why_set(why, whylen, "%s/%s is not a regular file",
			    r->gen_dir, f->name);
		} else if (st.st_uid != r->uid || st.st_gid != r->gid ||
		    (st.st_mode & 07777) != f->mode) {
			e = -EPERM;
			why_set(why, whylen, "%s/%s is %u:%u mode %04o, the"
			    " state record says %u:%u mode %04o", r->gen_dir,
			    f->name, (unsigned)st.st_uid, (unsigned)st.st_gid,
			    (unsigned)(st.st_mode & 07777), (unsigned)r->uid,
			    (unsigned)r->gid, (unsigned)f->mode);
		} else if ((uint64_t)st.st_size != f->size ||
		    (e = hash_fd(s, fd, f->size, hex)) == -EBADMSG ||
		    (e == 0 && strcmp(hex, f->sha256) != 0)) {
			e = -EBADMSG;
			why_set(why, whylen, "%s/%s differs from the state"
			    " record", r->gen_dir, f->name);
		} else if (e < 0)
			why_set(why, whylen, "cannot read %s/%s: %s",
			    r->gen_dir, f->name, strerror(-e));
		close(fd);
		if (e < 0)
			goto out;
	}
out:
	close(gfd);
	return e;
}

/* Copies what a record says of its generation into c. */
void
rec_current(const struct sink_record *r, struct sink_current *c)
{
	c->generation = r->generation;
	c->issued_at = r->issued_at;
	c->not_before = r->not_before;
	c->not_after = r->not_after;
	c->renew_at = r->renew_at;
	memcpy(c->gen_dir, r->gen_dir, sizeof(c->gen_dir));
	memcpy(c->spec, r->spec, sizeof(c->spec));
}

/* Returns the entry of file name in r, or NULL. */
const struct sink_record_file *
rec_file(const struct sink_record *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].name, name) == 0)
			return &r->files[i];
	return NULL;
}
