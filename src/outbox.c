/*
 * outbox.c
 *	  The webhook outbox's trigger, fanfare.consumers_outbox(): an AFTER
 *	  INSERT ... FOR EACH STATEMENT trigger on fanfare.consumers with the
 *	  transition table new_consumers.
 *
 * For each organization of the inserted rows that has an enabled endpoint
 * subscribed to consumer.created, it writes one event per row into
 * fanfare.webhook_events and one row naming those events and endpoints into
 * fanfare.webhook_event_batches, then notifies fanfare_webhooks (sent at
 * commit).  While no endpoint at all is subscribed, or while
 * fanfare_webhook.outbox is 'off' (a tenant move copying existing
 * consumers), it writes nothing.
 *
 * It runs on every INSERT into fanfare.consumers, so its cost is part of
 * every batch's, a one-row batch's above all.  It was PL/pgSQL, SECURITY
 * DEFINER with SET search_path: a function call through the PL handler, a
 * GUC nest level saved and restored, and its first query, about 50k
 * instructions per statement even when it had nothing to do.  Here:
 *
 * - It is not SECURITY DEFINER.  The role that inserts (an API role) has no
 *   rights on the webhook tables, so the function switches to the owner of
 *   the table it fires on, the extension's owner, around its own SPI work
 *   only, as fmgr_security_definer() does (SECURITY_LOCAL_USERID_CHANGE);
 *   an error is cleaned up by the (sub)transaction's abort, which restores
 *   the user and the security context, as it does for a SECURITY DEFINER
 *   function.
 * - It sets no search_path: every name in its statements is qualified
 *   (tables with fanfare., functions, operators and types with pg_catalog.),
 *   and the transition table is no schema's, so the caller's search_path
 *   cannot divert anything.
 * - The check that decides whether there is anything to write (has an
 *   organization of the inserted rows an enabled endpoint subscribed to
 *   consumer.created?) is no query.  A fanfare.webhook_endpoints whose
 *   primary key never held an entry (no endpoint ever registered) has
 *   none: nothing more is read (one shared buffer, no system call).
 *   Otherwise the statement's organizations are read from the transition
 *   table and each is looked up in the table's primary key (organization_id,
 *   id), through the index and table access methods, under a snapshot taken
 *   as SPI takes one for a volatile function's query, so it sees what a
 *   query would see (the table has no row-level security; it reads as the
 *   owner would, without a privilege check, as the trigger acts for the
 *   owner).  So a tenant without an endpoint pays a few index probes
 *   however many endpoints other tenants have; a sequential scan of every
 *   endpoint, which this replaced, grew with all of them (about 1.5M
 *   instructions per statement with 1,000).  A statement of more than
 *   OUTBOX_MAX_ORGS organizations (an owner's, in bulk) still scans the
 *   table for any subscribed endpoint.  The PL/pgSQL trigger only asked
 *   whether any endpoint anywhere was subscribed, and ran the write (about
 *   130k instructions) for every statement of every organization once one
 *   was; through SPI even that question cost about 19k instructions, most
 *   of them the executor's fixed cost.
 * - The write is prepared once per backend and kept (SPI_keepplan).  It
 *   reads the transition table, which is registered anew on each call
 *   (SPI_register_trigger_data) under the same name; the plan cache looks it
 *   up by name in the query environment of the call, as PL/pgSQL does for
 *   its own kept plans.
 * - The setting is read before anything else.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

/* The transition table the write below reads. */
#define OUTBOX_NEW_TABLE "new_consumers"

/* The event type the trigger writes. */
#define OUTBOX_EVENT_TYPE "consumer.created"

/*
 * The organizations of a statement's rows, as far as the check below keeps
 * them: fanfare's own statements hold one.  Past OUTBOX_MAX_ORGS the check
 * stops telling them apart and leaves the choice to the write.
 */
#define OUTBOX_MAX_ORGS 16

typedef struct OutboxOrgs
{
	bool		overflow;		/* it holds more than OUTBOX_MAX_ORGS */
	int			count;
	pg_uuid_t	ids[OUTBOX_MAX_ORGS];
} OutboxOrgs;

/*
 * The events of the inserted consumers of organizations with a subscribed
 * endpoint, and one batch row per such organization naming its events and
 * its subscribed endpoints (fanfare.expand_webhook_events turns it into
 * deliveries later).  Its row count is the number of events written.
 */
