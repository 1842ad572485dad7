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
 * Where the children of a container are, as the checking pass found them:
 * for the root and for each container directly in it (a request body and
 * its consumers array), so that reading them needs no second scan to find
 * where each child ends.  Objects also have each member's key.
 */
typedef struct JsonTextOutline
{
	int			n;
	int			allocated;
	const char **keys;			/* objects: where each key starts */
	const char **starts;		/* where each child value starts */
	const char **ends;			/* and where it ends */
	struct JsonTextOutline **children;	/* a child container's own outline */
} JsonTextOutline;

/* A child of a container from its outline. */
extern void json_text_outline_child(const JsonTextOutline *outline, int i,
									JsonValue *key, JsonValue *value);

/* For json_value.c: reading a checked text. */
extern const char *json_text_value(const char *p, const char *end, JsonValue *v);
extern const char *json_text_skip_space(const char *p);
extern double js_number_parse(const char *s, int len);

#endif							/* JSON_TEXT_H */
