/*
 * access_log.c
 *		The access log: one logfmt line per request, written with a single
 *		stdio call so that lines from different threads never interleave.
 *
 * It records who asked for what and how it went; never the key, never the
 * body.  The path is sanitized because it comes from the client.
 */
#include "access_log.h"

#include <stdio.h>

/* Makes client-supplied text safe for one quoted logfmt value. */
void
access_log_sanitize(char *dst, size_t cap, const char *text)
{
	size_t		n = 0;

	if (cap == 0)
		return;
	for (; text != NULL && text[n] != '\0' && n + 1 < cap; n++)
	{
		unsigned char c = (unsigned char) text[n];

		dst[n] = (c > 0x20 && c < 0x7f && c != '"') ? (char) c : '?';
	}
	dst[n] = '\0';
}

/*
 * A sanitized value (access_log_sanitize: printable ASCII, no '"') as a
 * JSON string's content: only the backslash needs escaping.
 */
static void
json_escape(char *dst, size_t cap, const char *text)
{
	size_t		n = 0;

	for (; *text != '\0' && n + 2 < cap; text++)
	{
		if (*text == '\\')
			dst[n++] = '\\';
		dst[n++] = *text;
	}
	dst[n] = '\0';
}

/* The same fields as the logfmt line, as one JSON object. */
static void
access_log_write_json(const struct access_entry *entry, const char *when)
{
	char		method[64];
	char		path[512];

	json_escape(method, sizeof(method), entry->method);
	json_escape(path, sizeof(path), entry->path);
	fprintf(stdout,
			"{\"time\":\"%s.%03ldZ\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%u,"
			"\"duration_ms\":%.3f,\"bytes\":%zu,\"request_id\":\"%s\",\"organization_id\":%s%s%s,"
			"\"idempotency\":%s%s%s}\n",
			when, entry->started.tv_nsec / 1000000L, method, path, entry->status,
			entry->duration_ms, entry->bytes, entry->request_id,
			entry->organization_id[0] ? "\"" : "", entry->organization_id[0] ? entry->organization_id : "null",
			entry->organization_id[0] ? "\"" : "",
			entry->idempotency[0] ? "\"" : "", entry->idempotency[0] ? entry->idempotency : "null",
			entry->idempotency[0] ? "\"" : "");
}

/* Writes one line; time is UTC with milliseconds. */
void
access_log_write(const struct access_entry *entry)
{
	struct tm	tm;
	char		when[32];

	gmtime_r(&entry->started.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (entry->json)
	{
		access_log_write_json(entry, when);
		return;
	}
	fprintf(stdout,
			"time=%s.%03ldZ method=%s path=\"%s\" status=%u duration_ms=%.3f bytes=%zu request_id=%s organization_id=%s idempotency=%s\n",
			when, entry->started.tv_nsec / 1000000L,
			entry->method, entry->path, entry->status, entry->duration_ms,
			entry->bytes, entry->request_id,
			entry->organization_id[0] ? entry->organization_id : "-",
			entry->idempotency[0] ? entry->idempotency : "-");
}
