/*
 * field_catalogue.c
 *	  The request fields of POST /consumers/batch, as data.
 *
 * One line per field: its JSON name, its column in fanfare.consumers, its
 * kind (see FieldKind) and the value an absent field takes, as JSON text.
 * Validation, conversion, the INSERT and both responses are loops over this
 * table; the column DEFAULTs of fanfare.consumers say the same (the
 * regression suite compares them through fanfare.consumer_fields()).  The order is the schema's (alphabetical, as in
 * the OpenAPI document), which is the order Valibot reports issues in.
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "field_catalogue.h"
#include "json_value.h"

const FieldDef field_catalogue[] = {
	{"activityRank", "activity_rank", FK_RANK, "0"},
	{"activityScore", "activity_score", FK_SCORE, "0"},
	{"activityScoreUpdatedAt", "activity_score_updated_at", FK_TIMESTAMP, NULL},
	{"aov", "aov", FK_DECIMAL, "\"0\""},
	{"email", "email", FK_EMAIL, NULL},
	{"emailVerified", "email_verified", FK_BOOL, NULL},
	{"engagedCount", "engaged_count", FK_COUNT, "0"},
	{"fullName", "full_name", FK_TEXT, NULL},
	{"lastEngagedAt", "last_engaged_at", FK_TIMESTAMP, NULL},
	{"lastGeoAt", "last_geo_at", FK_TIMESTAMP, NULL},
	{"lastGeoCity", "last_geo_city", FK_TEXT, NULL},
	{"lastGeoCoordinates", "last_geo", FK_GEO, NULL},
	{"lastGeoCountry", "last_geo_country", FK_TEXT, NULL},
	{"lastGeoPostalCode", "last_geo_postal_code", FK_TEXT, NULL},
	{"lastGeoRegion", "last_geo_region", FK_TEXT, NULL},
	{"lastGeoSource", "last_geo_source", FK_TEXT, NULL},
	{"lastGeoTimezone", "last_geo_timezone", FK_TEXT, NULL},
	{"lastLoginAt", "last_login_at", FK_TIMESTAMP, NULL},
	{"lastOrderAt", "last_order_at", FK_TIMESTAMP, NULL},
	{"lastReturnAt", "last_return_at", FK_TIMESTAMP, NULL},
	{"loyaltyBalance", "loyalty_balance", FK_SCORE, "0"},
	{"loyaltyLastActivityAt", "loyalty_last_activity_at", FK_TIMESTAMP, NULL},
	{"loyaltyLifetimePoints", "loyalty_lifetime_points", FK_SCORE, "0"},
	{"ltv", "ltv", FK_DECIMAL, "\"0\""},
	{"metadata", "metadata", FK_METADATA, NULL},
	{"monetaryRank", "monetary_rank", FK_RANK, "0"},
	{"monetaryScore", "monetary_score", FK_SCORE, "0"},
	{"monetaryScoreUpdatedAt", "monetary_score_updated_at", FK_TIMESTAMP, NULL},
	{"phone", "phone", FK_TEXT, NULL},
	{"phoneVerified", "phone_verified", FK_BOOL, NULL},
	{"purchaseFrequencyRank", "purchase_frequency_rank", FK_RANK, "0"},
	{"purchaseFrequencyScore", "purchase_frequency_score", FK_SCORE, "0"},
	{"purchaseFrequencyScoreUpdatedAt", "purchase_frequency_score_updated_at", FK_TIMESTAMP, NULL},
	{"smsOptOut", "sms_opt_out", FK_OBOOL, "false"},
	{"status", "status", FK_STATUS, NULL},
	{"totalEngagements", "total_engagements", FK_COUNT, "0"},
	{"totalMessages", "total_messages", FK_COUNT, "0"},
	{"totalOrders", "total_orders", FK_COUNT, "0"},
	{"totalReturns", "total_returns", FK_COUNT, "0"},
	{"verificationCode", "verification_code", FK_TEXT, NULL},
	{"verificationCodeExpiresAt", "verification_code_expires_at", FK_TIMESTAMP, NULL},
};

StaticAssertDecl(lengthof(field_catalogue) == FIELD_COUNT,
				 "FIELD_COUNT must be the number of fields in the catalogue");

/*
 * A perfect hash of the field names: a seeded mix of the key's length and
 * its first and last eight bytes, a power-of-two table, and the first seed for which no two names share a
 * slot, found from the catalogue once per backend.  A key is then found
 * with one hash and one comparison, whatever the catalogue holds.
 */
#define FIELD_HASH_SIZE 256
StaticAssertDecl(FIELD_COUNT < FIELD_HASH_SIZE / 2, "the field hash table is too small");
StaticAssertDecl(FIELD_COUNT <= PG_INT8_MAX, "field indexes must fit int8");

static int8 field_hash_slots[FIELD_HASH_SIZE];
static uint32 field_hash_seed;

int			field_name_length[FIELD_COUNT];
int			field_metadata_index = -1;
int			field_email_index = -1;

