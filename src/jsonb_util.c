/*
 * jsonb_util.c
 *	  jsonb's binary format, written: the one file that lays out jsonb
 *	  datums byte by byte (jsonb_util.h reads them in place).
 *
 * It mirrors what PostgreSQL's src/backend/utils/adt/jsonb_util.c does in
 * convertToJsonb(): a container is a header (count and flags), one JEntry
 * per child (an object's keys first, then its values), then the children's
 * data; a JEntry holds its child's length, or every JB_OFFSET_STRIDE'th
 * its end offset; numerics and containers start 4-byte aligned.  Writing
 * directly into one buffer builds no JsonbValue tree.  Keys must be given
 * in jsonb's order (shorter first, then bytewise) and without duplicates.
 *
 * In an assert-enabled build (make check-assert) every array written is
 * compared byte for byte with what PostgreSQL's public API builds from the
 * same value (its text read back by jsonb_in).
 */
#include "postgres.h"

#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "js_number.h"
#include "jsonb_util.h"
#include "pg_compat.h"

/* Reserve n zero bytes at the end of the buffer (filled in later). */
void
jsonb_reserve(StringInfo buf, int n)
{
	enlargeStringInfo(buf, n);
	memset(buf->data + buf->len, 0, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
}

/* Pad to the 4-byte alignment numerics and containers start at. */
static void
jsonb_pad(StringInfo buf)
{
	while (buf->len % sizeof(uint32) != 0)
		appendStringInfoCharMacro(buf, '\0');
}

/*
 * A number as JavaScript prints it (0 for -0), as the numeric numeric_in
 * makes of that text: written in place, no numeric built and copied.
 */
uint32
jsonb_put_double(StringInfo buf, double d)
{
	int			at;
	int			size;

	jsonb_pad(buf);
	at = buf->len;
	enlargeStringInfo(buf, VARHDRSZ + JS_NUMBER_NUMERIC_MAX);
	size = js_number_numeric_bytes(d, buf->data + at + VARHDRSZ);
	SET_VARSIZE(buf->data + at, VARHDRSZ + size);
	buf->len += VARHDRSZ + size;
	buf->data[buf->len] = '\0';
	return JENTRY_ISNUMERIC;
}

/* null, true and false: a JEntry type and no data */
uint32
jsonb_put_null(void)
{
	return JENTRY_ISNULL;
}

uint32
jsonb_put_bool(bool value)
{
	return value ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
}

uint32
jsonb_put_string(StringInfo buf, const char *s, int len)
{
	appendBinaryStringInfo(buf, s, len);
	return JENTRY_ISSTRING;
}

/* A container copied as it is (the bytes of a JsonbContainer). */
uint32
jsonb_put_container(StringInfo buf, const char *data, int len)
{
	jsonb_pad(buf);
	appendBinaryStringInfo(buf, data, len);
	return JENTRY_ISCONTAINER;
}

/* The root container of a jsonb datum, copied (its root must not be a scalar). */
uint32
jsonb_put_jsonb(StringInfo buf, const Jsonb *jb)
{
	Assert(!JB_ROOT_IS_SCALAR(jb));
	return jsonb_put_container(buf, (const char *) &jb->root, VARSIZE(jb) - VARHDRSZ);
}

/*
 * Close a child of a container whose data starts at data_start: its JEntry
 * holds its length, or every JB_OFFSET_STRIDE'th child its end offset.
 */
JEntry
jsonb_close_child(StringInfo buf, int data_start, int child_start, int index, uint32 type)
{
	int			end = buf->len - data_start;

	if (end > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("consumers batch response is too large"),
				 errdetail("The created consumers exceed the maximum size of a jsonb value (%d bytes).",
						   JENTRY_OFFLENMASK),
				 errhint("Send the consumers in smaller batches, or use fanfare.import_consumers(text), which streams its response.")));
	if (index % JB_OFFSET_STRIDE == 0)
		return type | JENTRY_HAS_OFF | end;
	return type | (buf->len - child_start);
}

/* Keys for objects written again and again: their bytes and JEntries. */
void
jsonb_keys_init(JsonbKeys *keys, const char *const *names, int n)
{
	int			offset = 0;

	keys->n = n;
	keys->blob_len = 0;
	for (int i = 0; i < n; i++)
	{
		Assert(i == 0 || jsonb_key_cmp(names[i - 1], strlen(names[i - 1]),
									   names[i], strlen(names[i])) < 0);
		keys->blob_len += strlen(names[i]);
	}
	keys->blob = palloc(keys->blob_len);
	keys->jentries = palloc(sizeof(JEntry) * n);
	for (int i = 0; i < n; i++)
	{
		int			len = strlen(names[i]);

		memcpy(keys->blob + offset, names[i], len);
		offset += len;
		keys->jentries[i] = JENTRY_ISSTRING |
			(i % JB_OFFSET_STRIDE == 0 ? JENTRY_HAS_OFF | offset : len);
	}
}

