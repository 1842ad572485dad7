/*
 * import_consumers.c
 *	  The wire path: the request as JSON text in, the created consumers as
 *	  JSON text out.
 *
 * Entry points, one implementation underneath:
 *	 fanfare.import_consumers(text) RETURNS SETOF json
 *		the bulk path: tenant from the settings or the JWT claims;
 *	 fanfare.api_import_consumers(key text, body bytea) RETURNS SETOF json
 *		the gateway's: a secret key, and the body's bytes as received;
 *	 fanfare.post_consumers_batch(json) RETURNS json
 *		PostgREST's: the contract's bodies and statuses, never an error;
 *	 fanfare.shard_wire_import(uuid, text, bytea, text) RETURNS SETOF json
 *		the gateway's on a shard, for the router: tenant and actor given.
 *
 * The body is read in place (json_text.c): no jsonb and no tree of the
 * whole body.  The set-returning functions validate and insert the whole
 * batch on their first call, so any issue raises before a row is sent, and
 * then return one created consumer's JSON per row.  Each consumer's record
 * is kept, packed, while the body is walked (response.c), and its JSON is
 * printed from it when the row is sent: no element is decoded twice, and
 * the response is never held whole.  Called in a select
 * list they stream; called in FROM, the executor materialises their rows.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "batch.h"
#include "create_consumers.h"
#include "errcodes.h"
#include "idempotency.h"
#include "issue_list.h"
#include "json_text.h"
#include "json_value.h"
#include "keys.h"
#include "rate_limit.h"
#include "response.h"
#include "tenant_context.h"
#include "uuidv7.h"

/* the 400 issue's received when Idempotency-Key and its alias disagree */
#define IDEMPOTENCY_KEYS_DIFFER "different values in Idempotency-Key and X-Idempotency-Key"

/* What is wrong with a body that cannot be read as JSON. */
typedef struct BodyProblem
{
	int			sqlstate;
	const char *message;		/* the error's primary message */
	const char *received;		/* the 400 issue's received */
	char	   *reason;			/* and its message, after "Invalid JSON: " */
} BodyProblem;

static void
body_problem(BodyProblem *problem, int sqlstate, const char *message,
			 const char *received, char *reason)
{
	problem->sqlstate = sqlstate;
	problem->message = message;
	problem->received = received;
	problem->reason = reason;
}

/*
 * Read a body as JSON text.  With check_encoding, the bytes are a client's
 * (the gateway's bytea) and must first be UTF-8 without NUL bytes; they are
 * converted to the database encoding when that is not UTF-8.  False, with
 * *problem set, when the body is not JSON that can be stored.
 */
