/*
 * rate_limit.c
 *	  Fanfare's per-organization rate limit: a fixed window of
 *	  fanfare.rate_limit_window seconds (one minute), counted in shared
 *	  memory so that every front of the database shares one budget.
 *
 * The counters live in a fixed-size shared hash keyed by database and
 * organization, under one LWLock of its own tranche, as pg_stat_statements
 * keeps its entries: a shared lock to find an entry and its spinlock to
 * count, the exclusive lock only to add one.  A full table first drops
 * entries whose window has passed; if it is still full, the request is let
 * through (and that is logged once per backend).
 *
 * The limit of an organization is fanfare.rate_limits' row for it, else
 * fanfare.rate_limit.  Rows are cached per backend: a change of the table
 * (its trigger) bumps a shared generation at commit, and a backend that
 * sees a new generation forgets its cache.  So the hot path runs SQL once
 * per organization and backend, not per request.
 *
 * Without shared_preload_libraries there is no shared memory to count in:
 * limits are off, and the first call that would charge says so in the log.
 *
 * With fanfare.rate_limit_report on, a call's limit is reported where the
 * caller can read it cheaply: fanfare.rate_limit_status, a transaction-local
 * setting that the gateway reads as one more column of its statement.  A
 * call that answers no row (an error, an empty batch) gives no column to
 * read: it sends the same numbers as a notice, SQLSTATE 01N01.
 */
#include "postgres.h"

#include <time.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "nodes/pg_list.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "rate_limit.h"

/* the settings of rate limits (fanfare.c registers them as GUCs) */
int			fanfare_rate_limit = 1000;
int			fanfare_rate_limit_window = 60;
int			fanfare_rate_limit_organizations = 10000;
bool		fanfare_rate_limit_report = false;
char	   *fanfare_rate_limit_status = NULL;

/* a backend forgets its cached limits beyond this many organizations */
#define LIMIT_CACHE_MAX 10000

typedef struct RateLimitKey
{
	Oid			dbid;
	pg_uuid_t	org;
} RateLimitKey;

typedef struct RateLimitEntry
{
	RateLimitKey key;			/* first: the hash key */
	slock_t		mutex;			/* protects the fields below */
	int64		window_start;	/* unix seconds */
	int32		window_len;		/* seconds */
	int32		count;			/* requests let through in the window */
} RateLimitEntry;

typedef struct RateLimitShared
{
	LWLock	   *lock;
	pg_atomic_uint64 generation;	/* bumped when fanfare.rate_limits changes */
} RateLimitShared;

static RateLimitShared *shared = NULL;
static HTAB *counters = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* per backend: organization -> its fanfare.rate_limits row (or none) */
typedef struct LimitCacheEntry
{
	pg_uuid_t	org;
	int32		limit;			/* -1: no row, fanfare.rate_limit applies */
} LimitCacheEntry;

static HTAB *limit_cache = NULL;
static uint64 limit_cache_generation = 0;
static SPIPlanPtr limit_plan = NULL;
static bool bump_at_commit = false;
static bool callback_registered = false;

static Size
rate_limit_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(RateLimitShared)),
					hash_estimate_size(fanfare_rate_limit_organizations,
									   sizeof(RateLimitEntry)));
}

#if PG_VERSION_NUM >= 150000
static void
rate_limit_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(rate_limit_shmem_size());
	RequestNamedLWLockTranche("fanfare_rate_limit", 1);
}
#endif

/* Creates (postmaster) or attaches to (EXEC_BACKEND) the shared state. */
static void
rate_limit_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("fanfare rate limit", sizeof(RateLimitShared), &found);
	if (!found)
	{
		shared->lock = &(GetNamedLWLockTranche("fanfare_rate_limit"))->lock;
		pg_atomic_init_u64(&shared->generation, 1);
	}
	info.keysize = sizeof(RateLimitKey);
	info.entrysize = sizeof(RateLimitEntry);
	counters = ShmemInitHash("fanfare rate limit counters",
							 fanfare_rate_limit_organizations,
							 fanfare_rate_limit_organizations,
							 &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Called from _PG_init: installs the shared memory hooks when the library
 * is preloaded; loaded later, it does nothing and limits stay off.
 */
void
rate_limit_shmem_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rate_limit_shmem_request;
#else
	RequestAddinShmemSpace(rate_limit_shmem_size());
	RequestNamedLWLockTranche("fanfare_rate_limit", 1);
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rate_limit_shmem_startup;
}

