/*
 * request_id.c
 *		Request ids for X-Request-Id and the access log.
 *
 * An incoming id is echoed only if it is short and made of characters that
 * cannot break a header or a log line; anything else is replaced.
 */
#include "request_id.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* 1 to REQUEST_ID_MAX characters that are safe in a header and a log line. */
bool
request_id_is_sane(const char *text)
{
	size_t		len;

	if (text == NULL)
		return false;
	len = strlen(text);
	if (len == 0 || len > REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
			  c == ':' || c == '+' || c == '/' || c == '='))
			return false;
	}
	return true;
}

/* 32 hex digits from getrandom(). */
void
request_id_generate(char *out)
{
	unsigned char bytes[16];

	/* not a secret: if the kernel cannot give 16 bytes, mix the clock in */
	if (getrandom(bytes, sizeof(bytes), GRND_NONBLOCK) != (ssize_t) sizeof(bytes))
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		memcpy(bytes, &now, sizeof(now) < sizeof(bytes) ? sizeof(now) : sizeof(bytes));
	}
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

void
request_id_choose(const char *incoming, char *out)
{
	if (request_id_is_sane(incoming))
		strcpy(out, incoming);
	else
		request_id_generate(out);
}
