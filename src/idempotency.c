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
 *	   at once, never a wait: a transaction-level lock on the (organization,
 *	   key) pair is tried, not waited for.  It is an advisory lock tag of a
 *	   class that SQL's pg_advisory_* functions cannot name, so no login can
 *	   take a tenant's key and hold it at 409.
 *	 - A request that fails stores nothing, so its retry starts afresh; nor
 *	   does an empty batch, which creates nothing to answer again.
 *	 - A stored row that cannot be answered (an id that is NULL, an array of
 *	   the wrong shape) is an error, XX001, never a guess.
 *	 - Keys expire fanfare.idempotency_ttl after the request (default 24 h);
 *	   fanfare.prune_idempotency_keys() deletes expired ones.
 * The keys table is read and written as its owner (API roles cannot read or
 * write it), with statements prepared once per backend.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "miscadmin.h"
#include "utils/timestamp.h"
#include "lib/stringinfo.h"

#include "batch.h"
#include "errcodes.h"
#include "fanfare.h"
#include "idempotency.h"
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

/* XX001 for a stored key that fanfare cannot have written. */
static void
stored_key_corrupt(const Idempotency *idem, const char *detail) pg_attribute_noreturn();

static void
stored_key_corrupt(const Idempotency *idem, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored idempotency key cannot be replayed"),
			 errdetail("%s", detail),
			 errhint("Delete the key's row from fanfare.idempotency_keys; its retry then creates afresh.")));
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
	*reason = NULL;
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
	const char *received = NULL;
	const char *reason = NULL;
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
 * The keys table is read and written as its owner, as a SECURITY DEFINER
 * function would: API roles have no rights on it, and the caller's
 * search_path has no say (every name and operator below is qualified).
 * An error on the way restores the caller's identity as the (sub)transaction
 * aborts.
 */
typedef struct AsOwner
{
	Oid			user;
	int			sec;
} AsOwner;

static Oid
keys_table(void)
{
	Oid			relid = get_relname_relid("idempotency_keys",
										  get_namespace_oid("fanfare", false));

	if (!OidIsValid(relid))
		elog(ERROR, "table fanfare.idempotency_keys does not exist");
	return relid;
}

static void
become_owner(AsOwner *saved)
{
	HeapTuple	tuple;
	Oid			owner;
	Oid			relid = keys_table();

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	GetUserIdAndSecContext(&saved->user, &saved->sec);
	SetUserIdAndSecContext(owner, saved->sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static void
become_caller(const AsOwner *saved)
{
	SetUserIdAndSecContext(saved->user, saved->sec);
}

/* A statement prepared once per backend (plancache replans it as needed). */
static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, types);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = prepared;
	}
	return *plan;
}

static SPIPlanPtr lookup_plan;
static SPIPlanPtr store_plan;

/*
 * The class of fanfare's key locks in the advisory lock tag's fourth field.
 * pg_advisory_lock(bigint) takes class 1 and pg_advisory_lock(int, int)
 * class 2, whatever their arguments: no SQL call can take or wait for a
 * lock of this class.  (Other extensions use small classes of their own;
 * this one is "FF".)
 */
#define KEY_LOCK_CLASS 0x4646

/*
 * The transaction-level lock of the (organization, key) pair: a 64-bit hash
 * of both, in fanfare's own lock class of the database.  pg_locks shows it
 * (locktype advisory, objsubid KEY_LOCK_CLASS), but showing gives no way to
 * take it.  Tried, never waited for, as pg_try_advisory_xact_lock does.
 */
