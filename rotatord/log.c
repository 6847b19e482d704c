/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr.  Under systemd, stderr goes to the journal, which reads
 * the "<N>" priority prefix of each line (SyslogLevelPrefix=yes, the
 * default).  JSON lines carry the priority both as prefix and as a field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_INFO;
static int log_json;

static const char *const prio_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

void
log_setup(int level, int json)
{
	log_level = level;
	log_json = json;
}

int
log_level_parse(const char *s, int *ret)
{
	int i;

	for (i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcmp(s, prio_names[i]) == 0) {
			*ret = i;
			return 0;
		}
	if (strcmp(s, "error") == 0) {
		*ret = LOG_ERR;
		return 0;
	}
	return -EINVAL;
}

/* Writes all of buf to stderr; gives up quietly on a broken stderr. */
static void
write_all(const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static char batch_buf[64 * 1024];
static size_t batch_len;
static int batching;

void
log_batch(int on)
{
	if (!on)
		log_flush();
	batching = on;
}

void
log_flush(void)
{
	if (batch_len > 0) {
		write_all(batch_buf, batch_len);
		batch_len = 0;
	}
}

/* Appends s as a JSON string body (without quotes) to line. */
static size_t
json_escape(char *line, size_t off, size_t cap, const char *s)
{
	for (; *s != '\0' && off + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			line[off++] = '\\';
			line[off++] = (char)c;
		} else if (c < 0x20)
			off += (size_t)snprintf(line + off, cap - off, "\\u%04x", c);
		else
			line[off++] = (char)c;
	}
	return off;
}

void
log_msg(int priority, const char *fmt, ...)
{
	char msg[2048], line[4200];
	va_list ap;
	size_t len;
	int saved = errno, n, m;

	if (priority > log_level)
		return;
	if (!log_json) {
		/* "<N>" then the message, formatted in place (no copy). */
		n = snprintf(line, sizeof(line), "<%d>", priority);
		va_start(ap, fmt);
		m = vsnprintf(line + n, sizeof(msg), fmt, ap);
		va_end(ap);
		len = (size_t)n + (m < 0 ? 0 : (size_t)m < sizeof(msg) ?
		    (size_t)m : sizeof(msg) - 1);
		line[len++] = '\n';
	} else {
		struct timespec ts;
		struct tm tm;
		char when[40];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line),
		    "<%d>{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
		    priority, when, ts.tv_nsec / 1000000, prio_names[priority]);
		len = json_escape(line, (size_t)n, sizeof(line) - 4, msg);
		memcpy(line + len, "\"}\n", 3);
		len += 3;
	}
	if (batching && priority > LOG_WARNING) {
		if (batch_len + len > sizeof(batch_buf))
			log_flush();
		memcpy(batch_buf + batch_len, line, len);
		batch_len += len;
	} else {
		/* Earlier lines first: order is kept. */
		log_flush();
		write_all(line, len);
	}
	errno = saved;
}
