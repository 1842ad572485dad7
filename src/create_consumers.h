/*
 * create_consumers.h
 *	  One batch through all its steps (create_consumers.c).
 */
#ifndef FANFARE_CREATE_CONSUMERS_H
#define FANFARE_CREATE_CONSUMERS_H

#include "postgres.h"

#include "batch.h"
#include "consumer_record.h"
#include "idempotency.h"
#include "issue_list.h"
#include "response.h"

/* Tenant (required), actor and time; room for expected consumers. */
extern void batch_context_init(BatchContext *batch, int expected);

/* The tenant and actor given instead of looked up (the wire fronts). */
extern void batch_context_init_for(BatchContext *batch, const pg_uuid_t *org,
								   const char *actor, int expected);

/* Stage one valid consumer: its id, element and email.  Returns its index. */
extern int	batch_add_consumer(BatchContext *batch, const ConsumerRecord *consumer);

/*
 * Validate, stage, check emails and insert a body for the batch's tenant.
 * Each staged consumer goes to response (if not NULL) on the way.  Any
 * issue raises 22023 with the 400 body as DETAIL unless issues_out is
 * given: then the issues are left there, nothing is stored, and the caller
 * answers.  With idem (a key), a new batch stores its key in the same
 * transaction, and a replay creates nothing: the walk then only rebuilds
 * the batch as the first request made it (its ids, time and actor).
 * Returns the number of consumers created (or replayed).
 */
extern int	batch_create(BatchContext *batch, const JsonValue *body,
						 ResponseSink *response, IssueList *issues_out, const Idempotency *idem);

/* Raise the validation error: the 400 body is the DETAIL. */
extern void batch_report_issues(const IssueList *issues) pg_attribute_noreturn();

#endif							/* FANFARE_CREATE_CONSUMERS_H */
