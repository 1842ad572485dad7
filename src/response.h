/*
 * response.h
 *	  The 200 body (response.c).
 */
#ifndef FANFARE_RESPONSE_H
#define FANFARE_RESPONSE_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/tuplestore.h"

#include "batch.h"
#include "consumer_record.h"
#include "jsonb_util.h"

/*
 * Where the 200 body goes: each created consumer is handed to add as it is
 * staged, in input order.  stored_metadata is its metadata as stored when
 * the response must print that form (the value was rebuilt), else NULL.
 * Two implementations: the jsonb writer and the JSON text printer.
 */
typedef struct ResponseSink ResponseSink;
typedef void (*ResponseSinkAdd) (ResponseSink *sink, const BatchContext *batch,
								 const ConsumerRecord *consumer,
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
	ConsumerRecord consumer;	/* the one being printed */
} ResponseTexts;

extern void response_texts_begin(ResponseTexts *texts, const JsonValue *body);
extern void response_texts_next(ResponseTexts *texts, const BatchContext *batch,
								StringInfo out);
extern void response_texts_end(ResponseTexts *texts);

#endif							/* FANFARE_RESPONSE_H */
