/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside sources/: what mint.c offers mint_jwt.c.  Nothing outside
 * sources/ includes this; the rest of rotatord sees mint.h.
 */
#ifndef ROTATORD_MINT_INT_H
#define ROTATORD_MINT_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "sources/mint.h"

/*
 * Adds a file to r whose content is copied into an owned, wiped buffer.
 * Returns 0, -E2BIG past MINT_MAX_FILES, or -ENOMEM.
 */
int result_add(struct mint_result *r, const char *name, const void *data,
    size_t len, mode_t mode);

#endif
