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
 * Where values go.  Printing stops (exceeded) once out->len passes limit,
 * or once the values it was asked to print would take more than limit
 * bytes of the request to read: a value that prints small (a huge number
 * prints as null, a deep array as a few brackets) still costs its size to
 * read, and a nested text container its size again at every level.  In
 * compact form every value prints as null, and nothing is read.  The 400
 * body uses both to stay bounded; the 200 body prints with no limit.  Text
 * that will be read back as jsonb costs more than its length (jsonb's input
 * builds about 256 bytes per array or object): container_cost counts that
 * for each container of the request printed.
 */
typedef struct JsonPrinter
{
	StringInfo	out;
	Size		limit;			/* out->len past which printing stops */
	Size		read_left;		/* bytes of the request still to be read */
	Size		container_cost;	/* counted against limit per container */
	Size		containers_charged;
	bool		exceeded;
	bool		compact;
} JsonPrinter;

/*
 * n bytes appended to out.  appendBinaryStringInfo() is two calls into the
 * server per append, and the printers append a key, a literal or a packed
 * field about a hundred times per consumer: when out has room, copy inline
 * (a copy of a constant length compiles to a move).  out stays
 * NUL-terminated either way.
 */
static inline void
json_print_raw(StringInfo out, const void *data, int n)
{
	if (out->maxlen - out->len > n)
	{
		memcpy(out->data + out->len, data, n);
		out->len += n;
		out->data[out->len] = '\0';
	}
	else
		appendBinaryStringInfo(out, (const char *) data, n);
}

/* A string constant appended to out, its length known at compile time. */
#define json_print_const(out, lit) json_print_raw((out), (lit), sizeof(lit) - 1)

extern void json_printer_init(JsonPrinter *p, StringInfo out, Size limit);
extern bool json_printer_full(JsonPrinter *p);
extern bool json_printer_read(JsonPrinter *p, Size bytes);

/* A JSON string literal, escaped as JSON.stringify escapes. */
extern void json_print_string(StringInfo out, const char *s, int len);

/* true, false or null for those kinds; false (nothing written) otherwise. */
extern bool json_print_literal(StringInfo out, JsonKind kind);

/* A double as JSON.stringify prints it (non-finite: null). */
extern void json_print_number(StringInfo out, double d);

/* Any value, containers in JavaScript property order. */
extern void json_print_value(JsonPrinter *p, const JsonValue *v);

/* A metadata value as the schema outputs it (see json_record_foreach). */
extern void json_print_record_output(JsonPrinter *p, const JsonValue *record);

/* Valibot's "received": strings quoted but not escaped, containers by kind. */
extern void json_print_received(StringInfo out, const JsonValue *v);

#endif							/* JSON_PRINT_H */
