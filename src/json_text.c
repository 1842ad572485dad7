/*
 * json_text.c
 *	  Reading the request body as JSON text, in place.
 *
 * The wire path (import_consumers and the fronts built on it) reads the
 * body as sent instead of through jsonb: no tree of the whole body is
 * built, and the body's own key order and duplicate keys reach validation
 * as JSON.parse sees them.  json_text_read() makes one pass that checks the
 * whole text, iteratively (no recursion, whatever the nesting); the other
 * functions then read parts of the checked text on demand, and never check
 * again.  What is checked is RFC 8259's grammar, plus what PostgreSQL's own
 * json and jsonb input refuse: \u0000 and lone surrogate escapes, which no
 * PostgreSQL text can hold.  The text's encoding is the caller's to check.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "byte_scan.h"
#include "json_text.h"
#include "json_value.h"

/* Bytes that end a run of ordinary string characters. */
static bool string_special[256];
static bool string_special_ready = false;

static void
string_special_init(void)
{
	for (int c = 0; c < 256; c++)
		string_special[c] = c < 0x20 || c == '"' || c == '\\';
	string_special_ready = true;
}

static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The first '"' or '\\' at or after p, which a checked text has before end. */
static inline const char *
string_stop(const char *p, const char *end)
{
	uint64		w;

	while (end - p >= 8)
	{
		memcpy(&w, p, 8);
		if (byte_scan_has(w, '"') | byte_scan_has(w, '\\'))
			break;
		p += 8;
	}
	while (*p != '"' && *p != '\\')
		p++;
	return p;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p (bounded by end); -1 if they are not. */
static int
hex4(const char *p, const char *end)
{
	int			v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++)
	{
		int			h = hex_value(p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* ---- the checking pass ---- */

typedef struct TextCheck
{
	const char *start;
	const char *end;
	const char *p;
	JsonTextError error;
	JsonTextOutline *root;		/* a root object's outline */
	JsonTextOutline *batch;		/* the "consumers" array being read */
	const char *key;			/* the root member being read: its key */
} TextCheck;

/* How many values the checking pass reads between interrupt checks. */
#define VALUES_PER_INTERRUPT_CHECK 4096

static JsonTextOutline *
outline_new(const char *base, bool object)
{
	JsonTextOutline *o = palloc0(sizeof(JsonTextOutline));

	o->base = base;
	o->object = object;
	o->batch_member = -1;
	return o;
}

static void
outline_free(JsonTextOutline *o)
{
	if (o->allocated > 0)
	{
		pfree(o->starts);
		if (o->object)
			pfree(o->keys);
	}
	pfree(o);
}

/* A child of an outlined container begins at start (key: its key). */
static void
outline_begin(JsonTextOutline *o, const char *key, const char *start)
{
	if (o->n == o->allocated)
	{
		bool		first = o->allocated == 0;

		o->allocated = first ? 8 : o->allocated * 2;
		if (first)
		{
			o->starts = palloc(sizeof(uint32) * o->allocated);
			if (o->object)
				o->keys = palloc(sizeof(uint32) * o->allocated);
		}
		else
		{
			o->starts = repalloc_huge(o->starts, sizeof(uint32) * o->allocated);
			if (o->object)
				o->keys = repalloc_huge(o->keys, sizeof(uint32) * o->allocated);
		}
	}
	if (o->object)
		o->keys[o->n] = key - o->base;
	o->starts[o->n] = start - o->base;
	o->n++;
}

/* The outline being recorded at depth (1: the root, 2: a root member). */
static JsonTextOutline *
outline_at(TextCheck *tc, int depth)
{
	if (depth == 1)
		return tc->root;
	if (depth == 2)
		return tc->batch;
	return NULL;
}

/*
 * A container opens at depth: outline the root object, and an array that
 * is the value of a root member named "consumers" (a later one replaces
 * an earlier one, as in JSON.parse).
 */
static void
outline_open(TextCheck *tc, int depth, char bracket)
{
	if (depth == 0 && bracket == '{')
		tc->root = outline_new(tc->start, true);
	else if (depth == 1 && tc->root && bracket == '[' &&
			 tc->end - tc->key >= 11 && memcmp(tc->key, "\"consumers\"", 11) == 0)
	{
		if (tc->root->batch)
			outline_free(tc->root->batch);
		tc->batch = outline_new(tc->start, false);
		tc->root->batch = tc->batch;
		tc->root->batch_member = tc->root->n - 1;
	}
}

static bool
fail(TextCheck *tc, JsonTextError error)
{
	if (tc->error == JSON_TEXT_OK)
		tc->error = tc->p >= tc->end && error == JSON_TEXT_SYNTAX ? JSON_TEXT_END : error;
	return false;
}

static void
skip_space(TextCheck *tc)
{
	while (tc->p < tc->end && is_space(*tc->p))
		tc->p++;
}

/* A string, tc->p at its opening quote. */
static bool
check_string(TextCheck *tc)
{
	const char *p = tc->p + 1;
	const char *end = tc->end;

	for (;;)
	{
		unsigned char c;
		uint64		w;

		while (end - p >= 8)
		{
			memcpy(&w, p, 8);
			if (byte_scan_has_string_special(w))
				break;
			p += 8;
		}
		while (p < end && !string_special[(unsigned char) *p])
			p++;
		if (p >= end)
		{
			tc->p = p;
			return fail(tc, JSON_TEXT_END);
		}
		c = *p;
		if (c == '"')
		{
			tc->p = p + 1;
			return true;
		}
		if (c < 0x20)
		{
			tc->p = p;
			return fail(tc, JSON_TEXT_SYNTAX);
		}
		/* a backslash */
		tc->p = p;
		if (++p >= end)
			return fail(tc, JSON_TEXT_END);
		switch (*p)
		{
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p++;
				break;
			case 'u':
				{
					int			code = hex4(p + 1, end);

					if (code < 0)
						return fail(tc, end - p < 5 ? JSON_TEXT_END : JSON_TEXT_SYNTAX);
					p += 5;
					if (code == 0)
						return fail(tc, JSON_TEXT_NUL);
					if (is_utf16_surrogate_second(code))
						return fail(tc, JSON_TEXT_SURROGATE);
					if (is_utf16_surrogate_first(code))
					{
						int			low = end - p >= 6 && p[0] == '\\' && p[1] == 'u'
						? hex4(p + 2, end) : -1;

						if (low < 0 || !is_utf16_surrogate_second(low))
							return fail(tc, JSON_TEXT_SURROGATE);
						p += 6;
					}
				}
				break;
			default:
				return fail(tc, JSON_TEXT_SYNTAX);
		}
	}
}

/* A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
check_number(TextCheck *tc)
{
	const char *p = tc->p;
	const char *end = tc->end;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && is_digit(*p))
		while (p < end && is_digit(*p))
			p++;
	else
	{
		tc->p = p;
		return fail(tc, JSON_TEXT_SYNTAX);
	}
	if (p < end && *p == '.')
	{
		p++;
		if (p >= end || !is_digit(*p))
		{
			tc->p = p;
			return fail(tc, JSON_TEXT_SYNTAX);
		}
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !is_digit(*p))
		{
			tc->p = p;
			return fail(tc, JSON_TEXT_SYNTAX);
		}
		while (p < end && is_digit(*p))
			p++;
	}
	tc->p = p;
	return true;
}

static bool
check_literal(TextCheck *tc, const char *word, int len)
{
	if (tc->end - tc->p < len || memcmp(tc->p, word, len) != 0)
	{
		/* point at the first byte that differs */
		while (tc->p < tc->end && len > 0 && *tc->p == *word)
			tc->p++, word++, len--;
		return fail(tc, JSON_TEXT_SYNTAX);
	}
	tc->p += len;
	return true;
}

/*
 * Check text[0..len) and describe its root value.  On failure, *offset is
 * the byte at which the text stopped being JSON.
 *
 * This is the lexer's main loop, and it is longer than the 80 lines other
 * functions keep to on purpose: one loop with an explicit stack (no
 * recursion, so no depth limit but JSON_TEXT_MAX_DEPTH) whose states, a
 * value then what may follow it, read best in one place; the tokens
 * themselves are read by the helpers above.
 */
JsonTextError
json_text_read(const char *text, int len, JsonValue *root, int *offset)
{
	TextCheck	tc = {text, text + len, text, JSON_TEXT_OK, NULL, NULL, NULL};
	char	   *stack = NULL;	/* '{' or '[' per open container */
	int			depth = 0;
	int			values = 0;
	const char *root_start;
	const char *root_value_end = NULL;	/* just past the root value */
	JsonTextOutline *o;

	if (!string_special_ready)
		string_special_init();
	skip_space(&tc);
	if (tc.p == tc.end)
	{
		*offset = len;
		return JSON_TEXT_EMPTY;
	}
	root_start = tc.p;

	for (;;)
	{
		/* a value */
		skip_space(&tc);
		if (tc.p >= tc.end)
		{
			fail(&tc, JSON_TEXT_END);
			break;
		}
		if (++values % VALUES_PER_INTERRUPT_CHECK == 0)
			CHECK_FOR_INTERRUPTS();
		if ((o = outline_at(&tc, depth)) != NULL)
			outline_begin(o, tc.key, tc.p);
		switch (*tc.p)
		{
			case '{':
			case '[':
				if (depth == JSON_TEXT_MAX_DEPTH)
				{
					fail(&tc, JSON_TEXT_DEPTH);
					break;
				}
				if (stack == NULL)
					stack = palloc(JSON_TEXT_MAX_DEPTH);
				outline_open(&tc, depth, *tc.p);
				stack[depth++] = *tc.p++;
				skip_space(&tc);
				if (tc.p < tc.end && (*tc.p == '}' || *tc.p == ']') &&
					*tc.p == (stack[depth - 1] == '{' ? '}' : ']'))
				{
					tc.p++;
					depth--;
					if (depth == 1)
						tc.batch = NULL;
					break;		/* an empty container: a complete value */
				}
				if (stack[depth - 1] == '[')
					continue;	/* its first item */
				goto key;
			case '"':
				check_string(&tc);
				break;
			case 't':
				check_literal(&tc, "true", 4);
				break;
			case 'f':
				check_literal(&tc, "false", 5);
				break;
			case 'n':
				check_literal(&tc, "null", 4);
				break;
			default:
				check_number(&tc);
				break;
		}
		if (tc.error != JSON_TEXT_OK)
			break;

		/* after a value: a separator, a closing bracket or the end */
after_value:
		if (depth == 0)
			root_value_end = tc.p;
		skip_space(&tc);
		if (depth == 0)
		{
			if (tc.p < tc.end)
				fail(&tc, JSON_TEXT_SYNTAX);
			break;
		}
		if (tc.p >= tc.end)
		{
			fail(&tc, JSON_TEXT_END);
			break;
		}
		if (*tc.p == (stack[depth - 1] == '{' ? '}' : ']'))
		{
			if ((o = outline_at(&tc, depth)) != NULL)
				o->close = tc.p - text;
			tc.p++;
			depth--;
			if (depth == 1)
				tc.batch = NULL;	/* the batch, if it was one, is complete */
			goto after_value;
		}
		if (*tc.p != ',')
		{
			fail(&tc, JSON_TEXT_SYNTAX);
			break;
		}
		tc.p++;
		if (stack[depth - 1] == '[')
			continue;

		/* an object's key and colon */
key:
		skip_space(&tc);
		if (tc.p >= tc.end || *tc.p != '"')
		{
			fail(&tc, JSON_TEXT_SYNTAX);
			break;
		}
		if (depth == 1)
			tc.key = tc.p;
		if (!check_string(&tc))
			break;
		skip_space(&tc);
		if (tc.p >= tc.end || *tc.p != ':')
		{
			fail(&tc, JSON_TEXT_SYNTAX);
			break;
		}
		tc.p++;
	}
	if (stack)
		pfree(stack);
	if (tc.error != JSON_TEXT_OK)
	{
		*offset = tc.p - text;
		return tc.error;
	}
	*offset = 0;
	if (*root_start == '-' || is_digit(*root_start))
	{
		/* a number may end the text, which need not be NUL-terminated */
		const char *root_end = tc.end;

		while (is_space(root_end[-1]))
			root_end--;
		root->kind = JSON_NUMBER;
		root->source = FROM_TEXT;
		root->data = root_start;
		root->len = root_end - root_start;
		root->outline = NULL;
	}
	else if (*root_start == '{' || *root_start == '[')
	{
		/* where it ends is known: no second scan of the whole text */
		json_from_text_span(root, *root_start == '{' ? JSON_OBJECT : JSON_ARRAY,
							root_start, root_value_end - root_start);
		root->outline = tc.root;
	}
	else
		json_text_value(root_start, text + len, root);
	return JSON_TEXT_OK;
}

/* ---- reading checked text ---- */

const char *
json_text_skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/*
 * The closing quote of a checked string whose contents begin at p; sets
 * *escaped (when given) if it has escapes.
 */
static const char *
string_close(const char *p, const char *end, bool *escaped)
{
	for (;;)
	{
		p = string_stop(p, end);
		if (*p == '"')
			return p;
		if (escaped)
			*escaped = true;
		p += 2;					/* a backslash and the byte after it */
	}
}

/* Past a checked number at p. */
static const char *
number_end(const char *p)
{
	while (is_digit(*p) || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')
		p++;
	return p;
}

/* Past the container whose bracket is at p (it closes before end). */
static const char *
skip_container(const char *p, const char *end)
{
	int			depth = 0;

	for (;;)
	{
		char		c = *p++;

		if (c == '"')
			p = string_close(p, end, NULL) + 1;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
		{
			if (--depth == 0)
				return p;
		}
	}
}

/* Append the character an escape at p names; returns the escape's end. */
static const char *
decode_escape(const char *p, char *out, int *outlen)
{
	char		c = p[1];

	switch (c)
	{
		case 'b':
			out[(*outlen)++] = '\b';
			return p + 2;
		case 'f':
			out[(*outlen)++] = '\f';
			return p + 2;
		case 'n':
			out[(*outlen)++] = '\n';
			return p + 2;
		case 'r':
			out[(*outlen)++] = '\r';
			return p + 2;
		case 't':
			out[(*outlen)++] = '\t';
			return p + 2;
		case 'u':
			{
				pg_wchar	code = hex4(p + 2, p + 6);

				p += 6;
				if (is_utf16_surrogate_first(code))
				{
					code = surrogate_pair_to_codepoint(code, hex4(p + 2, p + 6));
					p += 6;
				}
				if (code < 0x80)
					out[(*outlen)++] = (char) code;
				else if (GetDatabaseEncoding() == PG_UTF8)
				{
					unicode_to_utf8(code, (unsigned char *) out + *outlen);
					*outlen += pg_utf_mblen((unsigned char *) out + *outlen);
				}
				else
				{
					pg_unicode_to_server(code, (unsigned char *) out + *outlen);
					*outlen += strlen(out + *outlen);
				}
				return p;
			}
		default:				/* " \ / */
			out[(*outlen)++] = c;
			return p + 2;
	}
}

/* A string at p: points into the text, or decoded when it has escapes. */
static const char *
read_string(const char *p, const char *end, JsonValue *v)
{
	bool		escaped = false;
	const char *q = string_close(p + 1, end, &escaped);

	v->kind = JSON_STRING;
	v->source = FROM_TEXT;
	if (!escaped)
	{
		v->data = p + 1;
		v->len = q - (p + 1);
	}
	else
	{
		/* decoded: never longer than the escapes, up to 4 bytes per \u */
		char	   *out = palloc(q - p + MAX_MULTIBYTE_CHAR_LEN + 1);
		int			n = 0;
		const char *r = p + 1;

		while (r < q)
		{
			if (*r == '\\')
				r = decode_escape(r, out, &n);
			else
				out[n++] = *r++;
		}
		out[n] = '\0';
		v->data = out;
		v->len = n;
	}
	return q + 1;
}

/*
 * The value at p (no leading space) of a checked text, inside a container
 * or text that ends at end; returns the value's end.
 */
const char *
json_text_value(const char *p, const char *end, JsonValue *v)
{
	const char *q;

	if (!string_special_ready)
		string_special_init();
	v->source = FROM_TEXT;
	v->data = p;
	v->outline = NULL;
	switch (*p)
	{
		case '{':
		case '[':
			v->kind = *p == '{' ? JSON_OBJECT : JSON_ARRAY;
			q = skip_container(p, end);
			v->len = q - p;
			return q;
		case '"':
			return read_string(p, end, v);
		case 't':
			v->kind = JSON_TRUE;
			v->len = 4;
			return p + 4;
		case 'f':
			v->kind = JSON_FALSE;
			v->len = 5;
			return p + 5;
		case 'n':
			v->kind = JSON_NULL;
			v->len = 4;
			return p + 4;
		default:
			/* a number; a root number may end the text (see the caller) */
			v->kind = JSON_NUMBER;
			q = number_end(p);
			v->len = q - p;
			return q;
	}
}

/*
 * Where the value at p (no leading space) of a checked text ends, without
 * decoding it; the value is inside a container or text that ends at end.
 */
const char *
json_text_value_end(const char *p, const char *end)
{
	switch (*p)
	{
		case '{':
		case '[':
			return skip_container(p, end);
		case '"':
			return string_close(p + 1, end, NULL) + 1;
		case 't':
		case 'n':
			return p + 4;
		case 'f':
			return p + 5;
		default:
			return number_end(p);
	}
}

/*
 * The value that spans [start, end) of a checked text: a container is
 * taken as it is, without finding its end again.
 */
void
json_text_value_at(const char *start, const char *end, JsonValue *value)
{
	if (*start != '{' && *start != '[')
	{
		json_text_value(start, end, value);
		return;
	}
	value->kind = *start == '{' ? JSON_OBJECT : JSON_ARRAY;
	value->source = FROM_TEXT;
	value->data = start;
	value->len = end - start;
	value->outline = NULL;
}

/*
 * Where child i of an outlined container ends: before the space (and the
 * comma) that precede the next child's key or value, or the closing bracket.
 */
static const char *
outline_child_end(const JsonTextOutline *outline, int i)
{
	const char *p;

	if (i + 1 == outline->n)
		p = outline->base + outline->close;
	else
		p = outline->base + (outline->object ? outline->keys[i + 1] : outline->starts[i + 1]);
	while (is_space(p[-1]))
		p--;
	if (i + 1 < outline->n)
	{
		p--;					/* the comma */
		while (is_space(p[-1]))
			p--;
	}
	return p;
}

void
json_text_outline_child(const JsonTextOutline *outline, int i, JsonValue *key,
						JsonValue *value)
{
	const char *start = outline->base + outline->starts[i];
	const char *end = outline_child_end(outline, i);

	if (key)
		json_text_value(outline->base + outline->keys[i], start, key);
	json_text_value_at(start, end, value);
	if (i == outline->batch_member)
		value->outline = outline->batch;
}
