/*
 * keys.c
 *		Random bytes for API keys.
 *
 * The key functions themselves (issue, rotate, authenticate) are SQL in the
 * install script; the one thing SQL in core PostgreSQL cannot do without
 * pgcrypto is draw bytes from the operating system's CSPRNG, which is what
 * this file provides.
 */
#include "postgres.h"

#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

#define KEY_BYTES_MIN 16
#define KEY_BYTES_MAX 1024

PG_FUNCTION_INFO_V1(fanfare_random_key_bytes);

/*
 * fanfare.random_key_bytes(n integer) RETURNS bytea
 *
 * n bytes from pg_strong_random().  n is bounded so that a caller cannot ask
 * for a huge allocation; failure of the random source is an error, never a
 * weaker fallback.
 */
Datum
fanfare_random_key_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *result;

	if (n < KEY_BYTES_MIN || n > KEY_BYTES_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random key length must be between %d and %d bytes",
						KEY_BYTES_MIN, KEY_BYTES_MAX)));

	result = (bytea *) palloc(VARHDRSZ + n);
	SET_VARSIZE(result, VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(result), n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));

	PG_RETURN_BYTEA_P(result);
}
