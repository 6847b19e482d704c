/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr, as text or one JSON object per line; with journald
 * priority prefixes ("<6>") when stderr is the journal, with a timestamp
 * and the level otherwise.  Never pass secret material to these functions: log
 * kids, serials and short fingerprints instead.
 */
#ifndef ROTATORD_LOG_H
#define ROTATORD_LOG_H

#include <syslog.h>

/*
 * Sets the threshold (LOG_DEBUG..LOG_ERR) and format (0 text, 1 JSON), and
 * finds out whether stderr is the journal (JOURNAL_STREAM).
 */
void log_setup(int level, int json);

/* Whether lines go to the journal (set by log_setup()). */
int log_to_journal(void);

/* Logs at priority (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG). */
void log_msg(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Batching: with it on, lines below LOG_WARNING are gathered and written
 * by log_flush(), which the daemon calls once per pass of its event loop
 * (so a busy API costs one write per pass, not one per audit line);
 * warnings and errors are written at once.  Off by default.
 */
void log_batch(int on);

/* Writes gathered lines out.  Safe to call any time. */
void log_flush(void);

/* Parses "debug".."err" into a syslog priority; returns 0 or -EINVAL. */
int log_level_parse(const char *s, int *ret);

#endif
