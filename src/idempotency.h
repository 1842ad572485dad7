/*
 * idempotency.h
 *	  Retries that never create twice (idempotency.c).
 */
#ifndef FANFARE_IDEMPOTENCY_H
#define FANFARE_IDEMPOTENCY_H

#include "postgres.h"

#include "utils/uuid.h"

#include "batch.h"

typedef enum IdempotencyState
{
	IDEMPOTENCY_NONE,			/* no key */
	IDEMPOTENCY_BUSY,			/* a running request holds the key */
	IDEMPOTENCY_MISMATCH,		/* stored with another body */
	IDEMPOTENCY_NEW,			/* first request with this key */
	IDEMPOTENCY_REPLAY			/* a retry: answer what the first one created */
} IdempotencyState;

typedef struct Idempotency
{
	IdempotencyState state;
	pg_uuid_t	organization_id;	/* keys belong to a tenant */
	char	   *key;
	bytea	   *fingerprint;	/* SHA-256 of the body as sent */
	/* a replay: what the first request created */
	TimestampTz created_at;
	char	   *created_by;
	int			n;
	pg_uuid_t  *ids;
} Idempotency;

/* the {"error": ...} bodies of 409 and 422, the gateway's and PostgREST's */
#define IDEMPOTENCY_IN_USE_BODY \
	"{\"error\":\"A request with this Idempotency-Key is still in progress\"}"
#define IDEMPOTENCY_REUSED_BODY \
	"{\"error\":\"This Idempotency-Key was used with a different request body\"}"

extern const char *idempotency_key_setting(void);
extern char *idempotency_parse_header(const char *value, const char **received,
									  const char **reason);
extern char *idempotency_key_from_header(const char *value);
extern void idempotency_lookup(Idempotency *idem, const pg_uuid_t *org, const char *key,
							   const char *body, int len);
extern void idempotency_begin(Idempotency *idem, const pg_uuid_t *org, const char *key,
							  const char *body, int len);
extern void idempotency_store(const Idempotency *idem, const BatchContext *batch);
extern void idempotency_outcome(const char *outcome);

#endif							/* FANFARE_IDEMPOTENCY_H */
