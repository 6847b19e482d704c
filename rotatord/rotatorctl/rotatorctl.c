/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rotatorctl/: the admin client, a separate program that speaks the API over
 * its unix socket.  Includes nothing of rotatord.
 */
/*
 * rotatorctl: the admin client of rotatord's API on its unix socket.
 *
 *   rotatorctl [-s SOCKET] [--json] status | rotate [--fleet] NAME... |
 *       rotate --all [--fleet] | reload-config
 *   rotatorctl --version | --help
 *
 * It speaks just enough HTTP/1.1 itself (one request per connection,
 * "Connection: close", a response of at most MAX_RESPONSE bytes with a
 * Content-Length or ended by the close) to need nothing but jansson.
 * Exit codes (rotatorctl(1)): 0 ok, 1 error (the server's
 * error_description is printed) or, for status, running but not ready,
 * 3 not running (no socket, or nobody listening: as `systemctl
 * is-active`), 4 status unknown (no permission, a malformed answer),
 * 64 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define DEFAULT_SOCKET	"/run/rotatord/api.sock"
#define MAX_RESPONSE	(16 * 1024 * 1024)
#define IO_TIMEOUT_S	60		/* reload-config runs synchronously */
#define EX_USAGE	64
#define EX_NOTREADY	1	/* running, not every credential valid */
#define EX_DOWN		3	/* not running */
#define EX_UNKNOWN	4	/* cannot tell */

/* What call() returns when it fails. */
#define CALL_FAILED	-1	/* anything else; the reason is printed */
#define CALL_DOWN	-3	/* no socket or nobody listening */
#define CALL_DENIED	-4	/* no permission to connect */

#ifndef ROTATORD_VERSION
#define ROTATORD_VERSION "unknown"
#endif

struct response {
	int	 status;
	char	*body;
	size_t	 len;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: rotatorctl [-s SOCKET] [--json] status\n"
	    "       rotatorctl [-s SOCKET] rotate [--fleet] NAME...\n"
	    "       rotatorctl [-s SOCKET] rotate --all [--fleet]\n"
	    "       rotatorctl [-s SOCKET] reload-config\n"
	    "       rotatorctl --version | --help\n"
	    "The default socket is %s.\n", DEFAULT_SOCKET);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Parses a raw response (buf, n bytes) into r: status line, headers,
 * body by Content-Length (or the rest).  Returns 0 or -1 with a message.
 */
