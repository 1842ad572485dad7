/*
 * response.c
 *	  The 200 body of POST /consumers/batch: created consumers.
 *
 * Every response property is present (explicit nulls), in camelCase; ranks
 * and counts are integers, aov/ltv decimal strings as numeric prints them,
 * timestamps UTC with milliseconds and Z as Date#toISOString prints them.
 * What each property holds is decided once, in response_value(), from the
 * field catalogue (absent fields take the catalogue's defaults), the
 * consumer's decoded record (consumer_record.h: the element is not read
 * again) and the batch; two writers print it:
 *   - as jsonb, for create_consumers(jsonb): rows written into one buffer in
 *     jsonb's binary layout while the batch is validated, so no JsonbValue
 *     tree is built (keys in jsonb's order);
 *   - as JSON text, for the wire path: one consumer at a time, compact as
 *     JSON.stringify writes it, keys in the document's property order.
 * The keys are the same for every row: their order and bytes are worked
 * out once per backend.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "batch.h"
#include "consumer_record.h"
#include "field_catalogue.h"
#include "json_print.h"
#include "json_text.h"
#include "json_value.h"
#include "jsonb_util.h"
#include "response.h"
#include "timestamp_check.h"
#include "uuidv7.h"

/* Response properties the request does not carry. */
typedef enum ServerField
{
	SF_NONE,					/* a catalogue field */
	SF_ID,
	SF_ORGANIZATION_ID,
	SF_CREATED_AT,
	SF_CREATED_BY,
	SF_ARCHIVED,
	SF_NULL						/* updated*, primary*: null on creation */
} ServerField;

typedef struct ResponseEntry
{
	const char *name;
	int			field;			/* catalogue index, or -1 */
	ServerField server;
} ResponseEntry;

static const ResponseEntry server_entries[] = {
	{"id", -1, SF_ID},
	{"organizationId", -1, SF_ORGANIZATION_ID},
	{"createdAt", -1, SF_CREATED_AT},
	{"createdBy", -1, SF_CREATED_BY},
	{"archived", -1, SF_ARCHIVED},
	{"updatedAt", -1, SF_NULL},
	{"updatedBy", -1, SF_NULL},
	{"primaryExternalId", -1, SF_NULL},
	{"primaryLastSyncedAt", -1, SF_NULL},
	{"primarySourceVendor", -1, SF_NULL},
	{"primarySyncSourceId", -1, SF_NULL},
};

#define NENTRIES (FIELD_COUNT + lengthof(server_entries))

/* What one property of one created consumer holds. */
typedef enum ValueKind
{
	RV_NULL,
	RV_FALSE,
	RV_TRUE,
	RV_NUMBER,					/* printed as JavaScript prints it, -0 as 0 */
	RV_STRING,
	RV_GEO,
	RV_METADATA
} ValueKind;

typedef struct ResponseValue
{
	ValueKind	kind;
	double		number;			/* integer, double; geo: latitude */
	double		longitude;
	const char *string;
	int			len;
	const ConsumerField *metadata;
	char		buf[40];		/* id and timestamp text */
} ResponseValue;

/* Both key orders, the key bytes for jsonb, and the defaults. */
static ResponseEntry jsonb_entries[NENTRIES];	/* jsonb order */
static ResponseEntry text_entries[NENTRIES];	/* the document's order */
static char *text_keys[NENTRIES];	/* ",\"name\":" (no comma first) */
static int	text_key_lens[NENTRIES];
static JsonbKeys jsonb_keys;		/* the jsonb order's keys */
static JsonbKeys geo_keys;		/* latitude, longitude */
static ResponseValue field_defaults[FIELD_COUNT];

static int
jsonb_entry_cmp(const void *a, const void *b)
{
	const ResponseEntry *ea = a;
	const ResponseEntry *eb = b;

	return jsonb_key_cmp(ea->name, strlen(ea->name), eb->name, strlen(eb->name));
}

