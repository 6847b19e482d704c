/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the parts of the fleet that need no etcd: authenticated
 * records (bound to the fleet key and their etcd key), sealed secret
 * documents (bound to their key and generation), the persistent state
 * (high-water marks, applied requests, trust checks), and the state
 * machine's steps that fail before they reach etcd (through
 * fleet/fleet_int.h).  The etcd client and the gateway's encodings are
 * test-etcd.c's.  The fleet itself runs against a real etcd cluster in
 * tests/integration/test_fleet.py.
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

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/loop.h"
#include "fleet/etcd.h"
#include "fleet/fleet.h"
#include "fleet/fleet_int.h"
#include "fleet/fleetrec.h"
#include "fleet/fleetstate.h"
#include "util.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcde";
static const unsigned char other[32] = "0123456789abcdef0123456789abcdX";

#define K1 "/rotatord/secrets/tickets"

static void
test_envelope(void **state)
{
	struct fleetrec_keys k, ko;
	char *v, *t, fp[FLEETREC_FP_LEN + 1];
	json_t *body;
	size_t i;

	(void)state;
	assert_int_equal(fleetrec_derive(key, sizeof(key), &k), 0);
	assert_int_equal(fleetrec_derive(other, sizeof(other), &ko), 0);
	/* Two labels, two keys. */
	assert_memory_not_equal(k.mac, k.seal, sizeof(k.mac));
	v = fleetrec_wrap(&k, K1, strlen(K1), "{\"gen\":7}");
	assert_non_null(v);
	assert_int_equal(fleetrec_unwrap(&k, K1, strlen(K1), v, strlen(v),
	    &body), 0);
	assert_int_equal(fleetrec_int(body, "gen", 0), 7);
	json_decref(body);
	/* Another fleet key, another etcd key (host, secret, purpose). */
	assert_int_equal(fleetrec_unwrap(&ko, K1, strlen(K1), v, strlen(v),
	    &body), -EKEYREJECTED);
	assert_int_equal(fleetrec_unwrap(&k, "/rotatord/secrets/other", 23, v,
	    strlen(v), &body), -EKEYREJECTED);
	assert_int_equal(fleetrec_unwrap(&k, "/rotatord/acks/tickets", 22, v,
	    strlen(v), &body), -EKEYREJECTED);
	/* A body changed by one byte. */
	t = strdup(v);
	t[strstr(t, "7") - t] = '8';
	assert_int_equal(fleetrec_unwrap(&k, K1, strlen(K1), t, strlen(t),
	    &body), -EKEYREJECTED);
	free(t);
	/* What a writer without the key might put there. */
	static const char *const bad[] = {
		"", "x", "{}", "{\"gen\":9000000000000000}",
		"{\"v\":2,\"b\":\"{}\"}",
		"{\"v\":2,\"b\":\"{}\",\"m\":\"AAAA\"}",
		"{\"v\":2,\"b\":\"{}\",\"m\":\"AAAA\",\"x\":1}",
		"{\"v\":1,\"nonce\":\"AAAA\",\"ct\":\"AAAA\",\"gen\":3}",
		"[1,2]",
	};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = fleetrec_unwrap(&k, K1, strlen(K1), bad[i],
		    strlen(bad[i]), &body);

		assert_true(rc == -EBADMSG || rc == -EKEYREJECTED);
	}
	/* A MAC of the right length but wrong. */
	t = strdup(v);
	t[strstr(t, "\"m\":\"") - t + 6] ^= 1;
	assert_int_equal(fleetrec_unwrap(&k, K1, strlen(K1), t, strlen(t),
	    &body), -EKEYREJECTED);
	free(t);
	/* Over the size limit: refused before parsing. */
	t = calloc(1, FLEETREC_MAX + 2);
	memset(t, ' ', FLEETREC_MAX + 1);
	assert_int_equal(fleetrec_unwrap(&k, K1, strlen(K1), t,
	    FLEETREC_MAX + 1, &body), -E2BIG);
	free(t);
	free(v);
	/* Fingerprints: keyed, stable, 43 characters. */
	assert_int_equal(fleetrec_fp(&k, "abc", 3, fp), 0);
	assert_int_equal(strlen(fp), FLEETREC_FP_LEN);
	t = strdup(fp);
	assert_int_equal(fleetrec_fp(&k, "abc", 3, fp), 0);
	assert_string_equal(t, fp);
	assert_int_equal(fleetrec_fp(&ko, "abc", 3, fp), 0);
	assert_string_not_equal(t, fp);
	free(t);
}

static void
test_seal_open(void **state)
{
	static const char doc[] = "{\"keys\":[\"c2VjcmV0\"],\"gen\":7}";
	struct fleetrec_keys k, ko;
	struct idp_secret *p;
	json_t *o, *t;
	char *s;

	(void)state;
	assert_int_equal(fleetrec_derive(key, sizeof(key), &k), 0);
	assert_int_equal(fleetrec_derive(other, sizeof(other), &ko), 0);
	o = json_object();
	assert_int_equal(fleetrec_seal(&k, K1, 7, doc, strlen(doc), o), 0);
	assert_int_equal(fleetrec_open(&k, K1, 7, o, &p), 0);
	assert_int_equal(p->len, strlen(doc));
	assert_memory_equal(p->buf, doc, p->len);
	idp_secret_free(p);
	/* Bound to the fleet key, the etcd key and the generation. */
	assert_int_not_equal(fleetrec_open(&ko, K1, 7, o, &p), 0);
	assert_int_not_equal(fleetrec_open(&k, K1, 6, o, &p), 0);
	assert_int_not_equal(fleetrec_open(&k, K1, 8, o, &p), 0);
	assert_int_not_equal(fleetrec_open(&k, "/rotatord/secrets/x", 7, o,
	    &p), 0);
	/* A flipped ciphertext byte, a short or missing part. */
	t = json_deep_copy(o);
	s = strdup(fleetrec_str(t, "ct"));
	s[3] = s[3] == 'A' ? 'B' : 'A';
	json_object_set_new(t, "ct", json_string(s));
	assert_int_equal(fleetrec_open(&k, K1, 7, t, &p), -EKEYREJECTED);
	free(s);
	json_object_set_new(t, "ct", json_string("AAAA"));
	assert_int_equal(fleetrec_open(&k, K1, 7, t, &p), -EBADMSG);
	json_object_del(t, "ct");
	assert_int_equal(fleetrec_open(&k, K1, 7, t, &p), -EBADMSG);
	json_decref(t);
	t = json_deep_copy(o);
	json_object_set_new(t, "nonce", json_string("AAAA"));
	assert_int_equal(fleetrec_open(&k, K1, 7, t, &p), -EBADMSG);
	json_decref(t);
	json_decref(o);
}

