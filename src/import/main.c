/*
 * main.c
 *	  fanfare-import: the options, and the loop that reads batches, sends
 *	  them, and writes what came back in input order.
 *
 * Up to 4 x --concurrency batches are held at once: the ones in flight and
 * the finished ones waiting for an earlier batch, so memory does not grow
 * with the input.  With only 2 x, one slow answer at the head stopped the
 * window and left about half of the requests in flight; a finished batch
 * keeps no request or answer text, only what its results need.  A batch is done once its rejects lines and created
 * consumers are written (rejects and output files) and the journal says
 * so; batches are done strictly in input order.  See fanfare-import(1).
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHOWN_REJECTS 10
/* a "done" record is synced at most this often (seconds): see commit_done */
#define DONE_SYNC_INTERVAL 0.1

struct options
{
	const char *input;
	const char *url;
	const char *key;
	enum input_format format;
	int			batch_size;
	int			concurrency;
	const char *state;
	const char *rejects;
	const char *output;
	bool		split_rejected;
	bool		ignore_unknown_columns;
	bool		skip_invalid_lines;
	bool		postgrest;
	bool		quiet;
	bool		dry_run;
	int			retries;
	long		timeout;
	size_t		max_row;
};

/* the import's running state */
struct run
{
	struct options *opts;
	struct input *in;
	struct journal *journal;
	struct journal_state st;
	struct sender *sender;
	struct progress progress;
	FILE	   *rejects;
	FILE	   *output;
	struct batch **win;
	int			wlen;
	int			wmax;
	long		next_no;
	bool		input_done;
	bool		input_failed;
	bool		stopping;
	int			exit_code;
	long		shown_rejects;
	/* rate limits: what the server's headers allow */
	char		chain[65];		/* batch_chain of the batches done or skipped */
	bool		rl_known;
	long		rl_limit;
	long		rl_left;
	double		rl_reset;
	double		pause_until;
	double		done_synced;	/* when a "done" record was last synced */
	bool		rejects_dirty;	/* written since its last sync */
	bool		output_dirty;
	char	   *spath;			/* the state file; NULL for a dry run */
	char	   *url;			/* POST here */
};

/* --help */
static void
usage(FILE *out)
{
	fputs("Usage: fanfare-import [OPTION]... FILE\n"
		  "Create the consumers in FILE (- for stdin) through POST /consumers/batch,\n"
		  "each exactly once, resumably.  FILE is NDJSON (.ndjson, .jsonl), a JSON array\n"
		  "or {\"consumers\":[...]} (.json), or CSV with a header row (.csv).\n"
		  "\n"
		  "  --url URL                 the gateway (or PostgREST, the router's gateway);\n"
		  "                            default $FANFARE_URL, else http://127.0.0.1:4800\n"
		  "  --key KEY                 the secret key (PostgREST: a JWT); default\n"
		  "                            $FANFARE_SECRET_KEY, which keeps it off the command line\n"
		  "  --format FORMAT           ndjson, json or csv (default: from the extension)\n"
		  "  --batch-size N            rows per request, 1 to 500 (default 500)\n"
		  "  --concurrency N           requests in flight (default 4)\n"
		  "  --state FILE              the state file (default FILE.fanfare-import; none\n"
		  "                            for stdin unless given)\n"
		  "  --rejects FILE            one NDJSON line per rejected input row\n"
		  "  --output FILE             the created consumers, NDJSON, in input order\n"
		  "  --split-rejected          resend the valid rows of a rejected batch\n"
		  "  --ignore-unknown-columns  CSV: ignore columns that name no request field\n"
		  "  --skip-invalid-lines      reject unreadable rows and go on, instead of stopping\n"
		  "  --postgrest               URL is PostgREST: POST /rpc/post_consumers_batch\n"
		  "  --dry-run                 validate without creating: every request has\n"
		  "                            Prefer: tx=rollback (answered as the real call, nothing\n"
		  "                            stored); first an empty probe, and no batch unless its\n"
		  "                            answer has Preference-Applied: tx=rollback; no state file\n"
		  "  --retries N               retries of a batch in a row before giving up (10)\n"
		  "  --timeout SECONDS         per request (default 120)\n"
		  "  --max-row BYTES           largest row read (default 16777216)\n"
		  "  --quiet                   no progress, only the summary\n"
		  "  --help, --version\n"
		  "\n"
		  "Exit status: 0 all created, 1 some rows rejected, 2 usage or input error,\n"
		  "3 gave up (server unreachable after retries), 4 authentication.\n", out);
}