static const char *const write_sql =
"WITH subscribed AS ("
"    SELECT e.organization_id, pg_catalog.array_agg(e.id ORDER BY e.id) AS ids"
"      FROM fanfare.webhook_endpoints e"
"     WHERE e.enabled"
"       AND e.events OPERATOR(pg_catalog.@>) '{" OUTBOX_EVENT_TYPE "}'::pg_catalog.text[]"
"       AND e.organization_id OPERATOR(pg_catalog.=) ANY"
"           (SELECT DISTINCT n.organization_id FROM " OUTBOX_NEW_TABLE " n)"
"     GROUP BY e.organization_id"
"), batch AS ("
"    INSERT INTO fanfare.webhook_event_batches (organization_id, endpoint_ids, event_ids)"
"    SELECT s.organization_id, s.ids,"
"           ARRAY(SELECT n.id FROM " OUTBOX_NEW_TABLE " n"
"                  WHERE n.organization_id OPERATOR(pg_catalog.=) s.organization_id)"
"      FROM subscribed s"
"    RETURNING organization_id"
")"
" INSERT INTO fanfare.webhook_events (organization_id, id, type, occurred_at, email, phone, full_name)"
" SELECT n.organization_id, n.id, '" OUTBOX_EVENT_TYPE "', n.created_at, n.email, n.phone, n.full_name"
"   FROM " OUTBOX_NEW_TABLE " n"
"  WHERE n.organization_id OPERATOR(pg_catalog.=) ANY (SELECT b.organization_id FROM batch b)";

/* The write, prepared on first use and kept for the backend. */
static SPIPlanPtr write_plan = NULL;

/*
 * Refuses a call that is not this trigger's: as a function, for another
 * event, timing or level, or without the transition table the write reads.
 */
static TriggerData *
outbox_trigger_data(FunctionCallInfo fcinfo)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("fanfare.consumers_outbox() must be called as a trigger")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("fanfare.consumers_outbox() must be fired AFTER INSERT FOR EACH STATEMENT")));
	if (trigdata->tg_newtable == NULL ||
		trigdata->tg_trigger->tgnewtable == NULL ||
		strcmp(trigdata->tg_trigger->tgnewtable, OUTBOX_NEW_TABLE) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("fanfare.consumers_outbox() must be fired with the transition table " OUTBOX_NEW_TABLE),
				 errhint("Create the trigger with REFERENCING NEW TABLE AS " OUTBOX_NEW_TABLE ".")));
	return trigdata;
}

/* The attribute number of the column name of rel, or an error. */
static AttrNumber
outbox_column(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of relation \"%s\" does not exist",
					name, RelationGetRelationName(rel))));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/*
 * Whether the text array events holds the event type: what
 * events @> '{consumer.created}' says of a text[] column (default collation,
 * which is deterministic, so equal is bytewise equal; NULL elements never
 * match).
 */
static bool
outbox_subscribed_to(Datum events)
{
	ArrayType  *array = DatumGetArrayTypeP(events);
	ArrayIterator it = array_create_iterator(array, 0, NULL);
	Datum		value;
	bool		isnull;
	bool		found = false;

	while (!found && array_iterate(it, &value, &isnull))
	{
		text	   *t;

		if (isnull)
			continue;
		t = DatumGetTextPP(value);
		found = VARSIZE_ANY_EXHDR(t) == strlen(OUTBOX_EVENT_TYPE) &&
			memcmp(VARDATA_ANY(t), OUTBOX_EVENT_TYPE, strlen(OUTBOX_EVENT_TYPE)) == 0;
	}
	array_free_iterator(it);
	return found;
}

/* Whether orgs holds id. */
static bool
outbox_orgs_hold(const OutboxOrgs *orgs, const pg_uuid_t *id)
{
	for (int i = 0; i < orgs->count; i++)
		if (memcmp(orgs->ids[i].data, id->data, UUID_LEN) == 0)
			return true;
	return false;
}

/*
 * The organizations of the statement's rows, read from the transition
 * table through a read pointer of its own (as a NamedTuplestoreScan reads
 * it; the write's scans, and other triggers', take theirs).
 */
