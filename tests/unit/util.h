/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the unit tests share: temporary directories made and removed
 * recursively, whole files written and read, snprintf that fails the
 * test instead of truncating, a config loaded from a string, loopback
 * sockets, and a small HTTP/1.1 server that runs on rotatord's loop in
 * the test's own process (for the clients that run on that loop too).
 *
 * Each part is its own file of libutil.a (util.c, util_config.c,
 * util_net.c, util_httpd.c, util_loop.c), so a test links the config
 * loader or the loop only when it calls the helpers that need them.
 * Include after <cmocka.h>'s prerequisites (stdarg.h, stddef.h, setjmp.h,
 * stdint.h).
 */
#ifndef ROTATORD_TEST_UTIL_H
#define ROTATORD_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- util.c: files and strings ------------------------------------------- */

/* snprintf that fails the test instead of truncating; returns buf. */
char *ut_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* vasprintf that fails the test when out of memory; free() the result. */
char *ut_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define UT_TMP_SHM	0x1	/* under /dev/shm when writable */
#define UT_TMP_TMP	0x2	/* under /tmp: short paths for config lines */

/*
 * Makes a fresh directory BASE/TAG.XXXXXX, where BASE is /dev/shm (with
 * UT_TMP_SHM, when writable), else /tmp with UT_TMP_TMP, else $TMPDIR
 * when absolute, else /tmp.
 * Returns its path (free() it, after ut_rm_rf()), or NULL with errno set.
 */
char *ut_tmpdir(const char *tag, int flags);

/*
 * Removes path and everything below it without following symlinks, like
 * rm -rf; a missing path is fine.  Returns 0 or -1 (errno set).
 */
int ut_rm_rf(const char *path);

/*
 * Writes len bytes of data to path, replacing any file there: created
 * 0600 with O_EXCL, written in full, then given mode.  Fails the test on
 * any error.
 */
void ut_write_file(const char *path, const void *data, size_t len,
    mode_t mode);

/*
 * ut_write_file() of dir/name, with its path in buf (size bytes);
 * returns buf.
 */
char *ut_put(char *buf, size_t size, const char *dir, const char *name,
    const void *data, size_t len, mode_t mode);

#define UT_NOFOLLOW	0x1	/* do not follow a final symlink */

/*
 * Reads the regular file path into a new NUL-terminated buffer (free()
 * it), its length in *ret_len (may be NULL).  Returns NULL when it
 * cannot be opened, is not a regular file or cannot be read in full.
 */
char *ut_read_file(const char *path, int flags, size_t *ret_len);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t ut_mono_ms(void);

/* ---- util_config.c: configs from text ------------------------------------ */

struct config;

/*
 * Loads the config that fmt and its arguments make (named "test.ini" in
 * messages); fails the test, printing the messages and the text, unless
 * it loads without a message.  Free with config_free().
 */
struct config *ut_config(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * Loads text and returns config_load_buf()'s result; the messages in
 * *ret_msgs (free() it; may be NULL) and the config, if any, in *ret.
 */
int ut_config_try(const char *text, char **ret_msgs, struct config **ret);

/* ---- util_net.c: loopback sockets, blocking ------------------------------ */

/* A TCP socket listening on 127.0.0.1 at a free port (in *ret_port). */
int ut_listen_loopback(int *ret_port);

/* A TCP port of 127.0.0.1 that nothing listens on right now. */
int ut_free_port(void);

/* Sends all n bytes (no SIGPIPE).  Returns 0 or -1. */
int ut_send_all(int fd, const void *p, size_t n);

/*
 * Reads one request (its head and a Content-Length body) from the
 * blocking socket fd into buf, NUL-terminated.  Returns its length, or
 * -1 when the peer closed before sending anything.  Stops early at
 * something that is not HTTP (a TLS ClientHello, say).
 */
ssize_t ut_read_request(int fd, char *buf, size_t size);

/* ---- util_httpd.c: an HTTP server on the loop ---------------------------- */

struct loop;
struct ut_httpd;
struct ut_http_conn;

/* One request as the server read it (valid during the handler). */
struct ut_http_req {
	const char	*method;
	const char	*path;		/* with the query */
	const char	*head;		/* the whole head, NUL-terminated */
	const char	*body;		/* NUL-terminated */
	size_t		 body_len;
	unsigned	 seq;		/* 1 for the server's first request */
};

/*
 * Called on the loop for each complete request.  It answers with
 * ut_http_reply(), starts a stream, hangs up (ut_http_hangup()), or keeps
 * c to answer later (a held request).  The test owns c until it replies,
 * hangs up or ends the stream; the server frees it after that.
 */
typedef void (*ut_http_handler)(void *arg, struct ut_http_conn *c,
    const struct ut_http_req *req);

/*
 * Starts a server on 127.0.0.1 (a free port) whose connections are
 * callbacks of loop l.  One request per connection; answers say
 * "Connection: close".  Fails the test on error.
 */
struct ut_httpd *ut_httpd_new(struct loop *l, ut_http_handler h, void *arg);

/* Its port. */
int ut_httpd_port(const struct ut_httpd *s);

/* "http://127.0.0.1:PORT" followed by path, in a static buffer. */
const char *ut_httpd_url(const struct ut_httpd *s, const char *path);

/* Requests read so far. */
unsigned ut_httpd_requests(const struct ut_httpd *s);

/* Closes the listener and every connection; accepts NULL. */
void ut_httpd_free(struct ut_httpd *s);

/*
 * Answers c with status, the extra header lines hdrs ("Name: value\r\n"
 * each, or NULL) and len bytes of body, then closes it once sent.
 */
void ut_http_reply(struct ut_http_conn *c, int status, const char *hdrs,
    const void *body, size_t len);

/* ut_http_reply() with a JSON body given as a string. */
void ut_http_json(struct ut_http_conn *c, int status, const char *json);

/* Closes c without an answer. */
void ut_http_hangup(struct ut_http_conn *c);

/*
 * Returns 1 when the client of a held c went away; c stays valid until
 * the test replies, hangs up or ends its stream.
 */
int ut_http_gone(const struct ut_http_conn *c);

/* Starts a chunked answer on c (200, the extra header lines hdrs). */
void ut_http_stream(struct ut_http_conn *c, const char *hdrs);

/* Sends len bytes as one chunk of the stream on c. */
void ut_http_chunk(struct ut_http_conn *c, const void *data, size_t len);

/* Ends the stream on c with the last chunk, then closes it once sent. */
void ut_http_stream_end(struct ut_http_conn *c);

/* ---- util_loop.c: running the loop until something holds ----------------- */

/*
 * Runs loop l until pred(arg) is true (checked after every callback
 * round, at least every 5 ms), or deadline_ms pass: returns 1, or 0 on
 * the deadline.  A deadline is a bound against hangs, never a timing
 * assertion: make it generous.
 */
int ut_run_until(struct loop *l, int (*pred)(void *), void *arg,
    int64_t deadline_ms);

#endif
