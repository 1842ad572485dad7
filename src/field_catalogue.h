/*
 * field_catalogue.h
 *	  The request fields of POST /consumers/batch, and finding them in an
 *	  element.
 */
#ifndef FIELD_CATALOGUE_H
#define FIELD_CATALOGUE_H

#include "postgres.h"

#include "json_value.h"

/*
 * What a request field is, which fixes how it is validated, stored, defaulted
 * and returned.  Optionality follows from the kind: BOOL and STATUS are
 * required; the number kinds, OBOOL and DECIMAL are optional (absent means
 * the default, null is a type error); the rest are nullish.
 */
typedef enum FieldKind
{
	FK_BOOL,					/* required boolean */
	FK_OBOOL,					/* optional boolean, default false */
	FK_STATUS,					/* required picklist ACTIVE | INACTIVE */
	FK_RANK,					/* integer 0..5, default 0 (smallint) */
	FK_SCORE,					/* finite number, default 0 (float8) */
	FK_COUNT,					/* safe integer >= 0, default 0 (bigint) */
	FK_DECIMAL,					/* ^\d{1,12}(\.\d{1,8})?$, default "0" (numeric) */
	FK_TIMESTAMP,				/* ISO timestamp naming a real instant (timestamptz) */
	FK_TEXT,					/* any string (text) */
	FK_EMAIL,					/* email (text) */
	FK_GEO,						/* {latitude, longitude} (two float8 columns) */
	FK_METADATA					/* record of scalars or scalar arrays (jsonb) */
} FieldKind;

/* A required field: absent is an issue (BOOL, STATUS). */
static inline bool
field_kind_is_required(FieldKind kind)
{
	return kind == FK_BOOL || kind == FK_STATUS;
}

/* A nullish field: null means absent (the others reject null, or require a value). */
static inline bool
field_kind_is_nullish(FieldKind kind)
{
	return kind == FK_TIMESTAMP || kind == FK_TEXT || kind == FK_EMAIL ||
		kind == FK_GEO || kind == FK_METADATA;
}

typedef struct FieldDef
{
	const char *name;			/* JSON name, e.g. "activityRank" */
	const char *column;			/* column, e.g. "activity_rank" (geo: prefix) */
	FieldKind	kind;
	const char *default_json;	/* what an absent field is, as JSON text;
								 * NULL: null (or, if required, an issue) */
} FieldDef;

/*
 * input fields in schema (alphabetical) order, which is issue order;
 * field_catalogue.c asserts that FIELD_COUNT is lengthof(field_catalogue)
 */
#define FIELD_COUNT 41
extern const FieldDef field_catalogue[FIELD_COUNT];
#define field_count FIELD_COUNT

extern int	field_name_length[];	/* strlen of each name */
extern int	field_metadata_index;	/* index of the FK_METADATA field, or -1 */
extern int	field_email_index;	/* index of the FK_EMAIL field, or -1 */

extern void field_catalogue_init(void);
extern int	field_index(const char *name, int len);

/* An element's values by catalogue field (found[f] false when absent). */
extern void field_element_slots(const JsonValue *element, JsonValue *slots,
								bool *found);

#endif							/* FIELD_CATALOGUE_H */