/* The document lists properties in JavaScript's default sort order. */
static int
text_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const ResponseEntry *) a)->name, ((const ResponseEntry *) b)->name);
}

/* A field's default from the catalogue's JSON text. */
static void
default_value(const FieldDef *field, ResponseValue *rv)
{
	JsonValue	v;
	int			offset;

	rv->kind = RV_NULL;
	if (field->default_json == NULL)
		return;
	if (json_text_read(field->default_json, strlen(field->default_json), &v, &offset) != JSON_TEXT_OK)
		elog(ERROR, "bad default in the field catalogue: %s", field->default_json);
	switch (v.kind)
	{
		case JSON_FALSE:
			rv->kind = RV_FALSE;
			break;
		case JSON_TRUE:
			rv->kind = RV_TRUE;
			break;
		case JSON_NUMBER:
			rv->kind = RV_NUMBER;
			rv->number = json_number(&v);
			break;
		case JSON_STRING:
			rv->kind = RV_STRING;
			rv->string = pnstrdup(v.data, v.len);
			rv->len = v.len;
			break;
		default:
			elog(ERROR, "unsupported default in the field catalogue: %s", field->default_json);
	}
}

static void
response_init_once(void)
{
	static bool initialized = false;
	static const char *const geo_names[] = {"latitude", "longitude"};
	const char *names[NENTRIES];
	MemoryContext old;
	int			n = 0;

	if (initialized)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (int i = 0; i < FIELD_COUNT; i++)
	{
		jsonb_entries[n++] = (ResponseEntry)
		{
			field_catalogue[i].name, i, SF_NONE
		};
		default_value(&field_catalogue[i], &field_defaults[i]);
	}
	for (int i = 0; i < lengthof(server_entries); i++)
		jsonb_entries[n++] = server_entries[i];
	memcpy(text_entries, jsonb_entries, sizeof(jsonb_entries));
	qsort(jsonb_entries, NENTRIES, sizeof(ResponseEntry), jsonb_entry_cmp);
	qsort(text_entries, NENTRIES, sizeof(ResponseEntry), text_entry_cmp);

	for (int i = 0; i < NENTRIES; i++)
	{
		text_keys[i] = psprintf("%s\"%s\":", i == 0 ? "" : ",", text_entries[i].name);
		text_key_lens[i] = strlen(text_keys[i]);
		names[i] = jsonb_entries[i].name;
	}
	jsonb_keys_init(&jsonb_keys, names, NENTRIES);
	jsonb_keys_init(&geo_keys, geo_names, lengthof(geo_names));
	initialized = true;
	MemoryContextSwitchTo(old);
}

/* numeric's text of a valid aov/ltv string: leading zeros dropped */
static void
decimal_text(const JsonValue *v, ResponseValue *rv)
{
	const char *s = v->data;
	int			len = v->len;

	while (len > 1 && s[0] == '0' && s[1] != '.')
	{
		s++;
		len--;
	}
	rv->kind = RV_STRING;
	rv->string = s;
	rv->len = len;
}

static void
string_value(ResponseValue *rv, const char *s, int len)
{
	rv->kind = RV_STRING;
	rv->string = s;
	rv->len = len;
}

/* The value of one catalogue field of a consumer, or its default. */
static void
field_value(int field, const ConsumerField *cf, ResponseValue *rv)
{
	if (!cf->present)
	{
		*rv = field_defaults[field];
		return;
	}
	switch (field_catalogue[field].kind)
	{
		case FK_BOOL:
		case FK_OBOOL:
			rv->kind = cf->value.kind == JSON_TRUE ? RV_TRUE : RV_FALSE;
			break;
		case FK_STATUS:
		case FK_TEXT:
		case FK_EMAIL:
			string_value(rv, cf->value.data, cf->value.len);
			break;
		case FK_RANK:
		case FK_COUNT:
		case FK_SCORE:
			rv->kind = RV_NUMBER;
			rv->number = cf->number;
			break;
		case FK_DECIMAL:
			decimal_text(&cf->value, rv);
			break;
		case FK_TIMESTAMP:
			string_value(rv, rv->buf, timestamp_format_iso(cf->timestamp, rv->buf));
			break;
		case FK_GEO:
			rv->kind = RV_GEO;
			rv->number = cf->latitude.number;
			rv->longitude = cf->longitude.number;
			break;
		case FK_METADATA:
			rv->kind = RV_METADATA;
			rv->metadata = cf;
			break;
	}
}

