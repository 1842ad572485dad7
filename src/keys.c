/*
 * keys.c
 *		API keys: random bytes for new keys, and authenticating a key.
 *
 * Issuing and rotating keys is SQL in the install script; what it needs
 * from C is bytes from the operating system's CSPRNG (core PostgreSQL has
 * no SQL function for that without pgcrypto).  Authentication is here too,
 * so that the gateway's one statement per request runs without PL/pgSQL.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "errcodes.h"
#include "keys.h"

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

/* The prepared key lookup, kept for the life of the backend. */
static SPIPlanPtr key_plan = NULL;

/*
 * The organization and the actor ("api_key:<display prefix>") of a secret
 * key, found by the key's SHA-256; otherwise an error the gateway maps to a
 * status: 28N01 unknown or revoked key (401), 28N02 a publishable key
 * (401), 42N01 the organization is disabled (403).  Runs as the owner of
 * the calling SECURITY DEFINER function, which may read the key tables.
 */
void
api_key_authenticate(const char *key, pg_uuid_t *org, char **actor)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum		arg;
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;

	if (key == NULL || strncmp(key, "sk_", 3) != 0)
	{
		if (key != NULL && strncmp(key, "pk_", 3) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FANFARE_SECRET_KEY_REQUIRED),
					 errmsg("secret key required"),
					 errdetail("Publishable keys cannot call the Admin API.")));
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_INVALID_KEY),
				 errmsg("invalid secret key")));
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (key_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		SPIPlanPtr	plan = SPI_prepare("SELECT k.organization_id, k.display_prefix,"
									   " k.revoked_at IS NOT NULL, o.disabled_at IS NOT NULL"
									   " FROM fanfare.api_keys k"
									   " JOIN fanfare.organizations o"
									   "   ON o.id OPERATOR(pg_catalog.=) k.organization_id"
									   " WHERE k.key_hash OPERATOR(pg_catalog.=)"
									   "       pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8'))"
									   "   AND k.kind OPERATOR(pg_catalog.=) 'secret'",
									   1, types);

		if (plan == NULL)
			elog(ERROR, "could not prepare the key lookup: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		key_plan = plan;
	}
	arg = CStringGetTextDatum(key);
	if (SPI_execute_plan(key_plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "key lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_INVALID_KEY),
				 errmsg("invalid secret key")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(row, desc, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_INVALID_KEY),
				 errmsg("invalid secret key")));
	if (DatumGetBool(SPI_getbinval(row, desc, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_ORGANIZATION_DISABLED),
				 errmsg("organization disabled")));
	*org = *DatumGetUUIDP(SPI_getbinval(row, desc, 1, &isnull));
	*actor = MemoryContextStrdup(caller,
								 psprintf("api_key:%s", SPI_getvalue(row, desc, 2)));
	SPI_finish();
}