static bool
read_body(const char *data, int len, bool check_encoding, JsonValue *root,
		  BodyProblem *problem)
{
	int			offset;

	if (check_encoding)
	{
		if (memchr(data, '\0', len) != NULL)
		{
			body_problem(problem, ERRCODE_FANFARE_NOT_JSON, "request body is not valid JSON",
						 "a NUL byte", pstrdup("the body contains a NUL byte"));
			return false;
		}
		if (!pg_verify_mbstr(PG_UTF8, data, len, true))
		{
			body_problem(problem, ERRCODE_FANFARE_NOT_JSON, "request body is not valid JSON",
						 "invalid UTF-8", pstrdup("the body is not valid UTF-8 text"));
			return false;
		}
		if (GetDatabaseEncoding() != PG_UTF8)
		{
			data = pg_any_to_server(data, len, PG_UTF8);
			len = strlen(data);
		}
	}

	switch (json_text_read(data, len, root, &offset))
	{
		case JSON_TEXT_OK:
			return true;
		case JSON_TEXT_EMPTY:
			body_problem(problem, ERRCODE_FANFARE_NOT_JSON, "request body is not valid JSON",
						 "an empty body", pstrdup("the body is empty"));
			break;
		case JSON_TEXT_SYNTAX:
			body_problem(problem, ERRCODE_FANFARE_NOT_JSON, "request body is not valid JSON",
						 "invalid JSON text",
						 psprintf("unexpected character at byte %d", offset + 1));
			break;
		case JSON_TEXT_END:
			body_problem(problem, ERRCODE_FANFARE_NOT_JSON, "request body is not valid JSON",
						 "truncated JSON text",
						 pstrdup("the body ends in the middle of a value"));
			break;
		case JSON_TEXT_DEPTH:
			body_problem(problem, ERRCODE_FANFARE_TOO_DEEP, "request body nests too deeply",
						 "too deeply nested JSON",
						 psprintf("the body nests arrays or objects deeper than %d levels",
								  JSON_TEXT_MAX_DEPTH));
			break;
		case JSON_TEXT_NUL:
			body_problem(problem, ERRCODE_FANFARE_UNSTORABLE_JSON,
						 "request body holds JSON that PostgreSQL cannot store",
						 "\\u0000", pstrdup("the body contains \\u0000, which PostgreSQL text cannot hold"));
			break;
		case JSON_TEXT_SURROGATE:
			body_problem(problem, ERRCODE_FANFARE_UNSTORABLE_JSON,
						 "request body holds JSON that PostgreSQL cannot store",
						 "a lone surrogate",
						 pstrdup("the body contains a lone UTF-16 surrogate escape, which has no UTF-8 form"));
			break;
	}
	return false;
}

/* Raise a body problem: the 400 body is the DETAIL, the log gets the reason. */
static void
report_body_problem(const BodyProblem *problem)
{
	ereport(ERROR,
			(errcode(problem->sqlstate),
			 errmsg("%s", problem->message),
			 errdetail_internal("%s", issue_body_not_json(problem->received, problem->reason)),
			 errdetail_log("%s.", problem->reason)));
}

/* ---- one batch, then its rows ---- */

typedef struct WireBatch
{
	BatchContext batch;
	ResponseTexts texts;		/* each created consumer's record */
	int			next;			/* the next consumer to return */
} WireBatch;

/*
 * Read, validate, stage and insert; any problem raises.  With an
 * idempotency key (NULL: none), its lookup comes first: a key in use or
 * reused with another body is answered before the body is read.
 */
static WireBatch *
wire_batch_create(const char *data, int len, bool check_encoding,
				  const pg_uuid_t *org, const char *actor, const char *key)
{
	WireBatch  *wb = palloc0(sizeof(WireBatch));
	JsonValue	body;
	BodyProblem problem;
	Idempotency idem;

	idempotency_begin(&idem, org, key, data, len);
	if (!read_body(data, len, check_encoding, &body, &problem))
		report_body_problem(&problem);
	batch_context_init_for(&wb->batch, org, actor, 0);
	response_texts_begin(&wb->texts, &body);
	batch_create(&wb->batch, &body, &wb->texts.sink, NULL, &idem);
	return wb;
}

/* The next row: a json datum in the caller's (per-row) memory. */
static Datum
wire_next_row(WireBatch *wb)
{
	StringInfoData out;

	initStringInfo(&out);
	enlargeStringInfo(&out, 2048);	/* a consumer is 1.2 to 2 kB of text */
	appendStringInfoSpaces(&out, VARHDRSZ);
	response_texts_next(&wb->texts, &wb->batch, &out);
	wb->next++;
	SET_VARSIZE(out.data, out.len);
	return PointerGetDatum(out.data);
}

typedef WireBatch *(*WireStart) (FunctionCallInfo fcinfo);

/* The end of the rows, or of a query that stopped reading them early. */
static void
wire_rows_end(Datum arg)
{
	response_texts_end(&((WireBatch *) DatumGetPointer(arg))->texts);
}

