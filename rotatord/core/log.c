/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr.  When stderr is the journal (systemd sets
 * JOURNAL_STREAM to the device and inode of the stream it connected, see
 * systemd.exec(5)), each line starts with the "<N>" syslog priority, which
 * journald reads (SyslogLevelPrefix=yes, the default) and strips; the
 * journal stamps the time itself.  Anywhere else (a terminal, a file, a
 * pipe) text lines start with a UTC timestamp and the level instead, and
 * JSON lines are the bare object, with the time and level as fields.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static int log_level = LOG_INFO;
static int log_json;
static int log_journal;

static const char *const prio_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* Is stderr the stream that JOURNAL_STREAM ("DEV:INO") names? */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (js == NULL || sscanf(js, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    js[n] != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_setup(int level, int json)
{
	log_level = level;
	log_json = json;
	log_journal = stderr_is_journal();
}

int
log_to_journal(void)
{
	return log_journal;
}

/*
 * Writes "2026-12-06T10:00:00.123Z" (24 bytes, no NUL) to buf.  The
 * seconds part is formatted once per second.
 */
static void
timestamp(char buf[24])
{
	static time_t last = (time_t)-1;
	static char secs[21];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
		last = ts.tv_sec;
	}
	memcpy(buf, secs, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + ts.tv_nsec / 100000000);
	buf[21] = (char)('0' + ts.tv_nsec / 10000000 % 10);
	buf[22] = (char)('0' + ts.tv_nsec / 1000000 % 10);
	buf[23] = 'Z';
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
		/*
		 * "<N>" (journal) or "TIME LEVEL: " (elsewhere), then the
		 * message, formatted in place (no copy).
		 */
		if (log_journal) {
			n = snprintf(line, sizeof(line), "<%d>", priority);
		} else {
			timestamp(line);
			n = 24 + snprintf(line + 24, sizeof(line) - 24, " %s: ",
			    prio_names[priority]);
		}
		va_start(ap, fmt);
		m = vsnprintf(line + n, sizeof(msg), fmt, ap);
		va_end(ap);
		len = (size_t)n + (m < 0 ? 0 : (size_t)m < sizeof(msg) ?
		    (size_t)m : sizeof(msg) - 1);
		line[len++] = '\n';
	} else {
		char when[24];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		timestamp(when);
		n = log_journal ? snprintf(line, sizeof(line), "<%d>",
		    priority) : 0;
		n += snprintf(line + n, sizeof(line) - (size_t)n,
		    "{\"ts\":\"%.24s\",\"level\":\"%s\",\"msg\":\"", when,
		    prio_names[priority]);
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