/* a positive integer option, or exit 2 */
static long
int_option(const char *name, const char *value, long min, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || *end || end == value || v < min || v > max)
	{
		fprintf(stderr, "fanfare-import: --%s must be an integer from %ld to %ld\n", name, min, max);
		exit(EXIT_USAGE);
	}
	return v;
}

/* The long options, and the values getopt_long returns for them. */
enum
{
	O_URL = 256, O_KEY, O_FORMAT, O_BATCH, O_CONC, O_STATE, O_REJECTS, O_OUTPUT,
	O_SPLIT, O_IGNORE, O_SKIP, O_PGREST, O_RETRIES, O_TIMEOUT, O_MAXROW, O_QUIET,
	O_DRY_RUN, O_HELP, O_VERSION
};
static const struct option longopts[] = {
	{"url", required_argument, NULL, O_URL},
	{"key", required_argument, NULL, O_KEY},
	{"format", required_argument, NULL, O_FORMAT},
	{"batch-size", required_argument, NULL, O_BATCH},
	{"concurrency", required_argument, NULL, O_CONC},
	{"state", required_argument, NULL, O_STATE},
	{"rejects", required_argument, NULL, O_REJECTS},
	{"output", required_argument, NULL, O_OUTPUT},
	{"split-rejected", no_argument, NULL, O_SPLIT},
	{"ignore-unknown-columns", no_argument, NULL, O_IGNORE},
	{"skip-invalid-lines", no_argument, NULL, O_SKIP},
	{"postgrest", no_argument, NULL, O_PGREST},
	{"retries", required_argument, NULL, O_RETRIES},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"max-row", required_argument, NULL, O_MAXROW},
	{"quiet", no_argument, NULL, O_QUIET},
	{"dry-run", no_argument, NULL, O_DRY_RUN},
	{"help", no_argument, NULL, O_HELP},
	{"version", no_argument, NULL, O_VERSION},
	{NULL, 0, NULL, 0}
};

/* Reads the command line into o; exits 2 on a usage error. */
static void
parse_options(int argc, char **argv, struct options *o)
{
	int			c;

	memset(o, 0, sizeof(*o));
	o->url = getenv("FANFARE_URL");
	o->key = getenv("FANFARE_SECRET_KEY");
	o->batch_size = MAX_BATCH_SIZE;
	o->concurrency = 4;
	o->retries = 10;
	o->timeout = 120;
	o->max_row = DEFAULT_MAX_ROW;
	while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case O_URL: o->url = optarg; break;
			case O_KEY: o->key = optarg; break;
			case O_FORMAT:
				if (strcmp(optarg, "ndjson") == 0) o->format = FORMAT_NDJSON;
				else if (strcmp(optarg, "json") == 0) o->format = FORMAT_JSON;
				else if (strcmp(optarg, "csv") == 0) o->format = FORMAT_CSV;
				else
				{
					fprintf(stderr, "fanfare-import: --format is ndjson, json or csv\n");
					exit(EXIT_USAGE);
				}
				break;
			case O_BATCH: o->batch_size = int_option("batch-size", optarg, 1, MAX_BATCH_SIZE); break;
			case O_CONC: o->concurrency = int_option("concurrency", optarg, 1, 64); break;
			case O_STATE: o->state = optarg; break;
			case O_REJECTS: o->rejects = optarg; break;
			case O_OUTPUT: o->output = optarg; break;
			case O_SPLIT: o->split_rejected = true; break;
			case O_IGNORE: o->ignore_unknown_columns = true; break;
			case O_SKIP: o->skip_invalid_lines = true; break;
			case O_PGREST: o->postgrest = true; break;
			case O_RETRIES: o->retries = int_option("retries", optarg, 0, 1000); break;
			case O_TIMEOUT: o->timeout = int_option("timeout", optarg, 1, 3600); break;
			case O_MAXROW: o->max_row = int_option("max-row", optarg, 1024, 1L << 30); break;
			case 'q':
			case O_QUIET: o->quiet = true; break;
			case O_DRY_RUN: o->dry_run = true; break;
			case 'h':
			case O_HELP: usage(stdout); exit(0);
			case O_VERSION: printf("fanfare-import %s\n", IMPORT_VERSION); exit(0);
			default: usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind != argc - 1)
	{
		fprintf(stderr, "fanfare-import: name one input file (- for stdin)\n");
		usage(stderr);
		exit(EXIT_USAGE);
	}
	o->input = argv[optind];
	if (o->url == NULL || o->url[0] == '\0')
		o->url = "http://127.0.0.1:4800";
	if (o->key == NULL || o->key[0] == '\0')
	{
		fprintf(stderr, "fanfare-import: no key: set FANFARE_SECRET_KEY (or --key)\n");
		exit(EXIT_USAGE);
	}
}

