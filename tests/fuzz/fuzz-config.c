/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the config parser: config_load_buf() on arbitrary
 * bytes, messages discarded, then config_free().  Seed it from
 * tests/data/config.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Ilibidp/include -iquote rotatord tests/fuzz/fuzz-config.c \
 *       rotatord/config/[a-z]*.c rotatord/core/log.c libidp/[a-z]*.c -linih ... \
 *       -o fuzz-config   (or: make fuzz)
 *   ./fuzz-config -max_total_time=20 corpus/ tests/data/config/
 *
 * The parser looks up user and group names, and stats and opens a CA's
 * cert_file and key_file and an issuer's client_key and ca_file read-only
 * (and closes them); it writes nothing.  config_load_buf() has no file
 * mode, so literal secrets are accepted here and the path that refuses
 * them (config_load()) is covered by tests/unit/test-config.c.  Secret
 * references are never read by the parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;

	if (config_load_buf("fuzz.ini", (const char *)data, size, NULL, &c) == 0)
		config_free(c);
	return 0;
}