static int
parse_response(char *buf, size_t n, struct response *r)
{
	char *hend, *p, *line, *next;
	unsigned long long cl = 0;
	int have_cl = 0, minor;

	buf[n] = '\0';
	if ((hend = strstr(buf, "\r\n\r\n")) == NULL ||
	    sscanf(buf, "HTTP/1.%d %d", &minor, &r->status) != 2 ||
	    r->status < 100 || r->status > 599) {
		fprintf(stderr, "rotatorctl: malformed HTTP response\n");
		return -1;
	}
	*hend = '\0';
	for (line = strstr(buf, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if ((p = strchr(line, ':')) == NULL)
			continue;
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (strcasecmp(line, "Content-Length") == 0) {
			char *end;

			errno = 0;
			cl = strtoull(p, &end, 10);
			if (errno != 0 || end == p)
				cl = (unsigned long long)-1;
			have_cl = 1;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasecmp(p, "identity") != 0) {
			fprintf(stderr, "rotatorctl: unsupported response "
			    "encoding %s\n", p);
			return -1;
		}
		if (next == NULL)
			break;
	}
	p = hend + 4;
	r->len = n - (size_t)(p - buf);
	if (have_cl) {
		if (cl > r->len) {
			fprintf(stderr, "rotatorctl: truncated HTTP response\n");
			return -1;
		}
		r->len = (size_t)cl;
	}
	if ((r->body = malloc(r->len + 1)) == NULL) {
		fprintf(stderr, "rotatorctl: out of memory\n");
		return -1;
	}
	memcpy(r->body, p, r->len);
	r->body[r->len] = '\0';
	return 0;
}

/*
 * Sends one request to the socket at path and reads the response into r
 * (free r->body).  body may be NULL.  Returns 0, or after printing why
 * CALL_DOWN (not running), CALL_DENIED or CALL_FAILED.
 */
static int
call(const char *path, const char *method, const char *target,
    const char *body, struct response *r)
{
	struct sockaddr_un sa;
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	char *req = NULL, *buf = NULL;
	size_t have = 0, cap = 0;
	ssize_t n;
	int fd = -1, len, rc = CALL_FAILED;

	memset(r, 0, sizeof(*r));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "rotatorctl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
			fprintf(stderr, "rotatorctl: rotatord is not running "
			    "(%s: %s)\n", path, strerror(e));
			rc = CALL_DOWN;
		} else {
			fprintf(stderr, "rotatorctl: cannot connect to %s: "
			    "%s\n", path, strerror(e));
			if (e == EACCES || e == EPERM)
				rc = CALL_DENIED;
		}
		goto out;
	}
	len = asprintf(&req, "%s %s HTTP/1.1\r\n"
	    "Host: rotatord\r\n"
	    "User-Agent: rotatorctl/%s\r\n"
	    "Rotatord-Request: 1\r\n"
	    "Connection: close\r\n"
	    "%s"
	    "Content-Length: %zu\r\n"
	    "\r\n%s", method, target, ROTATORD_VERSION,
	    body != NULL ? "Content-Type: application/json\r\n" : "",
	    body != NULL ? strlen(body) : (size_t)0, body != NULL ? body : "");
	if (len < 0) {
		req = NULL;
		fprintf(stderr, "rotatorctl: out of memory\n");
		goto out;
	}
	if (write_all(fd, req, (size_t)len) < 0) {
		fprintf(stderr, "rotatorctl: cannot send to %s: %s\n", path,
		    strerror(errno));
		goto out;
	}
	for (;;) {
		if (cap - have < 4096 + 1) {
			char *nb;

			if (cap >= MAX_RESPONSE) {
				fprintf(stderr, "rotatorctl: response larger "
				    "than %d bytes\n", MAX_RESPONSE);
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			if ((nb = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "rotatorctl: out of memory\n");
				goto out;
			}
			buf = nb;
		}
		n = recv(fd, buf + have, cap - have - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "rotatorctl: cannot read from %s: %s\n",
			    path, errno == EAGAIN ? "timed out" :
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have == 0) {
		fprintf(stderr, "rotatorctl: %s closed the connection without "
		    "an answer\n", path);
		goto out;
	}
	rc = parse_response(buf, have, r);
out:
	if (fd >= 0)
		close(fd);
	free(req);
	free(buf);
	return rc;
}

/*
 * Prints the server's error for a non-2xx response r.  Returns 1 (the
 * exit code).
 */
static int
report_error(const struct response *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *e = json_string_value(json_object_get(j, "error"));
	const char *d = json_string_value(json_object_get(j,
	    "error_description"));

	if (d != NULL && d[0] != '\0')
		fprintf(stderr, "rotatorctl: %s\n", d);
	else if (e != NULL)
		fprintf(stderr, "rotatorctl: %s (HTTP %d)\n", e, r->status);
	else
		fprintf(stderr, "rotatorctl: the server answered HTTP %d\n",
		    r->status);
	json_decref(j);
	return 1;
}

/* "2d3h", "4h10m", "12m5s", "9s", or "expired" for secs <= 0. */
static void
human(char *buf, size_t size, long long secs)
{
	if (secs <= 0)
		snprintf(buf, size, "expired");
	else if (secs >= 86400)
		snprintf(buf, size, "%lldd%lldh", secs / 86400,
		    secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(buf, size, "%lldh%lldm", secs / 3600, secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(buf, size, "%lldm%llds", secs / 60, secs % 60);
	else
		snprintf(buf, size, "%llds", secs);
}

/* A string member for the table: "-" when absent or empty. */
static const char *
field(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && s[0] != '\0' ? s : "-";
}

/*
 * status: the daemon's status document as a table, or as it is (--json).
 * Returns 0 ready, EX_NOTREADY, EX_DOWN or EX_UNKNOWN.
 */
static int
cmd_status(const char *sock, int as_json)
{
	struct response r;
	json_t *j, *creds, *reloads, *c, *nr;
	size_t i, wn = 4, wt = 4;
	char exp[32], gen[24];
	time_t now = time(NULL);
	int rc, ready;

	if ((rc = call(sock, "GET", "/v1/admin/status", NULL, &r)) < 0) {
		if (rc == CALL_DOWN && as_json)
			printf("{\"schema\":1,\"running\":false,"
			    "\"ready\":false}\n");
		return rc == CALL_DOWN ? EX_DOWN : EX_UNKNOWN;
	}
	if (r.status != 200) {
		report_error(&r);
		free(r.body);
		return EX_UNKNOWN;
	}
	j = json_loadb(r.body, r.len, 0, NULL);
	free(r.body);
	creds = json_object_get(j, "credentials");
	if (!json_is_array(creds) || !json_is_boolean(json_object_get(j,
	    "ready"))) {
		fprintf(stderr, "rotatorctl: unexpected status document\n");
		json_decref(j);
		return EX_UNKNOWN;
	}
	ready = json_is_true(json_object_get(j, "ready"));
	if (as_json) {
		rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(j);
		if (rc < 0 || fflush(stdout) != 0) {
			fprintf(stderr, "rotatorctl: cannot write the status\n");
			return EX_UNKNOWN;
		}
		return ready ? 0 : EX_NOTREADY;
	}
	printf("rotatord %s: ", field(j, "version"));
	if (ready) {
		printf("ready\n\n");
	} else {
		printf("not ready:");
		json_array_foreach(json_object_get(j, "not_ready"), i, nr)
			printf(" %s", json_string_value(nr) ?
			    json_string_value(nr) : "?");
		printf("\n\n");
	}
	json_array_foreach(json_object_get(j, "degraded"), i, nr)
		printf("degraded: %s\n%s", json_string_value(nr) ?
		    json_string_value(nr) : "?", i + 1 == json_array_size(
		    json_object_get(j, "degraded")) ? "\n" : "");
	json_array_foreach(creds, i, c) {
		if (strlen(field(c, "name")) > wn)
			wn = strlen(field(c, "name"));
		if (strlen(field(c, "type")) > wt)
			wt = strlen(field(c, "type"));
	}
	printf("%-*s  %-*s  %-10s  %-10s  %s\n", (int)wn, "NAME", (int)wt,
	    "TYPE", "GENERATION", "EXPIRES-IN", "LAST-ERROR");
	json_array_foreach(creds, i, c) {
		json_int_t g = json_integer_value(json_object_get(c,
		    "generation"));
		int published = json_is_true(json_object_get(c, "published")) ||
		    (json_object_get(c, "published") == NULL && g > 0);

		if (published) {
			snprintf(gen, sizeof(gen), "%lld", (long long)g);
			human(exp, sizeof(exp), (long long)json_integer_value(
			    json_object_get(c, "not_after")) - (long long)now);
		} else {
			snprintf(gen, sizeof(gen), "-");
			snprintf(exp, sizeof(exp), "-");
		}
		printf("%-*s  %-*s  %-10s  %-10s  %s\n", (int)wn,
		    field(c, "name"), (int)wt, field(c, "type"), gen, exp,
		    field(c, "last_error"));
	}
	reloads = json_object_get(j, "reloads");
	if (json_array_size(reloads) > 0) {
		wn = 6;
		json_array_foreach(reloads, i, c)
			if (strlen(field(c, "name")) > wn)
				wn = strlen(field(c, "name"));
		printf("\n%-*s  %-8s  %-8s  %-7s  %s\n", (int)wn, "RELOAD", "OK",
		    "FAILED", "PENDING", "LAST-ERROR");
		json_array_foreach(reloads, i, c)
			printf("%-*s  %-8lld  %-8lld  %-7s  %s\n", (int)wn,
			    field(c, "name"), (long long)json_integer_value(
			    json_object_get(c, "ok")), (long long)
			    json_integer_value(json_object_get(c, "failed")),
			    json_is_true(json_object_get(c, "pending")) ? "yes" :
			    "no", field(c, "last_error"));
	}
	c = json_object_get(j, "cluster");
	if (json_is_object(c)) {
		const char *ln = field(c, "leader_name");
		const char *le = json_string_value(json_object_get(c,
		    "last_error"));

		printf("\nCLUSTER  %s (%s via %s), leader %s%s, %zu hosts, "
		    "revision %lld%s%s\n", field(c, "name"), field(c, "state"),
		    field(c, "endpoint"), strcmp(ln, "-") != 0 ? ln : "none",
		    json_is_true(json_object_get(c, "leader")) ? " (this host)" :
		    "", json_array_size(json_object_get(c, "hosts")),
		    (long long)json_integer_value(json_object_get(c,
		    "revision")), le != NULL && le[0] ? "; last error: " : "",
		    le != NULL ? le : "");
	}
	json_decref(j);
	return ready ? 0 : EX_NOTREADY;
}

static int
cmd_rotate(const char *sock, char **names, int n, int all, int fleet)
{
	struct response r;
	json_t *j, *arr;
	char *body;
	int i, rc;

	if (all)
		j = json_pack("{s:b}", "all", 1);
	else {
		arr = json_array();
		for (i = 0; arr != NULL && i < n; i++)
			if (json_array_append_new(arr, json_string(names[i])) < 0) {
				fprintf(stderr, "rotatorctl: bad name %s\n",
				    names[i]);
				json_decref(arr);
				return 1;
			}
		j = json_pack("{s:o}", "names", arr);
	}
	if (j != NULL && fleet)
		json_object_set_new(j, "fleet", json_true());
	body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (body == NULL) {
		fprintf(stderr, "rotatorctl: out of memory\n");
		return 1;
	}
	rc = call(sock, "POST", "/v1/admin/rotate", body, &r);
	free(body);
	if (rc < 0)
		return rc == CALL_DOWN ? EX_DOWN : 1;
	if (r.status / 100 != 2) {
		rc = report_error(&r);
		free(r.body);
		return rc;
	}
	free(r.body);
	if (all)
		printf("rotating every credential%s\n", fleet ? " on every "
		    "host" : "");
	else
		for (i = 0; i < n; i++)
			printf("rotating %s%s\n", names[i], fleet ? " on every "
			    "host" : "");
	return 0;
}

static int
cmd_reload(const char *sock)
{
	struct response r;
	int rc;

	if ((rc = call(sock, "POST", "/v1/admin/reload-config", NULL, &r)) < 0)
		return rc == CALL_DOWN ? EX_DOWN : 1;
	if (r.status / 100 != 2) {
		rc = report_error(&r);
		free(r.body);
		return rc;
	}
	free(r.body);
	printf("config reloaded\n");
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = DEFAULT_SOCKET, *cmd;
	int c, i, all = 0, fleet = 0, n = 0, dashdash = 0, as_json = 0;

	/* '+': options end at the command word. */
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'V':
			printf("rotatorctl %s\n", ROTATORD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "status") == 0) {
		/* "status --json" as well as "--json status". */
		if (optind < argc && strcmp(argv[optind], "--json") == 0) {
			as_json = 1;
			optind++;
		}
		if (optind != argc) {
			usage(stderr);
			return EX_USAGE;
		}
		return cmd_status(sock, as_json);
	}
	if (as_json) {
		fprintf(stderr, "rotatorctl: --json is for status\n");
		return EX_USAGE;
	}
	if (strcmp(cmd, "reload-config") == 0) {
		if (optind != argc) {
			usage(stderr);
			return EX_USAGE;
		}
		return cmd_reload(sock);
	}
	if (strcmp(cmd, "rotate") != 0) {
		fprintf(stderr, "rotatorctl: unknown command %s\n", cmd);
		usage(stderr);
		return EX_USAGE;
	}
	/*
	 * Names and flags in any order ("--" ends the flags); the names are
	 * gathered at argv + optind.
	 */
	for (i = optind; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0)
			dashdash = 1;
		else if (!dashdash && strcmp(argv[i], "--all") == 0)
			all = 1;
		else if (!dashdash && strcmp(argv[i], "--fleet") == 0)
			fleet = 1;
		else if (!dashdash && argv[i][0] == '-') {
			fprintf(stderr, "rotatorctl: unknown option %s\n",
			    argv[i]);
			usage(stderr);
			return EX_USAGE;
		} else
			argv[optind + n++] = argv[i];
	}
	if ((all && n > 0) || (!all && n == 0)) {
		usage(stderr);
		return EX_USAGE;
	}
	return cmd_rotate(sock, argv + optind, n, all, fleet);
}
