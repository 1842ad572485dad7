/*
 * json_text.h
 *	  The request text as JSON: one checking pass, then reading in place.
 *
 * json_text_read() checks that a text is exactly one JSON value (RFC 8259)
 * that PostgreSQL can store, without building anything; after it, the
 * readers below walk the text without checking again.  Containers are
 * spans of the text; strings without escapes point into it.
 */
#ifndef JSON_TEXT_H
#define JSON_TEXT_H

#include "json_value.h"

/* Deepest nesting of arrays and objects a request may have. */
#define JSON_TEXT_MAX_DEPTH 4096

typedef enum JsonTextError
{
	JSON_TEXT_OK,
	JSON_TEXT_EMPTY,			/* nothing but whitespace */
	JSON_TEXT_SYNTAX,			/* a character that does not belong there */
	JSON_TEXT_END,				/* the text ends inside a value */
	JSON_TEXT_DEPTH,			/* nested deeper than JSON_TEXT_MAX_DEPTH */
	JSON_TEXT_NUL,				/* \u0000: PostgreSQL text cannot hold it */
	JSON_TEXT_SURROGATE			/* a lone UTF-16 surrogate escape */
} JsonTextError;

extern JsonTextError json_text_read(const char *text, int len, JsonValue *root,
									int *offset);

/*
 * Where the children of a container are, as the checking pass found them,
 * so that reading them needs no second scan to find where each child ends
 * (just before the next one begins).
 * Only two containers get one: a root object (with each member's key), and
 * the array of its last member named "consumers" (the one JSON.parse
 * keeps), which is the batch.  Offsets count from base.  Anything else is
 * read by scanning, which costs its size once per read, and an outline of
 * every container would cost more memory than the text itself.
 */
typedef struct JsonTextOutline
{
	const char *base;
	bool		object;			/* has keys */
	int			n;
	int			allocated;
	uint32	   *keys;			/* objects: where each key starts */
	uint32	   *starts;			/* where each child value starts */
	uint32		close;			/* where the closing bracket is */
	int			batch_member;	/* root: the member whose value is batch */
	struct JsonTextOutline *batch;	/* root: that member's outline */
} JsonTextOutline;

/* A child of a container from its outline. */
extern void json_text_outline_child(const JsonTextOutline *outline, int i,
									JsonValue *key, JsonValue *value);

/* For json_value.c: reading a checked text. */
extern const char *json_text_value(const char *p, const char *end, JsonValue *v);
extern const char *json_text_value_end(const char *p, const char *end);
extern void json_text_value_at(const char *start, const char *end, JsonValue *value);
extern const char *json_text_skip_space(const char *p);

#endif							/* JSON_TEXT_H */
