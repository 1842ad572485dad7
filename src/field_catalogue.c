/*
 * field_catalogue.c
 *	  The request fields of POST /consumers/batch, as data.
 *
 * One line per field: its JSON name, its column in fanfare.consumers and its
 * kind (see FieldKind).  Validation, conversion, the INSERT and the response
 * are loops over this table.  The order is the schema's (alphabetical, as in
 * the OpenAPI document), which is the order Valibot reports issues in.
 */
#include "postgres.h"

#include "fanfare.h"

const FieldDef field_catalogue[FIELD_COUNT] = {
	{"activityRank", "activity_rank", FK_RANK},
	{"activityScore", "activity_score", FK_SCORE},
	{"activityScoreUpdatedAt", "activity_score_updated_at", FK_TIMESTAMP},
	{"aov", "aov", FK_DECIMAL},
	{"email", "email", FK_EMAIL},
	{"emailVerified", "email_verified", FK_BOOL},
	{"engagedCount", "engaged_count", FK_COUNT},
	{"fullName", "full_name", FK_TEXT},
	{"lastEngagedAt", "last_engaged_at", FK_TIMESTAMP},
	{"lastGeoAt", "last_geo_at", FK_TIMESTAMP},
	{"lastGeoCity", "last_geo_city", FK_TEXT},
	{"lastGeoCoordinates", "last_geo", FK_GEO},
	{"lastGeoCountry", "last_geo_country", FK_TEXT},
	{"lastGeoPostalCode", "last_geo_postal_code", FK_TEXT},
	{"lastGeoRegion", "last_geo_region", FK_TEXT},
	{"lastGeoSource", "last_geo_source", FK_TEXT},
	{"lastGeoTimezone", "last_geo_timezone", FK_TEXT},
	{"lastLoginAt", "last_login_at", FK_TIMESTAMP},
	{"lastOrderAt", "last_order_at", FK_TIMESTAMP},
	{"lastReturnAt", "last_return_at", FK_TIMESTAMP},
	{"loyaltyBalance", "loyalty_balance", FK_SCORE},
	{"loyaltyLastActivityAt", "loyalty_last_activity_at", FK_TIMESTAMP},
	{"loyaltyLifetimePoints", "loyalty_lifetime_points", FK_SCORE},
	{"ltv", "ltv", FK_DECIMAL},
	{"metadata", "metadata", FK_METADATA},
	{"monetaryRank", "monetary_rank", FK_RANK},
	{"monetaryScore", "monetary_score", FK_SCORE},
	{"monetaryScoreUpdatedAt", "monetary_score_updated_at", FK_TIMESTAMP},
	{"phone", "phone", FK_TEXT},
	{"phoneVerified", "phone_verified", FK_BOOL},
	{"purchaseFrequencyRank", "purchase_frequency_rank", FK_RANK},
	{"purchaseFrequencyScore", "purchase_frequency_score", FK_SCORE},
	{"purchaseFrequencyScoreUpdatedAt", "purchase_frequency_score_updated_at", FK_TIMESTAMP},
	{"smsOptOut", "sms_opt_out", FK_OBOOL},
	{"status", "status", FK_STATUS},
	{"totalEngagements", "total_engagements", FK_COUNT},
	{"totalMessages", "total_messages", FK_COUNT},
	{"totalOrders", "total_orders", FK_COUNT},
	{"totalReturns", "total_returns", FK_COUNT},
	{"verificationCode", "verification_code", FK_TEXT},
	{"verificationCodeExpiresAt", "verification_code_expires_at", FK_TIMESTAMP},
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
