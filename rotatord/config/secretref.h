/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret references from the config (client_secret, subject_token):
 * file:PATH, env:NAME, cred:NAME or a literal, read when they are needed,
 * not when the config is loaded, so a secret can be rotated on disk
 * without a reload.
 *
 * env: is the exception: a variable is taken out of the environment the
 * first time it is seen (secretref_take_env() right after each config
 * load, or secretref_load()), so that no child and no reader of
 * /proc/PID/environ finds it.  Its value then lives in a store of wiped
 * buffers keyed by variable name, for the life of the process: a config
 * re-read on SIGHUP that names the same variable gets the same value.
 */
#ifndef ROTATORD_SECRETREF_H
#define ROTATORD_SECRETREF_H

#include <stddef.h>

#include <idp/secret.h>

#include "config/config.h"

/*
 * Reads the secret s refers to, at most max bytes, into a new secret in
 * *ret (free with idp_secret_free()):
 *   file:PATH  the file, which must be a regular file, not a symbolic link,
 *              and not accessible by group or others; one trailing newline
 *              ("\n" or "\r\n") is stripped
 *   env:NAME   the environment variable, as is (the value taken out of the
 *              environment earlier, or now if it is still there)
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

/*
 * Takes every env: variable c refers to (client_secret, subject_token) out
 * of the environment into the store: the value is copied, the variable is
 * unset, and the bytes of a "NAME=value" string that lies in the initial
 * environment block (on the stack, what /proc/PID/environ shows) are
 * overwritten with zeros.  Strings that setenv() or putenv() made are only
 * unset: they are not ours to write.  A variable that is not set is left
 * alone (secretref_load() then fails with -ENOENT); one already taken
 * keeps its stored value.  Call it before any child is started and while
 * no other thread reads the environment.  Returns 0, or -ENOMEM when a
 * value could not be copied (that variable stays in the environment).
 */
int secretref_take_env(const struct config *c);

/* Wipes and frees every value taken from the environment. */
void secretref_forget_env(void);

#endif
