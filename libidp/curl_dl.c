/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loads libcurl at run time; see curl_dl.h for why.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#define CURL_DISABLE_TYPECHECK
#define IDP_CURL_DL_NO_RENAME
#include "curl_dl.h"

struct idp_curl_api idp_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc = -ENOSYS;
static const char *load_why = "not loaded";

/* Symbol names in the order of struct idp_curl_api. */
static const char *const names[] = {
	"curl_global_init", "curl_easy_init", "curl_easy_cleanup",
	"curl_easy_setopt", "curl_easy_getinfo", "curl_easy_strerror",
	"curl_free", "curl_multi_init", "curl_multi_cleanup",
	"curl_multi_add_handle", "curl_multi_remove_handle",
	"curl_multi_setopt", "curl_multi_info_read", "curl_multi_socket_action",
	"curl_slist_append", "curl_slist_free_all", "curl_url",
	"curl_url_cleanup", "curl_url_dup", "curl_url_get", "curl_url_set",
};

static void
load(void)
{
	void *h, *sym;
	char *p = (char *)&idp_curl;
	size_t i;

	_Static_assert(sizeof(names) / sizeof(names[0]) * sizeof(void (*)(void)) ==
	    sizeof(struct idp_curl_api), "names and struct idp_curl_api differ");
	/* The library stays loaded for the life of the process. */
	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		load_why = "cannot load libcurl.so.4";
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((sym = dlsym(h, names[i])) == NULL) {
			load_why = "libcurl.so.4 lacks a function libidp needs";
			return;
		}
		/* Every member is a function pointer of the same size. */
		*(void **)(p + i * sizeof(void (*)(void))) = sym;
	}
	load_rc = 0;
	load_why = NULL;
}

int
idp_curl_load(const char **ret_why)
{
	pthread_once(&load_once, load);
	if (ret_why != NULL)
		*ret_why = load_why;
	return load_rc;
}
