/*
 * issue_list.c
 *	  Collecting validation issues and printing them as the contract does.
 *
 * Issues are printed with the members of Valibot's wire form (what
 * JSON.stringify makes of them): kind, type, input, expected, received,
 * message, requirement, path, issues; values as json_print.c prints them.
 * Two forms, chosen by fanfare.issue_format:
 *   openapi (the default): the published document's 400 schema.  Every
 *     issue has a path ([] for an issue about the body itself), path keys
 *     are strings ("0" for an array index), and expected is always a string
 *     (the issue's type where Valibot has null);
 *   valibot: Valibot's raw form, for clients that compare with bodies
 *     recorded from the original service.
 * Nested union issues follow the same form.
 *
 * One deliberate difference from Valibot in both: Valibot repeats the whole
 * body and the whole consumers array in the first two path items of every
 * issue, which makes a 400 for a large batch quadratic in size.  Those two
 * items print "input": null (and the body item "value": null); the consumer
 * element and everything below it are printed faithfully.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "fanfare.h"
#include "field_catalogue.h"
#include "issue_list.h"
#include "js_number.h"
#include "json_print.h"
#include "json_value.h"

/*
 * An empty list whose issues live in the current memory context, wherever
 * they are found later (SPI switches contexts under its callers).
 */
void
issue_list_init(IssueList *list, int max_items)
{
	memset(list, 0, sizeof(*list));
	list->cxt = CurrentMemoryContext;
	list->max_items = max_items;
}

void
issue_init(Issue *issue, const char *kind, const char *type,
		   const char *label, const char *expected)
{
	memset(issue, 0, sizeof(*issue));
	issue->kind = kind;
	issue->type = type;
	issue->label = label;
	issue->expected = expected;
	issue->input_kind = INPUT_ABSENT;
}

/*
 * What issue_add returns past max_items: a scratch issue the caller may
 * fill in, which the functions below leave alone, so that an issue that is
 * only counted costs next to nothing.
 */
static Issue discarded;

/*
 * Count a new issue and return it for the caller to fill in.  Past
 * max_items the issue is only counted: the caller fills a scratch issue.
 */
Issue *
issue_add(IssueList *list, const char *kind, const char *type,
		  const char *label, const char *expected)
{
	Issue	   *issue;

	list->total++;
	if (strcmp(kind, "schema") == 0)
		list->schema_seen = true;
	if (list->nitems >= list->max_items)
		return &discarded;
	if (list->nitems == list->allocated)
	{
		list->allocated = list->allocated ? list->allocated * 2 : 8;
		list->allocated = Min(list->allocated, list->max_items);
		list->items = list->items
			? repalloc(list->items, sizeof(Issue) * list->allocated)
			: MemoryContextAlloc(list->cxt, sizeof(Issue) * list->allocated);
	}
	issue = &list->items[list->nitems++];
	issue_init(issue, kind, type, label, expected);
	return issue;
}

/* Whether an issue from issue_add is kept (or only counted). */
bool
issue_is_kept(const Issue *issue)
{
	return issue != &discarded;
}

void
issue_set_input(Issue *issue, const JsonValue *input)
{
	if (!issue_is_kept(issue))
		return;
	issue->input_kind = INPUT_NODE;
	issue->input = *input;
}

static PathItem *
path_push(Issue *issue)
{
	PathItem   *item;

	if (!issue_is_kept(issue))
		return &discarded.path[0];
	Assert(issue->npath < ISSUE_MAX_PATH);
	item = &issue->path[issue->npath++];
	memset(item, 0, sizeof(*item));
	return item;
}

/* The body's "consumers" item; missing when the body has no such key. */
void
issue_path_body(Issue *issue, bool missing)
{
	PathItem   *item = path_push(issue);

	item->input_null = true;
	item->key = "consumers";
	item->keylen = 9;
	item->origin_key = missing;
	item->value_null = !missing;
}

/* The body item, then the array item of consumer number index. */
void
issue_path_element(Issue *issue, int index, const JsonValue *element)
{
	PathItem   *item;

	issue_path_body(issue, false);
	item = path_push(issue);
	item->is_array = true;
	item->input_null = true;
	item->index = index;
	item->value = *element;
}

/* An object (or record) entry; value NULL when the key is missing. */
void
issue_path_key(Issue *issue, const JsonValue *container,
			   const char *key, int keylen, const JsonValue *value)
{
	PathItem   *item = path_push(issue);

	item->input = *container;
	item->key = key;
	item->keylen = keylen;
	if (value)
		item->value = *value;
	else
		item->origin_key = true;
}

