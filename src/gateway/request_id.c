/*
 * request_id.c
 *		Request ids for X-Request-Id and the access log.
 *
 * An incoming id is echoed only if it is short and made of characters that
 * cannot break a header or a log line; anything else is replaced.
 */
#include "request_id.h"

#include <stdint.h>
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
/*
 * 128 bits from a per-thread splitmix64 sequence, seeded once per thread
 * from the kernel (and the clock and thread, should that fail): ids need to
 * be unique, not secret, and a system call per request costs more than the
 * rest of this.
 */
static __thread uint64_t id_state;
static __thread bool id_seeded;

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void
request_id_generate(char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t	words[2];

	if (!id_seeded)
	{
		if (getrandom(&id_state, sizeof(id_state), GRND_NONBLOCK) != (ssize_t) sizeof(id_state))
		{
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			id_state = (uint64_t) now.tv_nsec ^ ((uint64_t) now.tv_sec << 30) ^ (uintptr_t) &id_state;
		}
		id_seeded = true;
	}
	words[0] = splitmix64(&id_state);
	words[1] = splitmix64(&id_state);
	for (int i = 0; i < 32; i++)
		out[i] = hex[(words[i / 16] >> (4 * (i % 16))) & 15];
	out[32] = '\0';
}

/* The client's id when it is sane, else a new one. */
void
request_id_choose(const char *incoming, char *out)
{
	if (request_id_is_sane(incoming))
		strcpy(out, incoming);
	else
		request_id_generate(out);
}
