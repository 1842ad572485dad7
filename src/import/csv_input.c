/*
 * csv_input.c
 *	  CSV rows (RFC 4180, through libcsv) as consumer objects.
 *
 * The header row names the request fields; each later record becomes one
 * object, its cells converted by the kind of their field:
 *	 - booleans: true, false, 1 or 0; numbers: JSON numbers;
 *	 - an unquoted empty cell: the field is absent; a quoted one ("") is the
 *	   empty string; null (unquoted) is JSON null, for any field;
 *	 - metadata.<key> columns build metadata (values are strings), and
 *	   lastGeoCoordinates.latitude / .longitude build the pair;
 *	 - a cell that does not convert is sent as the string it is, so that the
 *	   server's issue names it.
 * An unknown column is an error at the header, before any row exists,
 * unless --ignore-unknown-columns.  A record whose cell count differs from
 * the header's is a row error.  Records are numbered from 1, the header
 * being record 1, so that a record's number is its line in a file without
 * line breaks inside cells.  A cell longer than the row limit stops the
 * input: libcsv's buffer is refused the memory.
 */
#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

/* the kind of a request field, as far as a CSV cell's conversion goes */
enum cell_kind
{
	CK_STRING,
	CK_BOOLEAN,
	CK_NUMBER,
	CK_METADATA,				/* metadata.<key> */
	CK_LATITUDE,
	CK_LONGITUDE,
	CK_IGNORED					/* an unknown column, with --ignore-unknown-columns */
};

/*
 * The request fields whose cells are not strings (contract/openapi.yaml);
 * every other known field takes the cell as a string.
 */
static const struct
{
	const char *name;
	enum cell_kind kind;
}			field_kinds[] = {
	{"activityRank", CK_NUMBER},
	{"activityScore", CK_NUMBER},
	{"activityScoreUpdatedAt", CK_STRING},
	{"aov", CK_STRING},
	{"email", CK_STRING},
	{"emailVerified", CK_BOOLEAN},
	{"engagedCount", CK_NUMBER},
	{"fullName", CK_STRING},
	{"lastEngagedAt", CK_STRING},
	{"lastGeoAt", CK_STRING},
	{"lastGeoCity", CK_STRING},
	{"lastGeoCountry", CK_STRING},
	{"lastGeoPostalCode", CK_STRING},
	{"lastGeoRegion", CK_STRING},
	{"lastGeoSource", CK_STRING},
	{"lastGeoTimezone", CK_STRING},
	{"lastLoginAt", CK_STRING},
	{"lastOrderAt", CK_STRING},
	{"lastReturnAt", CK_STRING},
	{"loyaltyBalance", CK_NUMBER},
	{"loyaltyLastActivityAt", CK_STRING},
	{"loyaltyLifetimePoints", CK_NUMBER},
	{"ltv", CK_STRING},
	{"monetaryRank", CK_NUMBER},
	{"monetaryScore", CK_NUMBER},
	{"monetaryScoreUpdatedAt", CK_STRING},
	{"phone", CK_STRING},
	{"phoneVerified", CK_BOOLEAN},
	{"purchaseFrequencyRank", CK_NUMBER},
	{"purchaseFrequencyScore", CK_NUMBER},
	{"purchaseFrequencyScoreUpdatedAt", CK_STRING},
	{"smsOptOut", CK_BOOLEAN},
	{"status", CK_STRING},
	{"totalEngagements", CK_NUMBER},
	{"totalMessages", CK_NUMBER},
	{"totalOrders", CK_NUMBER},
	{"totalReturns", CK_NUMBER},
	{"verificationCode", CK_STRING},
	{"verificationCodeExpiresAt", CK_STRING},
};

#define N_FIELD_KINDS (sizeof(field_kinds) / sizeof(field_kinds[0]))

struct column
{
	char	   *name;			/* the field, or the metadata key */
	enum cell_kind kind;
};

/* a record read, waiting to be taken: a row or an error */
struct queued
{
	struct row	row;
	bool		bad;
	char		message[256];
};

struct csv_reader
{
	struct csv_parser parser;
	bool		ignore_unknown;
	long		record;			/* records completed, the header included */
	bool		header_done;
	struct column *columns;
	int			ncolumns;
	int			cap_columns;
	/* the cells of the record being read */
	json_t	   *obj;
	int			ncells;
	bool		fatal;
	char		fatal_message[256];
	/* records read and not yet taken */
	struct queued *queue;
	int			qhead;
	int			qlen;
	int			qcap;
};

/* libcsv may not grow a cell past this (see csv_reader_new) */
static size_t max_cell_bytes;

/* realloc for libcsv's buffers, refusing more than a cell's limit */
static void *
bounded_realloc(void *ptr, size_t size)
{
	if (size > max_cell_bytes + 1024)
		return NULL;
	return realloc(ptr, size);
}