/* An array item below the consumer element (inside metadata). */
void
issue_path_index(Issue *issue, const JsonValue *container,
				 int index, const JsonValue *value)
{
	PathItem   *item = path_push(issue);

	item->is_array = true;
	item->input = *container;
	item->index = index;
	item->value = *value;
}

/* ---- printing ---- */

/*
 * The 400 body is bounded by fanfare.max_error_size: once the output passes
 * it, printing stops (exceeded) and the issue being printed is taken back.
 * In compact form, values that Valibot repeats from parent containers
 * (inputs, path inputs and values) print as null, which keeps an issue
 * linear in size: a metadata array of n bad items otherwise repeats the
 * array n times.
 */
typedef struct IssueWriter
{
	JsonPrinter p;
	bool		openapi;
} IssueWriter;

/*
 * The consumers array as the schema outputs it (what Valibot hands to
 * maxLength): each consumer's known keys in schema order, unknown keys
 * stripped, coordinates reduced to latitude and longitude, metadata as its
 * record output.  Only printed for batches without schema issues, so every
 * element is an object and every value has its type.
 */
static void
write_batch_output(JsonPrinter *p, const JsonValue *consumers)
{
	JsonIter	elements;
	JsonValue	element;
	bool		first_element = true;

	if (p->compact)
	{
		appendStringInfoString(p->out, "null");
		return;
	}
	appendStringInfoChar(p->out, '[');
	json_iter_init(&elements, consumers);
	while (!json_printer_full(p) && json_iter_next(&elements, NULL, &element))
	{
		JsonValue	slots[FIELD_COUNT];
		bool		found[FIELD_COUNT];
		bool		first = true;

		/* finding its fields reads the element once */
		if (!json_printer_read(p, element.len))
			break;
		if (!first_element)
			appendStringInfoChar(p->out, ',');
		first_element = false;
		appendStringInfoChar(p->out, '{');
		field_element_slots(&element, slots, found);
		for (int f = 0; f < FIELD_COUNT; f++)
		{
			const FieldDef *field = &field_catalogue[f];
			const JsonValue *value = &slots[f];

			if (!found[f])
				continue;
			appendStringInfo(p->out, "%s\"%s\":", first ? "" : ",", field->name);
			first = false;
			if (value->kind == JSON_NULL)
				appendStringInfoString(p->out, "null");
			else if (field->kind == FK_GEO)
			{
				JsonValue	coordinate;

				appendStringInfoString(p->out, "{\"latitude\":");
				json_lookup(value, "latitude", 8, &coordinate);
				json_print_value(p, &coordinate);
				appendStringInfoString(p->out, ",\"longitude\":");
				json_lookup(value, "longitude", 9, &coordinate);
				json_print_value(p, &coordinate);
				appendStringInfoChar(p->out, '}');
			}
			else if (field->kind == FK_METADATA)
				json_print_record_output(p, value);
			else
				json_print_value(p, value);
		}
		appendStringInfoChar(p->out, '}');
	}
	json_iter_end(&elements);
	appendStringInfoChar(p->out, ']');
}

static void
write_path_item(IssueWriter *w, const PathItem *item)
{
	StringInfo	out = w->p.out;

	appendStringInfo(out, "{\"type\":\"%s\",\"origin\":\"%s\",\"input\":",
					 item->is_array ? "array" : "object",
					 item->origin_key ? "key" : "value");
	if (item->input_null)
		appendStringInfoString(out, "null");
	else
		json_print_value(&w->p, &item->input);
	if (item->is_array)
		appendStringInfo(out, w->openapi ? ",\"key\":\"%d\"" : ",\"key\":%d", item->index);
	else
	{
		appendStringInfoString(out, ",\"key\":");
		json_print_string(out, item->key, item->keylen);
	}
	if (item->value_null)
		appendStringInfoString(out, ",\"value\":null");
	else if (!item->origin_key)
	{
		appendStringInfoString(out, ",\"value\":");
		json_print_value(&w->p, &item->value);
	}
	appendStringInfoChar(out, '}');
}

/* "Invalid <label>: Expected <expected> but received <received>" */
static void
issue_message(const Issue *issue, StringInfo scratch, int *received_at)
{
	resetStringInfo(scratch);
	appendStringInfo(scratch, "Invalid %s: ", issue->label);
	if (issue->expected)
		appendStringInfo(scratch, "Expected %s but received ", issue->expected);
	else
		appendStringInfoString(scratch, "Received ");
	*received_at = scratch->len;
	if (issue->received)
		appendStringInfoString(scratch, issue->received);
	else
		json_print_received(scratch, &issue->input);
}

static void write_issue(IssueWriter *w, const Issue *issue, StringInfo scratch);

