/*
 * json_print.h
 *	  Values as JSON.stringify prints what JSON.parse made of them.
 */
#ifndef JSON_PRINT_H
#define JSON_PRINT_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "json_value.h"

/*
 * Where values go.  Printing stops (exceeded) once out->len passes limit;
 * in compact form every value prints as null.  The 400 body uses both to
 * stay bounded; the 200 body prints with no limit.
 */
typedef struct JsonPrinter
{
	StringInfo	out;
	Size		limit;
	bool		exceeded;
	bool		compact;
} JsonPrinter;

extern void json_printer_init(JsonPrinter *p, StringInfo out, Size limit);
extern bool json_printer_full(JsonPrinter *p);

/* A JSON string literal, escaped as JSON.stringify escapes. */
extern void write_json_string(StringInfo out, const char *s, int len);

/* true, false or null for those kinds; false (nothing written) otherwise. */
extern bool write_json_literal(StringInfo out, JsonKind kind);

/* A double as JSON.stringify prints it (non-finite: null). */
extern void write_json_number(StringInfo out, double d);

/* Any value, containers in JavaScript property order. */
extern void print_json_value(JsonPrinter *p, const JsonValue *v);

/* A metadata value as the schema outputs it (see record_foreach). */
extern void print_record_output(JsonPrinter *p, const JsonValue *record);

/* Valibot's "received": strings quoted but not escaped, containers by kind. */
extern void write_received(StringInfo out, const JsonValue *v);

#endif							/* JSON_PRINT_H */
