/*
 * issue_list.c
 *	  Collecting validation issues and printing them as the contract does.
 *
 * Issues are printed in Valibot's wire form (what JSON.stringify makes of
 * them): kind, type, input, expected, received, message, requirement, path,
 * issues.  Values are printed as JavaScript would: numbers by
 * Number#toString, Infinity as null, strings escaped as JSON.stringify does.
 *
 * One deliberate difference: Valibot repeats the whole body and the whole
 * consumers array in the first two path items of every issue, which makes a
 * 400 for a large batch quadratic in size.  Those two items print "input":
 * null (and the body item "value": null); the consumer element and
 * everything below it are printed faithfully.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "fanfare.h"
#include "issue_list.h"
#include "validate.h"

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
 * Count a new issue and return it for the caller to fill in.  Past
 * max_items the issue is only counted: the caller fills a scratch issue.
 */
Issue *
issue_add(IssueList *list, const char *kind, const char *type,
		  const char *label, const char *expected)
{
	static Issue discarded;
	Issue	   *issue;

	list->total++;
	if (strcmp(kind, "schema") == 0)
		list->schema_seen = true;
	if (list->nitems >= list->max_items)
	{
		issue_init(&discarded, kind, type, label, expected);
		return &discarded;
	}
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

void
issue_set_input(Issue *issue, const JsonbNode *input)
{
	issue->input_kind = INPUT_NODE;
	issue->input = *input;
}

static PathItem *
path_push(Issue *issue)
{
	PathItem   *item;

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
issue_path_element(Issue *issue, int index, const JsonbNode *element)
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
issue_path_key(Issue *issue, const JsonbNode *container,
			   const char *key, int keylen, const JsonbNode *value)
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
issue_path_index(Issue *issue, const JsonbNode *container,
				 int index, const JsonbNode *value)
{
	PathItem   *item = path_push(issue);

	item->is_array = true;
	item->input = *container;
	item->index = index;
	item->value = *value;
}

/* ---- printing ---- */

/*
 * Printing state.  The 400 body is bounded: once out reaches limit, the
 * writers stop (exceeded) and the issue being printed is taken back.  In
 * compact form, values that Valibot repeats from parent containers (inputs,
 * path inputs and values) print as null, which keeps an issue linear in
 * size: a metadata array of n bad items otherwise repeats the array n times.
 */
typedef struct IssueWriter
{
	StringInfo	out;
	int			limit;
	bool		exceeded;
	bool		compact;
} IssueWriter;

static bool
over_limit(IssueWriter *w)
{
	if (w->out->len > w->limit)
		w->exceeded = true;
	return w->exceeded;
}

/* A JSON string literal, escaped as JSON.stringify escapes. */
void
write_json_string(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789abcdef";
	int			run = 0;

	appendStringInfoCharMacro(out, '"');
	for (int i = 0; i < len; i++)
	{
		unsigned char c = s[i];
		const char *esc = NULL;

		switch (c)
		{
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			default:
				if (c >= 0x20)
					continue;
		}
		appendBinaryStringInfo(out, s + run, i - run);
		run = i + 1;
		if (esc)
			appendStringInfoString(out, esc);
		else
		{
			char		u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

			appendStringInfoString(out, u);
		}
	}
	appendBinaryStringInfo(out, s + run, len - run);
	appendStringInfoCharMacro(out, '"');
}

static void
write_number(StringInfo out, const JsonbNode *node, bool infinite_as_null)
{
	char		buf[32];
	bool		short_form;
	double		d = numeric_to_js_double((Numeric) node->data, &short_form);

	if (infinite_as_null && !isfinite(d))
		appendStringInfoString(out, "null");
	else
		appendBinaryStringInfo(out, buf, js_number_format(d, buf));
}

/* A value as JSON.stringify prints what JSON.parse made of it. */
static void
write_js_value(IssueWriter *w, const JsonbNode *node)
{
	StringInfo	out = w->out;

	check_stack_depth();
	if (over_limit(w))
		return;
	if (w->compact)
	{
		appendStringInfoString(out, "null");
		return;
	}
	switch (node->type)
	{
		case JENTRY_ISSTRING:
			write_json_string(out, node->data, node->len);
			break;
		case JENTRY_ISNUMERIC:
			write_number(out, node, true);
			break;
		case JENTRY_ISBOOL_TRUE:
			appendStringInfoString(out, "true");
			break;
		case JENTRY_ISBOOL_FALSE:
			appendStringInfoString(out, "false");
			break;
		case JENTRY_ISNULL:
			appendStringInfoString(out, "null");
			break;
		case JENTRY_ISCONTAINER:
			{
				const JsonbContainer *c = node_container(node);
				int			n = JsonContainerSize(c);
				bool		object = JsonContainerIsObject(c);
				ChildCursor keys;
				ChildCursor values;
				JsonbNode	child;

				appendStringInfoChar(out, object ? '{' : '[');
				cursor_init(&keys, c, 0);
				cursor_init(&values, c, object ? n : 0);
				for (int i = 0; i < n && !over_limit(w); i++)
				{
					if (i > 0)
						appendStringInfoChar(out, ',');
					cursor_next(&keys, &child);
					if (object)
					{
						write_json_string(out, child.data, child.len);
						appendStringInfoChar(out, ':');
						cursor_next(&values, &child);
					}
					write_js_value(w, &child);
				}
				appendStringInfoChar(out, object ? '}' : ']');
			}
			break;
	}
}

/* write_metadata_output's visitor */
typedef struct RecordOutput
{
	IssueWriter *w;
	bool		first;
} RecordOutput;

static bool
write_record_entry(void *arg, const char *key, int keylen, const JsonbNode *value)
{
	RecordOutput *ro = arg;

	if (!ro->first)
		appendStringInfoChar(ro->w->out, ',');
	ro->first = false;
	write_json_string(ro->w->out, key, keylen);
	appendStringInfoChar(ro->w->out, ':');
	write_js_value(ro->w, value);
	return !over_limit(ro->w);
}

/* A metadata record as the schema outputs it (see record_foreach). */
static void
write_metadata_output(IssueWriter *w, const JsonbNode *metadata)
{
	RecordOutput ro = {w, true};

	appendStringInfoChar(w->out, '{');
	record_foreach(metadata, write_record_entry, &ro);
	appendStringInfoChar(w->out, '}');
}

/*
 * The consumers array as the schema outputs it (what Valibot hands to
 * maxLength): each consumer's known keys in schema order, unknown keys
 * stripped, coordinates reduced to latitude and longitude, metadata as
 * above.  Only printed for batches without schema issues, so every element
 * is an object and every value has its type.
 */
static void
write_batch_output(IssueWriter *w, const JsonbNode *consumers)
{
	ChildCursor elements;
	JsonbNode	element;

	if (w->compact)
	{
		appendStringInfoString(w->out, "null");
		return;
	}
	appendStringInfoChar(w->out, '[');
	cursor_init(&elements, node_container(consumers), 0);
	for (int i = 0; i < node_size(consumers) && !over_limit(w); i++)
	{
		bool		first = true;

		cursor_next(&elements, &element);
		if (i > 0)
			appendStringInfoChar(w->out, ',');
		appendStringInfoChar(w->out, '{');
		for (int f = 0; f < FIELD_COUNT; f++)
		{
			const FieldDef *field = &field_catalogue[f];
			JsonbNode	value;

			if (!node_is_object(&element) ||
				!object_lookup(node_container(&element), field->name,
							   field_name_length[f], &value))
				continue;
			appendStringInfo(w->out, "%s\"%s\":", first ? "" : ",", field->name);
			first = false;
			if (value.type == JENTRY_ISNULL)
				appendStringInfoString(w->out, "null");
			else if (field->kind == FK_GEO)
			{
				JsonbNode	coordinate;

				appendStringInfoString(w->out, "{\"latitude\":");
				object_lookup(node_container(&value), "latitude", 8, &coordinate);
				write_js_value(w, &coordinate);
				appendStringInfoString(w->out, ",\"longitude\":");
				object_lookup(node_container(&value), "longitude", 9, &coordinate);
				write_js_value(w, &coordinate);
				appendStringInfoChar(w->out, '}');
			}
			else if (field->kind == FK_METADATA)
				write_metadata_output(w, &value);
			else
				write_js_value(w, &value);
		}
		appendStringInfoChar(w->out, '}');
	}
	appendStringInfoChar(w->out, ']');
}

/* Valibot's "received": strings quoted but not escaped, containers by kind. */
void
write_received(StringInfo out, const JsonbNode *node)
{
	switch (node->type)
	{
		case JENTRY_ISSTRING:
			appendStringInfoChar(out, '"');
			appendBinaryStringInfo(out, node->data, node->len);
			appendStringInfoChar(out, '"');
			break;
		case JENTRY_ISNUMERIC:
			write_number(out, node, false);
			break;
		case JENTRY_ISBOOL_TRUE:
			appendStringInfoString(out, "true");
			break;
		case JENTRY_ISBOOL_FALSE:
			appendStringInfoString(out, "false");
			break;
		case JENTRY_ISNULL:
			appendStringInfoString(out, "null");
			break;
		case JENTRY_ISCONTAINER:
			appendStringInfoString(out, node_is_array(node) ? "Array" : "Object");
			break;
	}
}

static void
write_path_item(IssueWriter *w, const PathItem *item)
{
	StringInfo	out = w->out;

	appendStringInfo(out, "{\"type\":\"%s\",\"origin\":\"%s\",\"input\":",
					 item->is_array ? "array" : "object",
					 item->origin_key ? "key" : "value");
	if (item->input_null)
		appendStringInfoString(out, "null");
	else
		write_js_value(w, &item->input);
	appendStringInfoString(out, ",\"key\":");
	if (item->is_array)
		appendStringInfo(out, "%d", item->index);
	else
		write_json_string(out, item->key, item->keylen);
	if (item->value_null)
		appendStringInfoString(out, ",\"value\":null");
	else if (!item->origin_key)
	{
		appendStringInfoString(out, ",\"value\":");
		write_js_value(w, &item->value);
	}
	appendStringInfoChar(out, '}');
}

static void
write_issue(IssueWriter *w, const Issue *issue, StringInfo scratch)
{
	StringInfo	out = w->out;
	char		buf[32];

	check_stack_depth();
	if (over_limit(w))
		return;

	/* received and message, unescaped, in scratch */
	resetStringInfo(scratch);
	appendStringInfo(scratch, "Invalid %s: ", issue->label);
	if (issue->expected)
		appendStringInfo(scratch, "Expected %s but received ", issue->expected);
	else
		appendStringInfoString(scratch, "Received ");
	{
		int			received_at = scratch->len;

		if (issue->received)
			appendStringInfoString(scratch, issue->received);
		else
			write_received(scratch, &issue->input);

		appendStringInfo(out, "{\"kind\":\"%s\",\"type\":\"%s\"", issue->kind, issue->type);
		if (issue->input_kind == INPUT_NODE)
		{
			appendStringInfoString(out, ",\"input\":");
			write_js_value(w, &issue->input);
		}
		else if (issue->input_kind == INPUT_BATCH_OUTPUT)
		{
			appendStringInfoString(out, ",\"input\":");
			write_batch_output(w, &issue->input);
		}
		appendStringInfoString(out, ",\"expected\":");
		if (issue->expected)
			write_json_string(out, issue->expected, strlen(issue->expected));
		else
			appendStringInfoString(out, "null");
		appendStringInfoString(out, ",\"received\":");
		write_json_string(out, scratch->data + received_at, scratch->len - received_at);
	}
	appendStringInfoString(out, ",\"message\":");
	if (issue->message)
		write_json_string(out, issue->message, strlen(issue->message));
	else
		write_json_string(out, scratch->data, scratch->len);

	if (issue->requirement == REQ_NUMBER)
	{
		js_number_format(issue->requirement_value, buf);
		appendStringInfo(out, ",\"requirement\":%s", buf);
	}
	else if (issue->requirement == REQ_REGEX)
		appendStringInfoString(out, ",\"requirement\":{}");

	if (issue->npath > 0)
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
	if (issue->nsub > 0)
	{
		StringInfoData sub_scratch;

		initStringInfo(&sub_scratch);
		appendStringInfoString(out, ",\"issues\":[");
		for (int i = 0; i < issue->nsub && !over_limit(w); i++)
		{
			int			sub_start = out->len;

			if (i > 0)
				appendStringInfoChar(out, ',');
			write_issue(w, &issue->sub[i], &sub_scratch);
			if (w->exceeded && w->compact && i > 0)
			{
				/* compact form: list the sub-issues that fit, then close */
				out->len = sub_start;
				out->data[out->len] = '\0';
				w->exceeded = false;
				w->limit = out->len;
				break;
			}
		}
		appendStringInfoChar(out, ']');
		pfree(sub_scratch.data);
	}
	appendStringInfoChar(out, '}');
}

/*
 * The issues array, as JSON text: the listed issues (at most max_issues)
 * while they fit in fanfare.max_error_size.  An issue that would cross it is
 * left out with all after it (issueCount still counts them); when even the
 * first does not fit, it is printed in compact form, and if need be with
 * only the first of its nested union issues that fit.
 */
void
issue_list_write(StringInfo out, const IssueList *list)
{
	StringInfoData scratch;
	IssueWriter w = {out, out->len + fanfare_max_error_size * 1024L, false, false};

	initStringInfo(&scratch);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < list->nitems; i++)
	{
		int			start = out->len;

		if (i > 0)
			appendStringInfoChar(out, ',');
		write_issue(&w, &list->items[i], &scratch);
		if (w.exceeded && i == 0)
		{
			out->len = start;
			w.exceeded = false;
			w.compact = true;
			write_issue(&w, &list->items[i], &scratch);
		}
		if (w.exceeded)
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
	issue_list_write(&out, list);
	appendStringInfo(&out, ",\"issueCount\":%d}", list->total);
	return out.data;
}

/*
 * A one-line description of an issue without the offending value, e.g.
 * "consumers.3.activityRank: invalid value (expected <=5)", for messages
 * that also reach the server log.
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
		else
			appendBinaryStringInfo(&out, item->key, item->keylen);
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
