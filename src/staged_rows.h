/*
 * staged_rows.h
 *	  The rows of a batch, and the one INSERT (staged_rows.c).
 */
#ifndef FANFARE_STAGED_ROWS_H
#define FANFARE_STAGED_ROWS_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "batch.h"
#include "consumer_record.h"

typedef struct StagedRows
{
	TupleDesc	desc;
	Tuplestorestate *store;
	Datum		status_active;	/* enum values of consumer_status */
	Datum		status_inactive;
	Datum		created_by;
	Datum	   *defaults;		/* per field: its default as a column value */
	bool		consumed;		/* handed to the INSERT */
	int			count;			/* rows staged */
} StagedRows;

extern void staged_rows_begin(StagedRows *rows, const BatchContext *batch);
extern void staged_rows_add(StagedRows *rows, const BatchContext *batch,
							const ConsumerRecord *consumer, const Jsonb *metadata);
extern Jsonb *staged_rows_metadata(const ConsumerField *cf);
/*
 * Subtransactions a transaction's inserts take before the batches of callers
 * that raise go in without one (staged_rows.c): a loop stays well below the
 * 64 subtransaction ids a backend can cache, and keeps 64 kB at most.
 */
#define STAGED_ROWS_SUBXACTS 8

extern bool staged_rows_insert(StagedRows *rows, bool raises);

#endif							/* FANFARE_STAGED_ROWS_H */