/* What property e of the consumer holds: the one place that decides it. */
static void
response_value(const ResponseEntry *e, const BatchContext *batch,
			   const ConsumerRecord *consumer, ResponseValue *rv)
{
	switch (e->server)
	{
		case SF_NONE:
			field_value(e->field, &consumer->fields[e->field], rv);
			break;
		case SF_ID:
			uuid_format(&batch->ids[consumer->index], rv->buf);
			string_value(rv, rv->buf, 36);
			break;
		case SF_ORGANIZATION_ID:
			string_value(rv, batch->organization_text, 36);
			break;
		case SF_CREATED_AT:
			string_value(rv, batch->created_at_text, strlen(batch->created_at_text));
			break;
		case SF_CREATED_BY:
			string_value(rv, batch->actor, strlen(batch->actor));
			break;
		case SF_ARCHIVED:
			rv->kind = RV_FALSE;
			break;
		case SF_NULL:
			rv->kind = RV_NULL;
			break;
	}
}

/* ---- as jsonb (jsonb_util.c writes the bytes) ---- */

/*
 * Metadata, as stored: rebuilt, or else the value itself, which the jsonb
 * writer gets only from the jsonb entry points, so as a jsonb container.
 */
static uint32
put_metadata(StringInfo buf, const ResponseValue *rv, const Jsonb *rebuilt_metadata)
{
	const Jsonb *stored = rebuilt_metadata;

	if (stored == NULL)
		stored = json_container_jsonb(&rv->metadata->value);
	if (stored == NULL)
		elog(ERROR, "the jsonb response was given metadata that is not jsonb");
	return jsonb_put_jsonb(buf, stored);
}

/* One property's value, in jsonb's layout; metadata: the stored form. */
static uint32
put_value(StringInfo buf, const ResponseValue *rv, const Jsonb *rebuilt_metadata)
{
	switch (rv->kind)
	{
		case RV_NULL:
			return jsonb_put_null();
		case RV_FALSE:
			return jsonb_put_bool(false);
		case RV_TRUE:
			return jsonb_put_bool(true);
		case RV_NUMBER:
			return jsonb_put_double(buf, rv->number);
		case RV_STRING:
			return jsonb_put_string(buf, rv->string, rv->len);
		case RV_GEO:
			return jsonb_put_number_pair(buf, &geo_keys, rv->number, rv->longitude);
		case RV_METADATA:
			return put_metadata(buf, rv, rebuilt_metadata);
	}
	return jsonb_put_null();
}

/* ---- as jsonb: the response array ---- */

/* The jsonb writer's add: one created consumer appended to the array. */
static void
response_add(ResponseSink *sink, const BatchContext *batch,
			 const ConsumerRecord *consumer, const Jsonb *metadata)
{
	ResponseWriter *w = (ResponseWriter *) sink;
	StringInfo	buf = &w->array.buf;
	JEntry		values[NENTRIES];
	int			element_start = buf->len;
	int			jentries;
	int			data_start;

	data_start = jsonb_object_begin(buf, &jsonb_keys, &jentries);
	for (int i = 0; i < NENTRIES; i++)
	{
		ResponseValue rv;
		int			child_start = buf->len;

		response_value(&jsonb_entries[i], batch, consumer, &rv);
		values[i] = jsonb_close_child(buf, data_start, child_start, NENTRIES + i,
									  put_value(buf, &rv, metadata));
	}
	jsonb_array_element_end(&w->array, element_start,
							jsonb_object_end(buf, &jsonb_keys, jentries, values));
}

