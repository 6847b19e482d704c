/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The running daemon: the current config and what was built from it (CAs,
 * signers, credential schedule), the sink and the reloader, driven by one
 * loop.  main.c parses argv and calls these.
 */
#ifndef ROTATORD_DAEMON_H
#define ROTATORD_DAEMON_H

#include "config/config.h"

struct daemon;

#define DAEMON_ONCE	0x1	/* bring everything up to date, reload, exit */

/*
 * Builds a daemon from config c (taking ownership of c) and publishes or
 * reuses every credential.  Returns 0 and the daemon in *ret (free with
 * daemon_free()), or -errno after logging why.
 */
int daemon_new(struct config *c, int flags, struct daemon **ret);

/*
 * Runs the loop until SIGTERM / SIGINT (or, with DAEMON_ONCE, until the
 * reloads are done).  Returns the process exit code.
 */
int daemon_run(struct daemon *d);

/* Frees d; published files stay in place.  Accepts NULL. */
void daemon_free(struct daemon *d);

#endif
