/*
 * create_consumers.c
 *	  One batch through all its steps, and the jsonb entry points:
 *	  fanfare.create_consumers(jsonb) and fanfare.validate_consumers(jsonb).
 *
 * A batch runs in three steps, all inside the caller's transaction:
 *	1. walk the body once (validate.c): each element decoded into a record
 *	   (consumer_record.c) and judged, every issue kept, and while there is
 *	   none, each record staged as a row (and, for the jsonb entry point,
 *	   written into the response);
 *	2. "Email already exists": duplicates within the batch, or stored ones
 *	   (only once every other check passed);
 *	3. one INSERT of the staged rows.
 * Any issue raises SQLSTATE 22023 with the 400 body as DETAIL, so nothing is
 * stored unless the whole batch is.  The wire path (import_consumers.c)
 * runs the same steps on the request text.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "batch.h"
#include "consumer_record.h"
#include "create_consumers.h"
#include "email_uniqueness.h"
#include "fanfare.h"
#include "field_catalogue.h"
#include "idempotency.h"
#include "issue_list.h"
#include "json_value.h"
#include "response.h"
#include "staged_rows.h"
#include "tenant_context.h"
#include "timestamp_check.h"
#include "uuidv7.h"
#include "validate.h"

#define ID_BLOCK 256			/* ids drawn at once when the count is unknown */

void
batch_context_init_for(BatchContext *batch, const pg_uuid_t *org, const char *actor,
					   int expected)
{
	memset(batch, 0, sizeof(*batch));
	batch->cxt = CurrentMemoryContext;
	batch->organization_id = *org;
	uuid_format(&batch->organization_id, batch->organization_text);
	batch->actor = pstrdup(actor);
	batch->created_at = GetCurrentStatementStartTimestamp();
	timestamp_format_iso(batch->created_at, batch->created_at_text);
	batch->ids_wanted = true;
	batch->allocated = Max(expected, 0);
	if (batch->allocated > 0)
	{
		batch->ids = palloc(sizeof(pg_uuid_t) * batch->allocated);
		uuidv7_generate(batch->ids, batch->allocated);
		batch->elements = palloc(sizeof(JsonValue) * batch->allocated);
		batch->emails = palloc(sizeof(char *) * batch->allocated);
		batch->email_lens = palloc(sizeof(int) * batch->allocated);
	}
}

void
batch_context_init(BatchContext *batch, int expected)
{
	pg_uuid_t	org = tenant_require_organization_id();

	batch_context_init_for(batch, &org, tenant_actor(), expected);
}

/* Room for one more consumer: the arrays double, and new ids are drawn. */
static void
batch_grow(BatchContext *batch)
{
	int			old = batch->allocated;
	int			size = old > 0 ? old * 2 : ID_BLOCK;
	MemoryContext prev = MemoryContextSwitchTo(batch->cxt);

	if (old == 0)
	{
		batch->ids = palloc(sizeof(pg_uuid_t) * size);
		batch->elements = palloc(sizeof(JsonValue) * size);
		batch->emails = palloc(sizeof(char *) * size);
		batch->email_lens = palloc(sizeof(int) * size);
	}
	else
	{
		batch->ids = repalloc_huge(batch->ids, sizeof(pg_uuid_t) * size);
		batch->elements = repalloc_huge(batch->elements, sizeof(JsonValue) * size);
		batch->emails = repalloc_huge(batch->emails, sizeof(char *) * size);
		batch->email_lens = repalloc_huge(batch->email_lens, sizeof(int) * size);
	}
	/* ids the caller supplied (a replay) stay as they are */
	if (batch->ids_wanted && size > batch->ids_given)
	{
		int			from = Max(old, batch->ids_given);

		uuidv7_generate(batch->ids + from, size - from);
	}
	batch->allocated = size;
	MemoryContextSwitchTo(prev);
}