/* The kind of a header name, or -1 when it is no request field. */
static int
header_kind(const char *name, const char **metadata_key)
{
	if (strncmp(name, "metadata.", 9) == 0 && name[9] != '\0')
	{
		*metadata_key = name + 9;
		return CK_METADATA;
	}
	if (strcmp(name, "lastGeoCoordinates.latitude") == 0)
		return CK_LATITUDE;
	if (strcmp(name, "lastGeoCoordinates.longitude") == 0)
		return CK_LONGITUDE;
	for (size_t i = 0; i < N_FIELD_KINDS; i++)
		if (strcmp(field_kinds[i].name, name) == 0)
			return field_kinds[i].kind;
	return -1;
}

/* A header cell: one more column, or the fatal unknown-column error. */
static void
header_cell(struct csv_reader *cr, const char *text, size_t len)
{
	const char *key = NULL;
	char	   *name = strndup(text ? text : "", len);
	int			kind;

	if (cr->ncolumns == cr->cap_columns)
	{
		cr->cap_columns = cr->cap_columns ? cr->cap_columns * 2 : 32;
		cr->columns = realloc(cr->columns, cr->cap_columns * sizeof(*cr->columns));
	}
	kind = header_kind(name, &key);
	for (int i = 0; i < cr->ncolumns && kind >= 0; i++)
		if (cr->columns[i].kind != CK_IGNORED && strcmp(cr->columns[i].name, key ? key : name) == 0 &&
			(cr->columns[i].kind == CK_METADATA) == (kind == CK_METADATA))
		{
			if (!cr->fatal)
				snprintf(cr->fatal_message, sizeof(cr->fatal_message),
						 "the header names the column \"%.100s\" twice", name);
			cr->fatal = true;
		}
	if (kind < 0 && !cr->ignore_unknown)
	{
		if (!cr->fatal)
			snprintf(cr->fatal_message, sizeof(cr->fatal_message),
					 "unknown column \"%.100s\" (a request field, metadata.<key>, "
					 "lastGeoCoordinates.latitude or .longitude; or --ignore-unknown-columns)", name);
		cr->fatal = true;
	}
	cr->columns[cr->ncolumns].name = strdup(key ? key : name);
	cr->columns[cr->ncolumns].kind = kind < 0 ? CK_IGNORED : (enum cell_kind) kind;
	cr->ncolumns++;
	free(name);
}

/* The JSON number a cell spells, or NULL. */
static json_t *
cell_number(const char *s)
{
	char	   *end;
	double		d;
	bool		integral = true;

	if (*s == '\0' || isspace((unsigned char) *s))
		return NULL;
	for (const char *p = s; *p; p++)
		if (*p == '.' || *p == 'e' || *p == 'E')
			integral = false;
	errno = 0;
	if (integral)
	{
		long long	v = strtoll(s, &end, 10);

		if (*end == '\0' && errno == 0)
			return json_integer(v);
	}
	errno = 0;
	d = strtod(s, &end);
	if (*end != '\0' || !isfinite(d) || errno != 0 || s[0] == '+' ||
		strncasecmp(s, "0x", 2) == 0 || strncasecmp(s, "-0x", 3) == 0)
		return NULL;
	return json_real(d);
}

/* A cell's value for a column of kind, from its text (NULL: unquoted empty). */
static json_t *
cell_value(enum cell_kind kind, const char *s)
{
	json_t	   *v = NULL;

	if (strcmp(s, "null") == 0)
		return json_null();
	switch (kind)
	{
		case CK_BOOLEAN:
			if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
				return json_true();
			if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
				return json_false();
			break;
		case CK_NUMBER:
		case CK_LATITUDE:
		case CK_LONGITUDE:
			v = cell_number(s);
			break;
		default:
			break;
	}
	return v ? v : json_stringn(s, strlen(s));
}

/* Sets obj[key] = value, creating the object obj[parent] as needed. */
static void
set_nested(json_t *obj, const char *parent, const char *key, json_t *value)
{
	json_t	   *inner = json_object_get(obj, parent);

	if (!json_is_object(inner))
	{
		inner = json_object();
		json_object_set_new(obj, parent, inner);
	}
	json_object_set_new(inner, key, value);
}

/* libcsv's cell callback */
static void
on_cell(void *text, size_t len, void *data)
{
	struct csv_reader *cr = data;
	struct column *col;
	char	   *s;

	if (!cr->header_done)
	{
		header_cell(cr, text, len);
		return;
	}
	if (cr->obj == NULL)
		cr->obj = json_object();
	if (cr->ncells++ >= cr->ncolumns || text == NULL)
		return;					/* too many cells (reported at the end), or absent */
	col = &cr->columns[cr->ncells - 1];
	if (col->kind == CK_IGNORED)
		return;
	s = strndup(text, len);
	{
		json_t	   *v = NULL;

		if (memchr(text, '\0', len) == NULL)
			v = cell_value(col->kind, s);
		if (v == NULL)
			v = json_stringn(text, len);	/* NULL when the cell is no UTF-8 */
		if (v == NULL)
		{
			snprintf(cr->fatal_message, sizeof(cr->fatal_message), "invalid UTF-8 in column \"%.100s\"",
					 col->name);
			cr->ncells = -1000000;	/* reported at the end of the record */
			free(s);
			return;
		}
		if (col->kind == CK_METADATA)
			set_nested(cr->obj, "metadata", col->name, v);
		else if (col->kind == CK_LATITUDE)
			set_nested(cr->obj, "lastGeoCoordinates", "latitude", v);
		else if (col->kind == CK_LONGITUDE)
			set_nested(cr->obj, "lastGeoCoordinates", "longitude", v);
		else
			json_object_set_new(cr->obj, col->name, v);
	}
	free(s);
}

