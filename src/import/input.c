/*
 * input.c
 *	  Rows from a file or stdin: NDJSON, a JSON array (or {"consumers":[...]}),
 *	  or CSV (csv_input.c).
 *
 * The input is read in 64 kB chunks and never held whole: one row at a time
 * is copied out (at most max_row bytes; a longer row is an error, and with
 * --skip-invalid-lines its bytes are passed over, not kept).  A JSON array
 * is split into elements by a small scanner that knows strings, escapes and
 * nesting; each element is then parsed by jansson.  Lines are counted as the
 * bytes go by, so every row and every error names its input line.
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

/* where the JSON array scanner is */
enum array_state
{
	AS_START,					/* before '[' or '{' */
	AS_WRAPPER,					/* after '{': reading "consumers" : [ */
	AS_BEFORE_ELEMENT,			/* after '[' or ',' */
	AS_AFTER_ELEMENT,			/* expecting ',' or ']' */
	AS_ELEMENT,					/* inside an element */
	AS_AFTER_ARRAY,				/* after ']' (and '}' for the wrapper) */
	AS_BROKEN
};

struct input
{
	int			fd;
	enum input_format format;
	size_t		max_row;
	char		chunk[CHUNK];
	size_t		chunk_len;
	size_t		chunk_pos;
	bool		eof;
	long long	bytes_read;
	long long	size;
	long		line;			/* current line, from 1 */

	/* the row being copied out */
	char	   *row_buf;
	size_t		row_len;
	size_t		row_cap;
	bool		row_too_long;
	long		row_line;
	const char *row_text;		/* NDJSON: the line, where it lies in chunk
								 * (no copy), or NULL: it is in row_buf */
	size_t		row_text_len;

	/* JSON array */
	enum array_state as;
	bool		need_brace;		/* {"consumers":[...]}: the '}' is still due */
	size_t		wrapper_len;	/* bytes of "consumers" (and ':') seen */
	bool		scalar;			/* the element is no object or array */
	int			depth;
	bool		in_string;
	bool		escape;
	long		element;

	struct csv_reader *csv;
};

/* The format a file name's extension says, or FORMAT_AUTO. */
enum input_format
format_from_name(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL)
		return FORMAT_AUTO;
	if (strcmp(dot, ".ndjson") == 0 || strcmp(dot, ".jsonl") == 0)
		return FORMAT_NDJSON;
	if (strcmp(dot, ".json") == 0)
		return FORMAT_JSON;
	if (strcmp(dot, ".csv") == 0)
		return FORMAT_CSV;
	return FORMAT_AUTO;
}

/* printf into an input_error */
static void
set_error(struct input_error *err, long line, const char *fmt, const char *what)
{
	err->line = line;
	snprintf(err->message, sizeof(err->message), fmt, what);
}