static bool
take_key_lock(const pg_uuid_t *org, const char *key)
{
	StringInfoData pair;
	uint64		hash;
	LOCKTAG		tag;

	initStringInfo(&pair);
	appendBinaryStringInfo(&pair, (const char *) org->data, UUID_LEN);
	appendStringInfoString(&pair, key);
	hash = DatumGetUInt64(hash_any_extended((const unsigned char *) pair.data, pair.len,
											UINT64CONST(5718252643)));
	pfree(pair.data);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (hash >> 32), (uint32) hash,
						 KEY_LOCK_CLASS);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * The ids of a stored key, checked: a one-dimensional uuid array without
 * NULLs (an empty one is 0.2.0's row of an empty batch).  Anything else was
 * not written by fanfare, and answering it would hand a client NULL or
 * garbage ids: XX001.
 */
static void
stored_ids(Idempotency *idem, Datum value, bool isnull)
{
	ArrayType  *ids;

	if (isnull)
		stored_key_corrupt(idem, "Its ids are NULL.");
	ids = DatumGetArrayTypePCopy(value);
	if (ARR_ELEMTYPE(ids) != UUIDOID || ARR_NDIM(ids) > 1)
		stored_key_corrupt(idem, "Its ids are not a one-dimensional uuid array.");
	if (ARR_HASNULL(ids))
		stored_key_corrupt(idem, "Its ids array has NULL elements.");
	idem->n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	idem->ids = (pg_uuid_t *) ARR_DATA_PTR(ids);
}

/*
 * Look the key up for the tenant, before anything is read of the body but
 * its bytes, and take it for this transaction.  Leaves idem NONE (no key),
 * BUSY, MISMATCH, NEW or REPLAY (with what the first request created).
 * Expired keys are NEW.
 */
void
idempotency_lookup(Idempotency *idem, const pg_uuid_t *org, const char *key,
				   const char *body, int len)
{
	MemoryContext caller = CurrentMemoryContext;
	bytea	   *bytes;
	Datum		args[2];
	Oid			types[2] = {UUIDOID, TEXTOID};
	AsOwner		saved;
	int			rc;

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
	idem->organization_id = *org;
	if (!take_key_lock(org, key))
	{
		idem->state = IDEMPOTENCY_BUSY;
		return;
	}
	bytes = palloc(VARHDRSZ + len);
	SET_VARSIZE(bytes, VARHDRSZ + len);
	memcpy(VARDATA(bytes), body, len);
	idem->fingerprint = DatumGetByteaPP(DirectFunctionCall1(sha256_bytea, PointerGetDatum(bytes)));
	pfree(bytes);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&saved);
	args[0] = UUIDPGetDatum(&idem->organization_id);
	args[1] = CStringGetTextDatum(idem->key);
	rc = SPI_execute_plan(kept_plan(&lookup_plan,
									"SELECT k.fingerprint, k.created_at, k.created_by, k.ids"
									" FROM fanfare.idempotency_keys k"
									" WHERE k.organization_id OPERATOR(pg_catalog.=) $1"
									" AND k.key OPERATOR(pg_catalog.=) $2"
									" AND k.expires_at OPERATOR(pg_catalog.>) pg_catalog.statement_timestamp()",
									2, types),
						  args, NULL, false, 1);
	become_caller(&saved);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "idempotency key lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		idem->state = IDEMPOTENCY_NEW;
	else
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *stored = DatumGetByteaPP(SPI_getbinval(row, desc, 1, &isnull));

		if (VARSIZE_ANY_EXHDR(stored) != VARSIZE_ANY_EXHDR(idem->fingerprint) ||
			memcmp(VARDATA_ANY(stored), VARDATA_ANY(idem->fingerprint),
				   VARSIZE_ANY_EXHDR(stored)) != 0)
			idem->state = IDEMPOTENCY_MISMATCH;
		else
		{
			/* what the first request created, copied out of SPI's memory */
			MemoryContext spi = MemoryContextSwitchTo(caller);
			Datum		value;

			idem->state = IDEMPOTENCY_REPLAY;
			idem->created_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull));
			idem->created_by = TextDatumGetCString(SPI_getbinval(row, desc, 3, &isnull));
			value = SPI_getbinval(row, desc, 4, &isnull);
			stored_ids(idem, value, isnull);
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
}

/* idempotency_lookup, with a key in use or reused raised: 55N01, 22N04. */
void
idempotency_begin(Idempotency *idem, const pg_uuid_t *org, const char *key,
				  const char *body, int len)
{
	idempotency_lookup(idem, org, key, body, len);
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
	Datum		args[7];
	Oid			types[7] = {UUIDOID, TEXTOID, BYTEAOID, TIMESTAMPTZOID, TEXTOID,
	UUIDARRAYOID, TIMESTAMPTZOID};
	AsOwner		saved;
	int			rc;

	Assert(idem->state == IDEMPOTENCY_NEW);
	/* an empty batch created nothing: its retry may as well run again */
	if (batch->n == 0)
	{
		idempotency_outcome("created");
		return;
	}
	elems = palloc(sizeof(Datum) * Max(batch->n, 1));
	for (int i = 0; i < batch->n; i++)
		elems[i] = UUIDPGetDatum(&batch->ids[i]);
	args[0] = UUIDPGetDatum(&idem->organization_id);
	args[1] = CStringGetTextDatum(idem->key);
	args[2] = PointerGetDatum(idem->fingerprint);
	args[3] = TimestampTzGetDatum(batch->created_at);
	args[4] = CStringGetTextDatum(batch->actor);
	args[5] = PointerGetDatum(construct_array(elems, batch->n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[6] = TimestampTzGetDatum(batch->created_at +
								  (TimestampTz) fanfare_idempotency_ttl * USECS_PER_SEC);
	become_owner(&saved);
	/* an expired row of the same key is replaced; a live one is left alone */
	rc = SPI_execute_plan(kept_plan(&store_plan,
									"INSERT INTO fanfare.idempotency_keys AS k"
									" (organization_id, key, fingerprint, created_at, created_by, ids, expires_at)"
									" VALUES ($1, $2, $3, $4, $5, $6, $7)"
									" ON CONFLICT (organization_id, key) DO UPDATE"
									" SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,"
									" created_by = excluded.created_by, ids = excluded.ids,"
									" expires_at = excluded.expires_at"
									" WHERE k.expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()",
									7, types),
						  args, NULL, false, 0);
	become_caller(&saved);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "idempotency key store failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not store the idempotency key: a concurrent transaction stored it"),
				 errhint("Retry the request: it will answer with the stored result.")));
	idempotency_outcome("created");
}
