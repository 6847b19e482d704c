/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sinks/: where material goes (atomic publishing under output_dir, reloads
 * of its consumers).  Must not include sources/, api/ or fleet/.
 */
/*
 * Sink: atomic generation swap under output_dir through directory file
 * descriptors.  The on-disk algorithm of one publish, in order:
 *
 *   1. validate names, modes and limits; SHA-256 every file;
 *   2. open output_dir/DIR with O_NOFOLLOW (mkdirat 0755 + fchmod the
 *      first time);
 *   3. readlinkat "..data" and accept only a target of our own
 *      "..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN" form; learn the current
 *      generation's number and file hashes, from what this handle last
 *      wrote or checked there or else from the state record (trusted only
 *      as a regular 0600 file of our euid), whose files are then checked
 *      on disk; identical names and hashes (and spec): return 0, nothing
 *      written.  meta.json on disk is never believed: without a record
 *      that names the current generation, the number continues from the
 *      highest of the record's and any meta.json's, so it never goes back;
 *   4. list DIR once; refuse a visible name that is not our own
 *      "NAME -> ..data/NAME" link, before anything is written (links
 *      that the last publish read back, still with the same inodes, are
 *      not read again: links_key());
 *   5. mkdirat "..TS.tmp" (TS after every listed generation), dir_mode
 *      at once without an owner to give, else 0700 until fchown; create
 *      each file and then meta.json in it with O_CREAT|O_EXCL|O_NOFOLLOW
 *      and the final mode, fchown and fchmod before the first byte, write
 *      fully, fsync, close; fchown and fchmod the directory to dir_mode,
 *      fsync it; rename it to "..TS" (RENAME_NOREPLACE); fsync DIR;
 *   5b. store the state record state_dir/creds/DIR.json naming "..TS"
 *      (O_EXCL temporary 0600, fsync, rename, fsync creds): from here on
 *      the record's number is never below what is visible;
 *   6. unlink our links to names leaving the set while the old generation
 *      is still current, so that no visible link ever dangles;
 *   7. symlink "..data_tmp" -> "..TS" and rename it over "..data": the one
 *      atomic step;
 *   8. symlink each new visible name "NAME" -> "..data/NAME";
 *   9. prune: keep the current generation and the keep_old newest before
 *      it, remove the rest (and any never-visible newer one);
 *  10. fsync DIR.
 *
 * meta.json (0644: consumers read it for expiry and change detection)
 * holds name, type, generation, times and each file's size, and the
 * SHA-256 only of public files (world-readable, and not a key, bundle or
 * token): a digest of a short secret would let anyone confirm or recover
 * it.  The digests of every file live in the state record only.
 *
 * fsync is skipped on tmpfs and ramfs, where it cannot add durability.  A
 * SIGKILL at any point leaves "..data" on a complete generation and every
 * visible link resolving into it; sink_repair() removes what an
 * interrupted publish left behind.
 *
 * One writer per credential directory is assumed (one rotatord), and a
 * handle is used by one thread at a time: it owns reusable buffers.
 *
 * This file opens and closes a handle and drives a publish (sink_publish()
 * and its pub_* steps).  Their parts: directory fds, "..data", links and
 * pruning (2-4, 6-9) in sink_dir.c; generation names and writing one (5)
 * in sink_gen.c; meta.json in sink_meta.c; hashing and the state record
 * (1, 3, 5b) in sink_rec.c.  Reading back and repair are in sink_read.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <idp/crypto.h>

#include "core/log.h"
#include "sinks/sink.h"
#include "sinks/sink_int.h"

static uint32_t
last_hash(const char *dir)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *dir != '\0'; dir++)
		h = (h ^ (unsigned char)*dir) * 16777619u;
	return h;
}

static struct last *
last_find(struct sink *s, const char *dir)
{
	struct last *l;
	uint32_t h;

	if (s->last == NULL)
		return NULL;
	h = last_hash(dir);
	for (l = s->last[h % s->n_last_b]; l != NULL; l = l->next)
		if (l->hash == h && strcmp(l->dir, dir) == 0)
			return l;
	return NULL;
}

/*
 * Doubles the buckets (or makes the first ones), so that chains stay
 * short with 100,000 credentials.  Returns 0, or -1 without memory (the
 * table stays as it was: only slower).
 */