void
response_begin(ResponseWriter *w, int n)
{
	response_init_once();
	w->sink.add = response_add;
	w->sink.prints_stored_metadata = true;
	/* a consumer takes about 1.5 kB */
	jsonb_array_begin(&w->array, n, 1536);
}

Jsonb *
response_finish(ResponseWriter *w)
{
	return jsonb_array_finish(&w->array);
}

/* ---- as JSON text ---- */

/* One consumer as JSON text, appended to out. */
static void
response_text_consumer(StringInfo out, const BatchContext *batch,
					   const ConsumerRecord *consumer)
{
	JsonPrinter p;

	response_init_once();
	json_printer_init(&p, out, MaxAllocSize);
	appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < NENTRIES; i++)
	{
		ResponseValue rv;

		json_print_raw(out, text_keys[i], text_key_lens[i]);
		response_value(&text_entries[i], batch, consumer, &rv);
		switch (rv.kind)
		{
			case RV_NULL:
				json_print_literal(out, JSON_NULL);
				break;
			case RV_FALSE:
				json_print_literal(out, JSON_FALSE);
				break;
			case RV_TRUE:
				json_print_literal(out, JSON_TRUE);
				break;
			case RV_NUMBER:
				json_print_number(out, rv.number);
				break;
			case RV_STRING:
				json_print_string(out, rv.string, rv.len);
				break;
			case RV_GEO:
				json_print_const(out, "{\"latitude\":");
				json_print_number(out, rv.number);
				json_print_const(out, ",\"longitude\":");
				json_print_number(out, rv.longitude);
				appendStringInfoCharMacro(out, '}');
				break;
			case RV_METADATA:
				json_print_record_output(&p, &rv.metadata->value);
				break;
		}
	}
	appendStringInfoCharMacro(out, '}');
}

/*
 * ---- the wire path's kept records ----
 *
 * What the text response needs of a staged consumer, packed: for each
 * present field its index, its JSON kind and its decoded value (a number, an
 * instant, a coordinate pair, or a span: an offset into the body's text, or
 * the bytes themselves when the reader decoded escapes).  About a third of
 * the element's size, so a batch's records rarely leave memory, and the
 * element is never read again: the text is printed from the record.
 */
#define RECORD_END 0xFF
#define SPAN_INLINE PG_UINT32_MAX

/* What a field's record holds after its kind byte. */
typedef enum RecordPayload
{
	PAYLOAD_NONE,				/* booleans: the kind says it */
	PAYLOAD_NUMBER,
	PAYLOAD_INSTANT,
	PAYLOAD_PAIR,				/* coordinates */
	PAYLOAD_SPAN				/* strings, metadata */
} RecordPayload;

static RecordPayload
record_payload(FieldKind kind)
{
	static const RecordPayload payloads[] = {
		[FK_BOOL] = PAYLOAD_NONE,
		[FK_OBOOL] = PAYLOAD_NONE,
		[FK_STATUS] = PAYLOAD_SPAN,
		[FK_RANK] = PAYLOAD_NUMBER,
		[FK_SCORE] = PAYLOAD_NUMBER,
		[FK_COUNT] = PAYLOAD_NUMBER,
		[FK_DECIMAL] = PAYLOAD_SPAN,
		[FK_TIMESTAMP] = PAYLOAD_INSTANT,
		[FK_TEXT] = PAYLOAD_SPAN,
		[FK_EMAIL] = PAYLOAD_SPAN,
		[FK_GEO] = PAYLOAD_PAIR,
		[FK_METADATA] = PAYLOAD_SPAN,
	};

	return payloads[kind];
}

