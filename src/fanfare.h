/*
 * fanfare.h
 *	  Declarations shared by the files of the fanfare extension.
 *
 * The extension implements POST /consumers/batch of the Fanfare Admin API
 * inside PostgreSQL: fanfare.create_consumers(jsonb) validates the body
 * exactly as the contract's Valibot schema does, applies the defaults,
 * inserts every consumer in one INSERT and returns the created rows.
 */
#ifndef FANFARE_H
#define FANFARE_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000 || PG_VERSION_NUM >= 180000
#error "fanfare supports PostgreSQL 13 to 17"
#endif

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

/* int64_to_numeric() is exported from PostgreSQL 14 on */
#if PG_VERSION_NUM < 140000
#include "utils/fmgrprotos.h"
#define int64_to_numeric(v) DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(v)))
#endif

/*
 * ---- SQLSTATEs ----
 * fanfare's own outcomes, ERRCODE_FANFARE_<NAME>, from the table in
 * sqlstates.h, which the gateway is built from too.  The README's table
 * lists them with the standard codes fanfare also raises: 22023 (the batch
 * has issues), 28000 (no tenant), 22004 (null body), 54000 (response too
 * large).
 */
#include "sqlstates.h"

enum
{
#define FANFARE_ERRCODE(name, c1, c2, c3, c4, c5, status) \
	ERRCODE_FANFARE_##name = MAKE_SQLSTATE(c1, c2, c3, c4, c5),
	FANFARE_SQLSTATES(FANFARE_ERRCODE)
#undef FANFARE_ERRCODE
};


/* ---- settings (fanfare.c) ---- */
typedef enum IssueFormat
{
	ISSUE_FORMAT_OPENAPI,		/* the published document's form (default) */
	ISSUE_FORMAT_VALIBOT		/* Valibot's raw wire form */
} IssueFormat;

extern int	fanfare_max_batch_size;
extern int	fanfare_max_issues;
extern int	fanfare_max_error_size;	/* kB */
extern int	fanfare_issue_format;
extern char *fanfare_organization_id_setting;
extern char *fanfare_actor_setting;
extern char *fanfare_idempotency_key_setting;
extern int	fanfare_idempotency_ttl;	/* seconds */
extern char *fanfare_idempotency_outcome;

/* The batch-size rule: at most fanfare.max_batch_size consumers. */
static inline bool
batch_size_allowed(int64 n)
{
	return n <= fanfare_max_batch_size;
}

/* ---- the field catalogue ---- */
#include "field_catalogue.h"

/* ---- numbers as JavaScript sees them (js_number.c) ---- */
extern double numeric_to_js_double(Numeric num);
extern double js_number_parse(const char *s, int len);
extern bool js_number_fits_numeric(const char *s, int len);
extern bool numeric_is_huge(Numeric num);
extern int	js_number_format(double d, char *buf);	/* buf >= 32 bytes */
extern Numeric js_double_to_numeric(double d);

/* ---- string checks (email_check.c, timestamp_check.c) ---- */
extern bool email_is_valid(const char *s, int len);
extern bool iso_timestamp_parse(const char *s, int len, TimestampTz *result);
extern int	js_iso_string(TimestampTz ts, char *buf);	/* buf >= 32 bytes */

/* ---- API keys (keys.c) ---- */
extern void api_key_authenticate(const char *key, pg_uuid_t *org, char **actor);

/* ---- ids (uuidv7.c) ---- */
extern void uuidv7_generate(pg_uuid_t *ids, int n);
extern void uuid_format(const pg_uuid_t *id, char *buf);	/* buf >= 37 bytes */

/* ---- tenant context (tenant_context.c) ---- */
typedef enum TenantLookup
{
	TENANT_FOUND,
	TENANT_MISSING,
	TENANT_MALFORMED
} TenantLookup;

extern TenantLookup tenant_lookup(pg_uuid_t *org);
extern bool tenant_organization_id(pg_uuid_t *org);
extern pg_uuid_t tenant_require_organization_id(void);
extern char *tenant_actor(void);

#endif							/* FANFARE_H */