/* Opens a result file, cut back to offset (what the journal says is done). */
static FILE *
open_result(const char *path, long long offset)
{
	int			fd;
	FILE	   *f;

	if (path == NULL)
		return NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, offset) != 0 || lseek(fd, offset, SEEK_SET) != offset ||
		(f = fdopen(fd, "w")) == NULL)
	{
		fprintf(stderr, "fanfare-import: %s: %s\n", path, strerror(errno));
		exit(EXIT_USAGE);
	}
	return f;
}

/* The window's batch i (i < wlen): never NULL. */
static struct batch *
win_at(struct run *r, int i)
{
	struct batch *b = r->win[i];

	if (b == NULL)
		abort();
	return b;
}

/* Tells about a rejected row on stderr, for the first few. */
static void
show_reject(struct run *r, json_t *line)
{
	json_t	   *issue = json_array_get(json_object_get(line, "issues"), 0);

	if (r->opts->rejects != NULL || r->opts->quiet)
		return;
	if (r->shown_rejects++ < SHOWN_REJECTS)
		fprintf(stderr, "%sfanfare-import: line %lld: %s\n", r->progress.tty ? "\r" : "",
				(long long) json_integer_value(json_object_get(line, "line")),
				json_string_value(json_object_get(issue, "message")));
	else if (r->shown_rejects == SHOWN_REJECTS + 1)
		fprintf(stderr, "fanfare-import: more rows rejected: --rejects FILE lists them all\n");
}

/*
 * Writes a finished batch's results; commit_done then marks it done in the
 * journal, with the other batches finished in the same loop turn.
 */
static void
finish_batch(struct run *r, struct batch *b)
{
	size_t		i;
	json_t	   *v;

	batch_chain(r->chain, b);
	batch_sort_rejects(b);
	json_array_foreach(b->rejects, i, v)
	{
		if (r->rejects)
		{
			char	   *text = rejects_line(v);

			fprintf(r->rejects, "%s\n", text);
			free(text);
			r->rejects_dirty = true;
		}
		show_reject(r, v);
	}
	if (r->output && b->created)
		json_array_foreach(b->created, i, v)
		{
			json_dumpf(v, r->output, JSON_COMPACT | JSON_PRESERVE_ORDER);
			fputc('\n', r->output);
			r->output_dirty = true;
		}
	r->progress.created += b->n_created;
	r->progress.rejected += b->n_rejected;
}

/*
 * Marks the batches up to no done (finish_batch wrote their results): the
 * rejects and output files on disk first, then one "done" record for all
 * of this loop turn's batches.  The record is synced at most every
 * DONE_SYNC_INTERVAL: it is written at once (a kill -9 keeps it), and one
 * lost in a crash of the machine only makes the resumed run send those
 * batches again with the same keys, answered from what the server stored.
 * The results files are synced first all the same, so that no record that
 * reaches the disk names bytes that did not.
 */
