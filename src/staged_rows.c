/*
 * staged_rows.c
 *	  Storing a validated batch with one INSERT.
 *
 * The rows of a batch are staged in a tuplestore while the batch is walked,
 * each built from the consumer's decoded record (consumer_record.h), then
 * inserted by one prepared statement per backend:
 *
 *	 INSERT INTO fanfare.consumers (...)
 *	 SELECT * FROM fanfare.staged_consumer_rows() AS r(...)
 *
 * fanfare.staged_consumer_rows() hands the staged tuplestore to the
 * executor, so triggers, constraints, row-level security, partitioning and
 * sharding engines all see an ordinary INSERT ... SELECT, and no column
 * array or per-row statement is built.  The unique index on the emails
 * settles a race with another batch: the INSERT runs in a subtransaction,
 * and when that index refuses a row the whole INSERT is undone and the
 * caller reports "Email already exists" (email_uniqueness.c).  This costs
 * one subtransaction per batch, where ON CONFLICT DO NOTHING cost a
 * speculative insertion per row (about 60% more time per row).
 *
 * A subtransaction is cheap once per transaction, dear many times over: each
 * takes a subtransaction id (past 64 in one transaction every snapshot in
 * the cluster has to read pg_subtrans), and with statement triggers on the
 * table (the insert guard's; dropping the outbox's alone changes nothing)
 * core keeps the subtransaction's 8 kB CurTransactionContext until the
 * transaction ends, so a loop of one-row calls in one transaction grew by
 * 8 kB and a page fault or two per call.  So once a transaction's inserts
 * have taken STAGED_ROWS_SUBXACTS of them, a batch whose caller raises its
 * issues (an error undoes whatever the statement inserted) goes in without
 * one, in READ COMMITTED: its INSERT says ON CONFLICT DO NOTHING, and fewer
 * rows than staged means an email was taken.  That costs about 15k
 * instructions more per row (speculative insertion), which is why it is not
 * the rule.  Under REPEATABLE READ or SERIALIZABLE the subtransaction stays,
 * so that a taken email the snapshot cannot see is the serialization
 * failure it always was.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "batch.h"
#include "consumer_record.h"
#include "email_uniqueness.h"
#include "field_catalogue.h"
#include "json_text.h"
#include "json_value.h"
#include "staged_rows.h"

/* The batch whose rows the running INSERT reads (NULL outside of it). */
static StagedRows *current_rows = NULL;

/* The prepared INSERTs, kept for the life of the backend. */
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr skip_plan = NULL;	/* ON CONFLICT DO NOTHING */

#define SERVER_COLUMNS 4		/* organization_id, id, created_at, created_by */
#define ROW_COLUMNS (SERVER_COLUMNS + FIELD_COUNT + 1)	/* geo takes two */

static Oid
consumer_status_type(void)
{
	Oid			nsp = get_namespace_oid("fanfare", false);
	Oid			typ = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									  CStringGetDatum("consumer_status"),
									  ObjectIdGetDatum(nsp));

	if (!OidIsValid(typ))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type fanfare.consumer_status does not exist"),
				 errhint("Reinstall the extension: DROP EXTENSION fanfare; CREATE EXTENSION fanfare;")));
	return typ;
}

static Oid
kind_type(FieldKind kind, Oid status_type)
{
	switch (kind)
	{
		case FK_BOOL:
		case FK_OBOOL:
			return BOOLOID;
		case FK_STATUS:
			return status_type;
		case FK_RANK:
			return INT2OID;
		case FK_SCORE:
		case FK_GEO:
			return FLOAT8OID;
		case FK_COUNT:
			return INT8OID;
		case FK_DECIMAL:
			return NUMERICOID;
		case FK_TIMESTAMP:
			return TIMESTAMPTZOID;
		case FK_TEXT:
		case FK_EMAIL:
			return TEXTOID;
		case FK_METADATA:
			return JSONBOID;
	}
	return InvalidOid;
}

/* The staged rows' columns: the server's four, then the catalogue's. */
static TupleDesc
staged_rows_desc(Oid status_type)
{
	TupleDesc	desc = CreateTemplateTupleDesc(ROW_COLUMNS);
	AttrNumber	att = 1;

	TupleDescInitEntry(desc, att++, "organization_id", UUIDOID, -1, 0);
	TupleDescInitEntry(desc, att++, "id", UUIDOID, -1, 0);
	TupleDescInitEntry(desc, att++, "created_at", TIMESTAMPTZOID, -1, 0);
	TupleDescInitEntry(desc, att++, "created_by", TEXTOID, -1, 0);
	for (int i = 0; i < FIELD_COUNT; i++)
	{
		const FieldDef *field = &field_catalogue[i];
		Oid			type = kind_type(field->kind, status_type);

		if (field->kind == FK_GEO)
		{
			TupleDescInitEntry(desc, att++, psprintf("%s_latitude", field->column), type, -1, 0);
			TupleDescInitEntry(desc, att++, psprintf("%s_longitude", field->column), type, -1, 0);
		}
		else
			TupleDescInitEntry(desc, att++, field->column, type, -1, 0);
	}
	Assert(att == ROW_COLUMNS + 1);
	return desc;
}

