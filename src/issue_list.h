/*
 * issue_list.h
 *	  Validation issues, shaped and ordered as Valibot 1.5.0 reports them.
 */
#ifndef ISSUE_LIST_H
#define ISSUE_LIST_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "json_value.h"

/* One step of an issue's path: {type, origin, input, key, value}. */
typedef struct PathItem
{
	bool		is_array;		/* type "array" with a numeric key */
	bool		origin_key;		/* origin "key": the key is missing */
	bool		input_null;		/* outer container: input printed as null */
	bool		value_null;		/* body item: value printed as null */
	JsonValue	input;			/* the container */
	const char *key;			/* object key (not NUL-terminated) */
	int			keylen;
	int			index;			/* array index */
	JsonValue	value;			/* input[key]; unused on a missing key */
} PathItem;

#define ISSUE_MAX_PATH 4

typedef enum IssueInput
{
	INPUT_NODE,					/* the offending value */
	INPUT_ABSENT,				/* missing key: no input member */
	INPUT_BATCH_OUTPUT			/* the consumers array as the schema outputs it */
} IssueInput;

typedef enum Requirement
{
	REQ_NONE,					/* no requirement member */
	REQ_NUMBER,					/* a number: min/max value, max length */
	REQ_REGEX					/* a RegExp, which JSON.stringify prints as {} */
} Requirement;

/*
 * A nested issue of a union, as data: its input is the parent issue's input
 * (an option of the union) or, for container_items, an item of it.  Nested
 * issues are made from these while the 400 body is printed, so that an
 * issue costs the same memory however many items its input has.
 */
typedef struct IssueTemplate
{
	const char *kind;
	const char *type;
	const char *label;
	const char *expected;
	const struct IssueTemplate *options;	/* its own nested issues */
	int			noptions;
} IssueTemplate;

typedef struct Issue
{
	const char *kind;			/* "schema" or "validation" */
	const char *type;
	const char *label;			/* the word after "Invalid" in the message */
	const char *expected;		/* NULL: Valibot prints null */
	IssueInput	input_kind;
	JsonValue	input;
	const char *received;		/* NULL: derived from input */
	const char *message;		/* NULL: Valibot's template */
	Requirement requirement;
	double		requirement_value;
	int			npath;
	PathItem	path[ISSUE_MAX_PATH];
	/* a union: the options' issues, then one per container item of input */
	const IssueTemplate *options;
	int			noptions;
	const IssueTemplate *container_items;
} Issue;

typedef struct IssueList
{
	MemoryContext cxt;			/* where issues live (not SPI's contexts) */
	Issue	   *items;			/* the first max_items issues */
	int			nitems;
	int			allocated;
	int			max_items;
	int			total;			/* every issue found, kept or not */
	bool		schema_seen;	/* a schema-kind issue was found */
} IssueList;

extern void issue_list_init(IssueList *list, int max_items);
extern Issue *issue_add(IssueList *list, const char *kind, const char *type,
						const char *label, const char *expected);
extern void issue_init(Issue *issue, const char *kind, const char *type,
					   const char *label, const char *expected);
extern bool issue_is_kept(const Issue *issue);
extern void issue_set_input(Issue *issue, const JsonValue *input);
extern void issue_path_body(Issue *issue, bool missing);
extern void issue_path_element(Issue *issue, int index, const JsonValue *element);
extern void issue_path_key(Issue *issue, const JsonValue *container,
						   const char *key, int keylen, const JsonValue *value);
extern void issue_path_index(Issue *issue, const JsonValue *container,
							 int index, const JsonValue *value);

/*
 * The issues array, and the whole 400 body, in fanfare.issue_format.  For
 * an array that will be read as jsonb, each array or object of the request
 * printed also counts ISSUE_JSONB_CONTAINER_COST bytes against
 * fanfare.max_error_size: about what jsonb's input builds for one, so that
 * the limit bounds that too (a deep array prints as two bytes a level).
 */
#define ISSUE_JSONB_CONTAINER_COST 256
extern void issue_list_write(StringInfo out, const IssueList *list, Size container_cost);
extern char *issue_list_error_body(const IssueList *list);

/* The 400 body for a body that is not JSON: one issue about the body. */
extern char *issue_body_not_json(const char *received, const char *reason);
extern char *issue_body_idempotency_key(const char *received);

/* Where an issue is and what it says, without anything the client sent. */
extern char *issue_summary(const Issue *issue);

#endif							/* ISSUE_LIST_H */