int
batch_add_consumer(BatchContext *batch, const ConsumerRecord *consumer)
{
	int			i = batch->n;
	const ConsumerField *email = NULL;

	Assert(consumer->index == i);
	if (i == batch->allocated)
		batch_grow(batch);
	batch->elements[i] = consumer->element;
	batch->emails[i] = NULL;
	batch->email_lens[i] = 0;
	if (field_email_index >= 0 && consumer->fields[field_email_index].present)
		email = &consumer->fields[field_email_index];
	if (email)
	{
		char	   *lowered = MemoryContextAlloc(batch->cxt, email->value.len + 1);

		/* emails are ASCII by the email rule */
		for (uint32 j = 0; j < email->value.len; j++)
			lowered[j] = pg_ascii_tolower(email->value.data[j]);
		lowered[email->value.len] = '\0';
		batch->emails[i] = lowered;
		batch->email_lens[i] = email->value.len;
	}
	batch->n++;
	return i;
}

void
batch_report_issues(const IssueList *issues)
{
	char	   *body = issue_list_error_body(issues);
	char	   *first = issue_summary(&issues->items[0]);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid consumers batch: %d %s", issues->total,
					issues->total == 1 ? "issue" : "issues"),
			 errdetail_internal("%s", body),
			 errdetail_log("First issue at %s.", first),
			 errhint("First issue at %s. The DETAIL of this error is the 400 response body.",
					 first)));
}

/* What the walk hands each valid consumer to. */
typedef struct CreateState
{
	BatchContext *batch;
	StagedRows	rows;
	ResponseSink *response;		/* or NULL */
	bool		replay;			/* nothing staged: the batch as its first request made it */
} CreateState;

static void
add_consumer(void *arg, const ConsumerRecord *consumer)
{
	CreateState *state = arg;
	const ConsumerField *metadata = NULL;
	Jsonb	   *stored_metadata = NULL;

	if (state->replay && consumer->index >= state->batch->ids_given)
		elog(ERROR, "the replayed batch has more consumers than its first request created");
	if (field_metadata_index >= 0 &&
		consumer->fields[field_metadata_index].present)
		metadata = &consumer->fields[field_metadata_index];
	/* the stored form: for the row, and for a response that rebuilds it */
	if (metadata && (!state->replay ||
					 (state->response && state->response->prints_stored_metadata &&
					  metadata->rebuild)))
		stored_metadata = staged_rows_metadata(metadata);
	batch_add_consumer(state->batch, consumer);
	if (!state->replay)
		staged_rows_add(&state->rows, state->batch, consumer, stored_metadata);
	if (state->response)
		state->response->add(state->response, state->batch, consumer,
							 metadata && metadata->rebuild ? stored_metadata : NULL);
}

/*
 * Steps 2 and 3; the caller is connected to SPI.  The stored emails are
 * looked up only when the INSERT found one taken (or the batch repeats one,
 * so that all its issues are reported at once).  A taken email that the
 * lookup cannot see was committed after this transaction's snapshot
 * (REPEATABLE READ or SERIALIZABLE): that is a serialization failure.
 */
static void
check_emails_and_insert(BatchContext *batch, StagedRows *rows, IssueList *issues,
						bool raises)
{
	bool	   *duplicate = palloc0(sizeof(bool) * batch->n);
	int			before = issues->total;

	if (email_duplicates_in_batch(batch, duplicate))
		email_duplicates_stored(batch, duplicate, false);
	else if (!staged_rows_insert(rows, raises))
	{
		email_duplicates_stored(batch, duplicate, true);
		email_duplicate_issues(batch, duplicate, issues);
		if (issues->total == before)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not create consumers: an email was taken by a concurrent transaction"),
					 errhint("Retry the request.")));
		return;
	}
	email_duplicate_issues(batch, duplicate, issues);
}

/* The time, actor and ids of the request a replay answers for. */
static void
batch_context_replay(BatchContext *batch, const Idempotency *idem)
{
	batch->created_at = idem->created_at;
	timestamp_format_iso(batch->created_at, batch->created_at_text);
	batch->actor = idem->created_by;
	batch->ids = idem->ids;
	batch->ids_given = idem->n;
	batch->ids_wanted = false;
	batch->allocated = Max(idem->n, 1);
	batch->elements = palloc(sizeof(JsonValue) * batch->allocated);
	batch->emails = palloc(sizeof(char *) * batch->allocated);
	batch->email_lens = palloc(sizeof(int) * batch->allocated);
}