/* The INSERT of the staged rows; skip_taken: rows whose email is taken are skipped. */
static char *
insert_statement(TupleDesc desc, bool skip_taken)
{
	StringInfoData columns;
	StringInfoData definitions;

	initStringInfo(&columns);
	initStringInfo(&definitions);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		appendStringInfo(&columns, "%s%s", i ? ", " : "", NameStr(att->attname));
		appendStringInfo(&definitions, "%s%s %s", i ? ", " : "", NameStr(att->attname),
						 format_type_extended(att->atttypid, -1, FORMAT_TYPE_FORCE_QUALIFY));
	}
	return psprintf("INSERT INTO fanfare.consumers (%s) "
					"SELECT * FROM fanfare.staged_consumer_rows() AS r(%s)%s",
					columns.data, definitions.data,
					skip_taken ? " ON CONFLICT (organization_id, pg_catalog.lower(email))"
					" WHERE " EMAIL_INDEX_PREDICATE " DO NOTHING" : "");
}

/* A field's default (the catalogue's JSON text) as a value of its column. */
static Datum
default_datum(const FieldDef *field, Oid type)
{
	JsonValue	v;
	int			offset;
	const char *literal = field->default_json;
	Oid			input;
	Oid			ioparam;

	if (json_text_read(literal, strlen(literal), &v, &offset) != JSON_TEXT_OK ||
		json_is_container(&v))
		elog(ERROR, "bad default in the field catalogue: %s", literal);
	if (v.kind == JSON_STRING)
		literal = pnstrdup(v.data, v.len);
	getTypeInputInfo(type, &input, &ioparam);
	return OidInputFunctionCall(input, (char *) literal, ioparam, -1);
}

void
staged_rows_begin(StagedRows *rows, const BatchContext *batch)
{
	Oid			status_type = consumer_status_type();
	MemoryContext old;

	rows->desc = staged_rows_desc(status_type);
	/*
	 * The rows are about the size of the payload, which is already in
	 * memory: spilling them to a temporary file at work_mem costs more than
	 * it saves, so allow up to 256MB (or work_mem, if larger) in memory.
	 * The tuplestore allocates its tuples in the context that is current
	 * here: a generation context, which stores each one at its own size
	 * where the usual one would round a 500-byte row up to 1 kB.
	 */
	old = MemoryContextSwitchTo(GenerationContextCreate(CurrentMemoryContext,
														"fanfare staged rows",
#if PG_VERSION_NUM >= 150000
														ALLOCSET_DEFAULT_SIZES
#else
														SLAB_LARGE_BLOCK_SIZE
#endif
														));
	rows->store = tuplestore_begin_heap(false, false, Max(work_mem, 256 * 1024));
	MemoryContextSwitchTo(old);
	rows->status_active = DirectFunctionCall2(enum_in, CStringGetDatum("ACTIVE"),
											  ObjectIdGetDatum(status_type));
	rows->status_inactive = DirectFunctionCall2(enum_in, CStringGetDatum("INACTIVE"),
												ObjectIdGetDatum(status_type));
	rows->defaults = palloc0(sizeof(Datum) * FIELD_COUNT);
	for (int i = 0; i < FIELD_COUNT; i++)
		if (field_catalogue[i].default_json)
			rows->defaults[i] = default_datum(&field_catalogue[i],
											  kind_type(field_catalogue[i].kind, status_type));
	rows->created_by = PointerGetDatum(cstring_to_text(batch->actor));
	rows->consumed = false;
	rows->count = 0;
}

