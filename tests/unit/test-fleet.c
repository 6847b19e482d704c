/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the parts of the fleet that need no etcd: the sealed form of
 * fleet secret documents (AES-256-GCM bound to its key and generation),
 * and the gateway's encodings (base64 values, int64 as strings above
 * 2^53, prefix range ends).  The fleet itself runs against a real etcd
 * cluster in tests/integration/test_fleet.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "etcd.h"
#include "fleet.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcde";
static const unsigned char other[32] = "0123456789abcdef0123456789abcdX";

static void
test_seal_open(void **state)
{
	static const char doc[] = "{\"keys\":[\"c2VjcmV0\"],\"gen\":7}";
	struct idp_secret *p;
	json_t *s, *t;
	char *ct;

	(void)state;
	s = fleet_seal(key, "aad gen 7", doc, strlen(doc));
	assert_non_null(s);
	assert_int_equal(json_integer_value(json_object_get(s, "v")), 1);
	/* No plaintext in the sealed form. */
	ct = json_dumps(s, 0);
	assert_null(strstr(ct, "c2VjcmV0"));
	free(ct);
	p = fleet_open(key, "aad gen 7", s);
	assert_non_null(p);
	assert_int_equal(p->len, strlen(doc));
	assert_memory_equal(p->buf, doc, p->len);
	idp_secret_free(p);
	/* Another key, another binding (a replayed older generation). */
	assert_null(fleet_open(other, "aad gen 7", s));
	assert_null(fleet_open(key, "aad gen 6", s));
	/* Tampered ciphertext or tag, bad nonce, wrong version. */
	t = json_deep_copy(s);
	{
		const char *c = json_string_value(json_object_get(t, "ct"));
		char *m = strdup(c);

		m[2] = m[2] == 'A' ? 'B' : 'A';
		json_object_set_new(t, "ct", json_string(m));
		free(m);
	}
	assert_null(fleet_open(key, "aad gen 7", t));
	json_object_set_new(t, "ct", json_deep_copy(json_object_get(s, "ct")));
	json_object_set_new(t, "nonce", etcd_b64("short", 5));
	assert_null(fleet_open(key, "aad gen 7", t));
	json_object_set_new(t, "nonce", json_deep_copy(json_object_get(s,
	    "nonce")));
	json_object_set_new(t, "v", json_integer(2));
	assert_null(fleet_open(key, "aad gen 7", t));
	json_object_set_new(t, "v", json_integer(1));
	json_object_set_new(t, "ct", json_string("!!!"));
	assert_null(fleet_open(key, "aad gen 7", t));
	json_object_del(t, "ct");
	assert_null(fleet_open(key, "aad gen 7", t));
	json_decref(t);
	/* Two seals of one document differ (fresh nonce). */
	t = fleet_seal(key, "aad gen 7", doc, strlen(doc));
	assert_false(json_equal(s, t));
	json_decref(t);
	json_decref(s);
}

static void
test_encodings(void **state)
{
	unsigned char *out;
	size_t len;
	json_t *j;
	char *end;

	(void)state;
	j = etcd_b64("/rotatord/leader", 16);
	assert_string_equal(json_string_value(j), "L3JvdGF0b3JkL2xlYWRlcg==");
	assert_int_equal(etcd_unb64(j, &out, &len), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(out, "/rotatord/leader", 16);
	free(out);
	json_decref(j);
	j = json_string("YQ==");
	assert_int_equal(etcd_unb64(j, &out, &len), 0);
	assert_int_equal(len, 1);
	free(out);
	json_decref(j);
	j = json_string("YWI=");
	assert_int_equal(etcd_unb64(j, &out, &len), 0);
	assert_int_equal(len, 2);
	free(out);
	json_decref(j);
	/* Absent: empty; not base64: refused. */
	assert_int_equal(etcd_unb64(NULL, &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);
	j = json_string("abc");
	assert_int_equal(etcd_unb64(j, &out, &len), -EBADMSG);
	json_decref(j);
	j = json_integer(5);
	assert_int_equal(etcd_unb64(j, &out, &len), -EBADMSG);
	json_decref(j);

	/* int64 as strings: lease IDs are above 2^53. */
	j = json_string("2324035690285792521");
	assert_true(etcd_int(j, -1) == 2324035690285792521LL);
	json_decref(j);
	j = json_integer(42);
	assert_int_equal(etcd_int(j, -1), 42);
	json_decref(j);
	j = json_string("12x");
	assert_int_equal(etcd_int(j, -1), -1);
	json_decref(j);
	j = json_string("");
	assert_int_equal(etcd_int(j, -1), -1);
	json_decref(j);
	assert_int_equal(etcd_int(NULL, 7), 7);

	end = etcd_prefix_end("/rotatord/");
	assert_string_equal(end, "/rotatord0");
	free(end);
	assert_null(etcd_prefix_end(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_encodings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
