/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nametab: a hash index from (kind, name) to a pointer, for the config's
 * lookups by section name (which were linear scans, and made loading
 * quadratic in the number of sections).  Open addressing with linear
 * probing, grown at 1/2 load; names are borrowed, not copied, and must
 * outlive the table.  Not thread-safe; lookups on a table that is no
 * longer modified may run concurrently.
 */
#ifndef ROTATORD_NAMETAB_H
#define ROTATORD_NAMETAB_H

#include <stddef.h>

struct nametab;

/* Returns a new empty table, or NULL when out of memory. */
struct nametab *nametab_new(void);

/* Frees t (not the names or values); accepts NULL. */
void nametab_free(struct nametab *t);

/*
 * Adds name under kind with value v.  Returns 0, -EEXIST when (kind,
 * name) is already there (the table is unchanged; *old, when not NULL,
 * gets the value present), or -ENOMEM.
 */
int nametab_put(struct nametab *t, int kind, const char *name, void *v,
    void **old);

/* The value of (kind, name), or NULL; accepts t == NULL. */
void *nametab_get(const struct nametab *t, int kind, const char *name);

#endif