/* ---- the limit of an organization ---- */

/* At commit of a change to fanfare.rate_limits: every backend reloads. */
static void
rate_limit_xact_callback(XactEvent event, void *arg)
{
	if (!bump_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (shared != NULL)
			pg_atomic_fetch_add_u64(&shared->generation, 1);
		bump_at_commit = false;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		bump_at_commit = false;
}

PG_FUNCTION_INFO_V1(fanfare_rate_limits_changed);

/*
 * Statement trigger on fanfare.rate_limits: the cached limits of every
 * backend are stale once this transaction commits.
 */
Datum
fanfare_rate_limits_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("fanfare_rate_limits_changed() must be called as a trigger")));
	if (!callback_registered)
	{
		RegisterXactCallback(rate_limit_xact_callback, NULL);
		callback_registered = true;
	}
	bump_at_commit = true;
	return PointerGetDatum(NULL);
}

/*
 * The organization's row of fanfare.rate_limits, -1 if it has none, or if
 * the installed SQL predates it (the library is updated before ALTER
 * EXTENSION UPDATE).
 */
static int32
limit_lookup(const pg_uuid_t *org)
{
	Datum		arg = UUIDPGetDatum((pg_uuid_t *) org);
	Oid			argtype = UUIDOID;
	bool		isnull;
	Datum		value;
	int32		limit = -1;

	if (!OidIsValid(LookupFuncName(list_make2(makeString("fanfare"),
											  makeString("organization_rate_limit")),
								   1, &argtype, true)))
		return -1;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (limit_plan == NULL)
	{
		Oid			type = UUIDOID;
		SPIPlanPtr	plan = SPI_prepare("SELECT fanfare.organization_rate_limit($1)", 1, &type);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the rate limit lookup");
		limit_plan = plan;
	}
	if (SPI_execute_plan(limit_plan, &arg, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "rate limit lookup failed");
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		limit = DatumGetInt32(value);
	SPI_finish();
	return limit;
}

/* Requests per window for the organization; 0 means no limit. */
static int
organization_limit(const pg_uuid_t *org)
{
	uint64		generation = pg_atomic_read_u64(&shared->generation);
	LimitCacheEntry *entry;
	bool		found;
	int32		limit;

	if (limit_cache == NULL || generation != limit_cache_generation ||
		hash_get_num_entries(limit_cache) >= LIMIT_CACHE_MAX)
	{
		HASHCTL		info;

		if (limit_cache != NULL)
			hash_destroy(limit_cache);
		info.keysize = sizeof(pg_uuid_t);
		info.entrysize = sizeof(LimitCacheEntry);
		info.hcxt = TopMemoryContext;
		limit_cache = hash_create("fanfare rate limits", 256, &info,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		limit_cache_generation = generation;
	}
	entry = hash_search(limit_cache, org, HASH_FIND, &found);
	if (found)
		limit = entry->limit;
	else
	{
		limit = limit_lookup(org);
		entry = hash_search(limit_cache, org, HASH_ENTER, &found);
		entry->limit = limit;
	}
	return limit >= 0 ? limit : fanfare_rate_limit;
}

/* ---- counting ---- */

/* Drops the entries whose window has passed; the exclusive lock is held. */
static void
drop_past_windows(int64 now)
{
	HASH_SEQ_STATUS status;
	RateLimitEntry *entry;

	hash_seq_init(&status, counters);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->window_start + entry->window_len <= now)
			hash_search(counters, &entry->key, HASH_REMOVE, NULL);
	}
}

/*
 * The organization's entry, created if needed (shared lock held on
 * return, or none when the table is full: NULL).
 */
