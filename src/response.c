/*
 * response.c
 *	  The 200 body of POST /consumers/batch, written as jsonb directly.
 *
 * Every response property is present (explicit nulls), in camelCase; ranks
 * and counts are integers, aov/ltv decimal strings, timestamps UTC with
 * milliseconds and Z as Date#toISOString prints them.  Rows are written into
 * one buffer in jsonb's binary layout while the batch is validated, so no
 * JsonbValue tree is built and RETURNING rows are never read back.  The keys
 * of a consumer object are the same for every row: their order (jsonb sorts
 * keys) and their bytes are worked out once per backend.
 */
#include "postgres.h"

#include <math.h>

#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "batch.h"

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

/* The consumer object's keys in jsonb order, their bytes and JEntries. */
static ResponseEntry entries[NENTRIES];
static char *keys_blob;
static int	keys_blob_len;
static JEntry key_jentries[NENTRIES];
static Numeric small_ints[6];	/* 0..5: every rank, most counts */

static int
entry_cmp(const void *a, const void *b)
{
	const ResponseEntry *ea = a;
	const ResponseEntry *eb = b;

	return jsonb_key_cmp(ea->name, strlen(ea->name), eb->name, strlen(eb->name));
}

static void
response_init_once(void)
{
	MemoryContext old;
	int			n = 0;
	int			offset = 0;

	if (keys_blob)
		return;
	for (int i = 0; i < FIELD_COUNT; i++)
		entries[n++] = (ResponseEntry)
	{
		field_catalogue[i].name, i, SF_NONE
	};
	for (int i = 0; i < lengthof(server_entries); i++)
		entries[n++] = server_entries[i];
	qsort(entries, NENTRIES, sizeof(ResponseEntry), entry_cmp);

	old = MemoryContextSwitchTo(TopMemoryContext);
	for (int i = 0; i < NENTRIES; i++)
		keys_blob_len += strlen(entries[i].name);
	keys_blob = palloc(keys_blob_len);
	for (int i = 0; i < NENTRIES; i++)
	{
		int			len = strlen(entries[i].name);

		memcpy(keys_blob + offset, entries[i].name, len);
		offset += len;
		key_jentries[i] = JENTRY_ISSTRING |
			(i % JB_OFFSET_STRIDE == 0 ? JENTRY_HAS_OFF | offset : len);
	}
	for (int i = 0; i < lengthof(small_ints); i++)
		small_ints[i] = int64_to_numeric(i);
	MemoryContextSwitchTo(old);
}

/* ---- low-level writing into the buffer ---- */

