/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loads libmicrohttpd at run time; see mhd_dl.h for why.
 *
 * Unlike libidp's curl_dl.c this does not use pthread_once: a failed
 * load is retried on the next call (the package may be installed while
 * the daemon runs, and the API must not stay dead until a restart), so
 * the state is a mutex-protected flag instead.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define ROT_MHD_DL_IMPL
#include "api/mhd_dl.h"

#define MHD_SONAME	"libmicrohttpd.so.12"

struct rot_mhd_api rot_mhd;

/*
 * Set, with release order, only after every member of rot_mhd is
 * written, so a caller that sees 1 (acquire) also sees the table.
 */
static atomic_int loaded;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* dlerror()'s string is overwritten by the next dl call: keep a copy. */
static char load_why[512];

/*
 * Each symbol and where it goes.  Offsets rather than the member order,
 * so that reordering struct rot_mhd_api cannot fill the wrong member;
 * the count is checked against the struct below.
 */
#define SYM(f)	{ "MHD_" #f, offsetof(struct rot_mhd_api, f) }
static const struct {
	const char	*name;
	size_t		 off;
} syms[] = {
	SYM(start_daemon),
	SYM(stop_daemon),
	SYM(quiesce_daemon),
	SYM(run),
	SYM(get_timeout),
	SYM(get_daemon_info),
	SYM(get_connection_info),
	SYM(lookup_connection_value),
	SYM(suspend_connection),
	SYM(resume_connection),
	SYM(create_response_from_buffer),
	SYM(create_response_from_buffer_with_free_callback_cls),
	SYM(add_response_header),
	SYM(queue_response),
	SYM(destroy_response),
};
#undef SYM

_Static_assert(sizeof(syms) / sizeof(syms[0]) * sizeof(void (*)(void)) ==
    sizeof(struct rot_mhd_api), "syms[] and struct rot_mhd_api differ");

/*
 * Opens the library and fills api.  Returns 0, or -ENOSYS with the
 * reason in load_why and nothing left open.  Called with load_lock held.
 */
static int
load_locked(struct rot_mhd_api *api)
{
	void	*h, *sym;
	size_t	 i;

	/*
	 * RTLD_NOW: a missing dependency fails here, with a reason, rather
	 * than at the first call of some function in the middle of a
	 * request.  RTLD_LOCAL: MHD's and GnuTLS's symbols stay out of the
	 * global namespace, where they could resolve a later dlopen's
	 * references by accident.
	 */
	if ((h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(load_why, sizeof(load_why), "cannot load %s: %s",
		    MHD_SONAME, dlerror());
		return -ENOSYS;
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		(void)dlerror();
		if ((sym = dlsym(h, syms[i].name)) == NULL) {
			const char *e = dlerror();

			snprintf(load_why, sizeof(load_why),
			    "%s lacks %s, which rotatord needs: %s",
			    MHD_SONAME, syms[i].name,
			    e != NULL ? e : "symbol is NULL");
			dlclose(h);
			return -ENOSYS;
		}
		/*
		 * POSIX guarantees a function's address survives the trip
		 * through void *; memcpy stores it into the function
		 * pointer member without an aliasing cast.
		 */
		memcpy((char *)api + syms[i].off, &sym, sizeof(sym));
	}
	/* On success the library stays loaded for the life of the process. */
	return 0;
}

int
rot_mhd_load(const char **ret_why)
{
	struct rot_mhd_api	 api;
	int			 rc;

	/* The common case, once loaded: no lock on every connection. */
	if (atomic_load_explicit(&loaded, memory_order_acquire))
		return 0;

	pthread_mutex_lock(&load_lock);
	if (atomic_load_explicit(&loaded, memory_order_relaxed)) {
		rc = 0;
		goto out;
	}
	/*
	 * Fill a local copy and publish it whole, so a failure part way
	 * through never leaves rot_mhd half set.
	 */
	memset(&api, 0, sizeof(api));
	if ((rc = load_locked(&api)) != 0) {
		if (ret_why != NULL)
			*ret_why = load_why;
		goto out;
	}
	rot_mhd = api;
	atomic_store_explicit(&loaded, 1, memory_order_release);
 out:
	pthread_mutex_unlock(&load_lock);
	return rc;
}

int
rot_mhd_loaded(void)
{
	return atomic_load_explicit(&loaded, memory_order_acquire) != 0;
}