static RateLimitEntry *
counter_entry(const RateLimitKey *key, int64 start, int len, int64 now)
{
	RateLimitEntry *entry;
	bool		found;

	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(counters, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;
	LWLockRelease(shared->lock);

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = hash_search(counters, key, HASH_ENTER_NULL, &found);
	if (entry == NULL)
	{
		drop_past_windows(now);
		entry = hash_search(counters, key, HASH_ENTER_NULL, &found);
	}
	if (entry != NULL && !found)
	{
		SpinLockInit(&entry->mutex);
		entry->window_start = start;
		entry->window_len = len;
		entry->count = 0;
	}
	/* its window is current: no other backend drops it meanwhile */
	LWLockRelease(shared->lock);
	if (entry == NULL)
		return NULL;
	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(counters, key, HASH_FIND, NULL);
	if (entry == NULL)
		LWLockRelease(shared->lock);
	return entry;
}

/*
 * Counts one request of the organization in its current window, unless the
 * window is used up (charge->allowed false: nothing counted).
 */
void
rate_limit_charge(const pg_uuid_t *org, RateLimitCharge *charge)
{
	static bool said_off = false;
	static bool said_full = false;
	RateLimitKey key;
	RateLimitEntry *entry;
	int64		now;
	int64		start;
	int			len = fanfare_rate_limit_window;

	memset(charge, 0, sizeof(*charge));
	charge->allowed = true;
	if (shared == NULL)
	{
		if (!said_off && fanfare_rate_limit > 0)
		{
			ereport(LOG,
					(errmsg("fanfare rate limits are off: fanfare is not in shared_preload_libraries"),
					 errhint("Add fanfare to shared_preload_libraries and restart the server to limit requests per organization.")));
			said_off = true;
		}
		return;
	}
	charge->limit = organization_limit(org);
	if (charge->limit <= 0)
		return;

	now = (int64) time(NULL);
	start = now - now % len;
	charge->limited = true;
	charge->reset = start + len;
	charge->retry_after = (int) (charge->reset - now);

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.org = *org;
	entry = counter_entry(&key, start, len, now);
	if (entry == NULL)
	{
		if (!said_full)
		{
			ereport(LOG,
					(errmsg("fanfare rate limit table is full: requests of new organizations are not counted"),
					 errhint("Raise fanfare.rate_limit_organizations.")));
			said_full = true;
		}
		charge->remaining = charge->limit;
		return;
	}
	SpinLockAcquire(&entry->mutex);
	if (entry->window_start != start || entry->window_len != len)
	{
		entry->window_start = start;
		entry->window_len = len;
		entry->count = 0;
	}
	if (entry->count < charge->limit)
		entry->count++;
	else
		charge->allowed = false;
	charge->remaining = charge->limit - entry->count;
	SpinLockRelease(&entry->mutex);
	LWLockRelease(shared->lock);
}

/* The 429 body of the contract. */
char *
rate_limit_body(const RateLimitCharge *charge)
{
	return psprintf("{\"error\":\"Rate limit exceeded\",\"retryAfter\":%d}", charge->retry_after);
}

/*
 * The status of a limited charge as the gateway parses it, with one parser,
 * from both the 01N01 notice's DETAIL and fanfare.rate_limit_status:
 * "limit=L remaining=R reset=EPOCH retry=SECONDS".
 */
#define RATE_LIMIT_STATUS_SIZE 96

static void
format_status(const RateLimitCharge *charge, char *status)
{
	snprintf(status, RATE_LIMIT_STATUS_SIZE,
			 "limit=%d remaining=%d reset=" INT64_FORMAT " retry=%d",
			 charge->limit, charge->remaining, charge->reset, charge->retry_after);
}

/* The 01N01 notice of a charge: DETAIL is what the gateway reads. */
static void
report_notice(const RateLimitCharge *charge)
{
	char		status[RATE_LIMIT_STATUS_SIZE];

	format_status(charge, status);
	ereport(NOTICE,
			(errcode(ERRCODE_FANFARE_RATE_LIMIT_STATUS),
			 errmsg("rate limit: %d of %d requests left in this window",
					charge->remaining, charge->limit),
			 errdetail_internal("%s", status)));
}

/*
 * fanfare.rate_limit_status for the transaction: the notice's DETAIL, read
 * by the gateway as a column of its statement; "" when no limit applies
 * (a previous call's report in this transaction says nothing of this one).
 */
static void
report_status(const RateLimitCharge *charge)
{
	char		status[RATE_LIMIT_STATUS_SIZE];

	if (charge->limited)
		format_status(charge, status);
	else if (fanfare_rate_limit_status == NULL || fanfare_rate_limit_status[0] == '\0')
		return;
	else
		status[0] = '\0';
	(void) set_config_option("fanfare.rate_limit_status", status, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/* This transaction's last charge, for fanfare_router.rate_limit_notice(). */
static RateLimitCharge last_charge;
static LocalTransactionId last_charge_lxid = InvalidLocalTransactionId;

/*
 * Charge, report, refuse (54N01): the SQL entry points' gate.  A call that
 * goes on sends no notice: a notice per call costs about a tenth of a 1-row
 * request, a setting next to nothing.
 */
void
rate_limit_enforce(const pg_uuid_t *org, RateLimitCharge *charge)
{
	rate_limit_charge(org, charge);
	last_charge = *charge;
	last_charge_lxid = MyProc->lxid;
	if (fanfare_rate_limit_report)
	{
		if (charge->allowed)
			report_status(charge);
		else
			report_notice(charge);
	}
	if (!charge->allowed)
		ereport(ERROR,
				(errcode(ERRCODE_FANFARE_RATE_LIMITED),
				 errmsg("rate limit exceeded"),
				 errdetail_internal("%s", rate_limit_body(charge)),
				 errhint("Retry after %d seconds.", charge->retry_after)));
}

/* The notice of a call that answers no row (rate_limit.h). */
void
rate_limit_notice(const RateLimitCharge *charge)
{
	if (fanfare_rate_limit_report && charge->limited)
		report_notice(charge);
}

/*
 * The error is copied out of ErrorContext (into the caller's context) and
 * the error state flushed, so that the notice can be sent; then it is
 * raised again as it was.  Interrupts are held meanwhile: a cancel must not
 * replace the error being reported.
 */
void
rate_limit_rethrow(const RateLimitCharge *charge, MemoryContext context)
{
	ErrorData  *edata;

	if (!fanfare_rate_limit_report || !charge->limited)
		PG_RE_THROW();
	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	FlushErrorState();
	HOLD_INTERRUPTS();
	report_notice(charge);
	RESUME_INTERRUPTS();
	ReThrowError(edata);
}

/* PostgREST's response.headers for the charge (see rate_limit.h). */
char *
rate_limit_response_headers(const RateLimitCharge *charge, const char *extra)
{
	StringInfoData out;

	if (!charge->limited && extra == NULL)
		return NULL;
	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	if (charge->limited)
	{
		appendStringInfo(&out,
						 "{\"X-RateLimit-Limit\": \"%d\"}, {\"X-RateLimit-Remaining\": \"%d\"}, "
						 "{\"X-RateLimit-Reset\": \"" INT64_FORMAT "\"}",
						 charge->limit, charge->remaining, charge->reset);
		if (!charge->allowed)
			appendStringInfo(&out, ", {\"Retry-After\": \"%d\"}", charge->retry_after);
	}
	if (extra != NULL)
		appendStringInfo(&out, "%s{%s}", charge->limited ? ", " : "", extra);
	appendStringInfoChar(&out, ']');
	return out.data;
}

PG_FUNCTION_INFO_V1(fanfare_rate_limit_enforce);

/*
 * fanfare_router.rate_limit_enforce(organization_id uuid): the router's
 * charge, before it sends a request to the organization's shard.
 */
Datum
fanfare_rate_limit_enforce(PG_FUNCTION_ARGS)
{
	RateLimitCharge charge;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("organization_id must not be null")));
	rate_limit_enforce(PG_GETARG_UUID_P(0), &charge);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fanfare_rate_limit_notice);

/*
 * fanfare_router.rate_limit_notice(): the 01N01 notice of this
 * transaction's charge (rate_limit_enforce), if any and when reporting:
 * for the router's calls that end without a row, in error or empty.
 */
Datum
fanfare_rate_limit_notice(PG_FUNCTION_ARGS)
{
	if (last_charge_lxid == MyProc->lxid && last_charge_lxid != InvalidLocalTransactionId)
		rate_limit_notice(&last_charge);
	PG_RETURN_VOID();
}
