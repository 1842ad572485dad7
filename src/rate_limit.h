/*
 * rate_limit.h
 *	  Requests per organization and window, kept in shared memory
 *	  (rate_limit.c): what the API entry points charge before any work.
 */
#ifndef FANFARE_RATE_LIMIT_H
#define FANFARE_RATE_LIMIT_H

#include "postgres.h"

#include "utils/uuid.h"

/* settings (fanfare.c defines them) */
extern int	fanfare_rate_limit;			/* requests per window; 0 = off */
extern int	fanfare_rate_limit_window;	/* seconds; 60 but in tests */
extern int	fanfare_rate_limit_organizations;	/* entries of the shared table */
extern bool fanfare_rate_limit_report;	/* send the rate limit notice */

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
 * Charge one request of an organization to its window and report it (the
 * notice the gateway reads, when fanfare.rate_limit_report is on); raises
 * 54N01 with the 429 body as DETAIL when the window is used up.
 */
extern void rate_limit_enforce(const pg_uuid_t *org);

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
