/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An etcd v3 client over the JSON gateway (POST /v3/..., keys and values
 * base64, int64 as JSON strings), on libidp's HTTP client and the
 * daemon's loop.  No consensus of our own: etcd's transactions, leases
 * and watches do the work (shared/reference/anchors-reliability.md 6).
 *
 * Calls go to one endpoint at a time; a transport error or a 5xx answer
 * moves later calls to the next endpoint, and ends the watches on the one
 * left (a paused member keeps a watch open and silent), so that their
 * owners watch again where calls go.  Every callback runs from the
 * loop, outside libcurl, so it may start or cancel calls.
 */
#ifndef ROTATORD_ETCD_H
#define ROTATORD_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/loop.h"

struct etcd;

/*
 * The answer to a call: rc 0 and the reply object (borrowed for the
 * callback), or rc < 0 and a reason (-EIO transport, -EPROTO an error
 * answer or a reply that is not JSON, -ETIMEDOUT...).
 */
typedef void (*etcd_cb)(void *arg, int rc, json_t *reply, const char *why);

/*
 * One key as etcd has it, from a watch event or a range: the key (klen
 * bytes), its value (vlen bytes, NUL-terminated; none for a delete), its
 * revisions and the lease it is bound to (0: none).  Borrowed.
 */
struct etcd_kv {
	const char		*key;
	size_t			 klen;
	const unsigned char	*val;
	size_t			 vlen;
	int			 is_delete;
	int64_t			 mod_rev;
	int64_t			 create_rev;
	int64_t			 lease;
};

/* One event of a watch (from the loop). */
typedef void (*etcd_event_cb)(void *arg, const struct etcd_kv *kv);

/*
 * A watch ended: -ESTALE when its start revision was compacted
 * (compact_rev says to what; read again and watch from there), else the
 * reason it broke (no leader, transport); the caller watches again.
 */
typedef void (*etcd_watch_end_cb)(void *arg, int rc, int64_t compact_rev,
    const char *why);

/*
 * Makes a client for endpoints (http(s)://host:port; http only to
 * loopback), TLS verified against ca_file (NULL: the system store), with
 * client certificate cert / key when not NULL (etcd's
 * --client-cert-auth), calls timing out after timeout_ms.  Returns 0 or
 * -errno.
 */
int etcd_new(struct loop *l, char *const *endpoints, size_t n,
    const char *ca_file, const char *cert, const char *key,
    int64_t timeout_ms, struct etcd **ret);

/* Cancels everything (no callbacks) and frees e; accepts NULL. */
void etcd_free(struct etcd *e);

/*
 * POSTs body (taken) to path ("/v3/kv/put"...).  Returns 0 and an id for
 * etcd_cancel() (optional), or -errno (cb is then not called).
 */
int etcd_call(struct etcd *e, const char *path, json_t *body, etcd_cb cb,
    void *arg, uint64_t *ret_id);

/*
 * Watches [key, range_end) (range_end NULL: key alone) from start_rev,
 * on the current endpoint, with "hasleader" so that a member cut off
 * from the leader ends the stream instead of going quiet.  Events come
 * through ev; end is called once when the watch stops.  Returns 0 and
 * an id for etcd_cancel(), or -errno.
 */
int etcd_watch(struct etcd *e, const char *key, const char *range_end,
    int64_t start_rev, etcd_event_cb ev, etcd_watch_end_cb end, void *arg,
    uint64_t *ret_id);

/*
 * POSTs body (JSON text) to path on the current endpoint and waits for
 * the answer, at most timeout_ms: only for the way out (a lease revoked
 * as the daemon stops).  Returns 0 on a 200 answer, else -errno.
 */
int etcd_call_wait(struct etcd *e, const char *path, const char *body,
    long timeout_ms);

/* Cancels a call or watch: its callbacks are not called.  Accepts 0. */
void etcd_cancel(struct etcd *e, uint64_t id);

/* The endpoint calls go to now (for logs). */
const char *etcd_endpoint(const struct etcd *e);

/* Standard base64 of n bytes as a new JSON string, or NULL. */
json_t *etcd_b64(const void *p, size_t n);

/*
 * Decodes the base64 JSON string v into a new NUL-terminated buffer.
 * Returns 0 or -EBADMSG.  A missing v is an empty value.
 */
int etcd_unb64(const json_t *v, unsigned char **ret, size_t *ret_len);

/*
 * Decodes one element of a range reply's "kvs" into kv, with the key and
 * value in new buffers *ret_key / *ret_val (free() both; wipe the value if
 * it may be secret).  Returns 0 or -EBADMSG / -ENOMEM.
 */
int etcd_kv_decode(const json_t *j, struct etcd_kv *kv, unsigned char **ret_key,
    unsigned char **ret_val);

/* An int64 that etcd sends as a JSON string (or number); def if absent. */
int64_t etcd_int(const json_t *v, int64_t def);

/* The range_end covering every key that starts with prefix (new string). */
char *etcd_prefix_end(const char *prefix);

#endif