/* Reserve n bytes at the end of the buffer (filled in later). */
static void
reserve(StringInfo buf, int n)
{
	enlargeStringInfo(buf, n);
	memset(buf->data + buf->len, 0, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
}

static void
pad_to_int(StringInfo buf)
{
	while (buf->len % sizeof(uint32) != 0)
		appendStringInfoCharMacro(buf, '\0');
}

/* A numeric, always with a 4-byte header as jsonb stores them. */
static uint32
put_numeric(StringInfo buf, Numeric num)
{
	uint32		size = VARSIZE_ANY_EXHDR(num);
	int			at;

	pad_to_int(buf);
	at = buf->len;
	reserve(buf, VARHDRSZ);
	SET_VARSIZE(buf->data + at, size + VARHDRSZ);
	appendBinaryStringInfo(buf, VARDATA_ANY(num), size);
	return JENTRY_ISNUMERIC;
}

static uint32
put_double(StringInfo buf, double d)
{
	if (d == 0)
		return put_numeric(buf, small_ints[0]);
	return put_numeric(buf, js_double_to_numeric(d));
}

static uint32
put_integer(StringInfo buf, double d)
{
	if (d >= 0 && d < lengthof(small_ints))
		return put_numeric(buf, small_ints[(int) d]);
	return put_numeric(buf, int64_to_numeric((int64) d));
}

static uint32
put_string(StringInfo buf, const char *s, int len)
{
	appendBinaryStringInfo(buf, s, len);
	return JENTRY_ISSTRING;
}

/* numeric's text of a valid aov/ltv string: leading zeros dropped */
static uint32
put_decimal(StringInfo buf, const JsonbNode *node)
{
	const char *s = node->data;
	int			len = node->len;

	while (len > 1 && s[0] == '0' && s[1] != '.')
	{
		s++;
		len--;
	}
	return put_string(buf, s, len);
}

static uint32
put_timestamp(StringInfo buf, TimestampTz ts)
{
	char		text[32];

	return put_string(buf, text, js_iso_string(ts, text));
}

/*
 * Close a child of a container whose data starts at data_start: its JEntry
 * holds its length, or every JB_OFFSET_STRIDE'th child its end offset.
 */
static JEntry
close_child(StringInfo buf, int data_start, int child_start, int index, uint32 type)
{
	int			end = buf->len - data_start;

	if (end > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("consumers batch response is too large"),
				 errdetail("The created consumers exceed the maximum size of a jsonb value (%d bytes).",
						   JENTRY_OFFLENMASK),
				 errhint("Send the consumers in smaller batches.")));
	if (index % JB_OFFSET_STRIDE == 0)
		return type | JENTRY_HAS_OFF | end;
	return type | (buf->len - child_start);
}

/* {"latitude": ..., "longitude": ...} */
static uint32
put_geo(StringInfo buf, const FieldValue *fv)
{
	static const char geo_keys[] = "latitudelongitude";
	uint32		header = 2 | JB_FOBJECT;
	JEntry		je[4] = {JENTRY_ISSTRING | JENTRY_HAS_OFF | 8, JENTRY_ISSTRING | 9, 0, 0};
	int			jentries;
	int			data_start;
	int			child;

	pad_to_int(buf);
	appendBinaryStringInfo(buf, (char *) &header, sizeof(header));
	jentries = buf->len;
	reserve(buf, sizeof(je));
	data_start = buf->len;
	appendBinaryStringInfo(buf, geo_keys, 17);
	child = buf->len;
	je[2] = close_child(buf, data_start, child, 2, put_double(buf, fv->latitude));
	child = buf->len;
	je[3] = close_child(buf, data_start, child, 3, put_double(buf, fv->longitude));
	memcpy(buf->data + jentries, je, sizeof(je));
	return JENTRY_ISCONTAINER;
}

/* A container of the payload, copied as it is. */
static uint32
put_container(StringInfo buf, const char *data, int len)
{
	pad_to_int(buf);
	appendBinaryStringInfo(buf, data, len);
	return JENTRY_ISCONTAINER;
}

/* The value of one catalogue field, or its default. */
static uint32
put_field(StringInfo buf, const FieldDef *field, const FieldValue *fv,
		  const Jsonb *rebuilt_metadata)
{
	if (!fv->present)
	{
		switch (field->kind)
		{
			case FK_OBOOL:
				return JENTRY_ISBOOL_FALSE;
			case FK_RANK:
			case FK_SCORE:
			case FK_COUNT:
				return put_numeric(buf, small_ints[0]);
			case FK_DECIMAL:
				return put_string(buf, "0", 1);
			default:
				return JENTRY_ISNULL;
		}
	}
	switch (field->kind)
	{
		case FK_BOOL:
		case FK_OBOOL:
			return fv->node.type;	/* JENTRY_ISBOOL_TRUE or _FALSE */
		case FK_STATUS:
		case FK_TEXT:
		case FK_EMAIL:
			return put_string(buf, fv->node.data, fv->node.len);
		case FK_RANK:
		case FK_COUNT:
			return put_integer(buf, fv->number);
		case FK_SCORE:
			return put_double(buf, fv->number);
		case FK_DECIMAL:
			return put_decimal(buf, &fv->node);
		case FK_TIMESTAMP:
			return put_timestamp(buf, fv->timestamp);
		case FK_GEO:
			return put_geo(buf, fv);
		case FK_METADATA:
			if (rebuilt_metadata)
				return put_container(buf, (const char *) &rebuilt_metadata->root,
									 VARSIZE(rebuilt_metadata) - VARHDRSZ);
			return put_container(buf, fv->node.data, fv->node.len);
	}
	return JENTRY_ISNULL;
}

