/*
 * batch.h
 *	  One call of the API: the values shared by its rows, the rows staged for
 *	  the INSERT, the responses being written, and the emails.
 */
#ifndef BATCH_H
#define BATCH_H

#include "access/tupdesc.h"
#include "utils/tuplestore.h"

#include "validate.h"

/* What the server adds to every row of the batch, and what it has staged. */
typedef struct BatchContext
{
	MemoryContext cxt;			/* where the arrays below live */
	pg_uuid_t	organization_id;
	char		organization_text[37];
	char	   *actor;
	TimestampTz created_at;
	char		created_at_text[32];
	/* the consumers staged so far, in input order */
	int			n;
	int			allocated;
	pg_uuid_t  *ids;			/* increasing */
	bool		ids_wanted;		/* false for a dry run */
	int			ids_given;		/* leading ids supplied by the caller */
	JsonValue  *elements;		/* the element each consumer came from */
	char	  **emails;			/* lower-cased; NULL when none */
	int		   *email_lens;
} BatchContext;

/* Tenant (required), actor and time; room for expected consumers. */
extern void batch_context_init(BatchContext *batch, int expected);

/* The tenant and actor given instead of looked up (the wire fronts). */
extern void batch_context_init_for(BatchContext *batch, const pg_uuid_t *org,
								   const char *actor, int expected);

/* Stage one valid consumer: its id, element and email.  Returns its index. */
extern int	batch_add_consumer(BatchContext *batch, const ConsumerValues *consumer);

/* ---- response.c: the 200 body ---- */

/*
 * Where the 200 body goes: each created consumer is handed to add as it is
 * staged, in input order.  stored_metadata is its metadata as stored when
 * the response must print that form (the value was rebuilt), else NULL.
 * Two implementations: the jsonb writer and the JSON text printer.
 */
typedef struct ResponseSink ResponseSink;
typedef void (*ResponseSinkAdd) (ResponseSink *sink, const BatchContext *batch,
								 const ConsumerValues *consumer,
								 const Jsonb *stored_metadata);

struct ResponseSink
{
	ResponseSinkAdd add;
	bool		prints_stored_metadata; /* reads stored_metadata (see above) */
};

/* As jsonb (create_consumers), written in jsonb's binary layout. */
typedef struct ResponseWriter
{
	ResponseSink sink;
	JsonbArrayWriter array;		/* jsonb_util.c lays out the bytes */
} ResponseWriter;

extern void response_begin(ResponseWriter *w, int n);
extern Jsonb *response_finish(ResponseWriter *w);

/*
 * As JSON text (the wire path): each consumer's record kept, packed, as it
 * is staged (in memory up to work_mem, then in a temporary file), and
 * printed compact, in the document's order, when it is sent.
 */
typedef struct ResponseTexts
{
	ResponseSink sink;
	const char *base;			/* the body's text, which spans point into */
	uint32		base_len;
	Tuplestorestate *store;
	TupleDesc	desc;
	struct TupleTableSlot *slot;
	StringInfoData buf;			/* records not yet in the store, as a varlena */
	StringInfoData block;		/* the records being printed */
	int			pos;			/* the next one's offset in block */
	int			count;			/* records kept */
	int			returned;		/* records printed */
	ConsumerValues consumer;	/* the one being printed */
} ResponseTexts;

extern void response_texts_begin(ResponseTexts *texts, const JsonValue *body);
extern void response_texts_next(ResponseTexts *texts, const BatchContext *batch,
								StringInfo out);
extern void response_texts_end(ResponseTexts *texts);

/* ---- consumer_insert.c: the rows, and the one INSERT ---- */
typedef struct StagedRows
{
	TupleDesc	desc;
	Tuplestorestate *store;
	Datum		status_active;	/* enum values of consumer_status */
	Datum		status_inactive;
	Datum		created_by;
	Datum	   *defaults;		/* per field: its default as a column value */
	bool		consumed;		/* handed to the INSERT */
} StagedRows;

extern void staged_rows_begin(StagedRows *rows, const BatchContext *batch);
extern void staged_rows_add(StagedRows *rows, const BatchContext *batch,
							const ConsumerValues *consumer, const Jsonb *metadata);
extern Jsonb *metadata_for_storage(const FieldValue *fv);
extern bool staged_rows_insert(StagedRows *rows);

/* ---- email_uniqueness.c: "Email already exists" ---- */
extern bool email_duplicates_in_batch(const BatchContext *batch, bool *duplicate);
extern void email_duplicates_stored(const BatchContext *batch, bool *duplicate, bool fresh);
extern void email_duplicate_issues(const BatchContext *batch, const bool *duplicate,
								   IssueList *issues);

/* ---- idempotency.c: retries that never create twice ---- */
typedef enum IdempotencyState
{
	IDEMPOTENCY_NONE,			/* no key */
	IDEMPOTENCY_BUSY,			/* a running request holds the key */
	IDEMPOTENCY_MISMATCH,		/* stored with another body */
	IDEMPOTENCY_NEW,			/* first request with this key */
	IDEMPOTENCY_REPLAY			/* a retry: answer what the first one created */
} IdempotencyState;

typedef struct Idempotency
{
	IdempotencyState state;
	pg_uuid_t	organization_id;	/* keys belong to a tenant */
	char	   *key;
	bytea	   *fingerprint;	/* SHA-256 of the body as sent */
	/* a replay: what the first request created */
	TimestampTz created_at;
	char	   *created_by;
	int			n;
	pg_uuid_t  *ids;
} Idempotency;

/* the {"error": ...} bodies of 409 and 422, the gateway's and PostgREST's */
#define IDEMPOTENCY_IN_USE_BODY \
	"{\"error\":\"A request with this Idempotency-Key is still in progress\"}"
#define IDEMPOTENCY_REUSED_BODY \
	"{\"error\":\"This Idempotency-Key was used with a different request body\"}"

extern const char *idempotency_key_setting(void);
extern char *idempotency_parse_header(const char *value, const char **received,
									  const char **reason);
extern char *idempotency_key_from_header(const char *value);
extern void idempotency_lookup(Idempotency *idem, const pg_uuid_t *org, const char *key,
							   const char *body, int len);
extern void idempotency_begin(Idempotency *idem, const pg_uuid_t *org, const char *key,
							  const char *body, int len);
extern void idempotency_store(const Idempotency *idem, const BatchContext *batch);
extern void idempotency_outcome(const char *outcome);

/*
 * ---- create_consumers.c: one batch, all steps ----
 *
 * Validate, stage, check emails and insert a body for the batch's tenant.
 * Each staged consumer goes to response (if not NULL) on the way.  Any
 * issue raises 22023 with the 400 body as DETAIL unless issues_out is
 * given: then the issues are left there, nothing is stored, and the caller
 * answers.  With idem (a key), a new batch stores its key in the same
 * transaction, and a replay creates nothing: the walk then only rebuilds
 * the batch as the first request made it (its ids, time and actor).
 * Returns the number of consumers created (or replayed).
 */
extern int	batch_create(BatchContext *batch, const JsonValue *body,
						 ResponseSink *response, IssueList *issues_out, const Idempotency *idem);

/* Raise the validation error: the 400 body is the DETAIL. */
extern void report_issues(const IssueList *issues) pg_attribute_noreturn();

#endif							/* BATCH_H */