static void
outbox_read_orgs(TriggerData *trigdata, OutboxOrgs *orgs)
{
	Tuplestorestate *rows = trigdata->tg_newtable;
	Relation	rel = trigdata->tg_relation;
	AttrNumber	org_att = outbox_column(rel, "organization_id");
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel),
													&TTSOpsMinimalTuple);
	int			readptr = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);

	orgs->overflow = false;
	orgs->count = 0;
	tuplestore_select_read_pointer(rows, readptr);
	tuplestore_rescan(rows);
	while (!orgs->overflow && tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull;
		Datum		org = slot_getattr(slot, org_att, &isnull);

		CHECK_FOR_INTERRUPTS();
		if (isnull || outbox_orgs_hold(orgs, DatumGetUUIDP(org)))
			continue;
		if (orgs->count == OUTBOX_MAX_ORGS)
			orgs->overflow = true;
		else
			orgs->ids[orgs->count++] = *DatumGetUUIDP(org);
	}
	tuplestore_select_read_pointer(rows, 0);
	ExecDropSingleTupleTableSlot(slot);
}

/* Whether the endpoint in slot is enabled and subscribed to consumer.created. */
static bool
outbox_endpoint_subscribed(TupleTableSlot *slot, AttrNumber enabled_att,
						   AttrNumber events_att)
{
	bool		isnull;
	Datum		value;

	value = slot_getattr(slot, enabled_att, &isnull);
	if (isnull || !DatumGetBool(value))
		return false;
	value = slot_getattr(slot, events_att, &isnull);
	return !isnull && outbox_subscribed_to(value);
}

/*
 * The primary key of fanfare.webhook_endpoints, opened, if it is a valid
 * btree index leading with organization_id (it is (organization_id, id));
 * NULL otherwise.
 */
static Relation
outbox_org_index(Relation rel, AttrNumber org_att)
{
	Oid			indexid = RelationGetPrimaryKeyIndex(rel);
	Relation	index;

	if (!OidIsValid(indexid))
		return NULL;
	index = index_open(indexid, AccessShareLock);
	if (!index->rd_index->indisvalid ||
		index->rd_rel->relam != BTREE_AM_OID ||
		index->rd_index->indnkeyatts < 1 ||
		index->rd_index->indkey.values[0] != org_att)
	{
		index_close(index, AccessShareLock);
		return NULL;
	}
	return index;
}

/*
 * Whether one of the organizations of orgs has a subscribed endpoint: an
 * index scan of the primary key on organization_id per organization, so
 * the cost follows the statement's organizations and their endpoints, not
 * every organization's.
 */
