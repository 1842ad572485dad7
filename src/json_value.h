/*
 * json_value.h
 *	  A value of the request body, whichever way it was read.
 *
 * Validation, staging, the response and the issues read the body through
 * this view.  Two readers stand behind it: jsonb's binary form (the
 * jsonb entry points, create_consumers and validate_consumers) and the
 * request text itself (the wire path, json_text.c).  A JsonValue copies
 * nothing: it points into the jsonb datum or into the text, except for a
 * text string with escapes, which is decoded once into the memory context
 * that was current when the value was read.
 *
 * Objects are read as JavaScript sees the result of JSON.parse: their
 * entries come in JavaScript property order (array-index keys ascending,
 * then the other keys in the order they first appear), and of a key given
 * twice the last value wins at the first one's place.  jsonb keeps neither
 * key order nor duplicates, so from jsonb the non-index keys come in
 * jsonb's order (shorter first): the one documented difference between the
 * two readers.
 */
#ifndef JSON_VALUE_H
#define JSON_VALUE_H

#include "postgres.h"

#include "jsonb_util.h"

typedef enum JsonKind
{
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
} JsonKind;

typedef enum JsonSource
{
	FROM_JSONB,
	FROM_TEXT
} JsonSource;

struct JsonTextOutline;

typedef struct JsonValue
{
	JsonKind	kind;
	JsonSource	source;
	uint32		len;			/* bytes at data */
	const char *data;			/* string: its bytes (unescaped); number:
								 * Numeric (jsonb) or the number's text;
								 * array, object: JsonbContainer (jsonb) or
								 * the text from its bracket on */
	const struct JsonTextOutline *outline;	/* text containers: where their
											 * children are, when known */
} JsonValue;

static inline bool
json_is_container(const JsonValue *v)
{
	return v->kind == JSON_ARRAY || v->kind == JSON_OBJECT;
}

static inline bool
json_is_bool(const JsonValue *v)
{
	return v->kind == JSON_TRUE || v->kind == JSON_FALSE;
}

static inline bool
json_string_equals(const JsonValue *v, const char *s, int len)
{
	return v->kind == JSON_STRING && v->len == (uint32) len && memcmp(v->data, s, len) == 0;
}

/* A value of kind at data[0..len) of request text (its children found by scanning). */
static inline void
json_from_text_span(JsonValue *v, JsonKind kind, const char *data, uint32 len)
{
	v->kind = kind;
	v->source = FROM_TEXT;
	v->len = len;
	v->data = data;
	v->outline = NULL;
}

/* The value of a jsonb child (see jsonb_util.h). */
extern void json_from_jsonb_node(const JsonbNode *node, JsonValue *v);
extern void json_from_jsonb(const Jsonb *jb, JsonValue *root);

/* A number as JSON.parse reads it: the nearest double, +-Infinity beyond. */
extern double json_number(const JsonValue *v);
extern bool json_number_is_infinite(const JsonValue *v);

/*
 * What only the reader knows, asked without naming it: an array's length
 * when it is known without reading the array (jsonb), the jsonb datum of a
 * container stored as one (NULL from text), a finite number as numeric
 * (whichever reader it came from), and the bytes of request text a value
 * spans (what printing it reads; 0 for a jsonb container).
 */
extern bool json_array_length_known(const JsonValue *array, int *n);
extern Jsonb *json_container_jsonb(const JsonValue *container);
extern Numeric json_number_numeric(const JsonValue *number);
extern uint32 json_text_span(const JsonValue *v);

/* Object member by key; of a key given twice, the last. */
extern bool json_lookup(const JsonValue *object, const char *key, int keylen,
						JsonValue *value);

/*
 * Entries of an array (keys unset) or object, in the order described above.
 * The iterator may allocate in the current memory context; json_iter_end
 * frees what it can.
 */
typedef struct JsonEntry
{
	JsonValue	key;
	JsonValue	value;
} JsonEntry;

typedef struct JsonIter
{
	const JsonValue *container;
	int			index;
	/* jsonb: two passes over an object (index keys, then the others) */
	int			n;
	int			pass;
	/* text: a cursor in the array (or in its outline), or an object's
	 * members (json_value.c) and the order they are visited in */
	const char *pos;
	void	   *members;
	int		   *order;
	int			norder;
} JsonIter;

extern void json_iter_init(JsonIter *it, const JsonValue *container);
extern bool json_iter_next(JsonIter *it, JsonValue *key, JsonValue *value);
extern void json_iter_end(JsonIter *it);

/*
 * An object's members exactly as written (text) or stored (jsonb): every
 * occurrence of a duplicate key, no reordering.  For matching keys to the
 * field catalogue, where the last occurrence must simply win.
 */
typedef struct JsonMemberScan
{
	const JsonValue *object;
	int			index;
	int			n;
	const char *pos;			/* text: where the next member begins */
	ChildCursor keys;			/* jsonb: the next key, and its value */
	ChildCursor values;
} JsonMemberScan;

extern void json_members_init(JsonMemberScan *scan, const JsonValue *object);
extern bool json_members_next(JsonMemberScan *scan, JsonValue *key, JsonValue *value);

/* JavaScript's view of record keys (metadata). */
extern bool json_is_prototype_key(const char *key, int len);
extern bool json_is_array_index_key(const char *key, int len);

/*
 * A record's entries as Valibot's record() visits them: an array's items
 * keyed "0", "1", ...; an object's entries in the order above, without the
 * keys a record skips (__proto__, constructor, prototype).  fn returns false
 * to stop.  Returns true when the record's output differs from the value
 * (an array, or skipped keys).  Keys of array items are allocated; the
 * others point into the value.
 */
typedef bool (*RecordEntryFn) (void *arg, const char *key, int keylen,
							   const JsonValue *value);
extern bool json_record_foreach(const JsonValue *record, RecordEntryFn fn, void *arg);

#endif							/* JSON_VALUE_H */