/*
 * The slot of key[0..len) in field_hash_slots under seed.  It reads the
 * length and at most the first and the last eight bytes, two loads instead
 * of a multiply per byte: the catalogue's names differ there (field_index
 * compares the whole name anyway, and field_catalogue_init stops if two
 * names ever collide under every seed it tries).
 */
static inline uint32
field_hash(const char *key, int len, uint32 seed)
{
	uint64		head = 0;
	uint64		tail = 0;
	uint64		h;

	if (len >= 8)
	{
		memcpy(&head, key, 8);
		memcpy(&tail, key + len - 8, 8);
	}
	else
	{
		for (int i = 0; i < len; i++)
			head = (head << 8) | (unsigned char) key[i];
	}
	h = (head ^ seed) * UINT64CONST(0x9E3779B97F4A7C15) +
		(tail ^ (uint64) len) * UINT64CONST(0xC2B2AE3D27D4EB4F);
	return (uint32) (h >> 48) & (FIELD_HASH_SIZE - 1);
}

/* Fill the table under seed; false on a collision. */
static bool
field_hash_try(uint32 seed)
{
	memset(field_hash_slots, -1, sizeof(field_hash_slots));
	for (int i = 0; i < FIELD_COUNT; i++)
	{
		uint32		slot = field_hash(field_catalogue[i].name, field_name_length[i], seed);

		if (field_hash_slots[slot] >= 0)
			return false;
		field_hash_slots[slot] = i;
	}
	field_hash_seed = seed;
	return true;
}

/*
 * Once per backend: the names' lengths, the metadata and email fields and
 * the perfect hash.
 */
void
field_catalogue_init(void)
{
	uint32		seed = 2166136261u;

	for (int i = 0; i < field_count; i++)
	{
		field_name_length[i] = strlen(field_catalogue[i].name);
		if (field_catalogue[i].kind == FK_METADATA)
			field_metadata_index = i;
		if (field_catalogue[i].kind == FK_EMAIL)
			field_email_index = i;
	}
	for (int tries = 0; !field_hash_try(seed); tries++)
	{
		/* about 1 seed in 500 fits; a million tries means two names collide */
		if (tries == 1000000)
			elog(ERROR, "no perfect hash for the field catalogue's names");
		seed++;
	}
}

/* The field named name[0..len), or -1: one hash, one comparison. */
int
field_index(const char *name, int len)
{
	int			field = field_hash_slots[field_hash(name, len, field_hash_seed)];

	if (field >= 0 && field_name_length[field] == len &&
		memcmp(field_catalogue[field].name, name, len) == 0)
		return field;
	return -1;
}

/*
 * An element's values by catalogue field (found[f] false when absent), in
 * one pass over its members, from either reader: a later duplicate (text
 * only) replaces an earlier one, as in JSON.parse.  An element that is not
 * an object has no fields.
 */
void
field_element_slots(const JsonValue *element, JsonValue *slots, bool *found)
{
	JsonMemberScan scan;
	JsonValue	key;
	JsonValue	value;

	memset(found, 0, sizeof(bool) * FIELD_COUNT);
	if (element->kind != JSON_OBJECT)
		return;
	json_members_init(&scan, element);
	while (json_members_next(&scan, &key, &value))
	{
		int			field = field_index(key.data, key.len);

		if (field >= 0)
		{
			slots[field] = value;
			found[field] = true;
		}
	}
}

static const char *
kind_name(FieldKind kind)
{
	static const char *const names[] = {
		[FK_BOOL] = "boolean",
		[FK_OBOOL] = "optional boolean",
		[FK_STATUS] = "status",
		[FK_RANK] = "rank",
		[FK_SCORE] = "score",
		[FK_COUNT] = "count",
		[FK_DECIMAL] = "decimal",
		[FK_TIMESTAMP] = "timestamp",
		[FK_TEXT] = "text",
		[FK_EMAIL] = "email",
		[FK_GEO] = "coordinates",
		[FK_METADATA] = "metadata",
	};

	return names[kind];
}

PG_FUNCTION_INFO_V1(fanfare_consumer_fields);

/*
 * SQL: fanfare.consumer_fields(), the catalogue as a table: name, column,
 * kind, required, and the default as jsonb (NULL: null).
 */
Datum
fanfare_consumer_fields(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	{
		TupleDesc	desc;
		MemoryContext old;

		if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
			!(rsinfo->allowedModes & SFRM_Materialize) ||
			get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("set-valued function called in context that cannot accept a set")));
		old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setDesc = CreateTupleDescCopy(desc);
		rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
		MemoryContextSwitchTo(old);
	}
#endif
	for (int i = 0; i < FIELD_COUNT; i++)
	{
		const FieldDef *field = &field_catalogue[i];
		Datum		values[5];
		bool		nulls[5] = {0};

		values[0] = CStringGetTextDatum(field->name);
		values[1] = CStringGetTextDatum(field->column);
		values[2] = CStringGetTextDatum(kind_name(field->kind));
		values[3] = BoolGetDatum(field_kind_is_required(field->kind));
		if (field->default_json)
			values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(field->default_json));
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
