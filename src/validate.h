/*
 * validate.h
 *	  Walking a batch: every issue of every element, and the decoded record
 *	  of each element that passes (validate.c).
 */
#ifndef VALIDATE_H
#define VALIDATE_H

#include "postgres.h"

#include "consumer_record.h"
#include "issue_list.h"

/* What the walk hands each consumer that passes: its decoded record. */
typedef void (*ConsumerSink) (void *arg, const ConsumerRecord *consumer);

/*
 * Validate a body.  Issues go to *issues; while no issue has been found and
 * the batch is within fanfare.max_batch_size, each consumer that passes is
 * handed to sink (if not NULL), in a memory context reset after each one.
 * Returns the number of consumers (-1 when there is no consumers array).
 * The caller must check issues->total before using what the sink received.
 * The consumers array itself is returned in *consumers when there is one.
 */
extern int	validate_batch(const JsonValue *body, IssueList *issues,
						   ConsumerSink sink, void *sink_arg, JsonValue *consumers);

#endif							/* VALIDATE_H */
