/*
 * email_uniqueness.h
 *	  "Email already exists" (email_uniqueness.c).
 */
#ifndef FANFARE_EMAIL_UNIQUENESS_H
#define FANFARE_EMAIL_UNIQUENESS_H

#include "postgres.h"

#include "batch.h"
#include "issue_list.h"

extern bool email_duplicates_in_batch(const BatchContext *batch, bool *duplicate);
extern void email_duplicates_stored(const BatchContext *batch, bool *duplicate, bool fresh);
extern void email_duplicate_issues(const BatchContext *batch, const bool *duplicate,
								   IssueList *issues);

#endif							/* FANFARE_EMAIL_UNIQUENESS_H */