static int
last_grow(struct sink *s)
{
	size_t nb = s->last == NULL ? LAST_BUCKETS : s->n_last_b * 2, b;
	struct last **t, *l, *next;

	if ((t = calloc(nb, sizeof(*t))) == NULL)
		return -1;
	for (b = 0; b < s->n_last_b; b++)
		for (l = s->last[b]; l != NULL; l = next) {
			next = l->next;
			l->next = t[l->hash % nb];
			t[l->hash % nb] = l;
		}
	free(s->last);
	s->last = t;
	s->n_last_b = nb;
	return 0;
}

/*
 * Records a publish; without memory the next publish just reads meta.json.
 * links: see links_key(), 0 when not known.
 */
void
last_put(struct sink *s, const char *dir, const char *gen, uint64_t generation,
    const unsigned char *digest, uint64_t links)
{
	struct last *l = last_find(s, dir);
	size_t b;

	if (l == NULL) {
		if ((s->last == NULL || s->n_last >= 2 * s->n_last_b) &&
		    last_grow(s) < 0 && s->last == NULL)
			return;
		l = malloc(sizeof(*l) + strlen(dir) + 1);
		if (l == NULL)
			return;
		strcpy(l->dir, dir);
		l->hash = last_hash(dir);
		b = l->hash % s->n_last_b;
		l->next = s->last[b];
		s->last[b] = l;
		s->n_last++;
	}
	l->generation = generation;
	l->links = links;
	memcpy(l->digest, digest, sizeof(l->digest));
	memcpy(l->gen, gen, GEN_LEN + 1);
}

/*
 * One visible link as the listing shows it: its name and inode, mixed
 * (FNV-1a, then the splitmix64 finalizer).  The sum over a file set's
 * links, once each was read back as ours, lets the next publish skip the
 * readlinks while every name still has the same inode: a symlink cannot
 * be changed in place, only replaced or renamed, and either shows as a
 * new inode or under another name.  (A filesystem that reuses the inode
 * number of a link replaced by another link defeats this; only a writer
 * of the credential directory, rotatord's own uid, can do that, and the
 * check guards against mistakes, not against that writer.)  Never 0.
 */
static uint64_t
links_key(const char *name, uint64_t ino)
{
	uint64_t h = 1469598103934665603u;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211u;
	h ^= ino + 0x9e3779b97f4a7c15u;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9u;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebu;
	h ^= h >> 31;
	return h != 0 ? h : 1;
}

/* Forgets dir, so that its next publish reads meta.json again. */
void
last_drop(struct sink *s, const char *dir)
{
	struct last *l = last_find(s, dir);

	if (l != NULL)
		l->gen[0] = '\0';
}

static int
check_args(const char *dir, const struct material_file *files, size_t n_files,
    const struct material_meta *meta, mode_t dir_mode)
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

/*
 * One publish in progress: what sink_publish() hands from step to step.
 * The steps, in order: pub_current() (is it unchanged, and its number),
 * pub_stage() (the new generation, complete and durable, not visible),
 * pub_record() (the state record names it), pub_unlink_leaving(), the
 * "..data" swap, pub_link_new(), then prune().
 */
struct pub {
	struct sink			*s;
	const char			*dir;
	const struct material_file	*files;
	size_t				 n_files;
	const struct material_meta	*meta;
	int				 cfd;
	int				 sync;
	char				 hex[SINK_MAX_FILES][HEX_LEN + 1];
	unsigned char			 digest[32];
	int				 state[SINK_MAX_FILES];
	char				 cur[GEN_BUF];
	const char			*cur_ok;	/* cur, when it is ours */
	char				 gen[GEN_BUF];
	uint64_t			 generation;	/* the current one */
	const struct sink_record	*rec;		/* of cur, or NULL */
	struct sink_record		*nr;		/* the new record */
	struct sink_record		*old;		/* a copy of rec, or NULL */
	uint64_t			 links_was;	/* last->links of cur */
	uint64_t			 links;		/* of the set, once ours */
};

