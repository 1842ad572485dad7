/*
 * validate.c
 *	  The rules: the contract's validation of POST /consumers/batch bodies,
 *	  and the walk of a batch that applies them.
 *
 * The normative definition is the Valibot 1.5.0 schema StrictBodySchema
 * (test/conformance/schema-strict.mjs); FORMAT.md and FORMAT-STRICT.md there
 * describe what it reports.  This file reproduces it on the body as
 * json_value.h reads it, from jsonb or from the request text: the same
 * verdict for every body and the same issues in the same order.
 *
 * The body's own rules (an object with a consumers array, max_length) read
 * the body; each element is decoded once into a ConsumerRecord
 * (consumer_record.c), and the element's rules judge that record, not the
 * element.  Only where an issue's place needs more than the record holds
 * (each bad metadata entry's key) do the rules read part of the element
 * again, and only for an element that has that issue.  The walk stays here
 * with the rules because the body's rules are part of it: what it adds
 * beyond them is the per-element memory context and the sink.
 *
 * Order: the body, then each element in index order, each element's fields
 * in catalogue (schema) order, then max_length.  Valibot does not stop at
 * the first issue, and neither does this walk.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "consumer_record.h"
#include "email_check.h"
#include "fanfare.h"
#include "field_catalogue.h"
#include "issue_list.h"
#include "json_value.h"
#include "validate.h"

#define MAX_SAFE_INTEGER 9007199254740991.0
#define METADATA_VALUE_EXPECTED "((string | number | boolean | null) | Array)"
#define METADATA_SCALAR_EXPECTED "(string | number | boolean | null)"
#define DECIMAL_REGEX_TEXT "/^\\d{1,12}(\\.\\d{1,8})?$/"

/* What judging one element needs to place an issue. */
typedef struct ElementContext
{
	IssueList  *issues;
	int			index;
	JsonValue	element;
	const FieldDef *field;		/* the field being judged */
} ElementContext;

/* A new issue about the value of field `name` of the current element. */
static Issue *
field_issue(ElementContext *ec, const char *kind, const char *type,
			const char *label, const char *expected,
			const char *name, const JsonValue *value)
{
	Issue	   *issue = issue_add(ec->issues, kind, type, label, expected);

	issue_set_input(issue, value);
	issue_path_element(issue, ec->index, &ec->element);
	issue_path_key(issue, &ec->element, name, strlen(name), value);
	return issue;
}

static void
type_issue(ElementContext *ec, const char *name, const JsonValue *value,
		   const char *type, const char *expected)
{
	field_issue(ec, "schema", type, "type", expected, name, value);
}

