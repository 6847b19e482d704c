/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The URL policy of libidp's HTTP client: https only, plain http solely to
 * a loopback address and only when asked, no credentials in the URL.  Pure
 * checks over curl's URL parser; no transfer starts here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Calls go through the table of curl_dl.h: no compile-time type checks. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include <idp/http.h>

#include "curl_dl.h"
#include "http_int.h"

/* Returns 1 for 127.0.0.0/8, ::1 (bracketed) and "localhost". */
static int
host_is_loopback(const char *host, int *ret_name)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);

	*ret_name = 0;
	if (strcasecmp(host, "localhost") == 0) {
		*ret_name = 1;
		return 1;
	}
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return 0;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

/* Returns 1 if the numeric address ip (as curl reports it) is loopback. */
int
idp_http_ip_is_loopback(const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/*
 * Parses url with curl's own parser (the request later uses this very
 * CURLU through CURLOPT_CURLU, so the check and the connection cannot
 * disagree about the host) and applies the scheme policy.  On success
 * returns 0, the parsed URL in *ret_u (may be NULL to discard) and in
 * *ret_plain whether this is plain http to loopback; for the name
 * "localhost" *ret_resolve receives a CURLOPT_RESOLVE entry pinning it to
 * 127.0.0.1 and ::1.
 */
int
idp_http_url_check(const char *url, int allow_http_loopback, CURLU **ret_u,
    int *ret_plain, struct curl_slist **ret_resolve, struct idp_err *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *user = NULL, *zone = NULL;
	char *port = NULL, pin[128], shost[128];
	struct curl_slist *resolve = NULL;
	const unsigned char *p;
	int plain = 0, named, rc;

	if (url == NULL || url[0] == '\0')
		return idp_err_set(err, -EPROTO, "no URL");
	if (strlen(url) > HTTP_URL_MAX)
		return idp_err_set(err, -EPROTO, "URL longer than %d bytes",
		    HTTP_URL_MAX);
	for (p = (const unsigned char *)url; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return idp_err_set(err, -EPROTO,
			    "URL contains whitespace or control characters");
	if ((u = curl_url()) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		rc = idp_err_set(err, -EPROTO, "URL does not parse");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0') {
		rc = idp_err_set(err, -EPROTO, "URL without scheme or host");
		goto out;
	}
	idp_http_copy_printable(shost, sizeof(shost), host, strlen(host));
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		rc = idp_err_set(err, -EPROTO,
		    "URL for %s carries credentials", shost);
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0) {
		plain = 0;
	} else if (strcasecmp(scheme, "http") == 0) {
		if (!allow_http_loopback) {
			rc = idp_err_set(err, -EPROTO,
			    "plain http to %s refused (https required)", shost);
			goto out;
		}
		if (!host_is_loopback(host, &named) ||
		    curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
			rc = idp_err_set(err, -EPROTO,
			    "plain http to non-loopback host %s refused", shost);
			goto out;
		}
		plain = 1;
		if (named) {
			if (curl_url_get(u, CURLUPART_PORT, &port,
			    CURLU_DEFAULT_PORT) != CURLUE_OK ||
			    (size_t)snprintf(pin, sizeof(pin),
			    "%s:%s:127.0.0.1,[::1]", host, port) >= sizeof(pin)) {
				rc = idp_err_set(err, -EPROTO,
				    "bad port in URL for %s", shost);
				goto out;
			}
			if (ret_resolve != NULL &&
			    (resolve = curl_slist_append(NULL, pin)) == NULL) {
				rc = idp_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
		}
	} else {
		char sscheme[32];

		idp_http_copy_printable(sscheme, sizeof(sscheme), scheme,
		    strlen(scheme));
		rc = idp_err_set(err, -EPROTO, "scheme %s refused (https "
		    "required)", sscheme);
		goto out;
	}
	if (ret_u != NULL) {
		*ret_u = u;
		u = NULL;
	}
	if (ret_plain != NULL)
		*ret_plain = plain;
	if (ret_resolve != NULL) {
		*ret_resolve = resolve;
		resolve = NULL;
	}
	rc = 0;
out:
	curl_slist_free_all(resolve);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(zone);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* Pure policy check; see idp/http.h.  Returns 0 or -EPROTO. */
int
idp_http_url_allowed(const char *url, int allow_http_loopback,
    struct idp_err *err)
{
	int rc;

	if (idp_http_curl_init() < 0)
		return idp_err_set(err, -EPROTO, "libcurl is not available");
	rc = idp_http_url_check(url, allow_http_loopback, NULL, NULL, NULL,
	    err);
	return rc == -ENOMEM ? rc : (rc < 0 ? -EPROTO : 0);
}
