/*
 * create_consumers.c
 *	  SQL entry points: fanfare.create_consumers(jsonb) and
 *	  fanfare.validate_consumers(jsonb).
 *
 * create_consumers runs in three steps, all inside the caller's transaction:
 *	1. walk the batch once: every issue, and while there is none, each
 *	   consumer staged as a row and written into the response;
 *	2. "Email already exists": duplicates within the batch, or stored ones
 *	   (only once every other check passed);
 *	3. one INSERT of the staged rows.
 * Any issue raises SQLSTATE 22023 with the 400 body as DETAIL, so nothing is
 * stored unless the whole batch is.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "batch.h"

/* The consumers array's size, or 0 when the body has none. */
static int
consumers_count(const Jsonb *payload, const JsonbContainer **consumers)
{
	JsonbNode	body;
	JsonbNode	array;

	*consumers = NULL;
	jsonb_root_node(payload, &body);
	if (!node_is_object(&body) ||
		!object_lookup(node_container(&body), "consumers", 9, &array) ||
		!node_is_array(&array))
		return 0;
	*consumers = node_container(&array);
	return node_size(&array);
}

/* Tenant, actor, time and (if asked) ids of a batch. */
void
batch_context_init(BatchContext *batch, const Jsonb *payload, bool make_ids)
{
	batch->organization_id = tenant_require_organization_id();
	uuid_format(&batch->organization_id, batch->organization_text);
	batch->actor = tenant_actor();
	batch->created_at = GetCurrentStatementStartTimestamp();
	js_iso_string(batch->created_at, batch->created_at_text);
	batch->n = consumers_count(payload, &batch->consumers);
	batch->ids = NULL;
	if (make_ids && batch->n > 0 && batch->n <= fanfare_max_batch_size)
	{
		batch->ids = palloc(sizeof(pg_uuid_t) * batch->n);
		uuidv7_generate(batch->ids, batch->n);
	}
}

/* Raise the validation error: the 400 body is the DETAIL. */
static void
report_issues(const IssueList *issues)
{
	char	   *body = issue_list_error_body(issues);
	char	   *first = issue_summary(&issues->items[0]);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid consumers batch: %d %s", issues->total,
					issues->total == 1 ? "issue" : "issues"),
			 errdetail_internal("%s", body),
			 errdetail_log("First issue at %s.", first),
			 errhint("First issue at %s. The DETAIL of this error is the 400 response body; fanfare.validate_consumers() returns the issues as jsonb.",
					 first)));
}

static Jsonb *
payload_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumers batch must not be null"),
				 errhint("Pass the request body, e.g. '{\"consumers\":[...]}'.")));
	return PG_GETARG_JSONB_P(0);
}

/* What the walk hands each valid consumer to. */
typedef struct CreateState
{
	BatchContext *batch;
	StagedRows	rows;
	ResponseWriter response;
} CreateState;

static void
stage_consumer(void *arg, const ConsumerValues *consumer)
{
	CreateState *state = arg;
	const FieldValue *metadata = NULL;
	Jsonb	   *stored_metadata = NULL;

	if (metadata_field >= 0 && consumer->fields[metadata_field].present)
	{
		metadata = &consumer->fields[metadata_field];
		stored_metadata = metadata_for_storage(metadata);
	}
	staged_rows_add(&state->rows, state->batch, consumer, stored_metadata);
	response_add(&state->response, state->batch, consumer,
				 metadata && metadata->rebuild ? stored_metadata : NULL);
}

PG_FUNCTION_INFO_V1(fanfare_create_consumers);

Datum
fanfare_create_consumers(PG_FUNCTION_ARGS)
{
	Jsonb	   *payload = payload_arg(fcinfo);
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	BatchContext batch;
	CreateState state;
	IssueList	issues;
	bool	   *duplicate;
	Jsonb	   *response;

	batch_cxt = AllocSetContextCreate(caller_cxt, "fanfare batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batch_cxt);

	batch_context_init(&batch, payload, true);
	issue_list_init(&issues, fanfare_max_issues);
	state.batch = &batch;
	staged_rows_begin(&state.rows, &batch);

	/* the response outlives the batch's scratch */
	MemoryContextSwitchTo(caller_cxt);
	response_begin(&state.response, batch.ids ? batch.n : 0);
	MemoryContextSwitchTo(batch_cxt);

	batch_walk(payload, &issues, batch.ids ? stage_consumer : NULL, &state);
	if (issues.total > 0)
		report_issues(&issues);

	if (batch.n > 0)
	{
		duplicate = palloc0(sizeof(bool) * batch.n);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (email_duplicates_in_batch(&batch, duplicate))
			email_duplicates_stored(&batch, duplicate);
		else if (staged_rows_insert(&state.rows) < (uint64) batch.n)
			email_duplicates_not_inserted(&batch, duplicate);
		email_duplicate_issues(&batch, duplicate, &issues);
		if (issues.total > 0)
			report_issues(&issues);
		SPI_finish();
	}

	MemoryContextSwitchTo(caller_cxt);
	response = response_finish(&state.response);
	MemoryContextDelete(batch_cxt);
	PG_RETURN_JSONB_P(response);
}

PG_FUNCTION_INFO_V1(fanfare_validate_consumers);

Datum
fanfare_validate_consumers(PG_FUNCTION_ARGS)
{
	Jsonb	   *payload = payload_arg(fcinfo);
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	BatchContext batch;
	IssueList	issues;
	StringInfoData text;
	Datum		result;

	batch_cxt = AllocSetContextCreate(caller_cxt, "fanfare batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batch_cxt);

	batch_context_init(&batch, payload, false);
	issue_list_init(&issues, fanfare_max_issues);
	batch_walk(payload, &issues, NULL, NULL);

	if (issues.total == 0 && batch.n > 0)
	{
		bool	   *duplicate = palloc0(sizeof(bool) * batch.n);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		email_duplicates_in_batch(&batch, duplicate);
		email_duplicates_stored(&batch, duplicate);
		email_duplicate_issues(&batch, duplicate, &issues);
		SPI_finish();
	}

	initStringInfo(&text);
	issue_list_write(&text, &issues);
	MemoryContextSwitchTo(caller_cxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.data));
	MemoryContextDelete(batch_cxt);
	PG_RETURN_DATUM(result);
}
