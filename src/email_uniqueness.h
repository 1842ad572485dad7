/*
 * email_uniqueness.h
 *	  "Email already exists" (email_uniqueness.c).
 */
#ifndef FANFARE_EMAIL_UNIQUENESS_H
#define FANFARE_EMAIL_UNIQUENESS_H

#include "postgres.h"

#include "batch.h"
#include "issue_list.h"

/*
 * The predicate of fanfare.consumers_org_email_key, the unique index on
 * (organization_id, lower(email)) that decides which batch gets an email:
 * the stored-email lookup (email_uniqueness.c) and the INSERT's ON CONFLICT
 * (staged_rows.c) must say what the index says.  sql/taken_email.sql shows
 * the index's own predicate, so a change to it fails there first.
 */
#define EMAIL_INDEX_PREDICATE "email IS NOT NULL AND NOT archived"

extern bool email_duplicates_in_batch(const BatchContext *batch, bool *duplicate);
extern void email_duplicates_stored(const BatchContext *batch, bool *duplicate, bool fresh);
extern void email_duplicate_issues(const BatchContext *batch, const bool *duplicate,
								   IssueList *issues);

#endif							/* FANFARE_EMAIL_UNIQUENESS_H */
