/*
 * json_check.c
 *	  Is this one JSON text?  RFC 8259's grammar and UTF-8, checked without
 *	  building anything.
 *
 * A row is checked once as it is read and then sent as the bytes it is;
 * only a rejected row is parsed (by jansson) for the rejects file.  Checking
 * allocates nothing and is several times cheaper than parsing into jansson
 * objects and freeing them, which is most of what the importer would
 * otherwise spend its CPU on (the server shares the machine).  Numbers of any
 * size pass: the server reads them as JavaScript would.
 */
#include "import.h"

#include <string.h>

#define MAX_DEPTH 2048

struct cursor
{
	const unsigned char *p;
	const unsigned char *start;
	const unsigned char *end;
	int			depth;
	const char *error;
};

static bool value(struct cursor *c);

/* Skips JSON whitespace. */
static void
skip_space(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Notes the first error; false. */
static bool
fail(struct cursor *c, const char *error)
{
	if (c->error == NULL)
		c->error = error;
	return false;
}

/* n continuation bytes (10xxxxxx) follow */
static bool
continuation(struct cursor *c, int n)
{
	for (int i = 0; i < n; i++, c->p++)
		if (c->p >= c->end || (*c->p & 0xC0) != 0x80)
			return fail(c, "invalid UTF-8");
	return true;
}

/* One UTF-8 sequence of two bytes or more, its first byte at c->p. */
static bool
utf8_sequence(struct cursor *c)
{
	unsigned char b = *c->p++;
	unsigned char lo = 0x80,
				hi = 0xBF;
	int			n;

	if (b >= 0xC2 && b <= 0xDF)
		n = 1;
	else if (b >= 0xE0 && b <= 0xEF)
	{
		n = 2;
		if (b == 0xE0)
			lo = 0xA0;			/* no overlong form */
		if (b == 0xED)
			hi = 0x9F;			/* no surrogate */
	}
	else if (b >= 0xF0 && b <= 0xF4)
	{
		n = 3;
		if (b == 0xF0)
			lo = 0x90;
		if (b == 0xF4)
			hi = 0x8F;			/* nothing past U+10FFFF */
	}
	else
		return fail(c, "invalid UTF-8");
	if (c->p >= c->end || *c->p < lo || *c->p > hi)
		return fail(c, "invalid UTF-8");
	c->p++;
	return continuation(c, n - 1);
}

/* A string, c->p at its opening quote. */
static bool
string(struct cursor *c)
{
	c->p++;
	while (c->p < c->end)
	{
		unsigned char b = *c->p;

		if (b == '"')
		{
			c->p++;
			return true;
		}
		if (b == '\\')
		{
			c->p++;
			if (c->p >= c->end)
				break;
			if (*c->p == 'u')
			{
				for (int i = 1; i <= 4; i++)
					if (c->p + i >= c->end || !strchr("0123456789abcdefABCDEF", c->p[i]) || c->p[i] == '\0')
						return fail(c, "invalid \\u escape in a string");
				c->p += 5;
			}
			else if (strchr("\"\\/bfnrt", *c->p) && *c->p != '\0')
				c->p++;
			else
				return fail(c, "invalid escape in a string");
		}
		else if (b < 0x20)
			return fail(c, "control character in a string");
		else if (b < 0x80)
			c->p++;
		else if (!utf8_sequence(c))
			return false;
	}
	return fail(c, "the string does not end (truncated?)");
}

/* at least one digit */
static bool
digits(struct cursor *c)
{
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return fail(c, "invalid number");
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return true;
}

/* A number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool
number(struct cursor *c)
{
	if (*c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!digits(c))
		return false;
	if (c->p < c->end && *c->p == '.')
	{
		c->p++;
		if (!digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
	{
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!digits(c))
			return false;
	}
	return true;
}

/* true, false or null */
static bool
literal(struct cursor *c, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return fail(c, "invalid JSON value");
	c->p += n;
	return true;
}

/* An object or an array, c->p at its opening bracket. */
static bool
container(struct cursor *c, bool object)
{
	unsigned char close = object ? '}' : ']';

	if (++c->depth > MAX_DEPTH)
		return fail(c, "nested too deeply");
	c->p++;
	skip_space(c);
	if (c->p < c->end && *c->p == close)
	{
		c->p++;
		c->depth--;
		return true;
	}
	for (;;)
	{
		if (object)
		{
			if (c->p >= c->end || *c->p != '"')
				return fail(c, c->p >= c->end ? "the input ends inside an object (truncated?)" : "expected a string key");
			if (!string(c))
				return false;
			skip_space(c);
			if (c->p >= c->end || *c->p != ':')
				return fail(c, "expected ':' after a key");
			c->p++;
			skip_space(c);
		}
		if (!value(c))
			return false;
		skip_space(c);
		if (c->p >= c->end)
			return fail(c, object ? "the input ends inside an object (truncated?)" :
						"the input ends inside an array (truncated?)");
		if (*c->p == close)
		{
			c->p++;
			c->depth--;
			return true;
		}
		if (*c->p != ',')
			return fail(c, object ? "expected ',' or '}'" : "expected ',' or ']'");
		c->p++;
		skip_space(c);
	}
}

/* Any value at c->p. */
static bool
value(struct cursor *c)
{
	if (c->p >= c->end)
		return fail(c, "expected a value (truncated?)");
	switch (*c->p)
	{
		case '{':
			return container(c, true);
		case '[':
			return container(c, false);
		case '"':
			return string(c);
		case 't':
			return literal(c, "true");
		case 'f':
			return literal(c, "false");
		case 'n':
			return literal(c, "null");
		default:
			if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
				return number(c);
			return fail(c, *c->p >= 0x80 ? "invalid UTF-8" : "invalid JSON value");
	}
}

/*
 * true when text[0..len) is one JSON value, with whitespace around it;
 * else false, with error and the offset of the byte at fault.
 */
bool
json_check(const char *text, size_t len, const char **error, size_t *offset)
{
	struct cursor c = {(const unsigned char *) text, (const unsigned char *) text,
	(const unsigned char *) text + len, 0, NULL};

	skip_space(&c);
	if (value(&c))
	{
		skip_space(&c);
		if (c.p == c.end)
			return true;
		fail(&c, "bytes after the JSON value");
	}
	*error = c.error;
	*offset = (size_t) (c.p - c.start);
	return false;
}
