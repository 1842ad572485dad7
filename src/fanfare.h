/*
 * fanfare.h
 *	  The extension's settings, which fanfare.c defines; nothing else.  Each
 *	  module declares its functions in a header of its own (X.c in X.h).
 *
 * The extension implements POST /consumers/batch of the Fanfare Admin API
 * inside PostgreSQL: fanfare.create_consumers(jsonb) validates the body
 * exactly as the contract's Valibot schema does, applies the defaults,
 * inserts every consumer in one INSERT and returns the created rows.
 */
#ifndef FANFARE_H
#define FANFARE_H

#include "postgres.h"

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

#endif							/* FANFARE_H */