static void
commit_done(struct run *r, long no)
{
	long long	rej_off = 0,
				out_off = 0;
	bool		durable;

	if (r->journal == NULL)
		return;
	if (r->rejects_dirty && (fflush(r->rejects) != 0 || fdatasync(fileno(r->rejects)) != 0))
		goto write_error;
	if (r->output_dirty && (fflush(r->output) != 0 || fdatasync(fileno(r->output)) != 0))
		goto write_error;
	r->rejects_dirty = r->output_dirty = false;
	rej_off = r->rejects ? ftello(r->rejects) : 0;
	out_off = r->output ? ftello(r->output) : 0;
	if (!journal_done(r->journal, no, rej_off, out_off,
					  r->st.created + r->progress.created, r->st.rejected + r->progress.rejected,
					  r->chain))
		goto write_error;
	durable = now_seconds() - r->done_synced >= DONE_SYNC_INTERVAL;
	if (!journal_commit(r->journal, durable))
		goto write_error;
	if (durable)
		r->done_synced = now_seconds();
	return;
write_error:
	fprintf(stderr, "fanfare-import: cannot write the results: %s\n", strerror(errno));
	exit(EXIT_USAGE);
}

/* The pending entry an earlier run left for batch no, or NULL. */
static struct pending_batch *
pending_batch(struct run *r, long no)
{
	for (int i = 0; i < r->st.npending; i++)
		if (r->st.pending[i].no == no)
			return &r->st.pending[i];
	return NULL;
}

/* A resumed run's input is not the one the state file describes: stop. */
static bool
input_changed(struct run *r, struct batch *b)
{
	fprintf(stderr, "fanfare-import: batch %ld differs from the one read before: the input "
			"changed since the state file was written (remove the state file to start "
			"a new run; rows already created are then rejected as duplicates)\n", b->no + 1);
	r->input_failed = true;
	r->input_done = true;
	r->stopping = true;
	batch_free(b);
	return false;
}

/* At the end of the input: an error if it ends before what was done. */
static bool
input_short(struct run *r)
{
	if (r->next_no <= r->st.last_done && !r->input_failed)
	{
		fprintf(stderr, "fanfare-import: the input ends before the batches the state file says "
				"are done: it changed since the state file was written\n");
		r->input_failed = true;
		r->stopping = true;
	}
	return false;
}

/*
 * Reads rows into b up to the batch size or the end of the input.  False
 * (b freed, the run's input failed) on a row that cannot be read, unless
 * --skip-invalid-lines makes it a reject of the batch.
 */
static bool
fill_batch(struct run *r, struct batch *b)
{
	while (b->nrows < r->opts->batch_size && !r->input_done)
	{
		struct input_error err;
		int			got = input_next(r->in, &b->rows[b->nrows], &err);

		if (got == 1)
		{
			batch_keep_row(b, &b->rows[b->nrows]);
			b->nrows++;
			continue;
		}
		if (got == 0)
		{
			r->input_done = true;
			break;
		}
		if (got == -1 && r->opts->skip_invalid_lines)
		{
			batch_add_invalid(b, &err, false);
			continue;
		}
		fprintf(stderr, "%sfanfare-import: %s: line %ld: %s%s\n", r->progress.tty ? "\r\n" : "",
				r->opts->input, err.line, err.message,
				got == -1 ? " (--skip-invalid-lines goes on past such rows)" : "");
		r->input_done = true;
		r->input_failed = true;
		/* the rows before the error in this batch are not sent either */
		batch_free(b);
		return false;
	}
	return true;
}

