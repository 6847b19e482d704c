/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict base64url and padded standard base64: RFC 4648 vectors, every
 * rejection, round trips (against OpenSSL's codec for the standard one),
 * and exhaustive checks that each byte string has one accepted encoding.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <idp/b64.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
check_vector(const char *plain, size_t n, const char *enc)
{
	char out[128];
	unsigned char dec[128];
	size_t len;

	assert_int_equal(idp_b64url_enc_len(n), strlen(enc));
	assert_int_equal(idp_b64url_encode(plain, n, out), strlen(enc));
	assert_string_equal(out, enc);
	assert_int_equal(idp_b64url_decode(enc, strlen(enc), dec, sizeof(dec),
	    &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(dec, plain, n);
}

static void
test_rfc4648(void **state)
{
	(void)state;
	check_vector("", 0, "");
	check_vector("f", 1, "Zg");
	check_vector("fo", 2, "Zm8");
	check_vector("foo", 3, "Zm9v");
	check_vector("foob", 4, "Zm9vYg");
	check_vector("fooba", 5, "Zm9vYmE");
	check_vector("foobar", 6, "Zm9vYmFy");
	/* The two url-alphabet characters. */
	check_vector("\xfb\xff", 2, "-_8");
	check_vector("\xff\xff\xff", 3, "____");
	check_vector("\xfb\xef\xbe", 3, "----");
	check_vector("\0\0\0", 3, "AAAA");
}

static int
decode(const char *s, size_t n)
{
	unsigned char out[64];
	size_t len;

	return idp_b64url_decode(s, n, out, sizeof(out), &len);
}

static void
test_reject(void **state)
{
	unsigned char out[8], *p = (unsigned char *)"x";
	size_t len = 77;
	char bad[5];
	int c;

	(void)state;
	/* Padding, in every position it could appear. */
	assert_int_equal(decode("Zg==", 4), -EBADMSG);
	assert_int_equal(decode("Zm8=", 4), -EBADMSG);
	assert_int_equal(decode("Zg=", 3), -EBADMSG);
	assert_int_equal(decode("====", 4), -EBADMSG);
	/* Whitespace. */
	assert_int_equal(decode("Zm9v Yg", 7), -EBADMSG);
	assert_int_equal(decode("Zm9v\nYg", 7), -EBADMSG);
	assert_int_equal(decode("Zm9vYg\n", 7), -EBADMSG);
	assert_int_equal(decode(" Zm9v", 5), -EBADMSG);
	assert_int_equal(decode("Zm9\tv", 5), -EBADMSG);
	assert_int_equal(decode("Zm9v\r\n", 6), -EBADMSG);
	/* The standard alphabet's + and /. */
	assert_int_equal(decode("Zm+v", 4), -EBADMSG);
	assert_int_equal(decode("Zm/v", 4), -EBADMSG);
	/* Other bytes: NUL, '.', high bytes. */
	assert_int_equal(decode("Zm\0v", 4), -EBADMSG);
	assert_int_equal(decode("Zm.v", 4), -EBADMSG);
	assert_int_equal(decode("Zm\x80v", 4), -EBADMSG);
	assert_int_equal(decode("Zm\xffv", 4), -EBADMSG);
	/* Length 1 mod 4 cannot be produced by any byte string. */
	assert_int_equal(decode("Z", 1), -EBADMSG);
	assert_int_equal(decode("Zm9vY", 5), -EBADMSG);
	/* Non-zero trailing bits: "Zh" and "Zm9" are aliases of "Zg", "Zm8". */
	assert_int_equal(decode("Zh", 2), -EBADMSG);
	assert_int_equal(decode("Zm9", 3), -EBADMSG);
	assert_int_equal(decode("Zg", 2), 0);
	assert_int_equal(decode("Zm8", 3), 0);
	/* Every 256 byte value outside the alphabet, in every position. */
	for (c = 0; c < 256; c++) {
		int pos;

		if (c != 0 && strchr(alphabet, c) != NULL)
			continue;
		for (pos = 0; pos < 4; pos++) {
			memcpy(bad, "AAAA", 4);
			bad[pos] = (char)c;
			assert_int_equal(decode(bad, 4), -EBADMSG);
		}
	}
	/* Output too small: -E2BIG, and ret_len left alone. */
	assert_int_equal(idp_b64url_decode("Zm9vYmFy", 8, out, 5, &len),
	    -E2BIG);
	assert_int_equal(len, 77);
	assert_int_equal(idp_b64url_decode("Zm9vYmFy", 8, out, 6, &len), 0);
	assert_int_equal(len, 6);
	/* decode_alloc refuses the same way and leaves *ret alone. */
	assert_int_equal(idp_b64url_decode_alloc("Zg==", 4, &p, &len),
	    -EBADMSG);
	assert_ptr_equal(p, (unsigned char *)"x");
	assert_int_equal(idp_b64url_decode_alloc("Z", 1, &p, &len), -EBADMSG);
}

static void
test_lengths(void **state)
{
	(void)state;
	assert_int_equal(idp_b64url_enc_len(0), 0);
	assert_int_equal(idp_b64url_enc_len(1), 2);
	assert_int_equal(idp_b64url_enc_len(2), 3);
	assert_int_equal(idp_b64url_enc_len(3), 4);
	assert_int_equal(idp_b64url_enc_len(32), 43);
	assert_int_equal(idp_b64url_enc_len(64), 86);
	assert_int_equal(idp_b64url_dec_len(0), 0);
	assert_int_equal(idp_b64url_dec_len(2), 1);
	assert_int_equal(idp_b64url_dec_len(3), 2);
	assert_int_equal(idp_b64url_dec_len(4), 3);
	assert_int_equal(idp_b64url_dec_len(43), 32);
	assert_int_equal(idp_b64url_dec_len(86), 64);
	/* An encoding too large for size_t reports SIZE_MAX, not a wrap. */
	assert_int_equal(idp_b64url_enc_len(SIZE_MAX), SIZE_MAX);
	assert_int_equal(idp_b64url_enc_len(SIZE_MAX / 4 * 3 + 2), SIZE_MAX);
}

/* OpenSSL's standard base64, converted to unpadded base64url. */
static size_t
reference_encode(const unsigned char *in, size_t n, char *out)
{
	size_t len, i;

	len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return len;
}

static void
test_round_trip(void **state)
{
	unsigned char in[301], out[301], *dyn;
	char enc[420], ref[420];
	size_t n, len, elen;
	int rep;

	(void)state;
	for (rep = 0; rep < 4; rep++)
		for (n = 0; n <= 300; n++) {
			assert_int_equal(RAND_bytes(in, (int)sizeof(in)), 1);
			elen = idp_b64url_encode(in, n, enc);
			assert_int_equal(elen, idp_b64url_enc_len(n));
			assert_int_equal(strlen(enc), elen);
			assert_int_equal(reference_encode(in, n, ref), elen);
			assert_string_equal(enc, ref);
			assert_int_equal(idp_b64url_decode(enc, elen, out,
			    idp_b64url_dec_len(elen), &len), 0);
			assert_int_equal(len, n);
			assert_memory_equal(in, out, n);
			assert_int_equal(idp_b64url_decode_alloc(enc, elen,
			    &dyn, &len), 0);
			assert_int_equal(len, n);
			assert_memory_equal(in, dyn, n);
			assert_int_equal(dyn[n], '\0');
			free(dyn);
		}
}

/*
 * Every string of 2, 3 and 4 url-alphabet characters: decoding succeeds
 * exactly when re-encoding gives the same string back.
 */
static void
test_canonical_exhaustive(void **state)
{
	char s[5], again[8];
	unsigned char out[4];
	size_t len, i, j, k, accepted2 = 0, accepted3 = 0;
	int rc;

	(void)state;
	for (i = 0; i < 64; i++)
		for (j = 0; j < 64; j++) {
			s[0] = alphabet[i];
			s[1] = alphabet[j];
			rc = idp_b64url_decode(s, 2, out, sizeof(out), &len);
			if (rc == 0) {
				idp_b64url_encode(out, len, again);
				assert_memory_equal(again, s, 2);
				accepted2++;
			}
			for (k = 0; k < 64; k++) {
				s[2] = alphabet[k];
				rc = idp_b64url_decode(s, 3, out, sizeof(out),
				    &len);
				if (rc == 0) {
					idp_b64url_encode(out, len, again);
					assert_memory_equal(again, s, 3);
					accepted3++;
				}
			}
		}
	/* One encoding per byte string: 256 one-byte, 65536 two-byte. */
	assert_int_equal(accepted2, 256);
	assert_int_equal(accepted3, 65536);
}

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding: RFC 4648 section 10 and the '+' '/' digits. */
static void
test_std_vectors(void **state)
{
	static const struct {
		const char *plain, *enc;
	} v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "+/8=" },
		{ "\xfb\xef\xff", "++//" },
	};
	unsigned char dec[32];
	char out[32];
	size_t i, n, len;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = strlen(v[i].plain);
		assert_int_equal(idp_b64_enc_len(n), strlen(v[i].enc));
		assert_int_equal(idp_b64_encode(v[i].plain, n, out),
		    strlen(v[i].enc));
		assert_string_equal(out, v[i].enc);
		assert_int_equal(idp_b64_decode(v[i].enc, strlen(v[i].enc),
		    dec, sizeof(dec), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, v[i].plain, n);
	}
}

static void
test_std_reject(void **state)
{
	static const char *bad[] = {
		"Zg", "Zg=", "Zg=A", "Z===", "====", "Zh==", "Zm9=", "Zm8",
		"Zm-v", "Zm_v", "Zm9v\n", " Zm9", "Zg==Zg==", "Zm=v", "=Zm9",
	};
	unsigned char dec[32];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(idp_b64_decode(bad[i], strlen(bad[i]), dec,
		    sizeof(dec), &len), -EBADMSG);
	assert_int_equal(idp_b64_decode("Zm9vYmFy", 8, dec, 5, &len), -E2BIG);
}

/*
 * Every padded last group: decoding succeeds exactly when re-encoding
 * gives it back, and agrees with OpenSSL's decoder on what it accepts.
 */
static void
test_std_canonical_exhaustive(void **state)
{
	char s[5], again[8];
	unsigned char out[4], ref[4];
	size_t len, i, j, k, accepted1 = 0, accepted2 = 0;

	(void)state;
	s[4] = '\0';
	for (i = 0; i < 64; i++)
		for (j = 0; j < 64; j++) {
			s[0] = std_alphabet[i];
			s[1] = std_alphabet[j];
			s[2] = s[3] = '=';
			if (idp_b64_decode(s, 4, out, sizeof(out), &len) == 0) {
				assert_int_equal(len, 1);
				idp_b64_encode(out, len, again);
				assert_memory_equal(again, s, 4);
				assert_int_equal(EVP_DecodeBlock(ref,
				    (unsigned char *)s, 4), 3);
				assert_int_equal(ref[0], out[0]);
				accepted1++;
			}
			for (k = 0; k < 64; k++) {
				s[2] = std_alphabet[k];
				s[3] = '=';
				if (idp_b64_decode(s, 4, out, sizeof(out),
				    &len) != 0)
					continue;
				assert_int_equal(len, 2);
				idp_b64_encode(out, len, again);
				assert_memory_equal(again, s, 4);
				accepted2++;
			}
		}
	assert_int_equal(accepted1, 256);
	assert_int_equal(accepted2, 65536);
}

/* Random lengths round trip, and match OpenSSL's encoder byte for byte. */
static void
test_std_round_trip(void **state)
{
	unsigned char in[300], dec[300], ref[512];
	char out[512];
	size_t n, len;
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		n = (size_t)i % sizeof(in);
		assert_int_equal(RAND_bytes(in, (int)n), 1);
		assert_int_equal(idp_b64_encode(in, n, out),
		    idp_b64_enc_len(n));
		assert_int_equal(EVP_EncodeBlock(ref, in, (int)n),
		    (int)idp_b64_enc_len(n));
		assert_memory_equal(out, ref, idp_b64_enc_len(n));
		assert_int_equal(idp_b64_decode(out, strlen(out), dec,
		    sizeof(dec), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, in, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_canonical_exhaustive),
		cmocka_unit_test(test_std_vectors),
		cmocka_unit_test(test_std_reject),
		cmocka_unit_test(test_std_canonical_exhaustive),
		cmocka_unit_test(test_std_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
