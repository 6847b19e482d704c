/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside sinks/: the names and limits of the on-disk layout, struct sink
 * with its caches (shared by every file of the sink), and the functions
 * the sink's files offer each other: sink.c (open, close, publish, the
 * "last publish" cache), sink_dir.c (directory fds, listing, links,
 * pruning), sink_gen.c (names, writing a generation), sink_meta.c
 * (meta.json), sink_rec.c (state records, hashing), sink_read.c (reading
 * back, repair).  Nothing outside sinks/ includes this; the rest of
 * rotatord sees sink.h.
 */
#ifndef ROTATORD_SINK_INT_H
#define ROTATORD_SINK_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <idp/crypto.h>

#include "sinks/sink.h"

#define DATA_LINK	"..data"
#define DATA_TMP	"..data_tmp"
#define DATA_PREFIX	"..data/"
#define META_NAME	"meta.json"
#define META_MODE	0644
#define META_MAX	(64 * 1024)
#define META_STR_MAX	SINK_META_STR_MAX /* meta->name and meta->type */
#define SPEC_MAX	SINK_SPEC_MAX	/* sizeof(sink_current.spec) - 1 */
#define STATE_SUB	"creds"		/* below state_dir */
#define REC_SUFFIX	".json"
#define REC_MAX		META_MAX
#define GEN_NUM_MAX	((uint64_t)1 << 53)	/* exact in every JSON reader */
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

#define LAST_BUCKETS	256	/* at first; doubled to keep chains short */

/*
 * What this handle last swapped into a directory.  Generation directories
 * are immutable, so while "..data" still names gen, its meta.json says
 * exactly this and is not read back (nor parsed) on the next publish.
 * After a restart, a repair or another writer, "..data" names something
 * else and meta.json is read as usual.
 */
struct last {
	struct last	*next;
	uint32_t	 hash;		/* of dir, see last_hash() */
	uint64_t	 generation;
	uint64_t	 links;		/* see links_key(); 0: not known */
	unsigned char	 digest[32];	/* see set_digest() */
	char		 gen[GEN_BUF];
	char		 dir[];
};

struct dent {
	char		 name[DENT_NAME_MAX + 1];
	uint64_t	 ino;
	unsigned char	 type;
	unsigned char	 unlinked;	/* link removed before a swap */
};

/*
 * A state record kept open to be rewritten in place (rec_store()): the
 * records of the last REC_FDS directories stored.
 */
#define REC_FDS		4
struct rec_fd {
	int		 fd;		/* -1: free */
	size_t		 size;		/* of the file: never shrinks */
	char		 dir[SINK_NAME_MAX + 1];
};

struct sink {
	int		 dfd;		/* output_dir */
	int		 sfd;		/* state_dir/creds */
	unsigned	 keep_old;
	int		 sync;		/* 0 on tmpfs or ramfs */
	int		 ssync;		/* the same for state_dir */
	int		 no_openat2;	/* openat2 refused */
	uid_t		 euid;
	mode_t		 umask;		/* the process's; only the sink sets it */
	struct idp_sha256 *sha256;	/* for files hashed while read */
	char		*buf;		/* META_MAX + 1, meta.json or a record */
	/*
	 * The state record last read or written, for one directory: reads of
	 * that directory's files check against it without reading it again.
	 * rc_checked: the files of rc->gen_dir were found to match it (by
	 * sink_repair(), for the sink_read_current() that follows).
	 */
	struct sink_record *rc;
	int		 rc_valid;
	int		 rc_checked;
	struct rec_fd	 rfd[REC_FDS];
	unsigned	 rfd_next;	/* the slot to reuse next */
	struct dent	*dents;		/* listing of the directory */
	size_t		 n_dents;
	size_t		 cap_dents;
	struct last	**last;		/* n_last_b buckets, or NULL */
	size_t		 n_last_b;
	size_t		 n_last;
};

/* States of a visible name before a publish. */
enum {
	LINK_ABSENT,
	LINK_OURS,
};

/* sink.c */
/*
 * What this handle last swapped into dir: recorded after a publish or a
 * check (links: see links_key() in sink.c, 0 when not known), forgotten
 * when the next publish must read meta.json again.
 */
void last_put(struct sink *s, const char *dir, const char *gen,
    uint64_t generation, const unsigned char *digest, uint64_t links);
void last_drop(struct sink *s, const char *dir);

/* sink_dir.c */
/* 1 on tmpfs or ramfs, where fsync buys nothing. */
int fs_volatile(int fd);
/* Writes all of buf, across short writes; returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Reads up to max bytes of a regular file (a short read is its end). */
ssize_t read_full(int fd, char *buf, size_t max);
/* Opens a directory below dfd, no symlink (-ELOOP); the fd or -errno. */
int open_dir_at(int dfd, const char *name);
/*
 * Opens credential directory dir below output_dir (made 0755 when create
 * is set), refusing one that is not ours; the fd or -errno.
 */