/* Reads the next batch into the window; false when nothing was added. */
static bool
read_batch(struct run *r)
{
	struct batch *b;
	struct pending_batch *p;

	for (;;)
	{
		b = batch_new(r->next_no, r->opts->batch_size);
		if (!fill_batch(r, b))
			return false;
		if (b->nrows == 0 && json_array_size(b->rejects) == 0)
		{
			batch_free(b);
			return input_short(r);
		}
		batch_seal(b);
		r->next_no++;
		r->progress.rows_read += b->nrows;
		b->nlines = b->nrows + b->n_rejected;
		batch_build(b, r->st.run_id);
		memcpy(b->full_key, b->key, sizeof(b->full_key));
		if (b->no <= r->st.last_done)
		{
			r->progress.skipped += b->nlines;
			batch_chain(r->chain, b);
			if (b->no == r->st.last_done && strcmp(r->chain, r->st.chain) != 0)
				return input_changed(r, b);
			batch_free(b);
			if (r->input_done)
				return input_short(r);
			continue;
		}
		break;
	}
	p = pending_batch(r, b->no);
	if (p != NULL && p->excluded != NULL)
	{
		if (!batch_apply_excluded(b, p->excluded) || (batch_build(b, r->st.run_id), false) ||
			strcmp(b->key, p->key) != 0)
			return input_changed(r, b);
		batch_add_rejects_lines(b, p->rejects);
	}
	b->state = B_READY;
	{
		bool		any = false;

		for (int i = 0; i < b->nrows; i++)
			any |= !b->excluded[i];
		if (!any)
			b->state = B_FINISHED;
	}
	r->win[r->wlen++] = b;
	return true;
}

/* true when the rate limit allows one more request now */
static bool
rate_allows(struct run *r, double now)
{
	if (now < r->pause_until)
		return false;
	if (!r->rl_known || r->rl_left > 0)
		return true;
	if (now < r->rl_reset)
		return false;
	/* the window has passed: its new allowance, until an answer says more */
	r->rl_left = r->rl_limit > 0 ? r->rl_limit : 1;
	r->rl_known = false;
	return true;
}

/* Takes in the X-RateLimit-* headers and Retry-After of an answer. */
static void
rate_update(struct run *r, struct batch *b, double now)
{
	if (b->rl_remaining >= 0)
	{
		/* requests sent after this answer was counted count against it too */
		long		left = b->rl_remaining - sender_in_flight(r->sender);
		double		reset = b->rl_reset <= 0 ? -1 :
			b->rl_reset < 1e9 ? now + b->rl_reset : b->rl_reset;

		/*
		 * The answers of one loop turn are taken in any order: within one
		 * window (the same reset) the lowest count is the latest, and an
		 * earlier answer taken later must not raise it (two 429s in one
		 * window on a busy machine).
		 */
		if (!(r->rl_known && reset > 0 && fabs(reset - r->rl_reset) < 0.5 && left > r->rl_left))
			r->rl_left = left;
		r->rl_known = true;
		r->rl_limit = b->rl_limit;
		if (reset > 0)
			r->rl_reset = reset;
	}
	if (b->status == 429)
	{
		double		wait = b->retry_after >= 0 ? b->retry_after : 1;

		r->pause_until = now + wait;
		r->rl_known = true;
		r->rl_left = 0;
		if (r->rl_reset < now + wait)
			r->rl_reset = now + wait;
	}
}

/*
 * Starts what may start: ready batches, within concurrency and rate limits.
 * Their "send" records go to the journal in one write, synced only when one
 * of them is a resend (journal_commit says why), before any request leaves.
 */
static void
start_sends(struct run *r)
{
	double		now = now_seconds();
	struct batch *starting[64];
	int			n = 0;
	bool		durable = false;

	for (int i = 0; i < r->wlen && !r->stopping; i++)
	{
		struct batch *b = win_at(r, i);
		char	   *excluded;

		if (sender_in_flight(r->sender) + n >= r->opts->concurrency)
			break;
		if (b->state != B_READY || b->not_before > now)
			continue;
		if (!rate_allows(r, now))
			break;
		if (b->body == NULL)
			batch_build(b, r->st.run_id);
		excluded = batch_excluded_list(b);
		durable |= strcmp(excluded, "-") != 0;
		if (!journal_send(r->journal, b->no, b->key, excluded))
			goto write_error;
		free(excluded);
		if (r->rl_known)
			r->rl_left--;
		starting[n++] = b;
	}
	if (n > 0 && !journal_commit(r->journal, durable))
		goto write_error;
	for (int i = 0; i < n; i++)
		sender_start(r->sender, starting[i]);
	if (n > 0)
		sender_kick(r->sender);
	return;
write_error:
	fprintf(stderr, "fanfare-import: cannot write the state file: %s\n", strerror(errno));
	exit(EXIT_USAGE);
}

/*
 * How long the loop may wait for answers (start_sends has just started
 * all it could): until a backed-off batch may go, or the rate limit lets
 * one more through; at most 100 ms.
 */
