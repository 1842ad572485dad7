/*
 * consumer_record.h
 *	  One element of a batch, decoded once into a typed record
 *	  (consumer_record.c).
 *
 * The record is what every step after the reader works on: the rules
 * (validate.c) judge it, the staged row (staged_rows.c) and the response
 * (response.c) are built from it.  It says nothing about issues.
 */
#ifndef FANFARE_CONSUMER_RECORD_H
#define FANFARE_CONSUMER_RECORD_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "field_catalogue.h"
#include "json_value.h"

/* One coordinate of a geo field: the key, its value, and the number. */
typedef struct ConsumerCoordinate
{
	bool		found;			/* the key is in the geo object */
	JsonValue	value;			/* when found */
	double		number;			/* when value is a number: as JSON.parse reads it */
} ConsumerCoordinate;

/*
 * A catalogue field of one element, as decoded.  Only the members of the
 * field's kind are set, and only when present.
 */
typedef struct ConsumerField
{
	bool		present;		/* the key is given, with a value that is not
								 * a null standing for absence (nullish kinds) */
	JsonValue	value;			/* the value as sent; value.kind is its kind */
	double		number;			/* rank, score, count given a number: as
								 * JSON.parse reads it */
	TimestampTz timestamp;		/* timestamp given a string: the instant, */
	bool		timestamp_valid;	/* when the string names one */
	ConsumerCoordinate latitude;	/* geo given an object */
	ConsumerCoordinate longitude;
	bool		metadata_fails; /* metadata: some entry is neither a scalar
								 * nor an array of scalars */
	bool		rebuild;		/* metadata: its stored form is not the value
								 * itself (see staged_rows_metadata) */
} ConsumerField;

/* One element of the batch, its fields in catalogue order. */
typedef struct ConsumerRecord
{
	int			index;			/* in the consumers array */
	JsonValue	element;
	ConsumerField fields[FIELD_COUNT];
} ConsumerRecord;

/*
 * Decode element (the index-th of the batch) into *rec, in one pass over its
 * members.  Scratch is allocated in the current memory context; it holds
 * what reading the element's metadata needs, no more.  An element that is
 * not an object has no fields.
 */
extern void consumer_record_decode(const JsonValue *element, int index,
								   ConsumerRecord *rec);

/*
 * Whether a metadata entry's value fails the metadata rule: a value must be
 * a scalar or an array of scalars.  Sets *rebuild when it holds a number
 * that JSON.parse turns into Infinity (stored as null).
 */
extern bool consumer_record_metadata_value_fails(const JsonValue *value, bool *rebuild);

#endif							/* FANFARE_CONSUMER_RECORD_H */
