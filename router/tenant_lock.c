/*
 * tenant_lock.c
 *	  The lock of one organization on the router: shared by every routed call
 *	  until its transaction ends, exclusive while move_organization runs.
 *
 * It lives in the advisory lock method, so it behaves as an advisory lock:
 * it writes nothing (no transaction id, no WAL), a session-level hold
 * survives the COMMITs of move_organization, and the server releases it
 * when the session ends.  But its tag carries a fourth field that the
 * pg_advisory_* functions never build (they use 1 and 2): a login on the
 * router, which may call those functions on any key, cannot take, hold or
 * release an organization's lock and so stall its calls.  Only these
 * functions build the tag, and only the router's owner may call them.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/uuid.h"

/* locktag_field4 of the tenant lock: pg_advisory_* use 1 (int8) and 2 (int4, int4) */
#define TENANT_LOCK_SPACE 0x6666

/* The organization's tag: a 64-bit hash of its id, in this database. */
static void
tenant_locktag(LOCKTAG *tag, FunctionCallInfo fcinfo)
{
	pg_uuid_t  *org;
	uint64		h;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("organization_id must not be null")));
	org = PG_GETARG_UUID_P(0);
	h = hash_bytes_extended(org->data, UUID_LEN, 0);
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h,
						 TENANT_LOCK_SPACE);
}

PG_FUNCTION_INFO_V1(fanfare_router_tenant_lock_shared);

/* fanfare_router.tenant_lock_shared(uuid): share mode, until the transaction ends. */
Datum
fanfare_router_tenant_lock_shared(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	tenant_locktag(&tag, fcinfo);
	(void) LockAcquire(&tag, ShareLock, false, false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fanfare_router_tenant_lock);

/* fanfare_router.tenant_lock(uuid): exclusive, for the session (across COMMITs). */
Datum
fanfare_router_tenant_lock(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	tenant_locktag(&tag, fcinfo);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fanfare_router_tenant_unlock);

/* fanfare_router.tenant_unlock(uuid): releases tenant_lock; false if not held. */
Datum
fanfare_router_tenant_unlock(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	tenant_locktag(&tag, fcinfo);
	PG_RETURN_BOOL(LockRelease(&tag, ExclusiveLock, true));
}
