/*
 * idempotency.c
 *	  Retries that never create twice: Idempotency-Key.
 *
 * A request may carry a key (the gateway's Idempotency-Key header, or the
 * fanfare.idempotency_key setting from SQL).  Keys belong to the tenant:
 * another organization's identical key is another key.
 *	 - The first request with a key stores, in the same transaction as its
 *	   rows, what a replay needs: the SHA-256 of the body as sent, the ids,
 *	   createdAt and createdBy.  The 200 body is a function of the body and
 *	   those, so the stored result is 16 bytes per consumer.
 *	 - A retry with the same key and body creates nothing and answers the
 *	   stored result, byte for byte; fanfare.idempotency_outcome says
 *	   "replayed" (the gateway sends Idempotent-Replayed: true).
 *	 - The same key with another body: 22N04 (422).
 *	 - The same key while the first request is still running: 55N01 (409)
 *	   at once, never a wait: a transaction-level advisory lock on the
 *	   (organization, key) pair is tried, not waited for.
 *	 - A request that fails stores nothing, so its retry starts afresh.
 *	 - Keys expire fanfare.idempotency_ttl after the request (default 24 h);
 *	   fanfare.prune_idempotency_keys() deletes expired ones.
 * The lookups are SQL functions of the install script (SECURITY DEFINER: API
 * roles cannot read or write the keys table themselves).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "lib/stringinfo.h"

#include "batch.h"
#include "issue_list.h"

#define KEY_MAX 255

/* A 22N05 whose DETAIL is the 400 body, as the batch's issues are. */
static void
invalid_key(const char *received, const char *reason) pg_attribute_noreturn();

static void
invalid_key(const char *received, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_FANFARE_INVALID_IDEMPOTENCY_KEY),
			 errmsg("invalid idempotency key: %s", reason),
			 errdetail_internal("%s", issue_body_idempotency_key(received))));
}

/*
 * A key from SQL (fanfare.idempotency_key): 1 to 255 printable ASCII
 * characters, taken as they are.
 */
static void
check_key(const char *key)
{
	size_t		len = strlen(key);

	if (len == 0 || len > KEY_MAX)
		invalid_key(psprintf("%zu characters", len), "it is not 1 to 255 characters long");
	for (size_t i = 0; i < len; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			invalid_key("a character that is not printable ASCII",
						"it has a character that is not printable ASCII");
}

/* RFC 9110's tchar */
static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * The key an Idempotency-Key field value names.  Two forms: a structured
 * field string (RFC 8941: "..." of printable ASCII, with \" and \\ the only
 * escapes), the IETF draft's; and a bare token (RFC 9110 tchar, so a UUID
 * is one), Stripe's.  Spaces around the value are not part of it.  The key
 * is what the string holds: "abc" and abc are the same key.  NULL when the
 * value is neither, with the 400 issue's received and the reason set.
 */
char *
idempotency_parse_header(const char *value, const char **received, const char **reason)
{
	const char *p = value;
	const char *end = value + strlen(value);
	StringInfoData key;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	initStringInfo(&key);
	*received = NULL;
	if (p < end && *p == '"')
	{
		for (p++; p < end && *p != '"'; p++)
		{
			if (*p == '\\' && (p + 1 == end || (p[1] != '"' && p[1] != '\\')))
			{
				*received = "a string with an invalid escape";
				*reason = "a backslash in a quoted key escapes only \" and \\";
				break;
			}
			if (*p == '\\')
				p++;
			else if (*p < 0x20 || *p > 0x7e)
			{
				*received = "a string with a character that is not printable ASCII";
				*reason = "a quoted key is printable ASCII";
				break;
			}
			appendStringInfoChar(&key, *p);
		}
		if (*received == NULL && p == end)
		{
			*received = "an unterminated string";
			*reason = "the quoted key has no closing quote";
		}
		else if (*received == NULL && p + 1 != end)
		{
			*received = "more than one value";
			*reason = "there is text after the quoted key";
		}
	}
	else
	{
		for (; p < end && *received == NULL; p++)
		{
			if (!is_tchar(*p))
			{
				*received = "neither a token nor a quoted string";
				*reason = "it has a character a token cannot have (quote the key)";
			}
			appendStringInfoChar(&key, *p);
		}
	}
	if (*received == NULL && key.len == 0)
	{
		*received = "an empty key";
		*reason = "it is empty";
	}
	else if (*received == NULL && key.len > KEY_MAX)
	{
		*received = psprintf("%d characters", key.len);
		*reason = "it is longer than 255 characters";
	}
	if (*received != NULL)
	{
		pfree(key.data);
		return NULL;
	}
	return key.data;
}

/* idempotency_parse_header, with a malformed value raised: 22N05. */
char *
idempotency_key_from_header(const char *value)
{
	const char *received;
	const char *reason;
	char	   *key = idempotency_parse_header(value, &received, &reason);

	if (key == NULL)
		invalid_key(received, reason);
	return key;
}

/* What a call with no key of its own takes: fanfare.idempotency_key. */
const char *
idempotency_key_setting(void)
{
	const char *key = fanfare_idempotency_key_setting;

	if (key == NULL || key[0] == '\0')
		return NULL;
	check_key(key);
	return key;
}