/* The set-returning protocol shared by the SETOF json entry points. */
static Datum
wire_rows(FunctionCallInfo fcinfo, WireStart start)
{
	FuncCallContext *funcctx;
	WireBatch  *wb;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		wb = start(fcinfo);
		funcctx->user_fctx = wb;
		MemoryContextSwitchTo(old);
		/* the kept texts' temporary file is closed however the query ends */
		RegisterExprContextCallback(((ReturnSetInfo *) fcinfo->resultinfo)->econtext,
									wire_rows_end, PointerGetDatum(wb));
	}
	funcctx = SRF_PERCALL_SETUP();
	wb = funcctx->user_fctx;
	if (wb->next < wb->batch.n)
		SRF_RETURN_NEXT(funcctx, wire_next_row(wb));
	/* done: wb goes with the call's memory, so the callback goes first */
	UnregisterExprContextCallback(((ReturnSetInfo *) fcinfo->resultinfo)->econtext,
								  wire_rows_end, PointerGetDatum(wb));
	response_texts_end(&wb->texts);
	SRF_RETURN_DONE(funcctx);
}

static void
require_body(FunctionCallInfo fcinfo, int arg)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumers batch must not be null"),
				 errhint("Pass the request body, e.g. '{\"consumers\":[...]}'.")));
}

/* ---- fanfare.import_consumers(body text) ---- */

static WireBatch *
import_start(FunctionCallInfo fcinfo)
{
	text	   *body;
	pg_uuid_t	org;

	require_body(fcinfo, 0);
	org = tenant_require_organization_id();
	body = PG_GETARG_TEXT_PP(0);
	return wire_batch_create(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), false,
							 &org, tenant_actor(), idempotency_key_setting());
}

PG_FUNCTION_INFO_V1(fanfare_import_consumers);

Datum
fanfare_import_consumers(PG_FUNCTION_ARGS)
{
	return wire_rows(fcinfo, import_start);
}

/* ---- fanfare.api_import_consumers(key text, body bytea, idempotency_key text) ---- */

/* A transaction-local setting, as set_config(name, value, true) makes it. */
static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * The gateway's path once the tenant is known: the tenant and actor set for
 * the transaction, then the body's bytes (argument body_arg) with the
 * Idempotency-Key header's value (key_arg, if the call has it).
 */
static WireBatch *
tenant_bytes_start(FunctionCallInfo fcinfo, const pg_uuid_t *org, const char *actor,
				   int body_arg, int key_arg)
{
	char	   *idempotency_key = NULL;
	bytea	   *body;
	char		org_text[37];

	uuid_format(org, org_text);
	set_local("fanfare.organization_id", org_text);
	set_local("fanfare.actor", actor);

	/* the header's value, as the gateway received it */
	if (PG_NARGS() > key_arg && !PG_ARGISNULL(key_arg))
		idempotency_key = idempotency_key_from_header(text_to_cstring(PG_GETARG_TEXT_PP(key_arg)));
	require_body(fcinfo, body_arg);
	body = PG_GETARG_BYTEA_PP(body_arg);
	return wire_batch_create(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), true, org, actor,
							 idempotency_key);
}

/*
 * The key, the charge, the batch.  A call that fails after the charge, or
 * answers no row, reports its rate limit as a notice: there is no row to
 * read fanfare.rate_limit_status in.
 */
static WireBatch *
api_import_start(FunctionCallInfo fcinfo)
{
	char	   *key = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	pg_uuid_t	org;
	char	   *actor;
	RateLimitCharge charge;
	MemoryContext context = CurrentMemoryContext;
	WireBatch  *wb;

	/* the key first: nothing of the body is read for an unknown key */
	api_key_authenticate(key, &org, &actor);
	rate_limit_enforce(&org, &charge);
	PG_TRY();
	{
		wb = tenant_bytes_start(fcinfo, &org, actor, 1, 2);
	}
	PG_CATCH();
	{
		rate_limit_rethrow(&charge, context);
	}
	PG_END_TRY();
	if (wb->batch.n == 0)
		rate_limit_notice(&charge);
	return wb;
}

PG_FUNCTION_INFO_V1(fanfare_api_import_consumers);

