/*
 * rate_limit.h
 *	  Requests per organization and window, kept in shared memory
 *	  (rate_limit.c): what the API entry points charge before any work.
 */
#ifndef FANFARE_RATE_LIMIT_H
#define FANFARE_RATE_LIMIT_H

#include "postgres.h"

#include "utils/uuid.h"

/* settings: rate_limit.c holds them, fanfare.c registers them as GUCs */
extern int	fanfare_rate_limit;			/* requests per window; 0 = off */
extern int	fanfare_rate_limit_window;	/* seconds; 60 but in tests */
extern int	fanfare_rate_limit_organizations;	/* entries of the shared table */
extern bool fanfare_rate_limit_report;	/* report each call's rate limit */
extern char *fanfare_rate_limit_status;	/* the report of the last call */

/* What charging one request found. */
typedef struct RateLimitCharge
{
	bool		limited;		/* a limit applies (false: no headers at all) */
	bool		allowed;		/* the request may proceed (counted) */
	int			limit;			/* X-RateLimit-Limit */
	int			remaining;		/* X-RateLimit-Remaining, after this request */
	int64		reset;			/* X-RateLimit-Reset: unix seconds */
	int			retry_after;	/* Retry-After: seconds until reset, >= 1 */
} RateLimitCharge;

extern void rate_limit_shmem_init(void);	/* from _PG_init */

/*
 * Charge one request of an organization to its window (charge: what was
 * found) and, when fanfare.rate_limit_report is on, report it in
 * fanfare.rate_limit_status for the transaction; raises 54N01 with the 429
 * body as DETAIL when the window is used up (after the 01N01 notice, when
 * reporting).
 */
extern void rate_limit_enforce(const pg_uuid_t *org, RateLimitCharge *charge);

/*
 * The 01N01 notice of a charge, when reporting: for the calls whose answer
 * carries no row to read fanfare.rate_limit_status in (an empty batch).
 */
extern void rate_limit_notice(const RateLimitCharge *charge);

/*
 * In a PG_CATCH of a call that charged: the notice, then the error again,
 * unchanged.  context: the caller's memory context before PG_TRY.
 */
extern void rate_limit_rethrow(const RateLimitCharge *charge, MemoryContext context) pg_attribute_noreturn();

/* The same, without raising: for the PostgREST front, which answers itself. */
extern void rate_limit_charge(const pg_uuid_t *org, RateLimitCharge *charge);

/* {"error":"Rate limit exceeded","retryAfter":N} */
extern char *rate_limit_body(const RateLimitCharge *charge);

/*
 * PostgREST's response.headers: the three X-RateLimit headers (and
 * Retry-After when refused) plus, if not NULL, one more "name": "value"
 * pair given as JSON text; NULL when no limit applies and extra is NULL.
 */
extern char *rate_limit_response_headers(const RateLimitCharge *charge, const char *extra);

#endif							/* FANFARE_RATE_LIMIT_H */
