/*
 * journal.c
 *	  The state file that makes a run resumable.
 *
 * An append-only text file, one record a line, on disk (fdatasync) before
 * what depends on it happens (journal_commit says what depends on what):
 *	 fanfare-import 2 RUN_ID BATCH_SIZE      the run: its id, its batch size
 *	 send N KEY EXCLUDED                     batch N is sent with KEY, without
 *	                                         the rows EXCLUDED ("i,j", or "-")
 *	 rej N LINE                              a rejects line of batch N, known
 *	                                         before batch N is done
 *	 done N REJ_OFF OUT_OFF CREATED REJECTED CHAIN
 *	                                         batches up to N are done; the
 *	                                         rejects and output files end at
 *	                                         those offsets; CHAIN is the hash
 *	                                         of the input up to batch N
 *	                                         (batch_chain), which a resumed run
 *	                                         checks before it skips anything
 *	 complete                                the whole input is done
 * A "rej" record counts once a later "send" of its batch follows it (the
 * resend that leaves its row out).  Batches are done in input order, so "done" is one number.  A batch sent
 * but not done is sent again after a crash exactly as recorded (same rows,
 * same key): the server answers a stored key with its first answer, so a
 * batch that was created is never created twice, and one that was not is
 * created now.  Opening a journal compacts it to its header, the last done
 * and what is pending after it.
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct journal
{
	FILE	   *f;
	char	   *path;
};

/* The pending entry for batch no, created if missing. */
static struct pending_batch *
pending_for(struct journal_state *st, long no)
{
	for (int i = 0; i < st->npending; i++)
		if (st->pending[i].no == no)
			return &st->pending[i];
	st->pending = realloc(st->pending, (st->npending + 1) * sizeof(*st->pending));
	memset(&st->pending[st->npending], 0, sizeof(*st->pending));
	st->pending[st->npending].no = no;
	st->pending[st->npending].rejects = json_array();
	return &st->pending[st->npending++];
}

/* Drops the pending entries of batches up to no. */
static void
pending_drop_through(struct journal_state *st, long no)
{
	int			kept = 0;

	for (int i = 0; i < st->npending; i++)
	{
		if (st->pending[i].no <= no)
		{
			free(st->pending[i].excluded);
			json_decref(st->pending[i].rejects);
		}
		else
			st->pending[kept++] = st->pending[i];
	}
	st->npending = kept;
}

/* Reads an existing journal into st; false (errbuf) when it is not one. */
static bool
journal_read(FILE *f, int batch_size, struct journal_state *st, char *errbuf, size_t errlen)
{
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	int			header_batch = 0;
	bool		ok = true;

	if (getline(&line, &cap, f) <= 0 ||
		sscanf(line, "fanfare-import 2 %32s %d", st->run_id, &header_batch) != 2)
	{
		snprintf(errbuf, errlen, "the state file is not fanfare-import's");
		free(line);
		return false;
	}
	if (header_batch != batch_size)
	{
		snprintf(errbuf, errlen, "the state file was written with --batch-size %d", header_batch);
		free(line);
		return false;
	}
	while ((n = getline(&line, &cap, f)) > 0)
	{
		long		no;
		char		key[128];
		char	   *excluded;
		int			pos = 0;

		if (line[n - 1] != '\n')
			break;				/* a record cut by a crash: it never happened */
		line[n - 1] = '\0';
		if (sscanf(line, "send %ld %127s %n", &no, key, &pos) == 2 && pos > 0)
		{
			struct pending_batch *p = pending_for(st, no);

			excluded = line + pos;
			snprintf(p->key, sizeof(p->key), "%s", key);
			p->committed = json_array_size(p->rejects);
			free(p->excluded);
			p->excluded = strdup(excluded);
		}
		else if (sscanf(line, "rej %ld %n", &no, &pos) == 1 && pos > 0)
		{
			struct pending_batch *p = pending_for(st, no);

			json_array_append_new(p->rejects, json_string(line + pos));
		}
		else if (sscanf(line, "done %ld %lld %lld %ld %ld %64s", &no, &st->rejects_offset,
						&st->output_offset, &st->created, &st->rejected, st->chain) == 6)
		{
			st->last_done = no;
			pending_drop_through(st, no);
		}
		else if (strcmp(line, "complete") == 0)
			st->complete = true;
		else
		{
			snprintf(errbuf, errlen, "the state file has a line it cannot read");
			ok = false;
			break;
		}
	}
	free(line);
	/* rejects lines after a batch's last send: its resend never went out */
	for (int i = 0; i < st->npending; i++)
		while (json_array_size(st->pending[i].rejects) > st->pending[i].committed)
			json_array_remove(st->pending[i].rejects, json_array_size(st->pending[i].rejects) - 1);
	return ok;
}

/* Writes st's compact form to f. */
static void
journal_write_state(FILE *f, int batch_size, const struct journal_state *st)
{
	fprintf(f, "fanfare-import 2 %s %d\n", st->run_id, batch_size);
	if (st->last_done >= 0)
		fprintf(f, "done %ld %lld %lld %ld %ld %s\n", st->last_done, st->rejects_offset,
				st->output_offset, st->created, st->rejected, st->chain);
	for (int i = 0; i < st->npending; i++)
	{
		const struct pending_batch *p = &st->pending[i];
		size_t		k;
		json_t	   *v;

		json_array_foreach(p->rejects, k, v)
			fprintf(f, "rej %ld %s\n", p->no, json_string_value(v));
		if (p->excluded)
			fprintf(f, "send %ld %s %s\n", p->no, p->key, p->excluded);
	}
	if (st->complete)
		fprintf(f, "complete\n");
}

