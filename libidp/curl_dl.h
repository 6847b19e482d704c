/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded on first use.
 *
 * Debian's libcurl pulls in some thirty libraries (GnuTLS, Kerberos, LDAP,
 * libssh2...) whose pages cost a host daemon about 4 MiB of RSS even when
 * no upstream issuer is configured.  So libidp does not link libcurl:
 * http*.c call it through this table, filled by idp_curl_load() the first
 * time an HTTP client is made.  Include after <curl/curl.h>, which must be
 * included with CURL_DISABLE_TYPECHECK (the names become table calls).
 * Internal to libidp.
 */
#ifndef IDP_CURL_DL_H
#define IDP_CURL_DL_H

#include <curl/curl.h>

struct idp_curl_api {
	CURLcode		(*global_init)(long);
	CURL			*(*easy_init)(void);
	void			 (*easy_cleanup)(CURL *);
	CURLcode		 (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode		 (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char		*(*easy_strerror)(CURLcode);
	void			 (*free)(void *);
	CURLM			*(*multi_init)(void);
	CURLMcode		 (*multi_cleanup)(CURLM *);
	CURLMcode		 (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode		 (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode		 (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMsg			*(*multi_info_read)(CURLM *, int *);
	CURLMcode		 (*multi_socket_action)(CURLM *, curl_socket_t, int,
				    int *);
	struct curl_slist	*(*slist_append)(struct curl_slist *, const char *);
	void			 (*slist_free_all)(struct curl_slist *);
	CURLU			*(*url)(void);
	void			 (*url_cleanup)(CURLU *);
	CURLU			*(*url_dup)(CURLU *);
	CURLUcode		 (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode		 (*url_set)(CURLU *, CURLUPart, const char *,
				    unsigned int);
};

extern struct idp_curl_api idp_curl;

/*
 * Loads libcurl.so.4 and every function above, once (thread-safe).
 * Returns 0, or -ENOSYS with the loader's reason in *ret_why (static).
 */
int idp_curl_load(const char **ret_why);

#ifndef IDP_CURL_DL_NO_RENAME
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init	idp_curl.global_init
#define curl_easy_init		idp_curl.easy_init
#define curl_easy_cleanup	idp_curl.easy_cleanup
#define curl_easy_setopt	idp_curl.easy_setopt
#define curl_easy_getinfo	idp_curl.easy_getinfo
#define curl_easy_strerror	idp_curl.easy_strerror
#define curl_free		idp_curl.free
#define curl_multi_init		idp_curl.multi_init
#define curl_multi_cleanup	idp_curl.multi_cleanup
#define curl_multi_add_handle	idp_curl.multi_add_handle
#define curl_multi_remove_handle idp_curl.multi_remove_handle
#define curl_multi_setopt	idp_curl.multi_setopt
#define curl_multi_info_read	idp_curl.multi_info_read
#define curl_multi_socket_action idp_curl.multi_socket_action
#define curl_slist_append	idp_curl.slist_append
#define curl_slist_free_all	idp_curl.slist_free_all
#define curl_url		idp_curl.url
#define curl_url_cleanup	idp_curl.url_cleanup
#define curl_url_dup		idp_curl.url_dup
#define curl_url_get		idp_curl.url_get
#define curl_url_set		idp_curl.url_set
#endif

#endif