/*
 * The current generation decides "unchanged" and the number: what this
 * handle last wrote or checked there, or else the state record (never
 * meta.json, which its owner may rewrite).  Returns 0 when the content
 * is already current, 1 to go on, or -errno.
 */
static int
pub_current(struct pub *p)
{
	struct sink *s = p->s;
	unsigned char rdig[32];
	struct last *last;
	int r;

	r = read_data_link(p->cfd, p->cur);
	if (r < 0 && r != -ENOENT)
		return r;
	last = r == 0 ? last_find(s, p->dir) : NULL;
	if (last != NULL && strcmp(last->gen, p->cur) == 0) {
		p->generation = last->generation;
		p->cur_ok = p->cur;
		p->links_was = last->links;
		if (memcmp(last->digest, p->digest, sizeof(p->digest)) == 0)
			return 0;
		if (rec_get(s, p->dir, p->cur, 0, &p->rec, NULL, 0) < 0 ||
		    strcmp(p->rec->gen_dir, p->cur) != 0)
			p->rec = NULL;
	} else if (rec_get(s, p->dir, r == 0 ? p->cur : NULL, 0, &p->rec,
	    NULL, 0) == 0) {
		p->generation = p->rec->generation;
		if (r == 0 && strcmp(p->rec->gen_dir, p->cur) == 0) {
			p->cur_ok = p->cur;
			/* Same content: unchanged once the disk agrees. */
			if (rec_digest(s, p->rec, rdig) == 0 &&
			    memcmp(rdig, p->digest, sizeof(p->digest)) == 0 &&
			    rec_verify(s, p->cfd, p->rec, NULL, 0) == 0) {
				last_put(s, p->dir, p->cur, p->generation,
				    p->digest, 0);
				return 0;
			}
		} else
			p->rec = NULL;
	} else
		p->rec = NULL;
	return 1;
}

/*
 * Classifies the visible name of each file (p->state).  When every name
 * is a link with the inodes that the last publish read back as ours
 * (links_key()), they are ours without a readlink each.  p->links is the
 * key of the set when every name was ours, else 0.  Returns 0 or -errno.
 */
static int
pub_links(struct pub *p)
{
	const struct dent *d;
	uint64_t sum = 0;
	size_t i;
	int all = 1, known;

	for (i = 0; i < p->n_files; i++) {
		d = dent_find(p->s, p->files[i].name);
		if (d == NULL || d->type != DT_LNK)
			all = 0;
		else
			sum += links_key(d->name, d->ino);
	}
	known = all && p->links_was != 0 && sum == p->links_was;
	for (i = 0; i < p->n_files; i++) {
		if (known) {
			p->state[i] = LINK_OURS;
			continue;
		}
		p->state[i] = dent_find(p->s, p->files[i].name) == NULL ?
		    LINK_ABSENT : link_state(p->cfd, p->files[i].name);
		if (p->state[i] < 0)
			return p->state[i];
		if (p->state[i] != LINK_OURS)
			all = 0;
	}
	p->links = all ? sum : 0;
	return 0;
}

/*
 * Lists the directory, fixes the new number (never below anything on
 * disk when nothing records what is current) and refuses, before writing
 * anything, when a visible name is not ours.  Returns 0 or -errno.
 */
static int
pub_check(struct pub *p)
{
	uint64_t g;
	int r;

	/* The new record overwrites the cache: keep the old one's names. */
	if ((p->nr = calloc(p->rec != NULL ? 2 : 1, sizeof(*p->nr))) == NULL)
		return -ENOMEM;
	if (p->rec != NULL) {
		p->old = p->nr + 1;
		memcpy(p->old, p->rec, sizeof(*p->old));
	}
	if ((r = list_dir(p->s, p->cfd)) < 0)
		return r;
	if (p->cur_ok == NULL &&
	    (g = newest_generation(p->s, p->cfd)) > p->generation)
		p->generation = g;
	if (p->generation >= GEN_NUM_MAX)
		return -EOVERFLOW;
	return pub_links(p);
}

/*
 * Writes the new generation under a temporary name, renames it to a
 * fresh generation name (p->gen) and makes the entry durable before
 * "..data" may name it.  Returns 0 or -errno (nothing left behind).
 */