/* A numeric column from a valid aov/ltv string. */
static Datum
decimal_datum(const JsonValue *v)
{
	char	   *text = pnstrdup(v->data, v->len);

	return DirectFunctionCall3(numeric_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* Add one consumer; allocations are the caller's per-element scratch. */
void
staged_rows_add(StagedRows *rows, const BatchContext *batch,
				const ConsumerRecord *consumer, const Jsonb *metadata)
{
	Datum		values[ROW_COLUMNS];
	bool		nulls[ROW_COLUMNS] = {0};
	int			col = 0;

	values[col++] = UUIDPGetDatum(&batch->organization_id);
	values[col++] = UUIDPGetDatum(&batch->ids[consumer->index]);
	values[col++] = TimestampTzGetDatum(batch->created_at);
	values[col++] = rows->created_by;

	for (int i = 0; i < FIELD_COUNT; i++)
	{
		const FieldDef *field = &field_catalogue[i];
		const ConsumerField *cf = &consumer->fields[i];
		int			width = field->kind == FK_GEO ? 2 : 1;

		if (!cf->present)
		{
			for (int k = 0; k < width; k++, col++)
			{
				values[col] = rows->defaults[i];
				nulls[col] = field->default_json == NULL;
			}
			continue;
		}
		switch (field->kind)
		{
			case FK_BOOL:
			case FK_OBOOL:
				values[col] = BoolGetDatum(cf->value.kind == JSON_TRUE);
				break;
			case FK_STATUS:
				values[col] = cf->value.len == 6 ? rows->status_active : rows->status_inactive;
				break;
			case FK_RANK:
				values[col] = Int16GetDatum((int16) cf->number);
				break;
			case FK_SCORE:
				/* + 0.0 turns -0 into 0, as JSON.stringify prints it */
				values[col] = Float8GetDatum(cf->number + 0.0);
				break;
			case FK_COUNT:
				values[col] = Int64GetDatum((int64) cf->number);
				break;
			case FK_DECIMAL:
				values[col] = decimal_datum(&cf->value);
				break;
			case FK_TIMESTAMP:
				values[col] = TimestampTzGetDatum(cf->timestamp);
				break;
			case FK_TEXT:
			case FK_EMAIL:
				values[col] = PointerGetDatum(cstring_to_text_with_len(cf->value.data,
																	   cf->value.len));
				break;
			case FK_GEO:
				values[col++] = Float8GetDatum(cf->latitude.number + 0.0);
				values[col] = Float8GetDatum(cf->longitude.number + 0.0);
				break;
			case FK_METADATA:
				values[col] = PointerGetDatum(metadata);
				break;
		}
		col++;
	}
	Assert(col == ROW_COLUMNS);
	tuplestore_putvalues(rows->store, rows->desc, values, nulls);
	rows->count++;
}

/* ---- metadata as stored ---- */

/* A metadata scalar as JSON.stringify(JSON.parse(x)) leaves it. */
static void
scalar_value(const JsonValue *v, JsonbValue *jv)
{
	switch (v->kind)
	{
		case JSON_STRING:
			jv->type = jbvString;
			jv->val.string.val = (char *) v->data;
			jv->val.string.len = v->len;
			break;
		case JSON_NUMBER:
			if (json_number_is_infinite(v))
				jv->type = jbvNull; /* Infinity stringifies as null */
			else
			{
				jv->type = jbvNumeric;
				jv->val.numeric = json_number_numeric(v);
			}
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			jv->type = jbvBool;
			jv->val.boolean = v->kind == JSON_TRUE;
			break;
		default:
			jv->type = jbvNull;
			break;
	}
}

static void
push_metadata_value(JsonbParseState **state, const JsonValue *value)
{
	JsonbValue	jv;

	if (value->kind == JSON_ARRAY)
	{
		JsonIter	it;
		JsonValue	item;

		pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
		json_iter_init(&it, value);
		while (json_iter_next(&it, NULL, &item))
		{
			scalar_value(&item, &jv);
			pushJsonbValue(state, WJB_ELEM, &jv);
		}
		pushJsonbValue(state, WJB_END_ARRAY, NULL);
		return;
	}
	scalar_value(value, &jv);
	pushJsonbValue(state, WJB_VALUE, &jv);
}

/* staged_rows_metadata's visitor */
static bool
push_record_entry(void *arg, const char *key, int keylen, const JsonValue *value)
{
	JsonbParseState **state = arg;
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	pushJsonbValue(state, WJB_KEY, &k);
	push_metadata_value(state, value);
	return true;
}

/*
 * The jsonb to store for a valid metadata value: the record's output.  From
 * jsonb that is usually the payload's own container, copied; it is rebuilt
 * when it was an array, had keys a JavaScript record skips, or numbers that
 * JSON.parse turns into Infinity.  From text it is always built, and comes
 * out as jsonb's own input of the same text would (keys sorted, numbers as
 * sent), so both paths store the same value.
 */
Jsonb *
staged_rows_metadata(const ConsumerField *cf)
{
	JsonbParseState *state = NULL;
	Jsonb	   *copy = cf->rebuild ? NULL : json_container_jsonb(&cf->value);

	if (copy != NULL)
		return copy;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	json_record_foreach(&cf->value, push_record_entry, &state);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* ---- the INSERT ---- */

/* The unique index that makes an email taken (see the install script). */
#define EMAIL_INDEX "consumers_org_email_key"

static bool
is_email_conflict(const ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION &&
		edata->constraint_name != NULL &&
		strcmp(edata->constraint_name, EMAIL_INDEX) == 0;
}

/* The INSERT, prepared on first use and kept for the backend. */
static SPIPlanPtr
insert_prepared(SPIPlanPtr *plan, TupleDesc desc, bool skip_taken)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(insert_statement(desc, skip_taken), 0, NULL);

		if (prepared == NULL)
			elog(ERROR, "could not prepare the consumers INSERT: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	return *plan;
}

/* The subtransactions this backend's current transaction has taken here. */
static LocalTransactionId subxacts_lxid = InvalidLocalTransactionId;
static int	subxacts_taken = 0;

/* Whether the current transaction may take one more (see the top of the file). */
static bool
subtransaction_affordable(void)
{
	if (MyProc->lxid != subxacts_lxid)
	{
		subxacts_lxid = MyProc->lxid;
		subxacts_taken = 0;
	}
	return subxacts_taken < STAGED_ROWS_SUBXACTS;
}

/*
 * Run plan, the INSERT that reads rows (current_rows while it runs, error
 * or not; a trigger may create consumers too, so the outer batch's rows are
 * kept); returns how many rows it inserted.
 */
static uint64
execute_insert(SPIPlanPtr plan, StagedRows *rows)
{
	StagedRows *outer = current_rows;
	int			ret;

	current_rows = rows;
	PG_TRY();
	{
		ret = SPI_execute_plan(plan, NULL, NULL, false, 0);
	}
	PG_FINALLY();
	{
		current_rows = outer;
	}
	PG_END_TRY();
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "consumers INSERT failed: %s", SPI_result_code_string(ret));
	if (!rows->consumed)
		elog(ERROR, "consumers INSERT did not read the staged rows");
	return SPI_processed;
}

/*
 * Insert the staged rows; the caller is connected to SPI.  Returns false
 * when an email is already taken (a batch that won a race, or a stored
 * consumer); any other error is raised as it is.  On false nothing was
 * inserted, unless raises: a caller that will raise an error when the batch
 * fails, which undoes the statement's rows, lets the batch go in without a
 * subtransaction once its transaction has taken STAGED_ROWS_SUBXACTS.
 */
bool
staged_rows_insert(StagedRows *rows, bool raises)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool inserted = true;
	SPIPlanPtr	plan;
	bool		affordable = subtransaction_affordable();

	if (raises && !affordable && !IsolationUsesXactSnapshot())
		return execute_insert(insert_prepared(&skip_plan, rows->desc, true), rows) ==
			(uint64) rows->count;
	subxacts_taken++;
	plan = insert_prepared(&insert_plan, rows->desc, false);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		execute_insert(plan, rows);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!is_email_conflict(edata))
			ReThrowError(edata);
		/* the error's DETAIL names the email: it is dropped, never logged */
		FreeErrorData(edata);
		inserted = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return inserted;
}

