/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp: common definitions shared by every module.
 *
 * Errors: every function returns 0 or a negative errno:
 *   -EBADMSG      malformed input
 *   -EKEYREJECTED bad signature, or an algorithm the key does not allow
 *   -EKEYEXPIRED  outside the token's or certificate's time window
 *   -EACCES       iss / aud mismatch
 *   -EPROTO       identity provider protocol violation
 *   -E2BIG        a size limit was hit
 *   -ENOMEM       out of memory
 *   -EINVAL       bad argument from the caller
 * An optional struct idp_err receives a human-readable reason that never
 * contains secret material.  Out-parameters are named ret_* and are written
 * only on success.
 */
#ifndef IDP_IDP_H
#define IDP_IDP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define IDP_VERSION "0.1.0"

struct idp_err {
	char msg[256];
};

/* Formats a reason into err (which may be NULL) and returns rc unchanged. */
int idp_err_set(struct idp_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Returns the library version string (static storage). */
const char *idp_version(void);

#endif