static int
pub_stage(struct pub *p, uid_t uid, gid_t gid, mode_t dir_mode)
{
	char tmp[GEN_BUF];
	struct timespec ts;
	mode_t mask;
	int r, tries, exact = uid == (uid_t)-1 && gid == (gid_t)-1;

	/*
	 * With the umask cleared, mkdirat() and openat() give the directory
	 * and every file exactly its mode, which saves an fchmod each
	 * (rotatord is single-threaded where files are made, and every file
	 * it creates names its mode).  Without an owner to give, the
	 * directory gets its final mode at once; with one, it stays 0700
	 * until it has its owner.  Either way each file inside has its own
	 * mode from its first byte.
	 */
	gen_pick(p->s, p->gen, &ts);
	mask = umask(0);
	for (tries = 0;; tries++, ts_bump(&ts), gen_format(p->gen, &ts)) {
		memcpy(tmp, p->gen, GEN_LEN);
		memcpy(tmp + GEN_LEN, TMP_SUFFIX, TMP_SUFFIX_LEN + 1);
		if (mkdirat(p->cfd, tmp, exact ? dir_mode : 0700) == 0)
			break;
		if (errno != EEXIST || tries == GEN_TRIES) {
			r = -errno;
			umask(mask);
			return r;
		}
	}
	r = write_generation(p->s, p->cfd, tmp, p->files, p->n_files, p->hex,
	    p->meta, p->generation + 1, uid, gid, dir_mode, p->sync, exact,
	    p->nr);
	umask(mask);
	for (tries = 0; r == 0;
	    tries++, ts_bump(&ts), gen_format(p->gen, &ts)) {
		if (renameat2(p->cfd, tmp, p->cfd, p->gen,
		    RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || tries == GEN_TRIES)
			r = -errno;
	}
	if (r < 0) {
		(void)remove_tree(p->cfd, tmp, 0);
		return r;
	}
	if (p->sync && fsync(p->cfd) < 0) {
		r = -errno;
		(void)remove_tree(p->cfd, p->gen, 0);
		return r;
	}
	return 0;
}

/*
 * The state record names the new generation before "..data" does: a
 * restart then never meets a visible generation numbered above its
 * record.  Without a record the publish fails, so that nothing is
 * visible that a restart could not check.  Returns 0 or -errno.
 */
static int
pub_record(struct pub *p)
{
	struct sink_record *nr = p->nr;
	const struct material_meta *meta = p->meta;
	size_t i;
	int r;

	snprintf(nr->dir, sizeof(nr->dir), "%s", p->dir);
	snprintf(nr->name, sizeof(nr->name), "%s", meta->name);
	snprintf(nr->type, sizeof(nr->type), "%s", meta->type);
	snprintf(nr->spec, sizeof(nr->spec), "%s",
	    meta->spec != NULL ? meta->spec : "");
	memcpy(nr->gen_dir, p->gen, GEN_LEN + 1);
	nr->generation = p->generation + 1;
	nr->issued_at = meta->issued_at;
	nr->not_before = meta->not_before;
	nr->not_after = meta->not_after;
	nr->renew_at = meta->renew_at;
	/* write_generation() put meta.json at files[n_files]. */
	for (i = 0; i < p->n_files; i++) {
		snprintf(nr->files[i].name, sizeof(nr->files[i].name), "%s",
		    p->files[i].name);
		memcpy(nr->files[i].sha256, p->hex[i], HEX_LEN + 1);
		nr->files[i].size = p->files[i].len;
		nr->files[i].mode = p->files[i].mode;
	}
	nr->n_files = p->n_files + 1;
	if ((r = rec_store(p->s, nr)) < 0) {
		log_warn("sink: %s: cannot store the state record: %s", p->dir,
		    strerror(-r));
		(void)remove_tree(p->cfd, p->gen, 0);
	}
	return r;
}

/*
 * Unlinks our links to names leaving the set while the old generation is
 * still current, so no visible link ever dangles.
 */
static void
pub_unlink_leaving(struct pub *p)
{
	struct sink *s = p->s;
	size_t i;

	for (i = 0; i < s->n_dents; i++) {
		struct dent *d = &s->dents[i];

		if (!name_valid(d->name) ||
		    in_set(p->files, p->n_files, d->name) ||
		    (d->type != DT_LNK && d->type != DT_UNKNOWN) ||
		    link_state(p->cfd, d->name) != LINK_OURS)
			continue;
		if (unlinkat(p->cfd, d->name, 0) == 0)
			d->unlinked = 1;
		else
			log_warn("sink: %s: cannot remove link %s: %s", p->dir,
			    d->name, strerror(errno));
	}
}

/*
 * The generation is visible: its new names get their links.  What fails
 * here cannot undo the publish and is left to the next one or to repair.
 */
static void
pub_link_new(struct pub *p)
{
	size_t i;
	int e;

	for (i = 0; i < p->n_files; i++)
		if (p->state[i] == LINK_ABSENT &&
		    (e = link_create(p->cfd, p->files[i].name)) < 0)
			log_warn("sink: %s: cannot create link %s: %s, the file"
			    " stays reachable as ..data/%s", p->dir,
			    p->files[i].name, strerror(-e), p->files[i].name);
}

int
sink_publish(struct sink *s, const char *dir, const struct material_file *files,
    size_t n_files, const struct material_meta *meta, uid_t uid, gid_t gid,
    mode_t dir_mode, uint64_t *ret_generation)
{
	struct pub pub = { .s = s, .dir = dir, .files = files,
	    .n_files = n_files, .meta = meta, .cfd = -1, .sync = s->sync };
	struct pub *p = &pub;
	size_t i;
	int r;

	if (dir_mode == 0)
		dir_mode = SINK_DIR_MODE_DEFAULT;
	if ((r = check_args(dir, files, n_files, meta, dir_mode)) < 0)
		return r;
	if (s->sfd < 0)
		return -EBADF;
	for (i = 0; i < n_files; i++)
		if ((r = sha256_hex(s, files[i].data, files[i].len,
		    p->hex[i])) < 0)
			goto out;
	if ((r = set_digest(s, meta->spec, files, n_files, p->hex,
	    p->digest)) < 0)
		goto out;
	if ((p->cfd = r = open_cred_dir(s, dir, 1)) < 0)
		goto out;
	if ((r = pub_current(p)) <= 0 || (r = pub_check(p)) < 0 ||
	    (r = pub_stage(p, uid, gid, dir_mode)) < 0 ||
	    (r = pub_record(p)) < 0)
		goto out;
	pub_unlink_leaving(p);
	if ((r = data_swap(p->cfd, p->gen)) < 0) {
		/* The old generation stays current: give its links back. */
		for (i = 0; i < s->n_dents; i++)
			if (s->dents[i].unlinked)
				(void)link_create(p->cfd, s->dents[i].name);
		/*
		 * The record names a generation that is gone; the next publish
		 * numbers on from it, and a restart re-mints.
		 */
		(void)remove_tree(p->cfd, p->gen, 0);
		goto out;
	}
	p->generation++;
	r = 1;
	last_put(s, dir, p->gen, p->generation, p->digest, p->links);
	pub_link_new(p);
	prune(s, p->cfd, dir, p->gen, p->cur_ok, files, n_files, p->old);
	if (p->sync && fsync(p->cfd) < 0)
		log_warn("sink: %s: fsync: %s", dir, strerror(errno));
out:
	if (r >= 0 && ret_generation != NULL)
		*ret_generation = p->generation;
	free(p->nr);
	if (p->cfd >= 0)
		close(p->cfd);
	return r;
}

/* Removes ".DIR.json.tmp" records left by a crash from s->sfd. */
static void
state_clean(struct sink *s)
{
	_Alignas(struct dirent64) char buf[8192];
	struct dirent64 *d;
	ssize_t n, off;
	size_t len;

	while ((n = getdents64(s->sfd, buf, sizeof(buf))) > 0)
		for (off = 0; off < n; off += d->d_reclen) {
			d = (struct dirent64 *)(void *)(buf + off);
			len = strlen(d->d_name);
			if (d->d_name[0] == '.' && len > sizeof(REC_SUFFIX
			    TMP_SUFFIX) && strcmp(d->d_name + len -
			    (sizeof(REC_SUFFIX TMP_SUFFIX) - 1),
			    REC_SUFFIX TMP_SUFFIX) == 0)
				(void)unlinkat(s->sfd, d->d_name, 0);
		}
	(void)lseek(s->sfd, 0, SEEK_SET);
}

/*
 * Opens state_dir/creds into s->sfd (see sink_open()).  Returns 0 or
 * -errno after logging why.
 */
static int
state_open(struct sink *s, const char *state_dir)
{
	struct stat st;
	int fd, cfd, e;

	/* The operator chose state_dir, so a symlink on its path is fine. */
	fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		log_err("sink: state_dir %s: %s", state_dir, strerror(-e));
		return e;
	}
	if (fstat(fd, &st) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	if (st.st_uid != s->euid || (st.st_mode & 022) != 0) {
		log_err("sink: state_dir %s is owned by uid %u with mode %04o:"
		    " it must belong to rotatord (uid %u) and not be writable"
		    " by group or others", state_dir, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777), (unsigned)s->euid);
		close(fd);
		return -EPERM;
	}
	if (mkdirat(fd, STATE_SUB, 0700) < 0 && errno != EEXIST) {
		e = -errno;
		log_err("sink: cannot create %s/" STATE_SUB ": %s", state_dir,
		    strerror(-e));
		close(fd);
		return e;
	}
	cfd = open_dir_at(fd, STATE_SUB);
	close(fd);
	if (cfd < 0) {
		log_err("sink: %s/" STATE_SUB ": %s", state_dir,
		    cfd == -ELOOP ? "is a symlink" : strerror(-cfd));
		return cfd == -ELOOP ? -EPERM : cfd;
	}
	if (fstat(cfd, &st) < 0 || st.st_uid != s->euid) {
		log_err("sink: %s/" STATE_SUB " does not belong to rotatord"
		    " (uid %u), refusing it", state_dir, (unsigned)s->euid);
		close(cfd);
		return -EPERM;
	}
	if ((st.st_mode & 077) != 0) {
		log_warn("sink: %s/" STATE_SUB " had mode %04o, now 0700",
		    state_dir, (unsigned)(st.st_mode & 07777));
		if (fchmod(cfd, 0700) < 0) {
			e = -errno;
			close(cfd);
			return e;
		}
	}
	s->sfd = cfd;
	s->ssync = !fs_volatile(cfd);
	state_clean(s);
	return 0;
}

