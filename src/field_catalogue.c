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

#include "fanfare.h"

const FieldDef field_catalogue[FIELD_COUNT] = {
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

int			field_jsonb_order[FIELD_COUNT];
int			field_name_length[FIELD_COUNT];
int			metadata_field = -1;

/*
 * Compare two object keys the way jsonb orders them: shorter first, then
 * bytewise.  A jsonb object's keys are stored in this order.
 */
int
jsonb_key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int
field_jsonb_cmp(const void *a, const void *b)
{
	const FieldDef *fa = &field_catalogue[*(const int *) a];
	const FieldDef *fb = &field_catalogue[*(const int *) b];

	return jsonb_key_cmp(fa->name, strlen(fa->name), fb->name, strlen(fb->name));
}

/*
 * Sort the catalogue's indexes into jsonb key order once per backend, so an
 * element's keys can be matched to fields in one merge pass.
 */
void
field_catalogue_init(void)
{
	for (int i = 0; i < field_count; i++)
	{
		field_jsonb_order[i] = i;
		field_name_length[i] = strlen(field_catalogue[i].name);
		if (field_catalogue[i].kind == FK_METADATA)
			metadata_field = i;
	}
	qsort(field_jsonb_order, field_count, sizeof(int), field_jsonb_cmp);
}

/* The field named name[0..len), or -1: a binary search in jsonb key order. */
int
field_index(const char *name, int len)
{
	int			lo = 0;
	int			hi = FIELD_COUNT;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		int			field = field_jsonb_order[mid];
		int			cmp = jsonb_key_cmp(field_catalogue[field].name,
										field_name_length[field], name, len);

		if (cmp == 0)
			return field;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
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
		values[3] = BoolGetDatum(field->kind == FK_BOOL || field->kind == FK_STATUS);
		if (field->default_json)
			values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(field->default_json));
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
