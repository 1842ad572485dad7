/*
 * uuidv7.c
 *	  Time-ordered ids (RFC 9562 UUID version 7), as Fanfare uses.
 *
 * Layout: 48 bits of Unix time in milliseconds, version 7, 12 bits of
 * counter, variant 10, 62 random bits.  The counter makes the ids of one
 * backend strictly increasing, within a batch and across batches, even when
 * many are made in the same millisecond; when it overflows the timestamp
 * moves on by one millisecond (RFC 9562, section 6.2, method 1).
 */
#include "postgres.h"

#include "port.h"
#include "utils/timestamp.h"

#include "uuidv7.h"

static uint64 last_unix_ms = 0;
static uint32 last_counter = 0;

void
uuidv7_generate(pg_uuid_t *ids, int n)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		unix_ms = (uint64) (now / 1000 +
									(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * (uint64) 86400000);
	uint32		counter;

	/* all the random bits at once: one call to the CSPRNG per batch */
	if (!pg_strong_random(ids, sizeof(pg_uuid_t) * n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values for consumer ids")));

	if (unix_ms > last_unix_ms)
		counter = 0;
	else
	{
		unix_ms = last_unix_ms;
		counter = last_counter + 1;
	}

	for (int i = 0; i < n; i++)
	{
		unsigned char *b = ids[i].data;

		if (counter > 0xFFF)
		{
			unix_ms++;
			counter = 0;
		}
		b[0] = (unix_ms >> 40) & 0xFF;
		b[1] = (unix_ms >> 32) & 0xFF;
		b[2] = (unix_ms >> 24) & 0xFF;
		b[3] = (unix_ms >> 16) & 0xFF;
		b[4] = (unix_ms >> 8) & 0xFF;
		b[5] = unix_ms & 0xFF;
		b[6] = 0x70 | ((counter >> 8) & 0x0F);
		b[7] = counter & 0xFF;
		b[8] = 0x80 | (b[8] & 0x3F);
		/* b[9..15] stay random */
		last_counter = counter++;
	}
	last_unix_ms = unix_ms;
}

/* The canonical 8-4-4-4-12 text form, NUL-terminated. */
void
uuid_format(const pg_uuid_t *id, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = buf;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[id->data[i] >> 4];
		*p++ = hex[id->data[i] & 0x0F];
	}
	*p = '\0';
}
