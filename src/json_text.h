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

/* For json_value.c: reading a checked text. */
extern const char *json_text_value(const char *p, JsonValue *v);
extern const char *json_text_skip_space(const char *p);
extern double js_number_parse(const char *s, int len);

#endif							/* JSON_TEXT_H */
