/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd JSON gateway's encodings (etcd.h): base64 keys and values,
 * int64 as strings, prefix range ends, range reply elements.  Pure; kept
 * apart from the client so that a test can link it without the client.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <idp/b64.h>

#include "fleet/etcd.h"

json_t *
etcd_b64(const void *p, size_t n)
{
	char *buf;
	json_t *j;

	if (n > (1 << 26) || (buf = malloc(idp_b64_enc_len(n) + 1)) == NULL)
		return NULL;
	idp_b64_encode(p, n, buf);
	j = json_string(buf);
	free(buf);
	return j;
}

int
etcd_unb64(const json_t *v, unsigned char **ret, size_t *ret_len)
{
	const char *s = json_string_value(v);
	unsigned char *out;
	size_t n;

	if (v == NULL) {
		if ((*ret = calloc(1, 1)) == NULL)
			return -ENOMEM;
		*ret_len = 0;
		return 0;
	}
	if (s == NULL || (n = strlen(s)) % 4 != 0)
		return -EBADMSG;
	if ((out = malloc(n / 4 * 3 + 1)) == NULL)
		return -ENOMEM;
	if (idp_b64_decode(s, n, out, n / 4 * 3, ret_len) != 0) {
		free(out);
		return -EBADMSG;
	}
	out[*ret_len] = '\0';
	*ret = out;
	return 0;
}

int
etcd_kv_decode(const json_t *j, struct etcd_kv *kv, unsigned char **ret_key,
    unsigned char **ret_val)
{
	unsigned char *k = NULL, *v = NULL;
	size_t kl, vl;
	int rc;

	if ((rc = etcd_unb64(json_object_get(j, "key"), &k, &kl)) < 0)
		return rc;
	if ((rc = etcd_unb64(json_object_get(j, "value"), &v, &vl)) < 0) {
		free(k);
		return rc;
	}
	memset(kv, 0, sizeof(*kv));
	kv->key = (const char *)k;
	kv->klen = kl;
	kv->val = v;
	kv->vlen = vl;
	kv->mod_rev = etcd_int(json_object_get(j, "mod_revision"), 0);
	kv->create_rev = etcd_int(json_object_get(j, "create_revision"), 0);
	kv->lease = etcd_int(json_object_get(j, "lease"), 0);
	*ret_key = k;
	*ret_val = v;
	return 0;
}

int64_t
etcd_int(const json_t *v, int64_t def)
{
	const char *s;
	char *end;
	long long x;

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if ((s = json_string_value(v)) == NULL)
		return def;
	/* etcd's form only: digits after an optional '-' (not strtoll's). */
	if (!isdigit((unsigned char)s[*s == '-']))
		return def;
	errno = 0;
	x = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' ? def : (int64_t)x;
}

char *
etcd_prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *r;

	if (n == 0 || (r = strdup(prefix)) == NULL)
		return NULL;
	/* Every prefix here ends in '/', so no carry is needed. */
	r[n - 1]++;
	return r;
}