/* A string or container value: where it is in the body, or its bytes. */
static void
pack_span(StringInfo buf, const ResponseTexts *texts, const JsonValue *v)
{
	uint32		len = v->len;
	uint32		offset = SPAN_INLINE;

	if (v->data >= texts->base && len <= texts->base_len &&
		(uint32) (v->data - texts->base) <= texts->base_len - len)
		offset = (uint32) (v->data - texts->base);
	json_print_raw(buf, &offset, sizeof(offset));
	json_print_raw(buf, &len, sizeof(len));
	if (offset == SPAN_INLINE)
		json_print_raw(buf, v->data, len);
}

/* One consumer's record, appended to buf. */
static void
pack_record(StringInfo buf, const ResponseTexts *texts, const ConsumerRecord *consumer)
{
	for (int f = 0; f < FIELD_COUNT; f++)
	{
		const ConsumerField *cf = &consumer->fields[f];
		uint8		head[2];

		if (!cf->present)
			continue;			/* an absent field's other members are unset */
		head[0] = (uint8) f;
		head[1] = (uint8) cf->value.kind;
		json_print_raw(buf, head, sizeof(head));
		switch (record_payload(field_catalogue[f].kind))
		{
			case PAYLOAD_NONE:
				break;
			case PAYLOAD_NUMBER:
				json_print_raw(buf, &cf->number, sizeof(double));
				break;
			case PAYLOAD_INSTANT:
				json_print_raw(buf, &cf->timestamp, sizeof(TimestampTz));
				break;
			case PAYLOAD_PAIR:
				json_print_raw(buf, &cf->latitude.number, sizeof(double));
				json_print_raw(buf, &cf->longitude.number, sizeof(double));
				break;
			case PAYLOAD_SPAN:
				pack_span(buf, texts, &cf->value);
				break;
		}
	}
	appendStringInfoCharMacro(buf, (char) RECORD_END);
}

/* Read n bytes at *p into out. */
static inline void
get_bytes(const char **p, void *out, int n)
{
	memcpy(out, *p, n);
	*p += n;
}

static void
unpack_span(const char **p, const ResponseTexts *texts, JsonValue *v)
{
	uint32		offset;
	uint32		len;

	get_bytes(p, &offset, sizeof(offset));
	get_bytes(p, &len, sizeof(len));
	if (offset == SPAN_INLINE)
	{
		json_from_text_span(v, v->kind, *p, len);
		*p += len;
	}
	else
		json_from_text_span(v, v->kind, texts->base + offset, len);
}

/*
 * The record at p back into consumer (what the text response reads).
 * Returns where the next record starts.
 */
static const char *
unpack_record(const char *p, const ResponseTexts *texts, ConsumerRecord *consumer)
{
	uint8		f;

	for (int i = 0; i < FIELD_COUNT; i++)
		consumer->fields[i].present = false;
	while ((f = (uint8) *p++) != RECORD_END)
	{
		ConsumerField *cf = &consumer->fields[f];

		Assert(f < FIELD_COUNT);
		cf->present = true;
		cf->value.kind = (JsonKind) (uint8) *p++;
		switch (record_payload(field_catalogue[f].kind))
		{
			case PAYLOAD_NONE:
				break;
			case PAYLOAD_NUMBER:
				get_bytes(&p, &cf->number, sizeof(double));
				break;
			case PAYLOAD_INSTANT:
				get_bytes(&p, &cf->timestamp, sizeof(TimestampTz));
				break;
			case PAYLOAD_PAIR:
				get_bytes(&p, &cf->latitude.number, sizeof(double));
				get_bytes(&p, &cf->longitude.number, sizeof(double));
				break;
			case PAYLOAD_SPAN:
				unpack_span(&p, texts, &cf->value);
				break;
		}
	}
	return p;
}

