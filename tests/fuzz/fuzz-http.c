/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the local HTTP API: a real daemon (daemon/,
 * api/, libmicrohttpd) runs on a background thread with a signer, a
 * secret and a jwt credential, a [client] for the fuzzer's own uid and a
 * [route]; each input is written as raw bytes to its unix socket and the
 * answer read until the server closes or 50 ms pass.  What is fuzzed is
 * everything behind libmicrohttpd's parser: routing, the Rotatord-Request
 * check, caller identification, bearer parsing and verification (on the
 * verifier threads), form bodies of POST /v1/token, ?wait=, authz rules,
 * the admin API, and the audit lines.  Seed it from tests/data/http.
 *
 * The server runs on another thread, so libFuzzer's leak check per input
 * is off (-detect_leaks=0); ASan still reports leaks at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "daemon/daemon.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sock_path[256];
static struct daemon *dmn;

static void *
run(void *arg)
{
	daemon_run(dmn);
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/rotatord-fuzz-http-XXXXXX";
	struct config *c = NULL;
	pthread_t th;
	char *text;
	int n, i;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
	n = asprintf(&text,
	    "[rotatord]\n"
	    "output_dir = %s/out\n"
	    "state_dir = %s/state\n"
	    "log_level = err\n"
	    "[signer \"local\"]\n"
	    "issuer = https://rotatord.fuzz\n"
	    "[credential \"blob\"]\ntype = secret\nbytes = 64\n"
	    "[credential \"tok\"]\ntype = jwt\nsigner = local\n"
	    "subject = svc\naudience = api\n"
	    "[listen]\n"
	    "unix = %s\n"
	    "max_connections = 32\n"
	    "timeout = 1s\n"
	    "max_wait = 1s\n"
	    "[client \"me\"]\n"
	    "user = %u\n"
	    "allow = blob, tok\n"
	    "token_audiences = api, other\n"
	    "token_scopes = read, write\n"
	    "[client \"bearer\"]\n"
	    "issuer = local\n"
	    "allow = blob\n"
	    "[route \"api\"]\n"
	    "prefix = /api/\n"
	    "methods = GET, POST\n"
	    "issuer = local\n"
	    "scope = read\n",
	    dir, dir, sock_path, (unsigned)getuid());
	if (n < 0 || config_load_buf("fuzz.ini", text, strlen(text), stderr,
	    &c) < 0)
		abort();
	free(text);
	log_setup(LOG_ERR, 0);
	signal(SIGPIPE, SIG_IGN);
	if (daemon_new(c, 0, &dmn) < 0)
		abort();
	if (pthread_create(&th, NULL, run, NULL) != 0)
		abort();
	for (i = 0; i < 200 && access(sock_path, F_OK) != 0; i++)
		usleep(10000);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa;
	struct pollfd pfd;
	char buf[16384];
	size_t off = 0;
	ssize_t k;
	int fd;

	if (size > 65536)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return 0;
	}
	while (off < size) {
		if ((k = write(fd, data + off, size - off)) <= 0)
			break;
		off += (size_t)k;
	}
	shutdown(fd, SHUT_WR);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 50) > 0 && (k = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return 0;
}