static void
test_state(void **state)
{
	char *dir, why[512], path[600];
	struct fleetstate *st;
	const struct fleet_hw *hw;

	(void)state;
	dir = ut_tmpdir("rtd-fleetstate", 0);
	assert_non_null(dir);
	/* Missing: fresh, joined now, no complaint. */
	assert_int_equal(fleetstate_load(dir, "/p/", 1000, &st, why,
	    sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(st->joined, 1000);
	assert_null(fleetstate_hw(st, "t"));
	assert_int_equal(fleetstate_set_hw(st, "t", 5,
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"), 0);
	assert_int_equal(fleetstate_mark_applied(st, "1-a-ff", 900, 0), 0);
	assert_int_equal(fleetstate_save(st), 0);
	fleetstate_free(st);
	/* Read back. */
	assert_int_equal(fleetstate_load(dir, "/p/", 2000, &st, why,
	    sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(st->joined, 1000);
	hw = fleetstate_hw(st, "t");
	assert_non_null(hw);
	assert_int_equal(hw->gen, 5);
	assert_true(fleetstate_applied(st, "1-a-ff"));
	assert_false(fleetstate_applied(st, "1-a-fe"));
	/* Old applied ids are forgotten. */
	assert_int_equal(fleetstate_mark_applied(st, "2-a-ff", 1900, 1000), 0);
	assert_false(fleetstate_applied(st, "1-a-ff"));
	assert_true(fleetstate_applied(st, "2-a-ff"));
	fleetstate_free(st);
	/* Another prefix: fresh. */
	assert_int_equal(fleetstate_load(dir, "/q/", 3000, &st, why,
	    sizeof(why)), 0);
	assert_null(fleetstate_hw(st, "t"));
	assert_int_equal(st->joined, 3000);
	fleetstate_free(st);
	/* Group-readable: not trusted. */
	ut_snprintf(path, sizeof(path), "%s/fleet.json", dir);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(fleetstate_load(dir, "/p/", 4000, &st, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(why, "not trusted"));
	assert_null(fleetstate_hw(st, "t"));
	assert_int_equal(st->joined, 4000);
	fleetstate_free(st);
	assert_int_equal(ut_rm_rf(dir), 0);
	free(dir);
}

static int
no_secret(void *arg, const char *name, struct idp_secret *const *keys,
    size_t n, int64_t issued_at, int64_t not_after)
{
	return 0;
}

static void
no_rotate(void *arg, const char *name)
{
}

/*
 * Out of memory where the state machine reads or watches the prefix
 * (etcd_prefix_end() returning NULL), it tries again after a backoff like
 * every other failed step, instead of stopping for good.  The fleet is a
 * real one on a config of its own, but etcd is never called: nothing
 * listens at its endpoint and the loop does not run; the steps are driven
 * by hand.  etcd_prefix_end() returns NULL out of memory and for an
 * empty prefix, which no config allows: the stand-in here.
 */
static void
test_retry_out_of_memory(void **state)
{
	char dir[] = "/tmp/rtd-fleetsm-XXXXXX", path[600], *text;
	struct fleet_ops ops = { no_secret, no_rotate, NULL, NULL };
	struct config *c;
	struct fleet *f;
	struct loop *l;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fleet.key", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, sizeof(key)), sizeof(key));
	close(fd);
	assert_true(asprintf(&text, "[rotatord]\noutput_dir = %s/out\n"
	    "state_dir = %s\n\n[cluster]\nendpoints = http://127.0.0.1:9\n"
	    "key_file = %s\nname = t\n", dir, dir, path) > 0);
	assert_int_equal(config_load_buf("t.ini", text, strlen(text), stderr,
	    &c), 0);
	free(text);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(fleet_new(l, c, &ops, &f), 0);
	free(f->prefix);
	assert_non_null(f->prefix = strdup(""));

	/* The read of the whole prefix. */
	loop_timer_set(f->step_t, 0);
	f->state = F_SYNC;
	(void)mb_on_step_timer(l, f);
	assert_int_equal(f->call, 0);
	assert_int_equal(f->state, F_SYNC);
	assert_true(loop_timer_when(f->step_t) > 0);
	assert_int_equal(f->failures, 1);

	/* The watch after it: the prefix is read again, later. */
	loop_timer_set(f->step_t, 0);
	f->state = F_RUN;
	vw_watch_start(f);
	assert_int_equal(f->watch, 0);
	assert_int_equal(f->state, F_SYNC);
	assert_true(loop_timer_when(f->step_t) > 0);
	assert_int_equal(f->failures, 2);

	fleet_free(f);
	loop_free(l);
	config_free(c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fleet.json", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_retry_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