/*
 * Records are kept in blocks of about RECORD_BLOCK bytes, one tuple each:
 * the tuplestore's memory is then what the records take, not a chunk per
 * record, and a file holds few, large tuples.
 */
#define RECORD_BLOCK 32768

static void response_texts_add(ResponseSink *sink, const BatchContext *batch,
							   const ConsumerRecord *consumer,
							   const Jsonb *stored_metadata);

/*
 * An empty store for a body read as text (body: its root), in the current
 * memory context, which it must share.
 */
void
response_texts_begin(ResponseTexts *texts, const JsonValue *body)
{
	texts->sink.add = response_texts_add;
	texts->sink.prints_stored_metadata = false;
	texts->base = body->data;
	texts->base_len = body->len;
	texts->desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(texts->desc, 1, "records", BYTEAOID, -1, 0);
	texts->store = tuplestore_begin_heap(false, false, work_mem);
	texts->slot = MakeSingleTupleTableSlot(texts->desc, &TTSOpsMinimalTuple);
	initStringInfo(&texts->buf);
	appendStringInfoSpaces(&texts->buf, VARHDRSZ);
	initStringInfo(&texts->block);
	texts->pos = 0;
	texts->count = 0;
	texts->returned = 0;
}

/* The records packed since the last block, as one tuple. */
static void
flush_block(ResponseTexts *texts)
{
	Datum		value = PointerGetDatum(texts->buf.data);
	bool		isnull = false;

	if (texts->buf.len == VARHDRSZ)
		return;
	SET_VARSIZE(texts->buf.data, texts->buf.len);
	tuplestore_putvalues(texts->store, texts->desc, &value, &isnull);
	resetStringInfo(&texts->buf);
	appendStringInfoSpaces(&texts->buf, VARHDRSZ);
}

/* The text printer's add: keep one staged consumer's record. */
static void
response_texts_add(ResponseSink *sink, const BatchContext *batch,
				   const ConsumerRecord *consumer, const Jsonb *stored_metadata)
{
	ResponseTexts *texts = (ResponseTexts *) sink;

	Assert(consumer->index == texts->count);
	pack_record(&texts->buf, texts, consumer);
	texts->count++;
	if (texts->buf.len >= RECORD_BLOCK)
		flush_block(texts);
}

/* The next block of records, copied into texts->block (the caller's memory may go). */
static void
next_block(ResponseTexts *texts)
{
	bytea	   *records;
	bool		isnull;

	flush_block(texts);
	if (!tuplestore_gettupleslot(texts->store, true, false, texts->slot))
		elog(ERROR, "no more consumers to return");
	records = (bytea *) DatumGetPointer(slot_getattr(texts->slot, 1, &isnull));
	/* a block comes back uncompressed, its header maybe short */
	Assert(!isnull && !VARATT_IS_COMPRESSED(records) && !VARATT_IS_EXTERNAL(records));
	resetStringInfo(&texts->block);
	appendBinaryStringInfo(&texts->block, VARDATA_ANY(records), VARSIZE_ANY_EXHDR(records));
	texts->pos = 0;
	/* a tuple read back from the file is in the caller's memory: free it now */
	ExecClearTuple(texts->slot);
}

/* Append the next kept consumer's JSON text to out, in staging order. */
void
response_texts_next(ResponseTexts *texts, const BatchContext *batch, StringInfo out)
{
	const char *p;

	if (texts->pos >= texts->block.len)
		next_block(texts);
	texts->consumer.index = texts->returned++;
	p = unpack_record(texts->block.data + texts->pos, texts, &texts->consumer);
	texts->pos = p - texts->block.data;
	response_text_consumer(out, batch, &texts->consumer);
}

/* Close the store and its temporary file, if any; done at most once. */
void
response_texts_end(ResponseTexts *texts)
{
	if (texts->store == NULL)
		return;
	ExecDropSingleTupleTableSlot(texts->slot);
	tuplestore_end(texts->store);
	texts->store = NULL;
}
