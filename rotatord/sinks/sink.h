/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sink: publishes a credential as one generation under output_dir, the way
 * the kubelet publishes projected volumes:
 *
 *   output_dir/DIR/..2026_11_29_04_50_01.123456789/  cert.pem key.pem ... meta.json
 *   output_dir/DIR/..data -> ..2026_11_29_04_50_01.123456789
 *   output_dir/DIR/cert.pem -> ..data/cert.pem          (one link per file)
 *
 * All work goes through directory file descriptors with O_NOFOLLOW; a
 * symlink that rotatord did not make is refused.  Files are created with
 * their final mode (O_EXCL) before any byte is written, written fully,
 * fsynced; the generation directory is fsynced, then a "..data_tmp" link is
 * renamed over "..data" (the one atomic step) and the parent fsynced.
 * Previous generations are kept (grace) and pruned beyond `keep_old`.
 *
 * What the sink believes about a directory comes from its state record,
 * state_dir/creds/DIR.json (0600, in a 0700 directory owned by rotatord's
 * euid), never from output_dir: a generation directory belongs to the
 * credential's owner, who could rewrite it.  The record is written (O_EXCL
 * temporary, fsync, rename) before "..data" names the new generation and
 * holds the generation number, times, spec, owner, modes and the SHA-256
 * of every file (meta.json included).  meta.json is public: it gives each
 * file's size, and the SHA-256 only of files that are world-readable
 * anyway and not keys or tokens.
 */
#ifndef ROTATORD_SINK_H
#define ROTATORD_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "material.h"

#define SINK_MAX_FILES		MATERIAL_MAX_FILES
#define SINK_KEEP_OLD		2	/* default grace: previous generations kept */
#define SINK_MAX_FILE_SIZE	(1 << 20)
#define SINK_NAME_MAX		MATERIAL_NAME_MAX /* longest dir or file name */
#define SINK_DIR_MODE_DEFAULT	0700	/* for dir_mode 0 */
#define SINK_META_STR_MAX	256	/* longest meta name or type */
#define SINK_SPEC_MAX		64	/* longest meta spec */

struct sink;

/* What the state record says of the current generation of a directory. */
struct sink_current {
	uint64_t	 generation;
	int64_t		 issued_at;
	int64_t		 not_before;
	int64_t		 not_after;
	int64_t		 renew_at;
	char		 gen_dir[64];	/* "..2026_..." */
	char		 spec[SINK_SPEC_MAX + 1]; /* "" when none */
	char		 why[256];	/* on failure: why it is not reusable */
};

/* One file of a state record: its SHA-256 (hex), size and mode. */
struct sink_record_file {
	char		 name[SINK_NAME_MAX + 1];
	char		 sha256[65];
	uint64_t	 size;
	mode_t		 mode;
};

/*
 * The state record of one directory, state_dir/creds/DIR.json: what was
 * last made current there.  files[] lists every file of the generation,
 * meta.json included; uid and gid are the owner of the generation
 * directory and of every file in it.
 */
struct sink_record {
	char		 dir[SINK_NAME_MAX + 1];
	char		 name[SINK_META_STR_MAX + 1];
	char		 type[SINK_META_STR_MAX + 1];
	char		 spec[SINK_SPEC_MAX + 1];
	char		 gen_dir[64];
	uint64_t	 generation;
	int64_t		 issued_at;
	int64_t		 not_before;
	int64_t		 not_after;
	int64_t		 renew_at;
	uid_t		 uid;
	gid_t		 gid;
	mode_t		 dir_mode;
	size_t		 n_files;
	struct sink_record_file files[SINK_MAX_FILES + 1];
};

/*
 * Opens (creating with mode 0755 if missing) the output directory, and
 * state_dir/creds (creating it 0700).  state_dir must exist, belong to
 * rotatord's euid and not be group- or world-writable; state_dir/creds
 * must be a directory of ours (not a symlink), and loses any group or
 * other bits.  Leftover temporary records are removed.  Returns 0 and a
 * handle in *ret (free with sink_close()), -EPERM when state_dir is not
 * trustworthy (logged), or -errno.
 */
int sink_open(const char *output_dir, const char *state_dir, struct sink **ret);

