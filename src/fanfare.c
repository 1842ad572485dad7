/*
 * fanfare.c
 *	  Module entry: settings under the reserved fanfare. prefix.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "fanfare.h"
#include "field_catalogue.h"
#include "rate_limit.h"

PG_MODULE_MAGIC;

int			fanfare_max_batch_size = 500;
int			fanfare_max_issues = 100;
int			fanfare_max_error_size = 4096;
int			fanfare_issue_format = ISSUE_FORMAT_OPENAPI;
char	   *fanfare_organization_id_setting = NULL;
char	   *fanfare_actor_setting = NULL;
char	   *fanfare_idempotency_key_setting = NULL;
char	   *fanfare_idempotency_outcome = NULL;
int			fanfare_idempotency_ttl = 86400;

void		_PG_init(void);

static const struct config_enum_entry issue_formats[] = {
	{"openapi", ISSUE_FORMAT_OPENAPI, false},
	{"valibot", ISSUE_FORMAT_VALIBOT, false},
	{NULL, 0, false}
};

/* The batch's bounds and the issues' form. */
static void
define_batch_settings(void)
{
	DefineCustomIntVariable("fanfare.max_batch_size",
							"Most consumers one batch may create.",
							"Larger batches get the max_length issue. 500 is the documented Fanfare limit.",
							&fanfare_max_batch_size,
							500, 1, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("fanfare.max_issues",
							"Most issues reported for one invalid batch.",
							"Every issue is counted in issueCount; only this many are listed.",
							&fanfare_max_issues,
							100, 1, 100000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("fanfare.max_error_size",
							"Largest list of issues in one error.",
							"Issues that would make the list larger are left out (issueCount still counts them); it bounds the memory an invalid batch can take.",
							&fanfare_max_error_size,
							4096, 64, (int) (MaxAllocSize / 1024),
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("fanfare.issue_format",
							 "Wire form of the issues in a 400 body.",
							 "openapi: the published document's form (every issue has a path, path keys and expected are strings); valibot: Valibot's raw form.",
							 &fanfare_issue_format,
							 ISSUE_FORMAT_OPENAPI, issue_formats,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/* The request's tenant, actor and idempotency key. */
static void
define_request_settings(void)
{
	DefineCustomStringVariable("fanfare.organization_id",
							   "Organization (tenant) the current request acts for.",
							   "A uuid; the gateway sets it per transaction. When empty, the organization_id claim of request.jwt.claims is used.",
							   &fanfare_organization_id_setting,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("fanfare.actor",
							   "Who is acting: stored as createdBy.",
							   "When empty, the sub claim of request.jwt.claims, else the current role.",
							   &fanfare_actor_setting,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("fanfare.idempotency_key",
							   "Idempotency key of the next batch: a retry with the same key and body creates nothing.",
							   "1 to 255 printable ASCII characters, scoped to the tenant. Set it with SET LOCAL, one key per request.",
							   &fanfare_idempotency_key_setting,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("fanfare.idempotency_ttl",
							"How long an idempotency key is kept.",
							"A retry after this long is a new request; fanfare.prune_idempotency_keys() deletes expired keys.",
							&fanfare_idempotency_ttl,
							86400, 60, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("fanfare.idempotency_outcome",
							   "What the last call with an idempotency key did in this transaction: created or replayed.",
							   "Set by fanfare; the gateway reads it for the Idempotent-Replayed header.",
							   &fanfare_idempotency_outcome,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
}

/* Rate limits (rate_limit.c). */
static void
define_rate_limit_settings(void)
{
	DefineCustomIntVariable("fanfare.rate_limit",
							"Requests per minute an organization may make, unless fanfare.set_rate_limit() gave it its own limit.",
							"0 turns the limit off. Counted in shared memory: fanfare must be in shared_preload_libraries, else there is no limit.",
							&fanfare_rate_limit,
							1000, 0, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("fanfare.rate_limit_window",
							"Length of the rate limit's window, for tests only.",
							"Fanfare's window is a minute (60, the default); a shorter one lets a test see windows end quickly.",
							&fanfare_rate_limit_window,
							60, 1, 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	/*
	 * The size of the shared table can only be set at server start, and a
	 * PGC_POSTMASTER setting can only be defined then: loaded later (not in
	 * shared_preload_libraries, limits off) the library leaves it out, as
	 * defining it would end the session.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("fanfare.rate_limit_organizations",
								"Organizations whose requests the rate limit counts at once.",
								"Size of the shared table of counters; when it is full, requests of further organizations are not counted.",
								&fanfare_rate_limit_organizations,
								10000, 100, 10000000,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	DefineCustomBoolVariable("fanfare.rate_limit_report",
							 "Report the rate limit of each API call: in fanfare.rate_limit_status, and as a notice (SQLSTATE 01N01) when it fails or returns no row.",
							 "The gateway turns it on to send the X-RateLimit headers, whatever the call's outcome.",
							 &fanfare_rate_limit_report,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("fanfare.rate_limit_status",
							   "The rate limit of the last API call in this transaction: limit=L remaining=R reset=T retry=S.",
							   "Set by fanfare when fanfare.rate_limit_report is on; the gateway reads it for the X-RateLimit headers of a 200.",
							   &fanfare_rate_limit_status,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
}

/* Settings, the field catalogue, and rate limits' shared memory. */
void
_PG_init(void)
{
	define_batch_settings();
	define_request_settings();
	define_rate_limit_settings();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("fanfare");
#else
	EmitWarningsOnPlaceholders("fanfare");
#endif
	field_catalogue_init();
	rate_limit_shmem_init();
}
