/*
 * json_print.c
 *	  Printing request values as a JavaScript service would send them.
 *
 * The contract's service answers with JSON.stringify of what JSON.parse
 * made of the request, so values are printed that way whichever reader
 * they come from: numbers by Number#toString (Infinity as null), strings
 * escaped as JSON.stringify escapes, object entries in JavaScript property
 * order.  Used by the issues of the 400 body and by the 200 body's text.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "byte_scan.h"
#include "js_number.h"
#include "json_print.h"
#include "json_value.h"

/* limit bounds both what is written after out->len and what is read. */
void
json_printer_init(JsonPrinter *p, StringInfo out, Size limit)
{
	p->out = out;
	p->limit = limit;
	p->read_left = limit - Min(limit, (Size) out->len);
	p->container_cost = 0;
	p->containers_charged = 0;
	p->exceeded = false;
	p->compact = false;
}

/*
 * Account for reading bytes of the request; false (and exceeded) when the
 * printer may not read that much more.  Reading is also where a long print
 * can be cancelled.
 */
bool
json_printer_read(JsonPrinter *p, Size bytes)
{
	CHECK_FOR_INTERRUPTS();
	if (p->exceeded || bytes > p->read_left)
	{
		p->exceeded = true;
		return false;
	}
	p->read_left -= bytes;
	return true;
}

bool
json_printer_full(JsonPrinter *p)
{
	if ((Size) p->out->len + p->containers_charged > p->limit)
		p->exceeded = true;
	return p->exceeded;
}

void
json_print_string(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789abcdef";
	const char *p = s;
	const char *end = s + len;
	char	   *w;

	/*
	 * Room for the common case at once: the quotes and every byte as it
	 * is.  Runs of bytes that need no escape are copied whole, found eight
	 * bytes at a time.
	 */
	enlargeStringInfo(out, len + 2);
	w = out->data + out->len;
	*w++ = '"';
	for (;;)
	{
		const char *run = p;
		uint64		word;

		while (end - p >= 8)
		{
			memcpy(&word, p, 8);
			if (byte_scan_has_string_special(word))
				break;
			p += 8;
		}
		while (p < end && (unsigned char) *p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		memcpy(w, run, p - run);
		w += p - run;
		if (p == end)
			break;

		/* an escape: up to six bytes for one, so room for the rest again */
		out->len = w - out->data;
		enlargeStringInfo(out, 6 + (end - p) + 1);
		w = out->data + out->len;
		*w++ = '\\';
		switch (*p)
		{
			case '"':
				*w++ = '"';
				break;
			case '\\':
				*w++ = '\\';
				break;
			case '\b':
				*w++ = 'b';
				break;
			case '\f':
				*w++ = 'f';
				break;
			case '\n':
				*w++ = 'n';
				break;
			case '\r':
				*w++ = 'r';
				break;
			case '\t':
				*w++ = 't';
				break;
			default:
				*w++ = 'u';
				*w++ = '0';
				*w++ = '0';
				*w++ = hex[(unsigned char) *p >> 4];
				*w++ = hex[(unsigned char) *p & 15];
				break;
		}
		p++;
	}
	*w++ = '"';
	out->len = w - out->data;
	out->data[out->len] = '\0';
}

/* true, false or null; false when the kind is none of them. */
bool
json_print_literal(StringInfo out, JsonKind kind)
{
	switch (kind)
	{
		case JSON_TRUE:
			json_print_const(out, "true");
			return true;
		case JSON_FALSE:
			json_print_const(out, "false");
			return true;
		case JSON_NULL:
			json_print_const(out, "null");
			return true;
		default:
			return false;
	}
}

void
json_print_number(StringInfo out, double d)
{
	char		buf[32];

	if (!isfinite(d))
		json_print_const(out, "null");
	else
		json_print_raw(out, buf, js_number_format(d, buf));
}

void
json_print_value(JsonPrinter *p, const JsonValue *v)
{
	StringInfo	out = p->out;

	check_stack_depth();
	if (json_printer_full(p))
		return;
	if (p->compact)
	{
		appendStringInfoString(out, "null");
		return;
	}
	if (json_print_literal(out, v->kind))
		return;
	/* a text container is read again by each level that prints it */
	if (!json_printer_read(p, json_text_span(v)))
		return;
	switch (v->kind)
	{
		case JSON_STRING:
			json_print_string(out, v->data, v->len);
			break;
		case JSON_NUMBER:
			json_print_number(out, json_number(v));
			break;
		case JSON_TRUE:
		case JSON_FALSE:
		case JSON_NULL:
			break;
		case JSON_ARRAY:
		case JSON_OBJECT:
			{
				bool		object = v->kind == JSON_OBJECT;
				JsonIter	it;
				JsonValue	key;
				JsonValue	child;
				bool		first = true;

				p->containers_charged += p->container_cost;
				appendStringInfoCharMacro(out, object ? '{' : '[');
				json_iter_init(&it, v);
				while (!json_printer_full(p) && json_iter_next(&it, &key, &child))
				{
					if (!first)
						appendStringInfoCharMacro(out, ',');
					first = false;
					if (object)
					{
						json_print_string(out, key.data, key.len);
						appendStringInfoCharMacro(out, ':');
					}
					json_print_value(p, &child);
				}
				json_iter_end(&it);
				appendStringInfoCharMacro(out, object ? '}' : ']');
			}
			break;
	}
}

/* json_print_record_output's visitor */
typedef struct RecordOutput
{
	JsonPrinter *p;
	bool		first;
} RecordOutput;

static bool
print_record_entry(void *arg, const char *key, int keylen, const JsonValue *value)
{
	RecordOutput *ro = arg;

	if (!ro->first)
		appendStringInfoCharMacro(ro->p->out, ',');
	ro->first = false;
	json_print_string(ro->p->out, key, keylen);
	appendStringInfoCharMacro(ro->p->out, ':');
	json_print_value(ro->p, value);
	return !json_printer_full(ro->p);
}

void
json_print_record_output(JsonPrinter *p, const JsonValue *record)
{
	RecordOutput ro = {p, true};

	appendStringInfoCharMacro(p->out, '{');
	json_record_foreach(record, print_record_entry, &ro);
	appendStringInfoCharMacro(p->out, '}');
}

void
json_print_received(StringInfo out, const JsonValue *v)
{
	char		buf[32];

	if (json_print_literal(out, v->kind))
		return;
	switch (v->kind)
	{
		case JSON_STRING:
			appendStringInfoCharMacro(out, '"');
			appendBinaryStringInfo(out, v->data, v->len);
			appendStringInfoCharMacro(out, '"');
			break;
		case JSON_NUMBER:
			/* String(x): Infinity prints as Infinity here */
			appendBinaryStringInfo(out, buf, js_number_format(json_number(v), buf));
			break;
		case JSON_TRUE:
		case JSON_FALSE:
		case JSON_NULL:
			break;
		case JSON_ARRAY:
			appendStringInfoString(out, "Array");
			break;
		case JSON_OBJECT:
			appendStringInfoString(out, "Object");
			break;
	}
}