static int
wait_ms(struct run *r)
{
	double		now = now_seconds();
	double		next = now + 0.1;
	double		unblock = r->pause_until;

	if (r->wlen > 0 && win_at(r, 0)->state == B_FINISHED)
		return 0;
	for (int i = 0; i < r->wlen; i++)
	{
		struct batch *b = win_at(r, i);

		if (b->state == B_READY && b->not_before > now && b->not_before < next)
			next = b->not_before;
	}
	if (r->rl_known && r->rl_left <= 0 && r->rl_reset > unblock)
		unblock = r->rl_reset;
	if (unblock > now && unblock < next)
		next = unblock;
	return (int) ((next - now) * 1000) + 1;
}

/* backoff before retry number n (from 1): 0.5 s doubling to 30 s, jittered */
static double
backoff(int n)
{
	double		d = 0.5;

	for (int i = 1; i < n && d < 30; i++)
		d *= 2;
	if (d > 30)
		d = 30;
	return d * (0.5 + 0.5 * (double) random() / RAND_MAX);
}

/* Acts on one answered batch. */
static void
take_answer(struct run *r, struct batch *b)
{
	char		why[512] = "";
	json_t	   *new_rejects = json_array();
	double		now = now_seconds();
	enum verdict v;

	rate_update(r, b, now);
	v = batch_answer(b, r->opts->split_rejected, r->output != NULL, new_rejects, why, sizeof(why));
	switch (v)
	{
		case V_DONE:
			b->state = B_FINISHED;
			/* what finish_batch needs is parsed: the texts can go */
			free(b->resp);
			b->resp = NULL;
			b->resp_len = 0;
			b->resp_cap = 0;
			batch_drop_body(b);
			break;
		case V_RESEND:
			{
				size_t		i;
				json_t	   *line;

				json_array_foreach(new_rejects, i, line)
				{
					char	   *text = rejects_line(line);

					journal_reject(r->journal, b->no, text);
					free(text);
				}
				batch_drop_body(b);
				b->failures = 0;
				b->state = B_READY;
				b->not_before = 0;
				break;
			}
		case V_RETRY:
			r->progress.retried++;
			r->progress.rate_limited += b->status == 429;
			if (++b->failures > r->opts->retries)
			{
				fprintf(stderr, "%sfanfare-import: gave up on batch %ld after %d retries (last: %s)\n",
						r->progress.tty ? "\r\n" : "", b->no + 1, r->opts->retries,
						b->status ? "HTTP error" : "no answer");
				if (b->status)
					fprintf(stderr, "fanfare-import: status %ld: %.200s\n", b->status, b->resp ? b->resp : "");
				r->exit_code = EXIT_GAVE_UP;
				r->stopping = true;
				break;
			}
			{
				double		delay = backoff(b->failures);

				if (b->retry_after > delay)
					delay = b->retry_after;
				b->not_before = now + delay;
				b->state = B_READY;
			}
			break;
		case V_AUTH:
		case V_FATAL:
		case V_TOO_LARGE:
			if (r->stopping)
				break;			/* said already, for a batch in flight with it */
			fprintf(stderr, "%sfanfare-import: %s\n", r->progress.tty ? "\r\n" : "", why);
			r->exit_code = v == V_AUTH ? EXIT_AUTH : v == V_TOO_LARGE ? EXIT_USAGE : EXIT_GAVE_UP;
			r->stopping = true;
			break;
	}
	json_decref(new_rejects);
}

/* the state file's path, or NULL for none */
static char *
state_path(const struct options *o)
{
	char	   *p;

	if (o->state)
		return strdup(o->state);
	if (strcmp(o->input, "-") == 0)
		return NULL;
	if (asprintf(&p, "%s.fanfare-import", o->input) < 0)
		return NULL;
	return p;
}

/* The endpoint: URL plus the route. */
static char *
endpoint(const struct options *o)
{
	const char *route = o->postgrest ? "/rpc/post_consumers_batch" : "/consumers/batch";
	size_t		n = strlen(o->url);
	char	   *e;

	while (n > 0 && o->url[n - 1] == '/')
		n--;
	if (asprintf(&e, "%.*s%s", (int) n, o->url, route) < 0)
		return NULL;
	return e;
}