/* Appends a record to the queue. */
static struct queued *
enqueue(struct csv_reader *cr)
{
	struct queued *q;

	if (cr->qhead + cr->qlen == cr->qcap)
	{
		if (cr->qhead > 0)
		{
			memmove(cr->queue, cr->queue + cr->qhead, cr->qlen * sizeof(*cr->queue));
			cr->qhead = 0;
		}
		if (cr->qlen == cr->qcap)
		{
			cr->qcap = cr->qcap ? cr->qcap * 2 : 256;
			cr->queue = realloc(cr->queue, cr->qcap * sizeof(*cr->queue));
		}
	}
	q = &cr->queue[cr->qhead + cr->qlen++];
	memset(q, 0, sizeof(*q));
	return q;
}

/* libcsv's end-of-record callback */
static void
on_record(int c, void *data)
{
	struct csv_reader *cr = data;
	struct queued *q;

	cr->record++;
	if (!cr->header_done)
	{
		cr->header_done = true;
		return;
	}
	q = enqueue(cr);
	q->row.line = cr->record;
	if (cr->ncells < 0)
	{
		q->bad = true;
		snprintf(q->message, sizeof(q->message), "%s", cr->fatal_message);
		cr->fatal_message[0] = '\0';
		json_decref(cr->obj);
	}
	else if (cr->ncells != cr->ncolumns)
	{
		q->bad = true;
		snprintf(q->message, sizeof(q->message), "the record has %d cells, the header %d",
				 cr->ncells, cr->ncolumns);
		json_decref(cr->obj);
	}
	else
		q->row.obj = cr->obj ? cr->obj : json_object();
	cr->obj = NULL;
	cr->ncells = 0;
}

/* A reader for one CSV input. */
struct csv_reader *
csv_reader_new(bool ignore_unknown_columns, size_t max_cell)
{
	struct csv_reader *cr = calloc(1, sizeof(*cr));

	if (cr == NULL || csv_init(&cr->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0)
	{
		fprintf(stderr, "fanfare-import: out of memory\n");
		exit(EXIT_GAVE_UP);
	}
	max_cell_bytes = max_cell;
	csv_set_realloc_func(&cr->parser, bounded_realloc);
	cr->ignore_unknown = ignore_unknown_columns;
	return cr;
}

/* Feeds bytes to libcsv; false on a fatal error (err set). */
bool
csv_reader_feed(struct csv_reader *cr, const char *bytes, size_t len, bool at_end,
				struct input_error *err)
{
	size_t		done = len ? csv_parse(&cr->parser, bytes, len, on_cell, on_record, cr) : 0;
	int			failed = done < len;

	if (!failed && at_end)
	{
		failed = csv_fini(&cr->parser, on_cell, on_record, cr) != 0;
		if (!cr->header_done && !cr->fatal)
		{
			err->fatal = true;
			err->line = 1;
			snprintf(err->message, sizeof(err->message), "the CSV input has no header row");
			return false;
		}
	}
	if (cr->fatal)
	{
		err->fatal = true;
		err->line = 1;
		snprintf(err->message, sizeof(err->message), "%s", cr->fatal_message);
		return false;
	}
	if (failed)
	{
		err->fatal = true;
		err->line = cr->record + 1;
		if (csv_error(&cr->parser) == CSV_ENOMEM)
			snprintf(err->message, sizeof(err->message), "a cell longer than %zu bytes", max_cell_bytes);
		else if (at_end)
			snprintf(err->message, sizeof(err->message), "the input ends inside a quoted cell (truncated file?)");
		else
			snprintf(err->message, sizeof(err->message), "malformed CSV: %s",
					 csv_strerror(csv_error(&cr->parser)));
		return false;
	}
	return true;
}

/* The next record read: 1 a row, -1 a bad record (err set), 0 none yet. */
int
csv_reader_take(struct csv_reader *cr, struct row *row, struct input_error *err)
{
	struct queued *q;

	if (cr->qlen == 0)
		return 0;
	q = &cr->queue[cr->qhead++];
	cr->qlen--;
	if (cr->qlen == 0)
		cr->qhead = 0;
	if (q->bad)
	{
		err->line = q->row.line;
		snprintf(err->message, sizeof(err->message), "%s", q->message);
		return -1;
	}
	*row = q->row;
	return 1;
}

/* Frees the reader and the records it still holds. */
void
csv_reader_free(struct csv_reader *cr)
{
	csv_free(&cr->parser);
	for (int i = 0; i < cr->qlen; i++)
		json_decref(cr->queue[cr->qhead + i].row.obj);
	for (int i = 0; i < cr->ncolumns; i++)
		free(cr->columns[i].name);
	json_decref(cr->obj);
	free(cr->columns);
	free(cr->queue);
	free(cr);
}
