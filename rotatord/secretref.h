/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret references from the config (client_secret, subject_token):
 * file:PATH, env:NAME, cred:NAME or a literal, read when they are needed,
 * not when the config is loaded, so a secret can be rotated on disk
 * without a reload.
 */
#ifndef ROTATORD_SECRETREF_H
#define ROTATORD_SECRETREF_H

#include <stddef.h>

#include <idp/secret.h>

#include "config.h"

/*
 * Reads the secret s refers to, at most max bytes, into a new secret in
 * *ret (free with idp_secret_free()):
 *   file:PATH  the file, which must be a regular file, not a symbolic link,
 *              and not accessible by group or others; one trailing newline
 *              ("\n" or "\r\n") is stripped
 *   env:NAME   the environment variable, as is
 *   cred:NAME  $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=), read
 *              as file:
 *   literal    a copy of the value
 * An empty secret is an error whatever its source.  Returns 0, or -ENOENT
 * (missing file or variable, CREDENTIALS_DIRECTORY unset), -EPERM (file
 * mode), -E2BIG (over max), -ENODATA (empty), -EINVAL, -ENOMEM or another
 * -errno; why (may be NULL) then gets a reason that names the source (path,
 * variable name), never the value.
 */
int secretref_load(const struct cfg_secret *s, size_t max,
    struct idp_secret **ret, char *why, size_t whylen);

#endif