int
sink_open(const char *output_dir, const char *state_dir, struct sink **ret)
{
	struct sink *s;
	int fd, created = 0, r;
	unsigned b;

	if (output_dir == NULL || output_dir[0] == '\0' || state_dir == NULL ||
	    state_dir[0] == '\0')
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
	s->sfd = -1;
	for (b = 0; b < REC_FDS; b++)
		s->rfd[b].fd = -1;
	s->euid = geteuid();
	s->umask = umask(077);
	umask(s->umask);
	s->keep_old = SINK_KEEP_OLD;
	/*
	 * Checked once: credential directories are made inside output_dir,
	 * so they share its file system unless an operator mounts over one.
	 */
	s->sync = !fs_volatile(fd);
	s->sha256 = idp_sha256_new();
	s->buf = malloc(META_MAX + 1);
	s->rc = malloc(sizeof(*s->rc));
	if (s->sha256 == NULL || s->buf == NULL || s->rc == NULL) {
		r = -ENOMEM;
		sink_close(s);
		return r;
	}
	if ((r = state_open(s, state_dir)) < 0) {
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
	size_t b;

	if (s == NULL)
		return;
	for (b = 0; b < s->n_last_b; b++)
		for (l = s->last[b]; l != NULL; l = next) {
			next = l->next;
			free(l);
		}
	free(s->last);
	if (s->dfd >= 0)
		close(s->dfd);
	if (s->sfd >= 0)
		close(s->sfd);
	for (b = 0; b < REC_FDS; b++)
		if (s->rfd[b].fd >= 0)
			close(s->rfd[b].fd);
	idp_sha256_free(s->sha256);
	free(s->rc);
	free(s->buf);
	free(s->dents);
	free(s);
}

void
sink_set_keep_old(struct sink *s, unsigned keep_old)
{
	s->keep_old = keep_old;
}