/* Reads the next chunk; false at the end of the input or on an error. */
static bool
fill(struct input *in, struct input_error *err)
{
	ssize_t		n;

	if (in->eof)
		return false;
	do
		n = read(in->fd, in->chunk, CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
	{
		set_error(err, in->line, "read error: %s", strerror(errno));
		in->eof = true;
		return false;
	}
	if (n == 0)
	{
		in->eof = true;
		return false;
	}
	in->chunk_len = (size_t) n;
	in->chunk_pos = 0;
	in->bytes_read += n;
	return true;
}

/* Appends bytes to the row being copied out, unless it is already too long. */
static void
row_append(struct input *in, const char *bytes, size_t n)
{
	if (in->row_too_long)
		return;
	if (in->row_len + n > in->max_row)
	{
		in->row_too_long = true;
		return;
	}
	if (in->row_len + n + 1 > in->row_cap)
	{
		size_t		cap = in->row_cap ? in->row_cap : 4096;

		while (cap < in->row_len + n + 1)
			cap *= 2;
		in->row_buf = realloc(in->row_buf, cap);
		if (in->row_buf == NULL)
		{
			fprintf(stderr, "fanfare-import: out of memory\n");
			exit(EXIT_GAVE_UP);
		}
		in->row_cap = cap;
	}
	memcpy(in->row_buf + in->row_len, bytes, n);
	in->row_len += n;
	in->row_buf[in->row_len] = '\0';
}

/* Starts copying a new row that begins on the current line. */
static void
row_start(struct input *in)
{
	in->row_len = 0;
	in->row_too_long = false;
	in->row_line = in->line;
	in->row_text = NULL;
	in->row_text_len = 0;
}

/* the row read: where it lies, and its length */
static const char *
row_bytes(const struct input *in, size_t *len)
{
	if (in->row_text != NULL)
	{
		*len = in->row_text_len;
		return in->row_text;
	}
	*len = in->row_len;
	return in->row_buf ? in->row_buf : "";
}

/*
 * Checks the row read; false (err set) if it is no JSON.  row->raw then
 * points at the row's bytes where the reader holds them, valid until the
 * next input_next (batch_keep_row copies them into the batch).
 */
static bool
row_parse(struct input *in, struct row *row, struct input_error *err)
{
	const char *error;
	size_t		offset;
	size_t		len;
	const char *text = row_bytes(in, &len);

	if (in->row_too_long)
	{
		err->line = in->row_line;
		snprintf(err->message, sizeof(err->message),
				 "row longer than %zu bytes", in->max_row);
		return false;
	}
	if (!json_check(text, len, &error, &offset))
	{
		long		line = in->row_line;

		for (size_t i = 0; i < offset && i < len; i++)
			line += text[i] == '\n';
		err->line = line;
		snprintf(err->message, sizeof(err->message), "invalid JSON: %s", error);
		return false;
	}
	row->line = in->row_line;
	row->raw = (char *) text;
	row->raw_len = len;
	return true;
}

/* true for the JSON whitespace characters */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* true when the row read is only whitespace */
static bool
row_blank(const struct input *in)
{
	size_t		len;
	const char *text = row_bytes(in, &len);

	for (size_t i = 0; i < len; i++)
		if (!is_space(text[i]))
			return false;
	return !in->row_too_long;
}

/* NDJSON: the next non-blank line. */
static int
ndjson_next(struct input *in, struct row *row, struct input_error *err)
{
	for (;;)
	{
		bool		have_line = false;

		row_start(in);
		while (!have_line)
		{
			char	   *nl;
			size_t		n;

			if (in->chunk_pos == in->chunk_len && !fill(in, err))
			{
				if (err->message[0])
					return -2;
				if (in->row_len == 0 && !in->row_too_long)
					return 0;
				/* a last line without its newline: a truncated file fails to parse */
				break;
			}
			nl = memchr(in->chunk + in->chunk_pos, '\n', in->chunk_len - in->chunk_pos);
			n = (nl ? (size_t) (nl - in->chunk) : in->chunk_len) - in->chunk_pos;
			if (nl && in->row_len == 0 && !in->row_too_long && n <= in->max_row)
			{
				/* the whole line is in the chunk: read it there, no copy */
				in->row_text = in->chunk + in->chunk_pos;
				in->row_text_len = n;
			}
			else
				row_append(in, in->chunk + in->chunk_pos, n);
			in->chunk_pos += n;
			if (nl)
			{
				in->chunk_pos++;
				in->line++;
				have_line = true;
			}
		}
		if (row_blank(in))
		{
			if (in->eof && in->chunk_pos == in->chunk_len && !have_line)
				return 0;
			continue;
		}
		if (!row_parse(in, row, err))
			return -1;
		if (!have_line && in->eof && (row->raw[strspn(row->raw, " \t\r")] != '{'))
		{
			/* "12" at the end of a file cut after "123": say so */
			row->raw = NULL;
			set_error(err, in->row_line, "%s", "the last line is not a JSON object (truncated file?)");
			return -1;
		}
		return 1;
	}
}

/*
 * One byte of the element being read.  True when it ends the element (a
 * scalar's terminator is left to be read again, after the element).
 */
static bool
element_byte(struct input *in, char c)
{
	if (in->in_string)
	{
		row_append(in, &c, 1);
		if (c == '\n')
			in->line++;
		if (in->escape)
			in->escape = false;
		else if (c == '\\')
			in->escape = true;
		else if (c == '"')
			in->in_string = false;
		return false;
	}
	if (in->scalar && (c == ',' || c == ']' || is_space(c)))
	{
		in->chunk_pos--;
		in->as = AS_AFTER_ELEMENT;
		return true;
	}
	row_append(in, &c, 1);
	if (c == '\n')
		in->line++;
	if (c == '"')
		in->in_string = true;
	else if (c == '{' || c == '[')
		in->depth++;
	else if ((c == '}' || c == ']') && --in->depth == 0 && !in->scalar)
	{
		in->as = AS_AFTER_ELEMENT;
		return true;
	}
	return false;
}

/* A structural error: the array cannot be read further (-2). */
static int
array_broken(struct input *in, struct input_error *err, const char *message)
{
	set_error(err, in->line, "%s", message);
	in->as = AS_BROKEN;
	return -2;
}

/*
 * One byte around the elements: the wrapper {"consumers": [, the commas,
 * the brackets.  0 to go on, -2 on a structural error.
 */
static int
structure_byte(struct input *in, char c, struct input_error *err)
{
	static const char literal[] = "\"consumers\"";
	const size_t literal_len = sizeof(literal) - 1;
	const char *bad_wrapper = "an object input must be {\"consumers\": [...]}";

	if (c == '\n')
		in->line++;
	if (in->as == AS_WRAPPER && in->wrapper_len > 0 && in->wrapper_len < literal_len)
		return c == literal[in->wrapper_len++] ? 0 : array_broken(in, err, bad_wrapper);
	if (is_space(c))
		return 0;
	switch (in->as)
	{
		case AS_START:
			if (c != '[' && c != '{')
				return array_broken(in, err, "expected a JSON array or {\"consumers\": [...]}");
			in->as = c == '[' ? AS_BEFORE_ELEMENT : AS_WRAPPER;
			return 0;
		case AS_WRAPPER:
			if (in->wrapper_len == 0 && c == '"')
				in->wrapper_len = 1;
			else if (in->wrapper_len == literal_len && c == ':')
				in->wrapper_len++;
			else if (in->wrapper_len == literal_len + 1 && c == '[')
			{
				in->need_brace = true;
				in->as = AS_BEFORE_ELEMENT;
			}
			else
				return array_broken(in, err, bad_wrapper);
			return 0;
		case AS_BEFORE_ELEMENT:
		case AS_AFTER_ELEMENT:
			if (c == ']' && (in->as == AS_AFTER_ELEMENT || in->element == 0))
				in->as = AS_AFTER_ARRAY;
			else if (c == ',' && in->as == AS_AFTER_ELEMENT)
				in->as = AS_BEFORE_ELEMENT;
			else if (in->as == AS_AFTER_ELEMENT || c == ']' || c == ',')
				return array_broken(in, err, "expected an element, ',' or ']' in the JSON array");
			else
			{
				row_start(in);
				in->as = AS_ELEMENT;
				in->scalar = (c != '{' && c != '[');
				in->depth = 0;
				in->in_string = false;
				in->escape = false;
				in->chunk_pos--;	/* the element's first byte */
			}
			return 0;
		case AS_AFTER_ARRAY:
			if (c == '}' && in->need_brace)
			{
				in->need_brace = false;
				return 0;
			}
			return array_broken(in, err, "unexpected bytes after the JSON array");
		default:
			set_error(err, in->line, "%s", "the JSON array cannot be read further");
			return -2;
	}
}

/*
 * JSON array: the next element.  Structural errors (no array, bytes after
 * it, the end of the input inside it) are fatal (-2); an element that does
 * not parse is a row error (-1).
 */
static int
array_next(struct input *in, struct row *row, struct input_error *err)
{
	for (;;)
	{
		char		c;

		if (in->chunk_pos == in->chunk_len && !fill(in, err))
		{
			if (err->message[0])
				return -2;
			if (in->as == AS_AFTER_ARRAY && !in->need_brace)
				return 0;
			return array_broken(in, err, "the input ends inside the JSON array (truncated file?)");
		}
		c = in->chunk[in->chunk_pos++];
		if (in->as != AS_ELEMENT)
		{
			if (structure_byte(in, c, err) < 0)
				return -2;
			continue;
		}
		if (!element_byte(in, c))
			continue;
		row->element = ++in->element;
		return row_parse(in, row, err) ? 1 : -1;
	}
}

/* CSV: rows from csv_input.c, fed chunk by chunk. */
static int
csv_next(struct input *in, struct row *row, struct input_error *err)
{
	for (;;)
	{
		int			r = csv_reader_take(in->csv, row, err);

		if (r != 0)
			return r;
		if (in->eof)
			return 0;
		if (!fill(in, err))
		{
			if (err->message[0])
				return -2;
			if (!csv_reader_feed(in->csv, "", 0, true, err))
				return -2;
			continue;
		}
		if (!csv_reader_feed(in->csv, in->chunk, in->chunk_len, false, err))
			return -2;
		in->chunk_pos = in->chunk_len;
	}
}

/* Opens path ("-": stdin) as format (FORMAT_AUTO: from the extension). */
struct input *
input_open(const char *path, enum input_format format, bool ignore_unknown_columns,
		   size_t max_row, struct input_error *err)
{
	struct input *in;
	struct stat st;

	if (format == FORMAT_AUTO)
		format = strcmp(path, "-") == 0 ? FORMAT_NDJSON : format_from_name(path);
	if (format == FORMAT_AUTO)
	{
		set_error(err, 0, "cannot tell the format of %s: name it with --format", path);
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return NULL;
	in->fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (in->fd < 0)
	{
		set_error(err, 0, "cannot open the input: %s", strerror(errno));
		free(in);
		return NULL;
	}
	in->format = format;
	in->max_row = max_row;
	in->line = 1;
	in->size = (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) ? st.st_size : -1;
	if (format == FORMAT_CSV)
		in->csv = csv_reader_new(ignore_unknown_columns, max_row);
	return in;
}

/* The next row; see import.h.  -2 is a fatal input error. */
int
input_next(struct input *in, struct row *row, struct input_error *err)
{
	err->message[0] = '\0';
	err->line = 0;
	err->fatal = false;
	row->obj = NULL;
	row->raw = NULL;
	row->raw_len = 0;
	row->element = 0;
	switch (in->format)
	{
		case FORMAT_NDJSON:
			return ndjson_next(in, row, err);
		case FORMAT_JSON:
			return array_next(in, row, err);
		case FORMAT_CSV:
			return csv_next(in, row, err);
		default:
			return 0;
	}
}

/* Bytes read from the input so far (the progress estimate). */
long long
input_bytes_read(const struct input *in)
{
	return in->bytes_read;
}

/* The input's size, for a regular file; -1 for a pipe. */
long long
input_size(const struct input *in)
{
	return in->size;
}

/* Closes the input and frees what it holds. */
void
input_close(struct input *in)
{
	if (in == NULL)
		return;
	if (in->fd > 0)
		close(in->fd);
	if (in->csv)
		csv_reader_free(in->csv);
	free(in->row_buf);
	free(in);
}
