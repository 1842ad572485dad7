/*
 * email_uniqueness.c
 *	  "Email already exists": one live consumer per email per organization.
 *
 * Emails compare case-insensitively (they are ASCII by the email rule).  A
 * batch may not repeat an email (the second and later occurrences are
 * reported) nor reuse one a live consumer of the organization has.  The
 * unique index consumers_org_email_key is what settles races between
 * concurrent batches: an INSERT it refuses is undone as a whole
 * (staged_rows.c) and the taken emails are then looked up and reported
 * here, so a race never ends in a unique-violation error and no duplicate is
 * ever stored.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "batch.h"
#include "email_uniqueness.h"
#include "issue_list.h"
#include "json_value.h"

/*
 * Mark the second and later occurrences of an email within the batch.
 * Returns true when there is any.
 */
bool
email_duplicates_in_batch(const BatchContext *batch, bool *duplicate)
{
	int			size = 16;
	int		   *slots;
	bool		any = false;

	while (size < 2 * batch->n)
		size *= 2;
	slots = palloc(sizeof(int) * size);
	memset(slots, -1, sizeof(int) * size);

	for (int i = 0; i < batch->n; i++)
	{
		uint32		h;

		if (batch->emails[i] == NULL)
			continue;
		h = hash_bytes((const unsigned char *) batch->emails[i], batch->email_lens[i]);
		for (;;)
		{
			int			s = slots[h & (size - 1)];

			if (s < 0)
			{
				slots[h & (size - 1)] = i;
				break;
			}
			if (batch->email_lens[s] == batch->email_lens[i] &&
				memcmp(batch->emails[s], batch->emails[i], batch->email_lens[i]) == 0)
			{
				duplicate[i] = any = true;
				break;
			}
			h++;
		}
	}
	return any;
}

/* qsort_arg comparator: batch indexes by lower-cased email */
static int
email_order_cmp(const void *a, const void *b, void *arg)
{
	char	  **emails = arg;

	return strcmp(emails[*(const int *) a], emails[*(const int *) b]);
}

/*
 * The batch's ids as a uuid[]: empty when it makes none (a dry run, whose
 * ids array, if any, is not filled).
 */
static ArrayType *
batch_ids_array(const BatchContext *batch)
{
	int			n = batch->ids_wanted ? batch->n : 0;
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		ids[i] = UUIDPGetDatum(&batch->ids[i]);
	return construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
}

/*
 * Mark the consumers whose email a live consumer of the organization already
 * has.  The caller is connected to SPI.  With fresh, the lookup takes a new
 * snapshot (READ COMMITTED: it sees what a concurrent batch has just
 * committed); else it reads as the calling statement does.  The batch's
 * own rows (its ids) do not count: a batch that went in without a
 * subtransaction (staged_rows.c) has stored some of them.
 */
void
email_duplicates_stored(const BatchContext *batch, bool *duplicate, bool fresh)
{
	char	  **emails = batch->emails;
	Datum	   *elems;
	int			nelems = 0;
	ArrayType  *array;
	Datum		args[3];
	Oid			types[3] = {UUIDOID, TEXTARRAYOID, UUIDARRAYOID};
	int			ret;
	int		   *order;
	int			norder = 0;

	elems = palloc(sizeof(Datum) * Max(batch->n, 1));
	for (int i = 0; i < batch->n; i++)
		if (emails[i])
			elems[nelems++] = PointerGetDatum(cstring_to_text(emails[i]));
	if (nelems == 0)
		return;
	array = construct_array(elems, nelems, TEXTOID, -1, false, TYPALIGN_INT);
	args[0] = UUIDPGetDatum(&batch->organization_id);
	args[1] = PointerGetDatum(array);
	args[2] = PointerGetDatum(batch_ids_array(batch));

	ret = SPI_execute_with_args("SELECT DISTINCT pg_catalog.lower(email) FROM fanfare.consumers "
								"WHERE organization_id OPERATOR(pg_catalog.=) $1 AND " EMAIL_INDEX_PREDICATE " "
								"AND pg_catalog.lower(email) OPERATOR(pg_catalog.=) ANY ($2) "
								"AND NOT id OPERATOR(pg_catalog.=) ANY ($3)",
								3, types, args, NULL, !fresh, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "email lookup failed: %s", SPI_result_code_string(ret));

	if (SPI_processed == 0)
		return;

	/* match the stored emails against the batch's, sorted: O(n log n) */
	order = palloc(sizeof(int) * batch->n);
	for (int i = 0; i < batch->n; i++)
		if (emails[i])
			order[norder++] = i;
	qsort_arg(order, norder, sizeof(int), email_order_cmp, emails);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *stored = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		int			lo = 0;
		int			hi = norder;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (strcmp(emails[order[mid]], stored) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < norder && strcmp(emails[order[lo]], stored) == 0; lo++)
			duplicate[order[lo]] = true;
	}
}

/* One issue per marked consumer, at consumers.N.email, in index order. */
void
email_duplicate_issues(const BatchContext *batch, const bool *duplicate, IssueList *issues)
{
	/* the issues, and the emails they read again, outlive SPI's contexts */
	MemoryContext old = MemoryContextSwitchTo(issues->cxt);

	for (int i = 0; i < batch->n; i++)
	{
		const JsonValue *element = &batch->elements[i];
		JsonValue	email;
		Issue	   *issue;

		if (!duplicate[i] || !json_lookup(element, "email", 5, &email))
			continue;
		issue = issue_add(issues, "validation", "unique", "unique", "unique");
		issue->message = "Email already exists";
		issue_set_input(issue, &email);
		issue_path_element(issue, i, element);
		issue_path_key(issue, element, "email", 5, &email);
	}
	MemoryContextSwitchTo(old);
}