/* Closes the handle; accepts NULL.  Published files stay in place. */
void sink_close(struct sink *s);

/*
 * Publishes files as a new generation of output_dir/dir unless their content
 * is identical to the current generation (compared by SHA-256 with the
 * state record, and with the files on disk when this handle has not
 * checked them yet; meta->spec counts as content), in which case nothing
 * is written.  meta.json is added by the sink (generation = the record's,
 * or the highest found on disk, + 1; sizes, and the sha256 of public
 * files); the state record is stored before the generation becomes
 * current, and a failure to store it fails the publish.  meta->name, type
 * and spec are printable ASCII (spec at most 64 bytes).
 * Files and the generation directory get uid/gid (when not -1); the
 * generation directory gets dir_mode.  Returns 1 when a generation was
 * written, 0 when unchanged, or -errno (the previous generation stays
 * visible).  *ret_generation (optional) receives the current generation
 * number either way.  dir_mode 0 means SINK_DIR_MODE_DEFAULT; it must
 * include 0700 and exclude group/world write.  A visible name that is not
 * a link made by the sink is refused: -ELOOP for a foreign symlink (also a
 * foreign "..data"), -EEXIST for anything else.  A handle is used by one
 * thread at a time.
 */
int sink_publish(struct sink *s, const char *dir, const struct material_file *files,
    size_t n_files, const struct material_meta *meta, uid_t uid, gid_t gid,
    mode_t dir_mode, uint64_t *ret_generation);

/*
 * Tells whether the current generation of dir may be reused, from its
 * state record alone: the record must be a regular file owned by our euid
 * with no group or other bits (not a symlink), "..data" must name the
 * generation it names, and the generation directory and every file in it
 * (regular files, not symlinks) must have the recorded owner, mode, size
 * and SHA-256.  Returns 0 with *ret filled from the record; otherwise
 * ret->why says why in one phrase ("" when nothing was ever published
 * there) and ret->generation is the trusted record's number (or 0):
 * -ENOENT (nothing published, or no record), -EPERM (record untrusted, or
 * an owner or mode differs), -EBADMSG (content differs, or a malformed
 * record), -ESTALE ("..data" names another generation), -ELOOP or
 * -EEXIST (a foreign "..data" or credential directory), or -errno.
 */
int sink_read_current(struct sink *s, const char *dir, struct sink_current *ret);

/*
 * Reads file name of the current generation of dir into a buffer the caller
 * frees with free() (wipe it first if it may hold key material).  The
 * content is checked against the state record: -EBADMSG when it differs
 * (logged), -ESTALE when "..data" names another generation than the
 * record.  Returns 0, -ENOENT or -errno.  At most SINK_MAX_FILE_SIZE bytes.
 */
int sink_read_file(struct sink *s, const char *dir, const char *name,
    char **ret, size_t *ret_len);

/*
 * Startup repair of dir: removes temporary entries ("..data_tmp", half-made
 * "..*.tmp" generation directories, "NAME.tmp" links to "..data/NAME"),
 * points "..data" at the newest complete generation when it names none,
 * recreates missing visible links of the current generation, removes our
 * links to names it lacks, and removes generations beyond the grace (and
 * any newer than the current one: they were never visible).  Returns 0
 * (also for a dir that does not exist), -ENOENT when "..data" names an
 * incomplete generation and no complete one exists, -ELOOP or -EEXIST
 * when "..data" or a visible name was not made by the sink (left as it
 * is), or another -errno; it repairs what it can either way.
 */
int sink_repair(struct sink *s, const char *dir);

/* Sets how many previous generations are kept (default SINK_KEEP_OLD). */
void sink_set_keep_old(struct sink *s, unsigned keep_old);

/*
 * The state record's text form (pure, for tests).  sink_record_format()
 * writes r into buf and returns its length, or -E2BIG past cap.
 * sink_record_parse() validates every field (names, generation name,
 * 64-digit lowercase hex, sizes and modes within the sink's limits,
 * exactly one meta.json) and returns 0 or -EBADMSG.
 */
ssize_t sink_record_format(const struct sink_record *r, char *buf, size_t cap);
int sink_record_parse(const char *buf, size_t len, struct sink_record *ret);

#endif
