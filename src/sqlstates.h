/*
 * sqlstates.h
 *	  fanfare's own SQLSTATEs: the one table the extension and the HTTP
 *	  gateway are built from, and the README's table of errors is checked
 *	  against (tools/check-sqlstates.sh).
 *
 * Implementation-defined subclasses (letter N, outside the ranges the SQL
 * standard reserves), one code per outcome a client must tell apart.  Plain
 * C, so that the gateway includes it without PostgreSQL's server headers.
 *
 *	X(NAME, the code's five characters, the HTTP status the gateway answers)
 *
 * A notice, not an error, has status 0: RATE_LIMIT_STATUS, each API call's
 * rate limit when fanfare.rate_limit_report is on (rate_limit.c).
 *
 * The extension raises ERRCODE_FANFARE_<NAME> (fanfare.h); the gateway
 * finds a code with fanfare_sqlstate_lookup() and reads its status.
 */
#ifndef FANFARE_SQLSTATES_H
#define FANFARE_SQLSTATES_H

#include <string.h>

#define FANFARE_SQLSTATES(X) \
	X(RATE_LIMIT_STATUS,			'0', '1', 'N', '0', '1', 0) \
	X(NOT_JSON,					'2', '2', 'N', '0', '1', 400) \
	X(UNSTORABLE_JSON,			'2', '2', 'N', '0', '2', 400) \
	X(TOO_DEEP,					'2', '2', 'N', '0', '3', 400) \
	X(IDEMPOTENCY_KEY_REUSED,	'2', '2', 'N', '0', '4', 422) \
	X(INVALID_IDEMPOTENCY_KEY,	'2', '2', 'N', '0', '5', 400) \
	X(INVALID_KEY,				'2', '8', 'N', '0', '1', 401) \
	X(SECRET_KEY_REQUIRED,		'2', '8', 'N', '0', '2', 401) \
	X(ORGANIZATION_DISABLED,	'4', '2', 'N', '0', '1', 403) \
	X(RATE_LIMITED,				'5', '4', 'N', '0', '1', 429) \
	X(IDEMPOTENCY_KEY_IN_USE,	'5', '5', 'N', '0', '1', 409)

/* The table's rows by name: FANFARE_SQLSTATE_NOT_JSON, ... */
typedef enum FanfareSqlstate
{
#define FANFARE_SQLSTATE_INDEX(name, c1, c2, c3, c4, c5, status) FANFARE_SQLSTATE_##name,
	FANFARE_SQLSTATES(FANFARE_SQLSTATE_INDEX)
#undef FANFARE_SQLSTATE_INDEX
	FANFARE_SQLSTATE_COUNT
} FanfareSqlstate;

/* The five characters of a code, NUL-terminated. */
static inline const char *
fanfare_sqlstate_text(FanfareSqlstate code)
{
	static const char text[][6] = {
#define FANFARE_SQLSTATE_TEXT(name, c1, c2, c3, c4, c5, status) {c1, c2, c3, c4, c5, '\0'},
		FANFARE_SQLSTATES(FANFARE_SQLSTATE_TEXT)
#undef FANFARE_SQLSTATE_TEXT
	};

	return text[code];
}

/* The HTTP status the gateway answers a code with. */
static inline int
fanfare_sqlstate_http_status(FanfareSqlstate code)
{
	static const int status[] = {
#define FANFARE_SQLSTATE_STATUS(name, c1, c2, c3, c4, c5, http) http,
		FANFARE_SQLSTATES(FANFARE_SQLSTATE_STATUS)
#undef FANFARE_SQLSTATE_STATUS
	};

	return status[code];
}

/* The code whose text is state, or -1 when it is not one of fanfare's. */
static inline int
fanfare_sqlstate_lookup(const char *state)
{
	for (int code = 0; code < FANFARE_SQLSTATE_COUNT; code++)
		if (strcmp(state, fanfare_sqlstate_text((FanfareSqlstate) code)) == 0)
			return code;
	return -1;
}

#endif							/* FANFARE_SQLSTATES_H */