Datum
fanfare_api_import_consumers(PG_FUNCTION_ARGS)
{
	return wire_rows(fcinfo, api_import_start);
}

/* ---- fanfare.shard_wire_import(organization_id uuid, actor text, body bytea, idempotency_key text) ---- */

/*
 * The gateway's path on a shard: the router authenticated the key and names
 * the tenant and the actor (router/, fanfare_router).
 */
static WireBatch *
shard_import_start(FunctionCallInfo fcinfo)
{
	pg_uuid_t	org;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no organization for this request"),
				 errdetail("The router names the organization and the actor of every call.")));
	org = *PG_GETARG_UUID_P(0);
	return tenant_bytes_start(fcinfo, &org, text_to_cstring(PG_GETARG_TEXT_PP(1)), 2, 3);
}

PG_FUNCTION_INFO_V1(fanfare_shard_wire_import);

Datum
fanfare_shard_wire_import(PG_FUNCTION_ARGS)
{
	return wire_rows(fcinfo, shard_import_start);
}

/* ---- fanfare.post_consumers_batch(json), for PostgREST ---- */

/* A json datum of the body, with PostgREST's response.status set. */
static Datum
postgrest_answer(int status, const char *body)
{
	char		text[8];

	snprintf(text, sizeof(text), "%d", status);
	set_local("response.status", text);
	return CStringGetTextDatum(body);
}

/*
 * Whether the tenant is an organization that may use the API: it exists in
 * fanfare.organizations and is not disabled.  The caller (a JWT role) may
 * not read that table; fanfare.current_organization_is_active() may.
 */
static bool
organization_is_active(void)
{
	bool		active;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT fanfare.current_organization_is_active()", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "organization lookup failed");
	active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return active && !isnull;
}

/* Column col of the one row SPI returned, copied out of SPI; NULL if null. */
static char *
spi_text_column(int col)
{
	bool		isnull;

	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	if (isnull)
		return NULL;
	return MemoryContextStrdup(TopTransactionContext,
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col));
}

/*
 * The Idempotency-Key header PostgREST received, from request.headers (a
 * JSON object, names in lower case), or X-Idempotency-Key, its alias in
 * Fanfare's integration guide; NULL if there is none.  *conflict is set
 * when both came with different values.
 */