/* A required key that is absent: kind schema, received undefined. */
static Issue *
missing_key_issue(IssueList *issues, const char *key)
{
	Issue	   *issue = issue_add(issues, "schema", "object", "key", NULL);

	if (issue_is_kept(issue))
		issue->expected = psprintf("\"%s\"", key);
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
check_bounds(ElementContext *ec, const char *name, const JsonValue *value,
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
	const JsonValue *value;
} FieldPlace;

static void
place_at_field(Issue *issue, void *arg)
{
	FieldPlace *fp = arg;

	issue_path_key(issue, &fp->ec->element, fp->name, strlen(fp->name), fp->value);
}

/* Ranks, scores and counts: a number, then the pipe's checks in order. */
static void
check_number_field(ElementContext *ec, const FieldDef *field, const ConsumerField *cf)
{
	const JsonValue *value = &cf->value;
	FieldPlace	place = {ec, field->name, value};
	double		d = cf->number;

	if (value->kind != JSON_NUMBER)
	{
		type_issue(ec, field->name, value, "number", "number");
		return;
	}

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

/*
 * A string, then its format (a pattern, reported as a RegExp): matches says
 * whether a string value has it.
 */
static void
check_string_field(ElementContext *ec, const FieldDef *field, const JsonValue *value,
				   bool matches, const char *type, const char *label,
				   const char *expected)
{
	if (value->kind != JSON_STRING)
		type_issue(ec, field->name, value, "string", "string");
	else if (!matches)
		field_issue(ec, "validation", type, label, expected,
					field->name, value)->requirement = REQ_REGEX;
}

/* Places an issue at consumers.N.lastGeoCoordinates.<key>. */
typedef struct GeoPlace
{
	ElementContext *ec;
	const JsonValue *geo;
	const char *key;
	const JsonValue *value;
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
check_coordinate(ElementContext *ec, const JsonValue *geo, const char *key,
				 const ConsumerCoordinate *c,
				 double bound, const char *min_text, const char *max_text)
{
	const JsonValue *value = &c->value;
	GeoPlace	place = {ec, geo, key, c->found ? value : NULL};
	Issue	   *issue;

	if (!c->found)
	{
		issue = missing_key_issue(ec->issues, key);
		issue_path_element(issue, ec->index, &ec->element);
		place_at_geo(issue, &place);
		return;
	}
	if (value->kind != JSON_NUMBER)
	{
		issue = issue_add(ec->issues, "schema", "number", "type", "number");
		issue_set_input(issue, value);
		issue_path_element(issue, ec->index, &ec->element);
		place_at_geo(issue, &place);
		return;
	}
	check_bounds(ec, key, value, c->number, -bound, min_text, bound, max_text,
				 place_at_geo, &place);
}

/* lastGeoCoordinates: an object with both coordinates. */
static void
check_geo(ElementContext *ec, const ConsumerField *cf)
{
	const JsonValue *geo = &cf->value;

	if (!json_is_container(geo))
	{
		type_issue(ec, ec->field->name, geo, "object", "Object");
		return;
	}
	/* an array passes Valibot's object check and then lacks both keys */
	check_coordinate(ec, geo, "latitude", &cf->latitude, 90, ">=-90", "<=90");
	check_coordinate(ec, geo, "longitude", &cf->longitude, 180, ">=-180", "<=180");
}

/* ---- metadata ---- */

/*
 * What a metadata value that is neither a scalar nor an array of scalars
 * gets: one union issue, whose nested issues are its two options' issues.
 * The scalar option is itself a union of four types.  An object fails both
 * options; an array fails the scalar union, and then each item that is a
 * container fails the scalar union again, at its index.
 */
static const IssueTemplate scalar_types[] = {
	{"schema", "string", "type", "string"},
	{"schema", "number", "type", "number"},
	{"schema", "boolean", "type", "boolean"},
	{"schema", "null", "type", "null"},
};
#define SCALAR_UNION \
	{"schema", "union", "type", METADATA_SCALAR_EXPECTED, scalar_types, lengthof(scalar_types)}
static const IssueTemplate scalar_union = SCALAR_UNION;
static const IssueTemplate object_options[] = {
	SCALAR_UNION,
	{"schema", "array", "type", "Array"},
};

/*
 * One record value that fails the metadata rule (a scalar, or an array of
 * scalars): the union issue above, at consumers.N.metadata.<key>.
 */
static void
metadata_value_issue(ElementContext *ec, const JsonValue *metadata,
					 const char *key, int keylen, const JsonValue *value)
{
	Issue	   *issue = issue_add(ec->issues, "schema", "union", "type",
								  METADATA_VALUE_EXPECTED);

	issue_set_input(issue, value);
	issue_path_element(issue, ec->index, &ec->element);
	issue_path_key(issue, &ec->element, ec->field->name, strlen(ec->field->name), metadata);
	issue_path_key(issue, metadata, key, keylen, value);
	if (value->kind == JSON_OBJECT)
	{
		issue->options = object_options;
		issue->noptions = lengthof(object_options);
	}
	else
	{
		issue->options = &scalar_union;
		issue->noptions = 1;
		issue->container_items = &scalar_union;
	}
}

/* check_metadata's visitor, on the failure path: each entry that fails */
typedef struct MetadataCheck
{
	ElementContext *ec;
	const JsonValue *metadata;
} MetadataCheck;

static bool
metadata_entry_issue(void *arg, const char *key, int keylen, const JsonValue *value)
{
	MetadataCheck *mc = arg;
	bool		rebuild;		/* the record has it already */

	if (consumer_record_metadata_value_fails(value, &rebuild))
		metadata_value_issue(mc->ec, mc->metadata, key, keylen, value);
	return true;
}

/*
 * metadata: a record of metadata values, visited as Valibot's record does.
 * The record says whether an entry fails; which ones, and under which key,
 * is found by walking the metadata again: only for an element that has
 * such an issue (the failure path), so a valid element's metadata is read
 * once, by the decoder.
 */
static void
check_metadata(ElementContext *ec, const ConsumerField *cf)
{
	MetadataCheck mc = {ec, &cf->value};

	if (!json_is_container(&cf->value))
	{
		type_issue(ec, ec->field->name, &cf->value, "record", "Object");
		return;
	}
	if (cf->metadata_fails)
		json_record_foreach(&cf->value, metadata_entry_issue, &mc);
}

/* ---- one field, one element ---- */

/* One field of the record, by its kind's rules. */
static void
check_field(ElementContext *ec, const FieldDef *field, const ConsumerField *cf)
{
	const JsonValue *value = &cf->value;

	if (!cf->present)
	{
		if (field_kind_is_required(field->kind))
		{
			Issue	   *issue = missing_key_issue(ec->issues, field->name);

			issue_path_element(issue, ec->index, &ec->element);
			issue_path_key(issue, &ec->element, field->name, strlen(field->name), NULL);
		}
		return;
	}

	switch (field->kind)
	{
		case FK_BOOL:
		case FK_OBOOL:
			if (!json_is_bool(value))
				type_issue(ec, field->name, value, "boolean", "boolean");
			break;
		case FK_STATUS:
			if (!json_string_equals(value, "ACTIVE", 6) &&
				!json_string_equals(value, "INACTIVE", 8))
				type_issue(ec, field->name, value, "picklist", "(\"ACTIVE\" | \"INACTIVE\")");
			break;
		case FK_RANK:
		case FK_SCORE:
		case FK_COUNT:
			check_number_field(ec, field, cf);
			break;
		case FK_DECIMAL:
			check_string_field(ec, field, value, value->kind == JSON_STRING &&
							   decimal_is_valid(value->data, value->len),
							   "regex", "format", DECIMAL_REGEX_TEXT);
			break;
		case FK_TIMESTAMP:
			check_string_field(ec, field, value, cf->timestamp_valid,
							   "iso_timestamp", "timestamp", NULL);
			break;
		case FK_TEXT:
			check_string_field(ec, field, value, true, NULL, NULL, NULL);
			break;
		case FK_EMAIL:
			check_string_field(ec, field, value, value->kind == JSON_STRING &&
							   email_is_valid(value->data, value->len),
							   "email", "email", NULL);
			break;
		case FK_GEO:
			check_geo(ec, cf);
			break;
		case FK_METADATA:
			check_metadata(ec, cf);
			break;
	}
}

/* One decoded element: its fields, judged in schema order. */
static void
check_element(IssueList *issues, const ConsumerRecord *rec)
{
	ElementContext ec = {issues, rec->index, rec->element, NULL};

	if (!json_is_container(&rec->element))
	{
		Issue	   *issue = issue_add(issues, "schema", "object", "type", "Object");

		issue_set_input(issue, &rec->element);
		issue_path_element(issue, rec->index, &rec->element);
		return;
	}

	/* an array passes Valibot's object check and then lacks every key */
	for (int field = 0; field < FIELD_COUNT; field++)
	{
		ec.field = &field_catalogue[field];
		check_field(&ec, &field_catalogue[field], &rec->fields[field]);
	}
}

/* A batch of n consumers, over fanfare.max_batch_size. */
static void
max_length_issue(IssueList *issues, const JsonValue *consumers, int n)
{
	Issue	   *issue = issue_add(issues, "validation", "max_length", "length",
								  psprintf("<=%d", fanfare_max_batch_size));

	/* the array's output, as Valibot does: one issue, so still linear */
	issue_set_input(issue, consumers);
	issue->input_kind = INPUT_BATCH_OUTPUT;
	issue->received = psprintf("%d", n);
	bound_issue(issue, fanfare_max_batch_size);
	issue_path_body(issue, false);
}

int
validate_batch(const JsonValue *body, IssueList *issues, ConsumerSink sink,
			   void *sink_arg, JsonValue *consumers_out)
{
	JsonValue	consumers;
	JsonIter	it;
	JsonValue	element;
	ConsumerRecord *record;
	MemoryContext element_cxt;
	MemoryContext old;
	int			n = 0;
	int			known;
	bool		emitting;

	if (!json_is_container(body))
	{
		Issue	   *issue = issue_add(issues, "schema", "object", "type", "Object");

		issue_set_input(issue, body);
		return -1;
	}
	if (body->kind != JSON_OBJECT || !json_lookup(body, "consumers", 9, &consumers))
	{
		issue_path_body(missing_key_issue(issues, "consumers"), true);
		return -1;
	}
	if (consumers.kind != JSON_ARRAY)
	{
		Issue	   *issue = issue_add(issues, "schema", "array", "type", "Array");

		issue_set_input(issue, &consumers);
		issue_path_body(issue, false);
		return -1;
	}
	if (consumers_out)
		*consumers_out = consumers;

	/*
	 * Too many elements is an error whatever they hold, so such a batch is
	 * not converted (from jsonb the size is known at once; from text the
	 * sink stops at the limit).  Per-element scratch lives in a context
	 * reset after each element, unless the element's issues point into it.
	 */
	emitting = sink != NULL &&
		(!json_array_length_known(&consumers, &known) || batch_size_allowed(known));
	record = palloc(sizeof(ConsumerRecord));
	element_cxt = AllocSetContextCreate(CurrentMemoryContext, "fanfare element",
										ALLOCSET_SMALL_SIZES);
	json_iter_init(&it, &consumers);
	while (json_iter_next(&it, NULL, &element))
	{
		int			before = issues->total;
		int			kept = issues->nitems;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(element_cxt);
		consumer_record_decode(&element, n, record);
		check_element(issues, record);
		if (issues->total != before || !batch_size_allowed(n + 1))
			emitting = false;
		else if (emitting)
			sink(sink_arg, record);
		MemoryContextSwitchTo(old);
		if (issues->nitems != kept)
			element_cxt = AllocSetContextCreate(CurrentMemoryContext, "fanfare element",
												ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(element_cxt);
		n++;
	}
	json_iter_end(&it);
	MemoryContextDelete(element_cxt);
	pfree(record);

	if (!batch_size_allowed(n) && !issues->schema_seen)
		max_length_issue(issues, &consumers, n);
	return n;
}