int
batch_create(BatchContext *batch, const JsonValue *body, ResponseSink *response,
			 IssueList *issues_out, const Idempotency *idem)
{
	IssueList	local;
	IssueList  *issues = issues_out ? issues_out : &local;
	bool		replay = idem != NULL && idem->state == IDEMPOTENCY_REPLAY;
	bool		store = idem != NULL && idem->state == IDEMPOTENCY_NEW;
	CreateState state = {batch, {0}, response, replay};

	issue_list_init(issues, fanfare_max_issues);
	if (replay)
		batch_context_replay(batch, idem);
	else
		staged_rows_begin(&state.rows, batch);
	validate_batch(body, issues, add_consumer, &state, NULL);
	if (replay && issues->total == 0 && batch->n != idem->n)
		elog(ERROR, "the replayed batch has %d consumers, its first request created %d",
			 batch->n, idem->n);
	if (!replay && issues->total == 0 && (batch->n > 0 || store))
	{
		/* nothing is stored unless every row is: no undo is ever needed */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (batch->n > 0)
			check_emails_and_insert(batch, &state.rows, issues, issues_out == NULL);
		if (store && issues->total == 0)
			idempotency_store(idem, batch);
		SPI_finish();
	}
	if (issues->total > 0)
	{
		if (!issues_out)
			batch_report_issues(issues);
		return -1;
	}
	if (replay)
		idempotency_outcome("replayed");
	return batch->n;
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

/* The number of consumers a jsonb body holds, if it may be created at all. */
static int
expected_consumers(const JsonValue *body)
{
	JsonValue	consumers;
	int			n;

	if (body->kind != JSON_OBJECT || !json_lookup(body, "consumers", 9, &consumers) ||
		!json_array_length_known(&consumers, &n))
		return 0;
	return batch_size_allowed(n) ? n : 0;
}

PG_FUNCTION_INFO_V1(fanfare_create_consumers);

Datum
fanfare_create_consumers(PG_FUNCTION_ARGS)
{
	Jsonb	   *payload = payload_arg(fcinfo);
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	BatchContext batch;
	ResponseWriter response;
	JsonValue	body;
	int			expected;
	Idempotency idem;
	Jsonb	   *result;

	batch_cxt = AllocSetContextCreate(caller_cxt, "fanfare batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batch_cxt);

	json_from_jsonb(payload, &body);
	expected = expected_consumers(&body);
	batch_context_init(&batch, expected);
	/* the key's fingerprint is of the jsonb value, as this entry point sees the body */
	idempotency_begin(&idem, &batch.organization_id, idempotency_key_setting(),
					  VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload));

	/* the response outlives the batch's scratch */
	MemoryContextSwitchTo(caller_cxt);
	response_begin(&response, expected);
	MemoryContextSwitchTo(batch_cxt);

	batch_create(&batch, &body, &response.sink, NULL, &idem);

	MemoryContextSwitchTo(caller_cxt);
	result = response_finish(&response);
	MemoryContextDelete(batch_cxt);
	PG_RETURN_JSONB_P(result);
}

/* validate_consumers' sink: the consumers' emails, for the unique check */
static void
note_consumer(void *arg, const ConsumerRecord *consumer)
{
	batch_add_consumer((BatchContext *) arg, consumer);
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
	JsonValue	body;
	StringInfoData text;
	Datum		result;

	batch_cxt = AllocSetContextCreate(caller_cxt, "fanfare batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batch_cxt);

	json_from_jsonb(payload, &body);
	batch_context_init(&batch, 0);
	batch.ids_wanted = false;
	issue_list_init(&issues, fanfare_max_issues);
	validate_batch(&body, &issues, note_consumer, &batch, NULL);

	if (issues.total == 0 && batch.n > 0)
	{
		bool	   *duplicate = palloc0(sizeof(bool) * batch.n);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		email_duplicates_in_batch(&batch, duplicate);
		email_duplicates_stored(&batch, duplicate, false);
		email_duplicate_issues(&batch, duplicate, &issues);
		SPI_finish();
	}

	initStringInfo(&text);
	issue_list_write(&text, &issues, ISSUE_JSONB_CONTAINER_COST);
	MemoryContextSwitchTo(caller_cxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.data));
	MemoryContextDelete(batch_cxt);
	PG_RETURN_DATUM(result);
}
