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
 * - Both statements are prepared once per backend and kept (SPI_keepplan).
 *   The write reads the transition table, which is registered anew on each
 *   call (SPI_register_trigger_data) under the same name; the plan cache
 *   looks it up by name in the query environment of the call, as PL/pgSQL
 *   does for its own kept plans.
 * - The setting is read before any query.
 */
#include "postgres.h"

#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/rel.h"

/* The transition table the write below reads. */
#define OUTBOX_NEW_TABLE "new_consumers"

/*
 * Whether any organization has an enabled endpoint subscribed to
 * consumer.created: all an insert costs while none has.
 */
static const char *const subscribed_sql =
"SELECT 1 FROM fanfare.webhook_endpoints e"
" WHERE e.enabled"
"   AND e.events OPERATOR(pg_catalog.@>) '{consumer.created}'::pg_catalog.text[]"
" LIMIT 1";

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
"       AND e.events OPERATOR(pg_catalog.@>) '{consumer.created}'::pg_catalog.text[]"
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
" SELECT n.organization_id, n.id, 'consumer.created', n.created_at, n.email, n.phone, n.full_name"
"   FROM " OUTBOX_NEW_TABLE " n"
"  WHERE n.organization_id OPERATOR(pg_catalog.=) ANY (SELECT b.organization_id FROM batch b)";

/* The two statements, prepared on first use and kept for the backend. */
static SPIPlanPtr subscribed_plan = NULL;
static SPIPlanPtr write_plan = NULL;

/*
 * The plan of sql, prepared and kept on first use.  Runs inside the
 * caller's SPI connection (for the write, with the transition table
 * registered, which parse analysis needs).
 */
static SPIPlanPtr
outbox_plan(SPIPlanPtr *plan, const char *sql)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, 0, NULL);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for the webhook outbox: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed for the webhook outbox");
		*plan = p;
	}
	return *plan;
}

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

/*
 * Writes the statement's events, as the owner of the table the trigger
 * fires on; returns how many.  Nothing when no endpoint is subscribed.
 */
static uint64
outbox_write(TriggerData *trigdata)
{
	Oid			save_userid;
	int			save_sec_context;
	uint64		written = 0;
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

	rc = SPI_execute_plan(outbox_plan(&subscribed_plan, subscribed_sql),
						  NULL, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "the webhook outbox's endpoint check failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
			elog(ERROR, "SPI_register_trigger_data failed for the webhook outbox");
		rc = SPI_execute_plan(outbox_plan(&write_plan, write_sql),
							  NULL, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "the webhook outbox's write failed: %s",
				 SPI_result_code_string(rc));
		written = SPI_processed;
	}

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
	if (outbox_write(trigdata) > 0)
		Async_Notify("fanfare_webhooks", "");
	return PointerGetDatum(NULL);
}
