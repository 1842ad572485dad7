/*
 * consumer_record.c
 *	  The decoder: one element of a batch, from either reader, into a typed
 *	  record of its catalogue fields.
 *
 * Each element is read once, here: its members are matched to the field
 * catalogue in one pass (field_element_slots, a perfect hash), and each
 * field's value is decoded as far as its kind asks: numbers as JSON.parse
 * reads them, timestamps to their instant, the geo object's two
 * coordinates, and the metadata record's verdict and whether its stored
 * form must be rebuilt.  Nothing here judges the record or knows about
 * issues: the rules (validate.c) do that, and the staged row (staged_rows.c)
 * and the response (response.c) are built from the record as it is.
 */
#include "postgres.h"

#include "consumer_record.h"
#include "field_catalogue.h"
#include "json_value.h"
#include "timestamp_check.h"

/*
 * The geo object's two coordinates, in one pass over its members (of a key
 * given twice, the last, as json_lookup takes it).  An array passes
 * Valibot's object check and then lacks both keys.
 */
static void
decode_geo(const JsonValue *geo, ConsumerField *cf)
{
	JsonMemberScan scan;
	JsonValue	key;
	JsonValue	value;

	cf->latitude.found = cf->longitude.found = false;
	if (geo->kind != JSON_OBJECT)
		return;
	json_members_init(&scan, geo);
	while (json_members_next(&scan, &key, &value))
	{
		ConsumerCoordinate *c = json_string_equals(&key, "latitude", 8) ? &cf->latitude :
			json_string_equals(&key, "longitude", 9) ? &cf->longitude : NULL;

		if (c == NULL)
			continue;
		c->found = true;
		c->value = value;
		if (value.kind == JSON_NUMBER)
			c->number = json_number(&value);
	}
}

/* The metadata rule on one entry's value (see consumer_record.h). */
bool
consumer_record_metadata_value_fails(const JsonValue *value, bool *rebuild)
{
	bool		fails = value->kind == JSON_OBJECT;
	JsonIter	it;
	JsonValue	item;

	if (!json_is_container(value))
	{
		if (json_number_is_infinite(value))
			*rebuild = true;
		return false;
	}
	if (value->kind == JSON_ARRAY)
	{
		json_iter_init(&it, value);
		while (json_iter_next(&it, NULL, &item))
		{
			if (json_is_container(&item))
				fails = true;
			else if (json_number_is_infinite(&item))
				*rebuild = true;
		}
		json_iter_end(&it);
	}
	return fails;
}

/* decode_metadata's visitor: one entry of the record. */
static bool
decode_metadata_entry(void *arg, const char *key, int keylen, const JsonValue *value)
{
	ConsumerField *cf = arg;

	if (consumer_record_metadata_value_fails(value, &cf->rebuild))
		cf->metadata_fails = true;
	return true;
}

/* metadata: its entries, visited as Valibot's record does. */
static void
decode_metadata(ConsumerField *cf)
{
	cf->metadata_fails = false;
	cf->rebuild = false;
	if (!json_is_container(&cf->value))
		return;
	if (json_record_foreach(&cf->value, decode_metadata_entry, cf))
		cf->rebuild = true;		/* stored as the record's output */
}

/* One field: value is the member's value, or NULL when the key is absent. */
static void
decode_field(const FieldDef *field, const JsonValue *value, ConsumerField *cf)
{
	cf->present = false;
	if (value == NULL || (field_kind_is_nullish(field->kind) && value->kind == JSON_NULL))
		return;
	cf->present = true;
	cf->value = *value;
	switch (field->kind)
	{
		case FK_RANK:
		case FK_SCORE:
		case FK_COUNT:
			cf->number = value->kind == JSON_NUMBER ? json_number(value) : 0;
			break;
		case FK_TIMESTAMP:
			cf->timestamp_valid = value->kind == JSON_STRING &&
				timestamp_parse_iso(value->data, value->len, &cf->timestamp);
			break;
		case FK_GEO:
			decode_geo(value, cf);
			break;
		case FK_METADATA:
			decode_metadata(cf);
			break;
		case FK_BOOL:
		case FK_OBOOL:
		case FK_STATUS:
		case FK_DECIMAL:
		case FK_TEXT:
		case FK_EMAIL:
			break;				/* the value itself is all there is */
	}
}

/* One element into *rec: its members matched once, each field decoded. */
void
consumer_record_decode(const JsonValue *element, int index, ConsumerRecord *rec)
{
	JsonValue	slots[FIELD_COUNT];
	bool		found[FIELD_COUNT];

	rec->index = index;
	rec->element = *element;
	field_element_slots(element, slots, found);
	for (int f = 0; f < FIELD_COUNT; f++)
		decode_field(&field_catalogue[f], found[f] ? &slots[f] : NULL, &rec->fields[f]);
}