/*
 * --dry-run: one request with an empty batch (which creates and stores
 * nothing, even where the preference is ignored) must come back 200 with
 * Preference-Applied: tx=rollback before any batch is sent; otherwise a
 * server that would store the rows (an older gateway, PostgREST without
 * db-tx-end = commit-allow-override) gets none.  Returns the exit code to
 * stop with, or -1 to go on.
 */
static int
dry_run_probe(struct sender *sender)
{
	struct batch *probe = batch_new(-1, 1);
	struct batch *answered = NULL;
	static const char empty[] = "{\"consumers\":[]}";
	int			code = -1;

	probe->body = strdup(empty);
	probe->body_len = strlen(empty);
	if (probe->body == NULL)
	{
		batch_free(probe);
		return EXIT_GAVE_UP;
	}
	sender_start(sender, probe);
	while (sender_wait(sender, 1000, &answered, 1) == 0)
		;
	if (probe->status == 0)
	{
		fprintf(stderr, "fanfare-import: --dry-run: no answer to the probe request\n");
		code = EXIT_GAVE_UP;
	}
	else if (probe->status == 401 || probe->status == 403)
	{
		fprintf(stderr, "fanfare-import: --dry-run: the key was refused (status %ld)\n", probe->status);
		code = EXIT_AUTH;
	}
	else if (probe->status != 200 || !probe->tx_rollback)
	{
		fprintf(stderr, "fanfare-import: --dry-run: the server does not honour Prefer: tx=rollback "
				"(the probe's answer, status %ld, has no Preference-Applied: tx=rollback), so a "
				"batch would be stored: nothing sent (a fanfare 0.3.0 gateway, or PostgREST with "
				"db-tx-end = commit-allow-override, honours it)\n", probe->status);
		code = EXIT_USAGE;
	}
	batch_free(probe);
	return code;
}

/*
 * Opens the input, the journal (none for a dry run), the result files and
 * the sender.  Returns -1, or the exit status when it cannot.
 */
static int
run_open(struct run *r)
{
	struct options *opts = r->opts;
	struct input_error err = {0};
	char		errbuf[256];
	struct sender_options so;

	r->in = input_open(opts->input, opts->format, opts->ignore_unknown_columns, opts->max_row, &err);
	if (r->in == NULL)
	{
		fprintf(stderr, "fanfare-import: %s: %s\n", opts->input, err.message);
		return EXIT_USAGE;
	}
	/* a dry run stores nothing, so it has nothing to resume: no state file */
	r->spath = opts->dry_run ? NULL : state_path(opts);
	if (r->spath != NULL)
	{
		r->journal = journal_open(r->spath, opts->batch_size, &r->st, errbuf, sizeof(errbuf));
		if (r->journal == NULL)
		{
			fprintf(stderr, "fanfare-import: %s: %s\n", r->spath, errbuf);
			return EXIT_USAGE;
		}
	}
	else
	{
		/* no state file: still one run id for the keys of this run */
		strcpy(r->st.chain, "-");
		snprintf(r->st.run_id, sizeof(r->st.run_id), "%08lx%08lx", random(), random());
	}
	/* the chain starts at "-" and is checked where the last run left it */
	strcpy(r->chain, "-");
	if (r->st.chain[0] == '\0')
		strcpy(r->st.chain, "-");
	r->rejects = open_result(opts->rejects, r->st.rejects_offset);
	r->output = open_result(opts->output, r->st.output_offset);
	r->url = endpoint(opts);
	so.url = r->url;
	so.key = opts->key;
	so.concurrency = opts->concurrency;
	so.timeout = opts->timeout;
	so.idempotency = !opts->dry_run;
	so.dry_run = opts->dry_run;
	so.want_2xx_body = opts->output != NULL;
	r->sender = sender_new(&so);
	r->wmax = 4 * opts->concurrency;
	r->win = calloc(r->wmax, sizeof(*r->win));
	if (r->win == NULL || r->url == NULL)
	{
		fprintf(stderr, "fanfare-import: out of memory\n");
		return EXIT_GAVE_UP;
	}
	r->progress.tty = isatty(2) && !opts->quiet;
	r->progress.quiet = opts->quiet;
	r->progress.start = now_seconds();
	r->progress.last_draw = r->progress.start;
	r->progress.total_estimate = -1;
	r->progress.dry_run = opts->dry_run;
	return -1;
}

