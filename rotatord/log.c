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

/* Writes s as a JSON string body (without quotes) into f. */
static void
json_escape(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void
log_msg(int priority, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int saved = errno;

	if (priority > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (log_json) {
		struct timespec ts;
		struct tm tm;
		char when[40];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		flockfile(stderr);
		fprintf(stderr, "<%d>{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
		    priority, when, ts.tv_nsec / 1000000, prio_names[priority]);
		json_escape(stderr, buf);
		fputs("\"}\n", stderr);
		funlockfile(stderr);
	} else
		fprintf(stderr, "<%d>%s\n", priority, buf);
	errno = saved;
}
