/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp's asynchronous HTTP client bound to the daemon's loop: its
 * sockets and timer become loop callbacks.  Shared by the upstream
 * issuers (upstream.c) and the etcd client (etcd.c), each with its own.
 */
#ifndef ROTATORD_HTTPLOOP_H
#define ROTATORD_HTTPLOOP_H

#include <idp/http.h>

#include "core/loop.h"

struct httploop;

/* Binds to loop l; no client (and no libcurl) yet.  Returns 0 or -errno. */
int httploop_new(struct loop *l, struct httploop **ret);

/*
 * Makes the client on first need (libcurl is loaded then).  Returns 0
 * with it in *ret, or -errno with a reason in err.
 */
int httploop_client(struct httploop *hl, struct idp_http **ret,
    struct idp_err *err);

/* The client if it was made, else NULL. */
struct idp_http *httploop_peek(const struct httploop *hl);

/* Cancels every request (no callbacks) and frees hl; accepts NULL. */
void httploop_free(struct httploop *hl);

#endif