PG_FUNCTION_INFO_V1(fanfare_staged_consumer_rows);

/*
 * SQL: fanfare.staged_consumer_rows(), the row source of the INSERT above.
 * Only meaningful while create_consumers() runs that INSERT.
 */
Datum
fanfare_staged_consumer_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (current_rows == NULL || current_rows->consumed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fanfare.staged_consumer_rows() is only available to fanfare.create_consumers()"),
				 errdetail("It returns the rows of the batch that create_consumers() is inserting.")));

	current_rows->consumed = true;
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = current_rows->store;
	/* the executor frees a non-refcounted descriptor: give it a copy */
	rsinfo->setDesc = CreateTupleDescCopy(current_rows->desc);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(fanfare_consumers_insert_guard);

/*
 * Trigger, BEFORE INSERT ... FOR EACH STATEMENT on fanfare.consumers.  Rows
 * come in through fanfare's own INSERT (validated, defaulted), or from a
 * role with the table owner's privileges (a restore, a DBA's COPY).  An API
 * role writing the table directly, as PostgREST's POST /consumers would,
 * is refused: it would skip validation and set createdBy, archived and the
 * rest as it pleases.  One call per statement, not per row.
 */
Datum
fanfare_consumers_insert_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("fanfare.consumers_insert_guard() is a trigger")));
	if (current_rows == NULL &&
		!has_privs_of_role(GetUserId(), trigdata->tg_relation->rd_rel->relowner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("direct inserts into fanfare.consumers are not allowed"),
				 errhint("Create consumers with fanfare.create_consumers() or fanfare.import_consumers(), which validate them.")));
	return PointerGetDatum(NULL);
}