/* A nested issue made from its template, about input. */
static void
issue_from_template(Issue *issue, const IssueTemplate *t, const JsonValue *input)
{
	issue_init(issue, t->kind, t->type, t->label, t->expected);
	issue_set_input(issue, input);
	issue->options = t->options;
	issue->noptions = t->noptions;
}

/*
 * Append one nested issue to the "issues" array being written; false when
 * the printer is full.  In compact form a nested issue that does not fit is
 * taken back and the array closed with those that did (at least one).
 */
static bool
write_nested_issue(IssueWriter *w, const Issue *sub, int i, StringInfo scratch)
{
	StringInfo	out = w->p.out;
	int			start = out->len;
	Size		charged = w->p.containers_charged;

	if (json_printer_full(&w->p))
		return false;
	if (i > 0)
		appendStringInfoChar(out, ',');
	write_issue(w, sub, scratch);
	if (w->p.exceeded && w->p.compact && i > 0)
	{
		out->len = start;
		out->data[out->len] = '\0';
		w->p.containers_charged = charged;
		w->p.exceeded = false;
		w->p.limit = out->len;
		return false;
	}
	return !w->p.exceeded;
}

/*
 * A union's "issues": one per option, about the same input, then (arrays)
 * one per item that is a container, at its index.  Made here, one at a
 * time, from the issue's templates.
 */
static void
write_nested_issues(IssueWriter *w, const Issue *issue)
{
	StringInfo	out = w->p.out;
	StringInfoData scratch;
	Issue		sub;
	int			n = 0;
	bool		more = true;

	initStringInfo(&scratch);
	appendStringInfoString(out, ",\"issues\":[");
	for (int i = 0; more && i < issue->noptions; i++)
	{
		issue_from_template(&sub, &issue->options[i], &issue->input);
		more = write_nested_issue(w, &sub, n++, &scratch);
	}
	if (more && issue->container_items && issue->input.kind == JSON_ARRAY)
	{
		JsonIter	it;
		JsonValue	item;

		/* finding the items reads the array once */
		if (!json_printer_read(&w->p, w->p.compact ? 0 : issue->input.len))
			more = false;
		json_iter_init(&it, &issue->input);
		/* reading nothing more per item: only a check for interrupts */
		while (more && json_printer_read(&w->p, 0) && json_iter_next(&it, NULL, &item))
		{
			if (!json_is_container(&item))
				continue;
			issue_from_template(&sub, issue->container_items, &item);
			issue_path_index(&sub, &issue->input, it.index - 1, &item);
			more = write_nested_issue(w, &sub, n++, &scratch);
		}
		json_iter_end(&it);
	}
	appendStringInfoChar(out, ']');
	pfree(scratch.data);
}

static void
write_issue(IssueWriter *w, const Issue *issue, StringInfo scratch)
{
	StringInfo	out = w->p.out;
	int			received_at;
	char		buf[32];

	check_stack_depth();
	if (json_printer_full(&w->p))
		return;
	/* a string input is copied into received and the message */
	if (issue->received == NULL && issue->input_kind == INPUT_NODE &&
		issue->input.kind == JSON_STRING && !json_printer_read(&w->p, issue->input.len))
		return;

	/* received and message, unescaped, in scratch */
	issue_message(issue, scratch, &received_at);

	appendStringInfo(out, "{\"kind\":\"%s\",\"type\":\"%s\"", issue->kind, issue->type);
	if (issue->input_kind == INPUT_NODE)
	{
		appendStringInfoString(out, ",\"input\":");
		json_print_value(&w->p, &issue->input);
	}
	else if (issue->input_kind == INPUT_BATCH_OUTPUT)
	{
		appendStringInfoString(out, ",\"input\":");
		write_batch_output(&w->p, &issue->input);
	}
	appendStringInfoString(out, ",\"expected\":");
	if (issue->expected)
		json_print_string(out, issue->expected, strlen(issue->expected));
	else if (w->openapi)
		json_print_string(out, issue->type, strlen(issue->type));
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"received\":");
	json_print_string(out, scratch->data + received_at, scratch->len - received_at);
	appendStringInfoString(out, ",\"message\":");
	if (issue->message)
		json_print_string(out, issue->message, strlen(issue->message));
	else
		json_print_string(out, scratch->data, scratch->len);

	if (issue->requirement == REQ_NUMBER)
	{
		js_number_format(issue->requirement_value, buf);
		appendStringInfo(out, ",\"requirement\":%s", buf);
	}
	else if (issue->requirement == REQ_REGEX)
		appendStringInfoString(out, ",\"requirement\":{}");

	if (issue->npath > 0 || w->openapi)
	{
		appendStringInfoString(out, ",\"path\":[");
		for (int i = 0; i < issue->npath; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			write_path_item(w, &issue->path[i]);
		}
		appendStringInfoChar(out, ']');
	}
	if (issue->noptions > 0 || issue->container_items)
		write_nested_issues(w, issue);
	appendStringInfoChar(out, '}');
}

