/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store/: the bytes of published generations, held once in memory and
 * shared by whoever serves them.  Includes nothing of rotatord: it knows
 * no credential, sink or request.
 *
 * A blob is an immutable, reference-counted copy of one file, wiped when
 * its last reference goes (it may hold a key).  A generation's files are
 * a small set of blobs by name, filled as they are first read: the API's
 * cached responses point into the same blobs, so a served file exists
 * once however many requests and response slots share it.  One thread
 * (the event loop) takes and drops references.
 */
#ifndef ROTATORD_STORE_H
#define ROTATORD_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_MAX_FILES		17	/* a generation's files and meta.json */
#define STORE_NAME_MAX		63	/* longest file name kept */

struct blob;
struct genfiles;

/* A blob holding a copy of n bytes at p (NUL after them), or NULL. */
struct blob *blob_new(const void *p, size_t n);
/* A new reference to b. */
struct blob *blob_ref(struct blob *b);
/* Drops a reference; the last one wipes and frees b.  NULL is fine. */
void blob_unref(struct blob *b);
/* b's bytes (NUL-terminated for convenience) and their count. */
const char *blob_data(const struct blob *b);
size_t blob_len(const struct blob *b);

/* An empty file set of generation gen, or NULL. */
struct genfiles *genfiles_new(uint64_t gen);
/* Drops the set's references.  NULL is fine. */
void genfiles_free(struct genfiles *g);
uint64_t genfiles_generation(const struct genfiles *g);
/* A new reference to file name of g, or NULL when not held. */
struct blob *genfiles_get(const struct genfiles *g, const char *name);
/*
 * Keeps a reference to b as file name of g.  Returns 0, or -1 when the
 * set is full or the name too long (g is unchanged; serving goes on
 * without caching).
 */
int genfiles_put(struct genfiles *g, const char *name, struct blob *b);

#endif
