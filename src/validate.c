/*
 * validate.c
 *	  The contract's validation of POST /consumers/batch bodies.
 *
 * The normative definition is the Valibot 1.5.0 schema StrictBodySchema
 * (test/conformance/schema-strict.mjs); FORMAT.md and FORMAT-STRICT.md there
 * describe what it reports.  This file reproduces it on jsonb's binary form:
 * the same verdict for every body and the same issues in the same order.
 *
 * Order: the body, then each element in index order, each element's fields
 * in catalogue (schema) order, then max_length.  Valibot does not stop at
 * the first issue, and neither does this walk.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "fanfare.h"
#include "validate.h"

#define MAX_SAFE_INTEGER 9007199254740991.0
#define METADATA_VALUE_EXPECTED "((string | number | boolean | null) | Array)"
#define METADATA_SCALAR_EXPECTED "(string | number | boolean | null)"
#define DECIMAL_REGEX_TEXT "/^\\d{1,12}(\\.\\d{1,8})?$/"

/* What the walk of one element needs to place an issue. */
typedef struct ElementContext
{
	IssueList  *issues;
	int			index;
	JsonbNode	element;
	const FieldDef *field;		/* the field being checked */
} ElementContext;

/* Binary search of an object's keys, which jsonb keeps sorted. */
bool
object_lookup(const JsonbContainer *c, const char *key, int keylen, JsonbNode *value)
{
	int			n = JsonContainerSize(c);
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		JsonbNode	k;
		int			cmp;

		container_child(c, mid, &k);
		cmp = jsonb_key_cmp(k.data, k.len, key, keylen);
		if (cmp == 0)
		{
			container_child(c, n + mid, value);
			return true;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* A new issue about the value of field `name` of the current element. */
static Issue *
field_issue(ElementContext *ec, const char *kind, const char *type,
			const char *label, const char *expected,
			const char *name, const JsonbNode *value)
{
	Issue	   *issue = issue_add(ec->issues, kind, type, label, expected);

	issue_set_input(issue, value);
	issue_path_element(issue, ec->index, &ec->element);
	issue_path_key(issue, &ec->element, name, strlen(name), value);
	return issue;
}

static void
type_issue(ElementContext *ec, const char *name, const JsonbNode *value,
		   const char *type, const char *expected)
{
	field_issue(ec, "schema", type, "type", expected, name, value);
}

/* A required key that is absent: kind schema, received undefined. */
static Issue *
missing_key_issue(IssueList *issues, const char *key)
{
	Issue	   *issue = issue_add(issues, "schema", "object", "key",
								  psprintf("\"%s\"", key));

	issue->received = "undefined";
	return issue;
}

static void
bound_issue(Issue *issue, double bound)
{
	issue->requirement = REQ_NUMBER;
	issue->requirement_value = bound;
}

/* minValue / maxValue of Valibot, on an already typed number. */
static void
check_bounds(ElementContext *ec, const char *name, const JsonbNode *value,
			 double d, double min, const char *min_text,
			 double max, const char *max_text,
			 void (*place) (Issue *, void *), void *place_arg)
{
	Issue	   *issue = NULL;

	if (min_text && d < min)
	{
		issue = issue_add(ec->issues, "validation", "min_value", "value", min_text);
		bound_issue(issue, min);
	}
	else if (max_text && d > max)
	{
		issue = issue_add(ec->issues, "validation", "max_value", "value", max_text);
		bound_issue(issue, max);
	}
	if (issue)
	{
		issue_set_input(issue, value);
		issue_path_element(issue, ec->index, &ec->element);
		place(issue, place_arg);
	}
}

/* Places an issue at consumers.N.<name>. */
typedef struct FieldPlace
{
	ElementContext *ec;
	const char *name;
	const JsonbNode *value;
} FieldPlace;

static void
place_at_field(Issue *issue, void *arg)
{
	FieldPlace *fp = arg;

	issue_path_key(issue, &fp->ec->element, fp->name, strlen(fp->name), fp->value);
}

/* Ranks, scores and counts: a number, then the pipe's checks in order. */
static void
check_number_field(ElementContext *ec, const FieldDef *field,
				   const JsonbNode *value, FieldValue *fv)
{
	FieldPlace	place = {ec, field->name, value};
	double		d;

	if (value->type != JENTRY_ISNUMERIC)
	{
		type_issue(ec, field->name, value, "number", "number");
		return;
	}
	d = numeric_to_js_double((Numeric) value->data, &fv->short_form);
	fv->number = d;

	switch (field->kind)
	{
		case FK_RANK:
			if (!(isfinite(d) && d == floor(d)))
				field_issue(ec, "validation", "integer", "integer", NULL, field->name, value);
			check_bounds(ec, field->name, value, d, 0, ">=0", 5, "<=5",
						 place_at_field, &place);
			break;
		case FK_SCORE:
			if (!isfinite(d))
				field_issue(ec, "validation", "finite", "finite", NULL, field->name, value);
			break;
		case FK_COUNT:
			if (!(isfinite(d) && d == floor(d) && fabs(d) <= MAX_SAFE_INTEGER))
				field_issue(ec, "validation", "safe_integer", "safe integer", NULL,
							field->name, value);
			check_bounds(ec, field->name, value, d, 0, ">=0", 0, NULL,
						 place_at_field, &place);
			break;
		default:
			Assert(false);
	}
}

/* aov, ltv: ^\d{1,12}(\.\d{1,8})?$ */
static bool
decimal_is_valid(const char *s, int len)
{
	int			i = 0;
	int			frac;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i < 1 || i > 12)
		return false;
	if (i == len)
		return true;
	if (s[i] != '.')
		return false;
	frac = len - i - 1;
	if (frac < 1 || frac > 8)
		return false;
	for (i++; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Places an issue at consumers.N.lastGeoCoordinates.<key>. */
typedef struct GeoPlace
{
	ElementContext *ec;
	const JsonbNode *geo;
	const char *key;
	const JsonbNode *value;
} GeoPlace;

static void
place_at_geo(Issue *issue, void *arg)
{
	GeoPlace   *gp = arg;

	issue_path_key(issue, &gp->ec->element, gp->ec->field->name,
				   strlen(gp->ec->field->name), gp->geo);
	issue_path_key(issue, gp->geo, gp->key, strlen(gp->key), gp->value);
}

/* One coordinate: a required number within its bounds. */
static void
check_coordinate(ElementContext *ec, const JsonbNode *geo, const char *key,
				 double bound, const char *min_text, const char *max_text,
				 double *out, JsonbNode *out_node)
{
	JsonbNode	value;
	bool		found = node_is_object(geo) &&
		object_lookup(node_container(geo), key, strlen(key), &value);
	GeoPlace	place = {ec, geo, key, found ? &value : NULL};
	bool		short_form;
	Issue	   *issue;

	if (!found)
	{
		issue = missing_key_issue(ec->issues, key);
		issue_path_element(issue, ec->index, &ec->element);
		place_at_geo(issue, &place);
		return;
	}
	if (value.type != JENTRY_ISNUMERIC)
	{
		issue = issue_add(ec->issues, "schema", "number", "type", "number");
		issue_set_input(issue, &value);
		issue_path_element(issue, ec->index, &ec->element);
		place_at_geo(issue, &place);
		return;
	}
	*out = numeric_to_js_double((Numeric) value.data, &short_form);
	*out_node = value;
	check_bounds(ec, key, &value, *out, -bound, min_text, bound, max_text,
				 place_at_geo, &place);
}

static void
check_geo(ElementContext *ec, const JsonbNode *geo, FieldValue *fv)
{
	if (!node_is_container(geo))
	{
		type_issue(ec, ec->field->name, geo, "object", "Object");
		return;
	}
	/* an array passes Valibot's object check and then lacks both keys */
	check_coordinate(ec, geo, "latitude", 90, ">=-90", "<=90",
					 &fv->latitude, &fv->latitude_node);
	check_coordinate(ec, geo, "longitude", 180, ">=-180", "<=180",
					 &fv->longitude, &fv->longitude_node);
}

/* ---- metadata ---- */

static bool
is_scalar(const JsonbNode *node)
{
	return node->type != JENTRY_ISCONTAINER;
}

/* Keys a JavaScript record skips: they are neither validated nor kept. */
bool
is_prototype_key(const char *key, int len)
{
	return (len == 9 && memcmp(key, "__proto__", 9) == 0) ||
		(len == 11 && memcmp(key, "constructor", 11) == 0) ||
		(len == 9 && memcmp(key, "prototype", 9) == 0);
}

/* "0".."4294967294" without leading zeros: JavaScript iterates these first. */
bool
is_array_index_key(const char *key, int len)
{
	uint64		v = 0;

	if (len < 1 || len > 10 || (len > 1 && key[0] == '0'))
		return false;
	for (int i = 0; i < len; i++)
	{
		if (key[i] < '0' || key[i] > '9')
			return false;
		v = v * 10 + (key[i] - '0');
	}
	return v < UINT64CONST(4294967295);
}

/* The scalar union's issue for a value that is no scalar, with its 4 options. */
static void
scalar_union_issue(Issue *issue, const JsonbNode *value)
{
	static const char *const options[] = {"string", "number", "boolean", "null"};

	issue_init(issue, "schema", "union", "type", METADATA_SCALAR_EXPECTED);
	issue_set_input(issue, value);
	issue->nsub = lengthof(options);
	issue->sub = palloc(sizeof(Issue) * issue->nsub);
	for (int i = 0; i < issue->nsub; i++)
	{
		issue_init(&issue->sub[i], "schema", options[i], "type", options[i]);
		issue_set_input(&issue->sub[i], value);
	}
}

/* True when a number inside metadata is one JSON.parse makes Infinity. */
static bool
is_infinite_number(const JsonbNode *node)
{
	bool		short_form;

	return node->type == JENTRY_ISNUMERIC &&
		numeric_is_huge((Numeric) node->data) &&
		!isfinite(numeric_to_js_double((Numeric) node->data, &short_form));
}

/*
 * One record value: a scalar, or an array of scalars.  Anything else gets
 * one union issue whose sub-issues are the two options' issues.
 */
static void
check_metadata_value(ElementContext *ec, const JsonbNode *metadata,
					 const char *key, int keylen, const JsonbNode *value,
					 FieldValue *fv)
{
	Issue	   *issue;
	int			nbad = 0;

	if (is_scalar(value))
	{
		if (is_infinite_number(value))
			fv->rebuild = true;
		return;
	}
	if (node_is_array(value))
	{
		ChildCursor cur;
		JsonbNode	item;

		cursor_init(&cur, node_container(value), 0);
		for (int i = 0; i < node_size(value); i++)
		{
			cursor_next(&cur, &item);
			if (!is_scalar(&item))
				nbad++;
			else if (is_infinite_number(&item))
				fv->rebuild = true;
		}
		if (nbad == 0)
			return;
	}

	issue = issue_add(ec->issues, "schema", "union", "type", METADATA_VALUE_EXPECTED);
	issue_set_input(issue, value);
	issue_path_element(issue, ec->index, &ec->element);
	issue_path_key(issue, &ec->element, ec->field->name, strlen(ec->field->name), metadata);
	issue_path_key(issue, metadata, key, keylen, value);

	if (!node_is_array(value))
	{
		/* an object: the scalar union fails, and so does the array type */
		issue->nsub = 2;
		issue->sub = palloc(sizeof(Issue) * 2);
		scalar_union_issue(&issue->sub[0], value);
		issue_init(&issue->sub[1], "schema", "array", "type", "Array");
		issue_set_input(&issue->sub[1], value);
	}
	else
	{
		/* an array with bad items: the scalar union, then each bad item */
		ChildCursor cur;
		JsonbNode	item;
		int			s = 1;

		issue->nsub = 1 + nbad;
		issue->sub = palloc(sizeof(Issue) * issue->nsub);
		scalar_union_issue(&issue->sub[0], value);
		cursor_init(&cur, node_container(value), 0);
		for (int i = 0; i < node_size(value); i++)
		{
			cursor_next(&cur, &item);
			if (is_scalar(&item))
				continue;
			scalar_union_issue(&issue->sub[s], &item);
			issue_path_index(&issue->sub[s], value, i, &item);
			s++;
		}
	}
}

/*
 * Visit a record's entries as a JavaScript record sees them: an array's
 * items keyed "0", "1", ...; an object's array-index keys first (ascending,
 * which is also their jsonb order), then the others in jsonb's order, since
 * jsonb keeps no insertion order (see the README's notes on jsonb); the
 * keys a record skips (__proto__, constructor, prototype) left out.
 * Returns true when the stored form differs from the record's own: an
 * array, or skipped keys.  Keys of arrays are allocated; others point into
 * the jsonb.
 */
bool
record_foreach(const JsonbNode *record, RecordEntryFn fn, void *arg)
{
	const JsonbContainer *c = node_container(record);
	int			n = JsonContainerSize(c);
	bool		differs = false;

	if (JsonContainerIsArray(c))
	{
		ChildCursor items;
		JsonbNode	item;

		cursor_init(&items, c, 0);
		for (int i = 0; i < n; i++)
		{
			char	   *key = psprintf("%d", i);

			cursor_next(&items, &item);
			if (!fn(arg, key, strlen(key), &item))
				break;
		}
		return true;
	}

	for (int pass = 0; pass < 2; pass++)
	{
		ChildCursor keys;
		ChildCursor values;
		JsonbNode	key;
		JsonbNode	value;

		cursor_init(&keys, c, 0);
		cursor_init(&values, c, n);
		for (int i = 0; i < n; i++)
		{
			cursor_next(&keys, &key);
			cursor_next(&values, &value);
			if (is_array_index_key(key.data, key.len) != (pass == 0))
				continue;
			if (is_prototype_key(key.data, key.len))
				differs = true;
			else if (!fn(arg, key.data, key.len, &value))
				return differs;
		}
	}
	return differs;
}

/* check_metadata's visitor */
typedef struct MetadataCheck
{
	ElementContext *ec;
	const JsonbNode *metadata;
	FieldValue *fv;
} MetadataCheck;

static bool
check_metadata_entry(void *arg, const char *key, int keylen, const JsonbNode *value)
{
	MetadataCheck *mc = arg;

	check_metadata_value(mc->ec, mc->metadata, key, keylen, value, mc->fv);
	return true;
}

/* metadata: a record of metadata values, visited as Valibot's record does. */
static void
check_metadata(ElementContext *ec, const JsonbNode *metadata, FieldValue *fv)
{
	MetadataCheck mc = {ec, metadata, fv};

	if (!node_is_container(metadata))
	{
		type_issue(ec, ec->field->name, metadata, "record", "Object");
		return;
	}
	if (record_foreach(metadata, check_metadata_entry, &mc))
		fv->rebuild = true;		/* stored as the record's output */
}

/* ---- one field, one element ---- */

static void
check_field(ElementContext *ec, const FieldDef *field, const JsonbNode *value,
			FieldValue *fv)
{
	bool		nullish = field->kind == FK_TIMESTAMP || field->kind == FK_TEXT ||
		field->kind == FK_EMAIL || field->kind == FK_GEO || field->kind == FK_METADATA;

	if (value == NULL)
	{
		if (field->kind == FK_BOOL || field->kind == FK_STATUS)
		{
			Issue	   *issue = missing_key_issue(ec->issues, field->name);

			issue_path_element(issue, ec->index, &ec->element);
			issue_path_key(issue, &ec->element, field->name, strlen(field->name), NULL);
		}
		return;
	}
	if (nullish && value->type == JENTRY_ISNULL)
		return;

	fv->node = *value;
	switch (field->kind)
	{
		case FK_BOOL:
		case FK_OBOOL:
			if (value->type != JENTRY_ISBOOL_TRUE && value->type != JENTRY_ISBOOL_FALSE)
				type_issue(ec, field->name, value, "boolean", "boolean");
			break;
		case FK_STATUS:
			if (value->type != JENTRY_ISSTRING ||
				!((value->len == 6 && memcmp(value->data, "ACTIVE", 6) == 0) ||
				  (value->len == 8 && memcmp(value->data, "INACTIVE", 8) == 0)))
				type_issue(ec, field->name, value, "picklist", "(\"ACTIVE\" | \"INACTIVE\")");
			break;
		case FK_RANK:
		case FK_SCORE:
		case FK_COUNT:
			check_number_field(ec, field, value, fv);
			break;
		case FK_DECIMAL:
			if (value->type != JENTRY_ISSTRING)
				type_issue(ec, field->name, value, "string", "string");
			else if (!decimal_is_valid(value->data, value->len))
				field_issue(ec, "validation", "regex", "format", DECIMAL_REGEX_TEXT,
							field->name, value)->requirement = REQ_REGEX;
			break;
		case FK_TIMESTAMP:
			if (value->type != JENTRY_ISSTRING)
				type_issue(ec, field->name, value, "string", "string");
			else if (!iso_timestamp_parse(value->data, value->len, &fv->timestamp))
				field_issue(ec, "validation", "iso_timestamp", "timestamp", NULL,
							field->name, value)->requirement = REQ_REGEX;
			break;
		case FK_TEXT:
			if (value->type != JENTRY_ISSTRING)
				type_issue(ec, field->name, value, "string", "string");
			break;
		case FK_EMAIL:
			if (value->type != JENTRY_ISSTRING)
				type_issue(ec, field->name, value, "string", "string");
			else if (!email_is_valid(value->data, value->len))
				field_issue(ec, "validation", "email", "email", NULL,
							field->name, value)->requirement = REQ_REGEX;
			break;
		case FK_GEO:
			check_geo(ec, value, fv);
			break;
		case FK_METADATA:
			check_metadata(ec, value, fv);
			break;
	}
	fv->present = true;
}

/*
 * One element: match its keys to the catalogue in one merge pass (both are
 * in jsonb key order), then check the fields in schema order.
 */
static void
check_element(IssueList *issues, int index, const JsonbNode *element,
			  ConsumerValues *values)
{
	ElementContext ec = {issues, index, *element, NULL};
	JsonbNode	slots[FIELD_COUNT];
	bool		found[FIELD_COUNT] = {0};

	if (!node_is_container(element))
	{
		Issue	   *issue = issue_add(issues, "schema", "object", "type", "Object");

		issue_set_input(issue, element);
		issue_path_element(issue, index, element);
		return;
	}

	if (node_is_object(element))
	{
		const JsonbContainer *c = node_container(element);
		int			n = JsonContainerSize(c);
		int			f = 0;

		for (int k = 0; k < n && f < FIELD_COUNT; k++)
		{
			JsonbNode	key;
			int			cmp = 1;

			container_child(c, k, &key);
			while (f < FIELD_COUNT)
			{
				int			field = field_jsonb_order[f];

				cmp = jsonb_key_cmp(field_catalogue[field].name, field_name_length[field],
									key.data, key.len);
				if (cmp >= 0)
					break;
				f++;
			}
			if (f < FIELD_COUNT && cmp == 0)
			{
				int			field = field_jsonb_order[f];

				container_child(c, n + k, &slots[field]);
				found[field] = true;
				f++;
			}
		}
	}

	values->index = index;
	for (int field = 0; field < FIELD_COUNT; field++)
	{
		memset(&values->fields[field], 0, sizeof(FieldValue));
		ec.field = &field_catalogue[field];
		check_field(&ec, &field_catalogue[field],
					found[field] ? &slots[field] : NULL, &values->fields[field]);
	}
}

int
batch_walk(const Jsonb *payload, IssueList *issues, ConsumerSink sink, void *sink_arg)
{
	JsonbNode	body;
	JsonbNode	consumers;
	ChildCursor cur;
	ConsumerValues *values;
	MemoryContext element_cxt;
	MemoryContext old;
	int			n;
	bool		emitting;

	jsonb_root_node(payload, &body);
	if (!node_is_container(&body))
	{
		Issue	   *issue = issue_add(issues, "schema", "object", "type", "Object");

		issue_set_input(issue, &body);
		return -1;
	}
	if (!node_is_object(&body) ||
		!object_lookup(node_container(&body), "consumers", 9, &consumers))
	{
		issue_path_body(missing_key_issue(issues, "consumers"), true);
		return -1;
	}
	if (!node_is_array(&consumers))
	{
		Issue	   *issue = issue_add(issues, "schema", "array", "type", "Array");

		issue_set_input(issue, &consumers);
		issue_path_body(issue, false);
		return -1;
	}

	/*
	 * Too many elements is an error whatever they hold, so such a batch is
	 * only validated, never converted.  Per-element scratch lives in a
	 * context reset after each element; issues stay in the caller's.
	 */
	n = node_size(&consumers);
	emitting = sink != NULL && n <= fanfare_max_batch_size;
	values = palloc(sizeof(ConsumerValues));
	element_cxt = AllocSetContextCreate(CurrentMemoryContext, "fanfare element",
										ALLOCSET_SMALL_SIZES);
	cursor_init(&cur, node_container(&consumers), 0);
	for (int i = 0; i < n; i++)
	{
		JsonbNode	element;
		int			before = issues->total;

		CHECK_FOR_INTERRUPTS();
		cursor_next(&cur, &element);
		/* issues (and their paths) must outlive the element's scratch */
		check_element(issues, i, &element, values);
		if (issues->total != before)
			emitting = false;
		else if (emitting)
		{
			old = MemoryContextSwitchTo(element_cxt);
			sink(sink_arg, values);
			MemoryContextSwitchTo(old);
			MemoryContextReset(element_cxt);
		}
	}
	MemoryContextDelete(element_cxt);
	pfree(values);

	if (n > fanfare_max_batch_size && !issues->schema_seen)
	{
		Issue	   *issue = issue_add(issues, "validation", "max_length", "length",
									  psprintf("<=%d", fanfare_max_batch_size));

		/* the array's output, as Valibot does: one issue, so still linear */
		issue_set_input(issue, &consumers);
		issue->input_kind = INPUT_BATCH_OUTPUT;
		issue->received = psprintf("%d", n);
		bound_issue(issue, fanfare_max_batch_size);
		issue_path_body(issue, false);
	}
	return n;
}