/*
 * Start an object with these keys: returns where its data starts (for
 * jsonb_close_child of its values, children keys->n + i); *jentries is
 * where jsonb_object_end writes the JEntries.
 */
int
jsonb_object_begin(StringInfo buf, const JsonbKeys *keys, int *jentries)
{
	uint32		header = keys->n | JB_FOBJECT;
	int			data_start;

	jsonb_pad(buf);
	appendBinaryStringInfo(buf, (char *) &header, sizeof(header));
	*jentries = buf->len;
	jsonb_reserve(buf, sizeof(JEntry) * 2 * keys->n);
	data_start = buf->len;
	appendBinaryStringInfo(buf, keys->blob, keys->blob_len);
	return data_start;
}

/* End an object: the keys' JEntries, then its values'. */
uint32
jsonb_object_end(StringInfo buf, const JsonbKeys *keys, int jentries, const JEntry *values)
{
	memcpy(buf->data + jentries, keys->jentries, sizeof(JEntry) * keys->n);
	memcpy(buf->data + jentries + sizeof(JEntry) * keys->n, values,
		   sizeof(JEntry) * keys->n);
	return JENTRY_ISCONTAINER;
}

/* {"<key1>": a, "<key2>": b}, two numbers (key1 sorts before key2). */
uint32
jsonb_put_number_pair(StringInfo buf, const JsonbKeys *keys, double a, double b)
{
	JEntry		values[2];
	int			jentries;
	int			data_start;
	int			child;

	Assert(keys->n == 2);
	data_start = jsonb_object_begin(buf, keys, &jentries);
	child = buf->len;
	values[0] = jsonb_close_child(buf, data_start, child, 2, jsonb_put_double(buf, a));
	child = buf->len;
	values[1] = jsonb_close_child(buf, data_start, child, 3, jsonb_put_double(buf, b));
	return jsonb_object_end(buf, keys, jentries, values);
}

/* ---- arrays of a known number of elements ---- */

/* Start an array of n elements of about element_size bytes each. */
void
jsonb_array_begin(JsonbArrayWriter *w, int n, Size element_size)
{
	initStringInfo(&w->buf);
	w->n = n;
	w->count = 0;
	/* size the buffer once, not by doubling */
	enlargeStringInfo(&w->buf, (int) Min((Size) n * element_size, MaxAllocSize / 2));
	/* varlena header, array header, one JEntry per element */
	jsonb_reserve(&w->buf, VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * n);
	w->data_start = w->buf.len;
}

/* End the element written since element_start (a value of that type). */
void
jsonb_array_element_end(JsonbArrayWriter *w, int element_start, uint32 type)
{
	JEntry		je;

	Assert(w->count < w->n);
	je = jsonb_close_child(&w->buf, w->data_start, element_start, w->count, type);
	memcpy(w->buf.data + VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * w->count,
		   &je, sizeof(JEntry));
	w->count++;
}

#ifdef USE_ASSERT_CHECKING
/*
 * The datum is what PostgreSQL's public API builds from the same value:
 * its text, read back by jsonb_in, gives the same bytes.
 */
static void
jsonb_check_against_postgres(const Jsonb *jb)
{
	char	   *text = JsonbToCString(NULL, (JsonbContainer *) &jb->root, VARSIZE(jb));
	Jsonb	   *built = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));

	if (VARSIZE(built) != VARSIZE(jb) || memcmp(built, jb, VARSIZE(jb)) != 0)
		elog(ERROR, "jsonb written by fanfare differs from jsonb_in's for %s", text);
	pfree(text);
	pfree(built);
}
#endif

/* The finished datum (in the buffer's memory). */
Jsonb *
jsonb_array_finish(JsonbArrayWriter *w)
{
	uint32		header = w->count | JB_FARRAY;

	Assert(w->count == w->n);
	memcpy(w->buf.data + VARHDRSZ, &header, sizeof(header));
	SET_VARSIZE(w->buf.data, w->buf.len);
#ifdef USE_ASSERT_CHECKING
	jsonb_check_against_postgres((Jsonb *) w->buf.data);
#endif
	return (Jsonb *) w->buf.data;
}