/* ---- the response array ---- */

void
response_begin(ResponseWriter *w, int n)
{
	response_init_once();
	initStringInfo(&w->buf);
	w->n = n;
	w->count = 0;
	/* a consumer takes about 1.5 kB: size the buffer once, not by doubling */
	enlargeStringInfo(&w->buf, (int) Min((Size) n * 1536, MaxAllocSize / 2));
	/* varlena header, array header, one JEntry per element */
	reserve(&w->buf, VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * n);
	w->data_start = w->buf.len;
}

/* Append one created consumer; metadata is its rewritten metadata, if any. */
void
response_add(ResponseWriter *w, const BatchContext *batch,
			 const ConsumerValues *consumer, const Jsonb *metadata)
{
	StringInfo	buf = &w->buf;
	uint32		header = NENTRIES | JB_FOBJECT;
	JEntry		values[NENTRIES];
	int			element_start;
	int			jentries;
	int			data_start;
	JEntry		element_je;
	char		text[40];

	Assert(w->count < w->n);
	element_start = buf->len;
	pad_to_int(buf);
	appendBinaryStringInfo(buf, (char *) &header, sizeof(header));
	jentries = buf->len;
	reserve(buf, sizeof(JEntry) * 2 * NENTRIES);
	data_start = buf->len;
	appendBinaryStringInfo(buf, keys_blob, keys_blob_len);

	for (int i = 0; i < NENTRIES; i++)
	{
		const ResponseEntry *e = &entries[i];
		int			child_start = buf->len;
		uint32		type = JENTRY_ISNULL;

		switch (e->server)
		{
			case SF_NONE:
				{
					const FieldValue *fv = &consumer->fields[e->field];
					const FieldDef *field = &field_catalogue[e->field];

					type = put_field(buf, field, fv,
									 field->kind == FK_METADATA ? metadata : NULL);
				}
				break;
			case SF_ID:
				uuid_format(&batch->ids[consumer->index], text);
				type = put_string(buf, text, 36);
				break;
			case SF_ORGANIZATION_ID:
				type = put_string(buf, batch->organization_text, 36);
				break;
			case SF_CREATED_AT:
				type = put_string(buf, batch->created_at_text, strlen(batch->created_at_text));
				break;
			case SF_CREATED_BY:
				type = put_string(buf, batch->actor, strlen(batch->actor));
				break;
			case SF_ARCHIVED:
				type = JENTRY_ISBOOL_FALSE;
				break;
			case SF_NULL:
				type = JENTRY_ISNULL;
				break;
		}
		values[i] = close_child(buf, data_start, child_start, NENTRIES + i, type);
	}
	memcpy(buf->data + jentries, key_jentries, sizeof(key_jentries));
	memcpy(buf->data + jentries + sizeof(key_jentries), values, sizeof(values));

	element_je = close_child(buf, w->data_start, element_start, w->count, JENTRY_ISCONTAINER);
	memcpy(buf->data + VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * w->count,
		   &element_je, sizeof(JEntry));
	w->count++;
}

Jsonb *
response_finish(ResponseWriter *w)
{
	uint32		header = w->count | JB_FARRAY;

	Assert(w->count == w->n);
	memcpy(w->buf.data + VARHDRSZ, &header, sizeof(header));
	SET_VARSIZE(w->buf.data, w->buf.len);
	return (Jsonb *) w->buf.data;
}