static char *
postgrest_idempotency_header(bool *conflict)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	Datum		arg;
	Oid			type = TEXTOID;
	char	   *value;
	char	   *alias;

	*conflict = false;
	if (headers == NULL || strstr(headers, "idempotency-key\"") == NULL)
		return NULL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	arg = CStringGetTextDatum(headers);
	if (SPI_execute_with_args("SELECT h OPERATOR(pg_catalog.->>) 'idempotency-key', h OPERATOR(pg_catalog.->>) 'x-idempotency-key'"
							  " FROM (SELECT $1::pg_catalog.json) AS r(h)",
							  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read request.headers");
	value = spi_text_column(1);
	alias = spi_text_column(2);
	SPI_finish();
	if (value != NULL && alias != NULL && strcmp(value, alias) != 0)
		*conflict = true;
	return value != NULL ? value : alias;
}

/* The created consumers as one JSON array, appended to array. */
static void
wire_array(ResponseTexts *texts, const BatchContext *batch, StringInfo array)
{
	appendStringInfoChar(array, '[');
	for (int i = 0; i < batch->n; i++)
	{
		if (i > 0)
			appendStringInfoChar(array, ',');
		response_texts_next(texts, batch, array);
	}
	appendStringInfoChar(array, ']');
}

/*
 * Read, validate and create the batch, the created consumers printed into
 * array as one JSON array.  Returns NULL, or the 400 body (in the caller's
 * memory) when the body is not JSON or has issues: then nothing is stored.
 */
static char *
postgrest_create(text *body_text, const pg_uuid_t *org, const Idempotency *idem,
				 StringInfo array)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	JsonValue	body;
	BodyProblem problem;
	BatchContext batch;
	ResponseTexts texts;
	IssueList	issues;
	char	   *answer = NULL;

	batch_cxt = AllocSetContextCreate(caller_cxt, "fanfare batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batch_cxt);
	if (!read_body(VARDATA_ANY(body_text), VARSIZE_ANY_EXHDR(body_text), false, &body, &problem))
		answer = issue_body_not_json(problem.received, problem.reason);
	else
	{
		batch_context_init_for(&batch, org, tenant_actor(), 0);
		response_texts_begin(&texts, &body);
		if (batch_create(&batch, &body, &texts.sink, &issues, idem) < 0)
			answer = issue_list_error_body(&issues);
		else
			wire_array(&texts, &batch, array);	/* array keeps its context */
		response_texts_end(&texts);
	}
	MemoryContextSwitchTo(caller_cxt);
	if (answer != NULL)
		answer = pstrdup(answer);
	MemoryContextDelete(batch_cxt);
	return answer;
}

PG_FUNCTION_INFO_V1(fanfare_post_consumers_batch);

/*
 * The contract through PostgREST: 200 and the created consumers, 400 and
 * the validation body (response.status set, no error, nothing written), 401
 * {"error":"Authentication required"} when the verified claims name no
 * organization, 403 {"error":"Forbidden"} when it is unknown or disabled
 * (as the gateway answers for a disabled organization's key).  The json
 * type has already refused a body that is not JSON.
 */
Datum
fanfare_post_consumers_batch(PG_FUNCTION_ARGS)
{
	text	   *body_text;
	pg_uuid_t	org;
	StringInfoData array;
	char	   *answer;
	char	   *header;
	const char *key;
	Idempotency idem;
	RateLimitCharge charge;
	char	   *limit_headers;
	bool		conflict;

	if (tenant_lookup(&org) != TENANT_FOUND)
		return postgrest_answer(401, "{\"error\":\"Authentication required\"}");
	if (!organization_is_active())
		return postgrest_answer(403, "{\"error\":\"Forbidden\"}");
	rate_limit_charge(&org, &charge);
	limit_headers = rate_limit_response_headers(&charge, NULL);
	if (limit_headers != NULL)
		set_local("response.headers", limit_headers);
	if (!charge.allowed)
		return postgrest_answer(429, rate_limit_body(&charge));
	require_body(fcinfo, 0);
	body_text = PG_GETARG_TEXT_PP(0);

	/* the key before the body, as the gateway's path takes it */
	header = postgrest_idempotency_header(&conflict);
	if (conflict)
		return postgrest_answer(400, issue_body_idempotency_key(IDEMPOTENCY_KEYS_DIFFER));
	if (header != NULL)
	{
		const char *received = NULL;
		const char *reason = NULL;

		key = idempotency_parse_header(header, &received, &reason);
		if (key == NULL)
			return postgrest_answer(400, issue_body_idempotency_key(received));
	}
	else
		key = idempotency_key_setting();
	idempotency_lookup(&idem, &org, key, VARDATA_ANY(body_text), VARSIZE_ANY_EXHDR(body_text));
	if (idem.state == IDEMPOTENCY_BUSY)
		return postgrest_answer(409, IDEMPOTENCY_IN_USE_BODY);
	if (idem.state == IDEMPOTENCY_MISMATCH)
		return postgrest_answer(422, IDEMPOTENCY_REUSED_BODY);

	/* the answer's array is in the caller's memory */
	initStringInfo(&array);
	appendStringInfoSpaces(&array, VARHDRSZ);
	answer = postgrest_create(body_text, &org, &idem, &array);
	if (answer != NULL)
		return postgrest_answer(400, answer);
	if (idem.state == IDEMPOTENCY_REPLAY)
		set_local("response.headers",
				  rate_limit_response_headers(&charge, "\"Idempotent-Replayed\": \"true\""));
	SET_VARSIZE(array.data, array.len);
	return PointerGetDatum(array.data);
}