/* A new run id: 128 random bits in hex. */
static bool
new_run_id(char *out)
{
	unsigned char bytes[16];
	int			fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, bytes, sizeof(bytes)) != (ssize_t) sizeof(bytes))
	{
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
	return true;
}

/*
 * Opens (or starts) the journal at path and fills state with what an
 * earlier run left; NULL with errbuf set on an error.
 */
struct journal *
journal_open(const char *path, int batch_size, struct journal_state *state,
			 char *errbuf, size_t errlen)
{
	struct journal *j;
	FILE	   *old = fopen(path, "r");
	char	   *tmp;
	FILE	   *f;

	memset(state, 0, sizeof(*state));
	state->last_done = -1;
	if (old != NULL)
	{
		bool		ok = journal_read(old, batch_size, state, errbuf, errlen);

		fclose(old);
		if (!ok)
			return NULL;
	}
	else if (errno != ENOENT)
	{
		snprintf(errbuf, errlen, "cannot read the state file: %s", strerror(errno));
		return NULL;
	}
	else if (!new_run_id(state->run_id))
	{
		snprintf(errbuf, errlen, "cannot read /dev/urandom");
		return NULL;
	}
	/* compact: write the state anew, then replace the file */
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return NULL;
	f = fopen(tmp, "w");
	if (f == NULL)
	{
		snprintf(errbuf, errlen, "cannot write the state file: %s", strerror(errno));
		free(tmp);
		return NULL;
	}
	journal_write_state(f, batch_size, state);
	if (fflush(f) != 0 || fdatasync(fileno(f)) != 0 || fclose(f) != 0 || rename(tmp, path) != 0)
	{
		snprintf(errbuf, errlen, "cannot write the state file: %s", strerror(errno));
		free(tmp);
		return NULL;
	}
	free(tmp);
	j = calloc(1, sizeof(*j));
	j->path = strdup(path);
	j->f = fopen(path, "a");
	if (j->f == NULL)
	{
		snprintf(errbuf, errlen, "cannot append to the state file: %s", strerror(errno));
		free(j->path);
		free(j);
		return NULL;
	}
	return j;
}

/*
 * Records that batch no is about to be sent with key, without excluded.
 * Only written: the caller makes it durable with journal_commit before the
 * request leaves when that matters (a resend; see journal_commit).
 */
bool
journal_send(struct journal *j, long no, const char *key, const char *excluded)
{
	if (j == NULL)
		return true;
	fprintf(j->f, "send %ld %s %s\n", no, key, excluded);
	return !ferror(j->f);
}

/* Records a rejects line of batch no before the batch is done. */
bool
journal_reject(struct journal *j, long no, const char *line)
{
	if (j == NULL)
		return true;
	fprintf(j->f, "rej %ld %s\n", no, line);
	return !ferror(j->f);		/* made durable by its batch's resend */
}

/*
 * Records that batches up to no are done, and where the files end; only
 * written, like journal_send (the caller commits).
 */
bool
journal_done(struct journal *j, long no, long long rejects_offset, long long output_offset,
			 long created, long rejected, const char *chain)
{
	if (j == NULL)
		return true;
	fprintf(j->f, "done %ld %lld %lld %ld %ld %s\n", no, rejects_offset, output_offset, created,
			rejected, chain);
	return !ferror(j->f);
}

/*
 * The records written since the last commit go to the file; with durable,
 * they are on disk (fdatasync) when it returns.  One loop turn's records
 * share one write and at most one sync (group commit).  What must be
 * durable before what:
 *   - a resend's "send" (its excluded rows, and the "rej" records before
 *     it) before its request leaves: its key is the hash of a body without
 *     those rows, which a run that lost the record could not rebuild, and
 *     its first send's key, answered again, would then meet rows already
 *     created;
 *   - a first "send" need not be: its key is rebuilt from the run id, the
 *     position and the input's rows, so a run that lost the record sends
 *     the same key and gets the stored answer;
 *   - a "done" after the rejects and output files' bytes it names (main.c
 *     syncs them first); it need not be durable at once (commit_done).
 * Written records survive a kill -9 of the importer without a sync (they
 * are in the kernel); the sync is for a crash of the machine.
 */
bool
journal_commit(struct journal *j, bool durable)
{
	if (j == NULL)
		return true;
	if (fflush(j->f) != 0)
		return false;
	return !durable || fdatasync(fileno(j->f)) == 0;
}

/* Records that the whole input is done. */
bool
journal_complete(struct journal *j)
{
	if (j == NULL)
		return true;
	fprintf(j->f, "complete\n");
	return journal_commit(j, true);
}

/* Syncs and closes the journal. */
void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	/* the last "done" records, which commit_done may not have synced */
	if (fflush(j->f) == 0)
		(void) fdatasync(fileno(j->f));
	fclose(j->f);
	free(j->path);
	free(j);
}

/* Frees what journal_open read of an earlier run. */
void
journal_state_free(struct journal_state *state)
{
	pending_drop_through(state, __LONG_MAX__);
	free(state->pending);
	state->pending = NULL;
}
