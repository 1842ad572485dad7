/*
 * access_log.h
 *		One line per request on stdout.
 */
#ifndef GATEWAY_ACCESS_LOG_H
#define GATEWAY_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct access_entry
{
	struct timespec started;	/* CLOCK_REALTIME at arrival */
	double		duration_ms;
	const char *method;
	const char *path;
	unsigned int status;		/* 0 = no response was sent */
	size_t		bytes;			/* response body bytes */
	const char *request_id;
	const char *organization_id;	/* "" when not known */
	const char *idempotency;	/* created, replayed, or "" (no key) */
	bool		json;			/* one JSON object instead of logfmt */
};

extern void access_log_write(const struct access_entry *entry);

/* copies at most cap-1 bytes of text, replacing anything unprintable by '?' */
extern void access_log_sanitize(char *dst, size_t cap, const char *text);

#endif