/* Releases what run_open opened (any part of it). */
static void
run_free(struct run *r)
{
	if (r->rejects)
		fclose(r->rejects);
	if (r->output)
		fclose(r->output);
	journal_close(r->journal);
	for (int i = 0; i < r->wlen; i++)
		batch_free(win_at(r, i));
	free(r->win);
	if (r->sender)
		sender_free(r->sender);
	if (r->in)
		input_close(r->in);
	journal_state_free(&r->st);
	free(r->url);
	free(r->spath);
}

/* Reads, sends and finishes batches until the input is done or the run stops. */
static void
run_loop(struct run *r)
{
	for (;;)
	{
		struct batch *answered[64];
		int			n;
		int			ready = 0;
		long		done_no;

		/*
		 * What is ready goes out first, in the turn its answer-freed slot
		 * came back, before reading more (about half a millisecond of CPU
		 * for 500 rows); then what was read goes out below.
		 */
		start_sends(r);
		for (int i = 0; i < r->wlen; i++)
			ready += win_at(r, i)->state == B_READY;
		while (!r->input_done && !r->stopping && r->wlen < r->wmax && ready < r->opts->concurrency)
		{
			if (!read_batch(r))
				break;
			ready++;
		}
		done_no = -1;
		while (r->wlen > 0 && win_at(r, 0)->state == B_FINISHED && !r->stopping)
		{
			done_no = win_at(r, 0)->no;
			finish_batch(r, win_at(r, 0));
			batch_free(win_at(r, 0));
			memmove(r->win, r->win + 1, (--r->wlen) * sizeof(*r->win));
		}
		if (done_no >= 0)
			commit_done(r, done_no);
		if (r->wlen == 0 && (r->input_done || r->stopping))
			break;
		if (r->stopping && sender_in_flight(r->sender) == 0)
			break;
		start_sends(r);
		n = sender_wait(r->sender, wait_ms(r), answered, 64);
		for (int i = 0; i < n; i++)
			take_answer(r, answered[i]);
		if (input_size(r->in) > 0 && input_bytes_read(r->in) > 0)
			r->progress.total_estimate = (long) ((double) r->progress.rows_read * input_size(r->in) /
												 input_bytes_read(r->in));
		progress_update(&r->progress, false);
	}
}

/* Opens the input, the state and the results, then runs the loop. */
int
main(int argc, char **argv)
{
	struct options opts;
	struct run	r;
	int			code;

	signal(SIGPIPE, SIG_IGN);
	/*
	 * Bodies and rows of a few hundred kB come and go with every batch: from
	 * the heap, not from a new mapping each time (page faults on every
	 * byte), and not handed back to the kernel between batches.  The window
	 * bounds what is held (the memory test checks it).
	 */
	mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
	srandom((unsigned) (now_seconds() * 1000) ^ (unsigned) getpid());
	parse_options(argc, argv, &opts);
	memset(&r, 0, sizeof(r));
	r.opts = &opts;
	r.st.last_done = -1;
	code = run_open(&r);
	if (code < 0 && opts.dry_run)
		code = dry_run_probe(r.sender);
	if (code >= 0)
	{
		run_free(&r);
		return code;
	}
	run_loop(&r);
	if (!r.stopping && !r.input_failed && r.journal)
		journal_complete(r.journal);
	progress_summary(&r.progress, stderr);
	if (r.exit_code == 0 && r.input_failed)
		r.exit_code = EXIT_USAGE;
	if (r.exit_code == 0 && (r.progress.rejected > 0 || r.st.rejected > 0))
		r.exit_code = EXIT_SOME_REJECTED;
	if (r.exit_code == 0 && r.stopping)
		r.exit_code = EXIT_GAVE_UP;
	code = r.exit_code;
	run_free(&r);
	return code;
}
