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
 * fanfare's own outcomes use implementation-defined subclasses (letter N,
 * outside the ranges the SQL standard reserves), one code per outcome a
 * client must tell apart.  The README's table lists them with the standard
 * codes fanfare also raises: 22023 (the batch has issues), 28000 (no
 * tenant), 22004 (null body), 54000 (response too large).
 */
#define ERRCODE_FANFARE_NOT_JSON		MAKE_SQLSTATE('2','2','N','0','1')
#define ERRCODE_FANFARE_UNSTORABLE_JSON	MAKE_SQLSTATE('2','2','N','0','2')
#define ERRCODE_FANFARE_TOO_DEEP		MAKE_SQLSTATE('2','2','N','0','3')
#define ERRCODE_FANFARE_INVALID_KEY		MAKE_SQLSTATE('2','8','N','0','1')
#define ERRCODE_FANFARE_SECRET_KEY_REQUIRED	MAKE_SQLSTATE('2','8','N','0','2')
#define ERRCODE_FANFARE_ORGANIZATION_DISABLED	MAKE_SQLSTATE('4','2','N','0','1')
#define ERRCODE_FANFARE_IDEMPOTENCY_KEY_REUSED	MAKE_SQLSTATE('2','2','N','0','4')
#define ERRCODE_FANFARE_INVALID_IDEMPOTENCY_KEY	MAKE_SQLSTATE('2','2','N','0','5')
#define ERRCODE_FANFARE_IDEMPOTENCY_KEY_IN_USE	MAKE_SQLSTATE('5','5','N','0','1')
#define ERRCODE_FANFARE_RATE_LIMITED	MAKE_SQLSTATE('5','4','N','0','1')
/* a notice, not an error: the rate limit after a request (rate_limit.c) */
#define ERRCODE_FANFARE_RATE_LIMIT_STATUS	MAKE_SQLSTATE('0','1','N','0','1')

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

/* ---- the field catalogue (field_catalogue.c) ---- */

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

typedef struct FieldDef
{
	const char *name;			/* JSON name, e.g. "activityRank" */
	const char *column;			/* column, e.g. "activity_rank" (geo: prefix) */
	FieldKind	kind;
	const char *default_json;	/* what an absent field is, as JSON text;
								 * NULL: null (or, if required, an issue) */
} FieldDef;

/* input fields in schema (alphabetical) order, which is issue order */
#define FIELD_COUNT 41
extern const FieldDef field_catalogue[FIELD_COUNT];
#define field_count FIELD_COUNT

/* field indexes sorted the way jsonb sorts object keys (length, then bytes) */
extern int	field_jsonb_order[];
extern int	field_name_length[];	/* strlen of each name */
extern int	metadata_field;		/* index of the FK_METADATA field, or -1 */

extern void field_catalogue_init(void);
extern int	field_index(const char *name, int len);
extern int	jsonb_key_cmp(const char *a, int alen, const char *b, int blen);

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
