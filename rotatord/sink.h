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
 */
#ifndef ROTATORD_SINK_H
#define ROTATORD_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SINK_MAX_FILES		16
#define SINK_KEEP_OLD		2	/* default grace: previous generations kept */
#define SINK_MAX_FILE_SIZE	(1 << 20)
#define SINK_NAME_MAX		128	/* longest dir or file name */
#define SINK_DIR_MODE_DEFAULT	0700	/* for dir_mode 0 */

struct sink;

/*
 * One file of a generation.  name is a plain file name ([A-Za-z0-9._-], at
 * most SINK_NAME_MAX bytes, not starting with '.', not ending in ".tmp",
 * not "meta.json"); mode has no group/world write or special bits.
 */
struct sink_file {
	const char	*name;
	const void	*data;
	size_t		 len;
	mode_t		 mode;		/* final mode, e.g. 0600 for keys */
};

/* Metadata written as meta.json into each generation. */
struct sink_meta {
	const char	*name;		/* credential or signer name */
	const char	*type;		/* "x509", "jwt", "secret", "signer" */
	int64_t		 issued_at;	/* seconds since the epoch */
	int64_t		 not_before;
	int64_t		 not_after;
	int64_t		 renew_at;	/* planned renewal, seconds since epoch */
	const char	*spec;		/* opaque fingerprint of what shaped it, or NULL */
};

/* What was read back from the current generation of a directory. */
struct sink_current {
	uint64_t	 generation;
	int64_t		 issued_at;
	int64_t		 not_before;
	int64_t		 not_after;
	int64_t		 renew_at;
	char		 gen_dir[64];	/* "..2026_..." */
	char		 spec[65];	/* meta "spec", "" when absent */
};

/*
 * Opens (creating with mode 0755 if missing) the output directory.  Returns
 * 0 and a handle in *ret (free with sink_close()), or -errno.
 */
int sink_open(const char *output_dir, struct sink **ret);

/* Closes the handle; accepts NULL.  Published files stay in place. */
void sink_close(struct sink *s);

/*
 * Publishes files as a new generation of output_dir/dir unless their content
 * is identical to the current generation (compared by SHA-256; meta->spec
 * counts as content), in which case nothing is written.  meta.json is
 * added by the sink (generation = previous + 1, sha256 of every file);
 * meta->name, type and spec are printable ASCII (spec at most 64 bytes).
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
int sink_publish(struct sink *s, const char *dir, const struct sink_file *files,
    size_t n_files, const struct sink_meta *meta, uid_t uid, gid_t gid,
    mode_t dir_mode, uint64_t *ret_generation);

/*
 * Reads meta.json of the current generation of dir.  Returns 0, -ENOENT
 * when dir has no complete generation, or -errno.
 */
int sink_read_current(struct sink *s, const char *dir, struct sink_current *ret);

/*
 * Reads file name of the current generation of dir into a buffer the caller
 * frees with free() (wipe it first if it may hold key material).  Returns 0,
 * -ENOENT or -errno.  At most SINK_MAX_FILE_SIZE bytes.
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

#endif