static bool
outbox_probe_orgs(Relation rel, Relation index, Snapshot snapshot,
				  const OutboxOrgs *orgs, AttrNumber enabled_att,
				  AttrNumber events_att)
{
	IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found = false;

	for (int i = 0; !found && i < orgs->count; i++)
	{
		ScanKeyData key;

		/* the index's first column is organization_id */
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ,
					UUIDPGetDatum(&orgs->ids[i]));
		index_rescan(scan, &key, 1, NULL, 0);
		while (!found && index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			CHECK_FOR_INTERRUPTS();
			found = outbox_endpoint_subscribed(slot, enabled_att, events_att);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	return found;
}

/*
 * Whether any endpoint at all is subscribed: a sequential scan that stops
 * at the first.  For a statement of more organizations than orgs tells
 * apart, or without the primary key to probe.
 */
static bool
outbox_scan_all(Relation rel, Snapshot snapshot, AttrNumber enabled_att,
				AttrNumber events_att)
{
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found = false;

	while (!found && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		found = outbox_endpoint_subscribed(slot, enabled_att, events_att);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	return found;
}

/*
 * Whether the btree index has never held an entry: its metapage names no
 * root page.  A btree gets its root with its first entry and keeps it
 * (VACUUM never removes the root; TRUNCATE and REINDEX start an empty
 * index), so a row committed before the caller's snapshot has its entry
 * under a root by now.  Read from shared buffers: the table's size, asked
 * instead, costs a system call (an lseek) on every statement.
 */
static bool
outbox_index_never_filled(Relation index)
{
	Buffer		buf = ReadBuffer(index, BTREE_METAPAGE);
	BTMetaPageData *meta;
	bool		never_filled;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	meta = BTPageGetMeta(BufferGetPage(buf));
	never_filled = meta->btm_root == P_NONE;
	UnlockReleaseBuffer(buf);
	return never_filled;
}

/*
 * Whether an enabled endpoint subscribed to consumer.created belongs to an
 * organization of the statement's rows: what the write would find, found
 * without a query.  In order: an endpoints table whose primary key never
 * held an entry (no endpoint was ever registered, or the table was
 * truncated) has none, and the transition table is not read; otherwise
 * the statement's organizations are read, and each is looked up in the
 * primary key (organization_id, id), so a statement of an organization
 * without an endpoint costs a few index probes however many endpoints
 * other organizations have.  Past OUTBOX_MAX_ORGS organizations (an
 * owner's bulk statement; fanfare's own hold one), or without that primary
 * key, the table is scanned for any subscribed endpoint, and the write
 * decides: a full scan rather than a plain yes, so that a deployment with
 * no subscribed endpoint still writes nothing.  The snapshot is the one
 * SPI would take for a volatile function's query (the command counter
 * advanced, then the transaction snapshot: a new one in READ COMMITTED),
 * taken before the emptiness check, so that an endpoint committed before
 * it cannot be missed.  May say yes when the write then finds nothing
 * (past OUTBOX_MAX_ORGS), never no when it would write.
 */
static bool
outbox_any_subscribed(TriggerData *trigdata)
{
	Oid			nsp = get_namespace_oid("fanfare", false);
	Oid			relid = get_relname_relid("webhook_endpoints", nsp);
	Relation	rel;
	Relation	index;
	Snapshot	snapshot;
	bool		found;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"fanfare.webhook_endpoints\" does not exist")));
	rel = table_open(relid, AccessShareLock);
	index = outbox_org_index(rel, outbox_column(rel, "organization_id"));

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	if (index != NULL ? outbox_index_never_filled(index) :
		RelationGetNumberOfBlocks(rel) == 0)
		found = false;
	else
	{
		AttrNumber	enabled_att = outbox_column(rel, "enabled");
		AttrNumber	events_att = outbox_column(rel, "events");
		OutboxOrgs	orgs;

		outbox_read_orgs(trigdata, &orgs);
		if (index != NULL && !orgs.overflow)
			found = outbox_probe_orgs(rel, index, snapshot, &orgs,
									  enabled_att, events_att);
		else
			found = outbox_scan_all(rel, snapshot, enabled_att, events_att);
	}
	UnregisterSnapshot(snapshot);
	if (index != NULL)
		index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Writes the statement's events, as the owner of the table the trigger
 * fires on; returns how many.
 */
static uint64
outbox_write(TriggerData *trigdata)
{
	Oid			save_userid;
	int			save_sec_context;
	uint64		written;
	int			rc;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(trigdata->tg_relation->rd_rel->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	/*
	 * No PG_TRY: on an error, the abort of the (sub)transaction that catches
	 * it restores the user and security context and closes the SPI
	 * connection, as for a SECURITY DEFINER function.
	 */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed for the webhook outbox");
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed for the webhook outbox");
	if (write_plan == NULL)
	{
		/* parse analysis needs the transition table, registered above */
		SPIPlanPtr	plan = SPI_prepare(write_sql, 0, NULL);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for the webhook outbox: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed for the webhook outbox");
		write_plan = plan;
	}
	rc = SPI_execute_plan(write_plan, NULL, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "the webhook outbox's write failed: %s",
			 SPI_result_code_string(rc));
	written = SPI_processed;
	SPI_finish();

	SetUserIdAndSecContext(save_userid, save_sec_context);
	return written;
}

PG_FUNCTION_INFO_V1(fanfare_consumers_outbox);

/*
 * Trigger, AFTER INSERT ... FOR EACH STATEMENT on fanfare.consumers,
 * REFERENCING NEW TABLE AS new_consumers: the webhook outbox (above).
 */
Datum
fanfare_consumers_outbox(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = outbox_trigger_data(fcinfo);
	const char *outbox = GetConfigOption("fanfare_webhook.outbox", true, false);

	if (outbox != NULL && strcmp(outbox, "off") == 0)
		return PointerGetDatum(NULL);
	if (!outbox_any_subscribed(trigdata))
		return PointerGetDatum(NULL);
	if (outbox_write(trigdata) > 0)
		Async_Notify("fanfare_webhooks", "");
	return PointerGetDatum(NULL);
}