void
idempotency_outcome(const char *outcome)
{
	(void) set_config_option("fanfare.idempotency_outcome", outcome, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Look the key up for the current tenant, before anything is read of the
 * body but its bytes, and take it for this transaction.  Leaves idem NONE
 * (no key), BUSY, MISMATCH, NEW or REPLAY (with what the first request
 * created).
 */
void
idempotency_lookup(Idempotency *idem, const char *key, const char *body, int len)
{
	MemoryContext caller = CurrentMemoryContext;
	bytea	   *bytes;
	Datum		args[2];
	Oid			types[2] = {TEXTOID, BYTEAOID};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	char	   *state;

	memset(idem, 0, sizeof(*idem));
	idem->state = IDEMPOTENCY_NONE;
	if (key == NULL)
	{
		/* a call without a key in a transaction that had one says nothing */
		if (fanfare_idempotency_outcome != NULL && fanfare_idempotency_outcome[0] != '\0')
			idempotency_outcome("");
		return;
	}
	idem->key = pstrdup(key);
	bytes = palloc(VARHDRSZ + len);
	SET_VARSIZE(bytes, VARHDRSZ + len);
	memcpy(VARDATA(bytes), body, len);
	idem->fingerprint = DatumGetByteaPP(DirectFunctionCall1(sha256_bytea, PointerGetDatum(bytes)));
	pfree(bytes);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = CStringGetTextDatum(idem->key);
	args[1] = PointerGetDatum(idem->fingerprint);
	if (SPI_execute_with_args("SELECT state, created_at, created_by, ids"
							  " FROM fanfare.idempotency_lookup($1, $2)",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "idempotency key lookup failed");
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	state = SPI_getvalue(row, desc, 1);
	if (strcmp(state, "busy") == 0)
		idem->state = IDEMPOTENCY_BUSY;
	else if (strcmp(state, "mismatch") == 0)
		idem->state = IDEMPOTENCY_MISMATCH;
	else if (strcmp(state, "replay") == 0)
	{
		/* what the first request created, copied out of SPI's memory */
		MemoryContext spi = MemoryContextSwitchTo(caller);
		ArrayType  *ids;

		idem->state = IDEMPOTENCY_REPLAY;
		idem->created_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull));
		idem->created_by = pstrdup(TextDatumGetCString(SPI_getbinval(row, desc, 3, &isnull)));
		ids = DatumGetArrayTypePCopy(SPI_getbinval(row, desc, 4, &isnull));
		idem->n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
		idem->ids = (pg_uuid_t *) ARR_DATA_PTR(ids);
		MemoryContextSwitchTo(spi);
	}
	else if (strcmp(state, "new") == 0)
		idem->state = IDEMPOTENCY_NEW;
	else
		elog(ERROR, "unexpected idempotency key state \"%s\"", state);
	SPI_finish();
}

/* idempotency_lookup, with a key in use or reused raised: 55N01, 22N04. */
void
idempotency_begin(Idempotency *idem, const char *key, const char *body, int len)
{
	idempotency_lookup(idem, key, body, len);
	if (idem->state == IDEMPOTENCY_BUSY)
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_IDEMPOTENCY_KEY_IN_USE),
				 errmsg("a request with this idempotency key is in progress"),
				 errhint("Retry once it has finished: it will then answer with its result.")));
	if (idem->state == IDEMPOTENCY_MISMATCH)
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_IDEMPOTENCY_KEY_REUSED),
				 errmsg("idempotency key was used with a different request body"),
				 errdetail("A key names one request: its retries must send the same body.")));
}

/*
 * Store what a new request created, in its transaction; the caller is
 * connected to SPI.  The key may have been taken meanwhile only by a
 * transaction this one's snapshot cannot see (REPEATABLE READ): that is a
 * serialization failure, never a second batch.
 */
void
idempotency_store(const Idempotency *idem, const BatchContext *batch)
{
	Datum	   *elems;
	Datum		args[6];
	Oid			types[6] = {TEXTOID, BYTEAOID, TIMESTAMPTZOID, TEXTOID, UUIDARRAYOID, TIMESTAMPTZOID};
	bool		isnull;

	Assert(idem->state == IDEMPOTENCY_NEW);
	elems = palloc(sizeof(Datum) * Max(batch->n, 1));
	for (int i = 0; i < batch->n; i++)
		elems[i] = UUIDPGetDatum(&batch->ids[i]);
	args[0] = CStringGetTextDatum(idem->key);
	args[1] = PointerGetDatum(idem->fingerprint);
	args[2] = TimestampTzGetDatum(batch->created_at);
	args[3] = CStringGetTextDatum(batch->actor);
	args[4] = PointerGetDatum(construct_array(elems, batch->n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[5] = TimestampTzGetDatum(batch->created_at +
								  (TimestampTz) fanfare_idempotency_ttl * USECS_PER_SEC);
	if (SPI_execute_with_args("SELECT fanfare.idempotency_store($1, $2, $3, $4, $5, $6)",
							  6, types, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "idempotency key store failed");
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not store the idempotency key: a concurrent transaction stored it"),
				 errhint("Retry the request: it will answer with the stored result.")));
	idempotency_outcome("created");
}
