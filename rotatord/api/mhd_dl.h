/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd, loaded on first use.
 *
 * Debian's libmicrohttpd.so.12 pulls in GnuTLS, p11-kit, nettle, gmp,
 * libidn2, libunistring and more, whose pages cost an idle daemon about
 * 2.5 MiB of RSS although rotatord never serves TLS itself.  So rotatord
 * does not link libmicrohttpd: api/ calls it through this table,
 * filled by rot_mhd_load() the first time a client connects to the API.
 * Include after <microhttpd.h>; from here on the MHD_* function names
 * below are table calls, so the code using them reads unchanged.
 * The types, enums and constants still come from <microhttpd.h>, which
 * is why the header is kept at build time and only the library goes.
 *
 * tests/bench/mhd_bare.c uses a subset of the same functions, which are
 * all in the table so it can be built the same way.
 */
#ifndef ROT_MHD_DL_H
#define ROT_MHD_DL_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

/*
 * One member per libmicrohttpd function rotatord calls, with the
 * prototype of <microhttpd.h> (0.9.75).  Variadic functions stay
 * variadic: a call through the pointer passes the option list exactly
 * as a direct call would.
 */
struct rot_mhd_api {
	struct MHD_Daemon		*(*start_daemon)(unsigned int, uint16_t,
					    MHD_AcceptPolicyCallback, void *,
					    MHD_AccessHandlerCallback, void *,
					    ...);
	void				 (*stop_daemon)(struct MHD_Daemon *);
	MHD_socket			 (*quiesce_daemon)(struct MHD_Daemon *);
	enum MHD_Result			 (*run)(struct MHD_Daemon *);
	enum MHD_Result			 (*get_timeout)(struct MHD_Daemon *,
					    MHD_UNSIGNED_LONG_LONG *);
	const union MHD_DaemonInfo	*(*get_daemon_info)(struct MHD_Daemon *,
					    enum MHD_DaemonInfoType, ...);
	const union MHD_ConnectionInfo	*(*get_connection_info)(
					    struct MHD_Connection *,
					    enum MHD_ConnectionInfoType, ...);
	const char			*(*lookup_connection_value)(
					    struct MHD_Connection *,
					    enum MHD_ValueKind, const char *);
	void				 (*suspend_connection)(
					    struct MHD_Connection *);
	void				 (*resume_connection)(
					    struct MHD_Connection *);
	struct MHD_Response		*(*create_response_from_buffer)(size_t,
					    void *, enum MHD_ResponseMemoryMode);
	struct MHD_Response		*(*create_response_from_buffer_with_free_callback_cls)(
					    size_t, void *,
					    MHD_ContentReaderFreeCallback, void *);
	enum MHD_Result			 (*add_response_header)(
					    struct MHD_Response *, const char *,
					    const char *);
	enum MHD_Result			 (*queue_response)(
					    struct MHD_Connection *, unsigned int,
					    struct MHD_Response *);
	void				 (*destroy_response)(
					    struct MHD_Response *);
};

/*
 * The table.  All members are NULL until rot_mhd_load() has returned 0,
 * and are never changed after that.
 */
extern struct rot_mhd_api rot_mhd;

/*
 * Loads libmicrohttpd.so.12 and every function above (thread-safe;
 * after a success, later calls return 0 at once).  Returns 0, or
 * -ENOSYS with the reason (the missing library or symbol, dlerror()'s
 * text) in *ret_why if ret_why is not NULL; *ret_why is written only on
 * failure.  The reason is static storage, valid until the next call.  A
 * failed load is tried afresh on the next call, so a library installed
 * later is picked up.
 */
int	rot_mhd_load(const char **ret_why);

/*
 * Returns 1 once rot_mhd_load() has succeeded, else 0.
 */
int	rot_mhd_loaded(void);

/*
 * mhd_dl.c defines ROT_MHD_DL_IMPL so that it can name the real symbols.
 * None of these names is a macro in <microhttpd.h> 0.9.75 (its only
 * function-like macros are MHD_get_fdset and
 * MHD_create_response_from_fd_at_offset, which rotatord does not use);
 * there is deliberately no #undef, so that a future header defining one
 * of them draws the compiler's "redefined" warning (an error under
 * -Werror) instead of silently losing the header's macro.
 */
#ifndef ROT_MHD_DL_IMPL
#define MHD_start_daemon	rot_mhd.start_daemon
#define MHD_stop_daemon		rot_mhd.stop_daemon
#define MHD_quiesce_daemon	rot_mhd.quiesce_daemon
#define MHD_run			rot_mhd.run
#define MHD_get_timeout		rot_mhd.get_timeout
#define MHD_get_daemon_info	rot_mhd.get_daemon_info
#define MHD_get_connection_info	rot_mhd.get_connection_info
#define MHD_lookup_connection_value rot_mhd.lookup_connection_value
#define MHD_suspend_connection	rot_mhd.suspend_connection
#define MHD_resume_connection	rot_mhd.resume_connection
#define MHD_create_response_from_buffer rot_mhd.create_response_from_buffer
#define MHD_create_response_from_buffer_with_free_callback_cls \
	rot_mhd.create_response_from_buffer_with_free_callback_cls
#define MHD_add_response_header	rot_mhd.add_response_header
#define MHD_queue_response	rot_mhd.queue_response
#define MHD_destroy_response	rot_mhd.destroy_response
#endif

#endif