static void
issue_writer_init(IssueWriter *w, StringInfo out, Size container_cost)
{
	/* fanfare.max_error_size is bounded so that this cannot overflow */
	json_printer_init(&w->p, out, (Size) out->len + (Size) fanfare_max_error_size * 1024);
	w->p.container_cost = container_cost;
	w->openapi = fanfare_issue_format == ISSUE_FORMAT_OPENAPI;
}

/*
 * The issues array, as JSON text: the listed issues (at most max_issues)
 * while they fit in fanfare.max_error_size.  An issue that would cross it is
 * left out with all after it (issueCount still counts them); when even the
 * first does not fit, it is printed in compact form, and if need be with
 * only the first of its nested union issues that fit.
 */
void
issue_list_write(StringInfo out, const IssueList *list, Size container_cost)
{
	StringInfoData scratch;
	IssueWriter w;

	issue_writer_init(&w, out, container_cost);
	initStringInfo(&scratch);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < list->nitems; i++)
	{
		int			start = out->len;

		if (i > 0)
			appendStringInfoChar(out, ',');
		write_issue(&w, &list->items[i], &scratch);
		if (w.p.exceeded && i == 0)
		{
			/* compact form reads little: received strings only */
			out->len = start;
			json_printer_init(&w.p, out, w.p.limit);
			w.p.container_cost = container_cost;
			w.p.compact = true;
			write_issue(&w, &list->items[i], &scratch);
		}
		if (w.p.exceeded)
		{
			out->len = start;
			out->data[out->len] = '\0';
			break;
		}
	}
	appendStringInfoChar(out, ']');
	pfree(scratch.data);
}

/* The 400 response body: {"error":"validation_error","issues":[...],"issueCount":N}. */
char *
issue_list_error_body(const IssueList *list)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"error\":\"validation_error\",\"issues\":");
	issue_list_write(&out, list, 0);
	appendStringInfo(&out, ",\"issueCount\":%d}", list->total);
	return out.data;
}

/*
 * The 400 body for a request body that is not JSON, or is JSON that
 * PostgreSQL cannot store: the shape of the validation bodies, with one
 * issue about the body as a whole (type "json", no input).
 */
char *
issue_body_not_json(const char *received, const char *reason)
{
	IssueList	list;
	Issue	   *issue;

	issue_list_init(&list, 1);
	issue = issue_add(&list, "schema", "json", "JSON", "JSON");
	issue->received = received;
	issue->message = psprintf("Invalid JSON: %s", reason);
	return issue_list_error_body(&list);
}

/* The 400 body of a malformed Idempotency-Key (a header: no path). */
char *
issue_body_idempotency_key(const char *received)
{
	IssueList	list;
	Issue	   *issue;

	issue_list_init(&list, 1);
	issue = issue_add(&list, "schema", "idempotency_key", "Idempotency-Key",
					  "a token or a quoted string of 1 to 255 characters");
	issue->received = received;
	return issue_list_error_body(&list);
}

/* Keys of the schema itself, which say nothing about the client's data. */
static bool
is_schema_key(const char *key, int len)
{
	return field_index(key, len) >= 0 ||
		(len == 9 && memcmp(key, "consumers", 9) == 0) ||
		(len == 8 && memcmp(key, "latitude", 8) == 0) ||
		(len == 9 && memcmp(key, "longitude", 9) == 0);
}

/*
 * A one-line description of an issue for messages that also reach the
 * server log, e.g. "consumers.3.activityRank: invalid value (expected <=5)".
 * Nothing the client sent is in it: no value, and no key but the schema's
 * own (a metadata key prints as *).
 */
char *
issue_summary(const Issue *issue)
{
	StringInfoData out;

	initStringInfo(&out);
	for (int i = 0; i < issue->npath; i++)
	{
		const PathItem *item = &issue->path[i];

		if (i > 0)
			appendStringInfoChar(&out, '.');
		if (item->is_array)
			appendStringInfo(&out, "%d", item->index);
		else if (is_schema_key(item->key, item->keylen))
			appendBinaryStringInfo(&out, item->key, item->keylen);
		else
			appendStringInfoChar(&out, '*');
	}
	if (issue->npath == 0)
		appendStringInfoString(&out, "body");
	if (issue->message)
		appendStringInfo(&out, ": %s", issue->message);
	else
		appendStringInfo(&out, ": invalid %s", issue->label);
	if (issue->expected && !issue->message)
		appendStringInfo(&out, " (expected %s)", issue->expected);
	return out.data;
}