int open_cred_dir(struct sink *s, const char *dir, int create);
/* "..data" of cfd into gen (GEN_BUF): 0, -ENOENT, -EEXIST or -ELOOP. */
int read_data_link(int cfd, char *gen);
/* A visible name: LINK_OURS, LINK_ABSENT, -ELOOP or -EEXIST. */
int link_state(int cfd, const char *name);
/* The visible link "name" -> "..data/name"; 0 or -errno. */
int link_create(int cfd, const char *name);
/* Points "..data" at gen through "..data_tmp"; 0 or -errno. */
int data_swap(int cfd, const char *gen);
/* Removes directory name below dfd, at most depth levels down. */
int remove_tree(int dfd, const char *name, int depth);
/* Lists cfd into s->dents, sorted by name; 0, -E2BIG or -errno. */
int list_dir(struct sink *s, int cfd);
/* The listed entry called name, or NULL. */
const struct dent *dent_find(const struct sink *s, const char *name);
/* A listed entry that may be a generation directory of ours. */
int dent_is_gen(const struct dent *d);
/* 1 when name is one of files. */
int in_set(const struct material_file *files, size_t n_files, const char *name);
/* Removes the generations of cfd beyond the grace (logged). */
void prune(struct sink *s, int cfd, const char *dir, const char *keep,
    const char *limit, const struct material_file *files, size_t n_files,
    const struct sink_record *old);
/* Opens file name of generation gen of cfd, no symlink; fd or -errno. */
int open_gen_file(struct sink *s, int cfd, const char *gen, const char *name);

/* sink_gen.c */
/* [A-Za-z0-9._-], not hidden, not ending in ".tmp": a dir or file name. */
int name_valid(const char *name);
/* A generation directory name of ours, "..TS". */
int gen_is_name(const char *s);
/* A half-made generation directory name, "..TS.tmp". */
int gen_is_tmp(const char *s);
/* Writes the generation name of ts into buf (GEN_BUF bytes). */
void gen_format(char *buf, const struct timespec *ts);
/* Adds a nanosecond to ts. */
void ts_bump(struct timespec *ts);
/*
 * Fills the half-made generation directory tmp of cfd (files, meta.json,
 * owner and mode, fsync); meta.json's entry and the owner go into *mrec.
 * The caller has cleared the umask; made_exact: tmp was made with
 * dir_mode already (no fchmod).  Returns 0 or -errno.
 */
int write_generation(struct sink *s, int cfd, const char *tmp,
    const struct material_file *files, size_t n_files, char hex[][HEX_LEN + 1],
    const struct material_meta *meta, uint64_t generation, uid_t uid, gid_t gid,
    mode_t dir_mode, int sync, int made_exact, struct sink_record *mrec);
/* The name of a new generation, after every listed one, into gen. */
void gen_pick(const struct sink *s, char *gen, struct timespec *ret);
/* A non-NULL printable ASCII string of at most max bytes. */
int ascii_valid(const char *s, size_t max);

/* sink_rec.c */
/* The lowercase hex of the SHA-256 of data into hex (HEX_LEN + 1). */
int sha256_hex(const struct sink *s, const void *data, size_t len, char *hex);
/*
 * The digest of what decides "unchanged" (spec, each file's name, hash
 * and size, in name order): of a file set about to be published, and of
 * what a state record lists.  Return 0 or -EIO.
 */
int set_digest(const struct sink *s, const char *spec,
    const struct material_file *files, size_t n_files, char hex[][HEX_LEN + 1],
    unsigned char *out);
int rec_digest(const struct sink *s, const struct sink_record *r,
    unsigned char *out);
/* Formats a reason into why (may be NULL). */
void why_set(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 64 lowercase hex digits. */
int hex_valid(const char *hex);
/*
 * The state record of dir, cached in s->rc (see rec_get() in sink_rec.c),
 * stored (rec_store()), checked against generation r->gen_dir of cfd
 * (rec_verify()); errors are -errno with the reason in why.
 */
int rec_get(struct sink *s, const char *dir, const char *gen, int fresh,
    const struct sink_record **ret, char *why, size_t whylen);
int rec_store(struct sink *s, const struct sink_record *r);
int rec_verify(struct sink *s, int cfd, const struct sink_record *r, char *why,
    size_t whylen);
/* Copies what a record says of its generation into c. */
void rec_current(const struct sink_record *r, struct sink_current *c);
/* The entry of file name in r, or NULL. */
const struct sink_record_file *rec_file(const struct sink_record *r,
    const char *name);

/* sink_meta.c */
/* Loads meta.json of generation gen (json_decref() it); 0 or -errno. */
int meta_load(struct sink *s, int cfd, const char *gen, json_t **ret);
/* The generation number of meta m, or 0 when it has none. */
uint64_t meta_generation(const json_t *m);
/* The "files" object of m when every entry is well formed, else NULL. */
json_t *meta_files(json_t *m);
/* meta.json of a new generation into s->buf: its length, or -E2BIG. */
ssize_t meta_build(struct sink *s, const struct material_meta *meta,
    uint64_t generation, const struct material_file *files, size_t n_files,
    char hex[][HEX_LEN + 1]);
/* The highest generation number in the listed generations' meta.json. */
uint64_t newest_generation(struct sink *s, int cfd);

#endif
