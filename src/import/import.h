/*
 * import.h
 *	  fanfare-import: a file of consumers in, every one created exactly once.
 *
 * The modules: input.c (NDJSON, a JSON array; json_check.c checks each
 * row) and csv_input.c read rows; batch.c makes a batch's body and key and
 * maps a 400's issues back to input rows; journal.c keeps the state file
 * that makes a run resumable; sender.c sends batches with libcurl's multi
 * interface; progress.c draws the progress and the summary; main.c reads
 * the options and runs the loop.
 */
#ifndef FANFARE_IMPORT_H
#define FANFARE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* exit codes (fanfare-import(1)) */
#define EXIT_ALL_CREATED 0
#define EXIT_SOME_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_GAVE_UP 3
#define EXIT_AUTH 4

/* the server's default fanfare.max_batch_size: no batch is larger */
#define MAX_BATCH_SIZE 500
/* the largest row (one NDJSON line, one array element, one CSV cell) read */
#define DEFAULT_MAX_ROW (16 * 1024 * 1024)

enum input_format
{
	FORMAT_AUTO,
	FORMAT_NDJSON,
	FORMAT_JSON,
	FORMAT_CSV
};

/* One row as read: where it was, and the consumer object it stands for. */
struct row
{
	long		line;			/* input line (CSV: record number), from 1 */
	long		element;		/* JSON array: element number from 1, else 0 */
	json_t	   *obj;			/* owned; NULL until needed when raw is set */
	char	   *raw;			/* the row's JSON text as read, checked by
								 * json_check and sent as it is; NULL for CSV.
								 * From input_next: the reader's bytes, until
								 * the next call; in a batch: in its text */
	size_t		raw_len;
	size_t		raw_off;		/* in a batch: where raw is in its text */
};

/* an input error: what and where */
struct input_error
{
	bool		fatal;			/* the input cannot be read further */
	long		line;
	char		message[256];
};

/* --- input.c and csv_input.c ---------------------------------------------- */
struct input;

extern struct input *input_open(const char *path, enum input_format format,
								bool ignore_unknown_columns, size_t max_row,
								struct input_error *err);
/* 1: a row, 0: end of input, -1: an error (err set; the reader may go on) */
extern int	input_next(struct input *in, struct row *row, struct input_error *err);
extern long long input_bytes_read(const struct input *in);
extern long long input_size(const struct input *in);	/* -1: unknown */
extern void input_close(struct input *in);
extern enum input_format format_from_name(const char *path);

/* csv_input.c, used by input.c */
struct csv_reader;
extern struct csv_reader *csv_reader_new(bool ignore_unknown_columns, size_t max_cell);
/* feeds bytes; false on a fatal error (err set) */
extern bool csv_reader_feed(struct csv_reader *cr, const char *bytes, size_t len,
							bool at_end, struct input_error *err);
/* the next complete record: 1 a row, -1 a bad record (err set), 0 none yet */
extern int	csv_reader_take(struct csv_reader *cr, struct row *row, struct input_error *err);
extern void csv_reader_free(struct csv_reader *cr);

/* json_check.c */
extern bool json_check(const char *text, size_t len, const char **error, size_t *offset);

/* --- journal.c ------------------------------------------------------------ */
struct journal;

/* what a previous run left for a batch it had not finished */
struct pending_batch
{
	long		no;
	char		key[128];
	char	   *excluded;		/* "i,j,k" or "-" */
	json_t	   *rejects;		/* array of rejects lines already known */
	size_t		committed;		/* of which a later send followed */
};

struct journal_state
{
	char		run_id[33];
	long		last_done;		/* -1: none */
	long long	rejects_offset;
	long long	output_offset;
	long		created;		/* by the batches done */
	long		rejected;
	char		chain[65];		/* batch_chain up to last_done, hex */
	bool		complete;
	int			npending;
	struct pending_batch *pending;
};

extern struct journal *journal_open(const char *path, int batch_size,
									struct journal_state *state, char *errbuf, size_t errlen);
extern bool journal_send(struct journal *j, long no, const char *key, const char *excluded);
extern bool journal_reject(struct journal *j, long no, const char *line);
extern bool journal_done(struct journal *j, long no, long long rejects_offset,
						 long long output_offset, long created, long rejected, const char *chain);
extern bool journal_commit(struct journal *j, bool durable);
extern bool journal_complete(struct journal *j);
extern void journal_close(struct journal *j);
extern void journal_state_free(struct journal_state *state);

/* --- batch.c: a batch, its body, its key, its answers --------------------- */
enum batch_state
{
	B_READY,					/* to be sent (again) once not_before is past */
	B_IN_FLIGHT,
	B_FINISHED					/* created, or rejected: waiting for its turn */
};

struct batch
{
	long		no;				/* position in the input, from 0 */
	int			nrows;
	struct row *rows;
	unsigned char *excluded;	/* rows left out of the body: rejected */
	json_t	   *rejects;		/* rejects lines (objects), unsorted */
	json_t	   *created;		/* the 200's consumers (--output only) */
	int			n_created;
	int			n_rejected;
	char		key[128];
	char		full_key[128];	/* the key of all its rows: the input's identity */
	int			nlines;			/* rows read, unreadable ones included */
	char	   *body;
	size_t		body_len;
	bool		body_is_text;	/* body is text (all rows, as read): not freed */
	char	   *text;			/* {"consumers":[ROW,ROW...]} of the rows read */
	size_t		text_len;
	size_t		text_cap;
	int			failures;		/* retryable failures in a row */
	double		not_before;
	enum batch_state state;
	/* the request in flight */
	void	   *easy;
	void	   *headers;
	char	   *resp;
	size_t		resp_len;
	size_t		resp_cap;
	long		status;
	double		retry_after;	/* seconds, -1: none */
	long		rl_limit;		/* X-RateLimit-*, -1: none */
	long		rl_remaining;
	double		rl_reset;
	bool		tx_rollback;	/* the answer had Preference-Applied: tx=rollback */
	bool		keep_2xx_body;	/* read a 2xx answer's body (--output) */
};

/* what an answer means for the import */
enum verdict
{
	V_DONE,						/* finished: created, or rejected for good */
	V_RESEND,					/* rows were rejected: send the rest */
	V_RETRY,					/* send again later, with the same key */
	V_AUTH,						/* 401, 403: stop, exit 4 */
	V_FATAL,					/* stop, exit 3 */
	V_TOO_LARGE					/* 413: stop, exit 2 */
};

extern struct batch *batch_new(long no, int cap);
extern void batch_free(struct batch *b);
extern void batch_add_invalid(struct batch *b, const struct input_error *err, bool with_element);
extern void batch_keep_row(struct batch *b, struct row *row);
extern void batch_seal(struct batch *b);
extern void batch_build(struct batch *b, const char *run_id);
extern void batch_drop_body(struct batch *b);
extern char *batch_excluded_list(const struct batch *b);
extern bool batch_apply_excluded(struct batch *b, const char *list);
extern void batch_add_rejects_lines(struct batch *b, json_t *lines);
extern enum verdict batch_answer(struct batch *b, bool split_rejected, bool want_output,
								 json_t *new_rejects, char *why, size_t whylen);
extern char *rejects_line(const json_t *line);
extern void batch_chain(char *chain, const struct batch *b);
extern void batch_sort_rejects(struct batch *b);

/* --- sender.c: libcurl's multi interface ---------------------------------- */
struct sender;

struct sender_options
{
	const char *url;			/* the endpoint, path included */
	const char *key;
	int			concurrency;
	long		timeout;		/* seconds per request */
	bool		idempotency;	/* send Idempotency-Key */
	bool		dry_run;		/* send Prefer: tx=rollback (--dry-run) */
	bool		want_2xx_body;	/* keep 2xx bodies (--output); else skipped */
};

extern struct sender *sender_new(const struct sender_options *opts);
extern void sender_start(struct sender *s, struct batch *b);
extern void sender_kick(struct sender *s);
/* waits up to ms for answers; fills answered (at most max), returns how many */
extern int	sender_wait(struct sender *s, int ms, struct batch **answered, int max);
extern int	sender_in_flight(const struct sender *s);
extern void sender_free(struct sender *s);

/* --- progress.c ----------------------------------------------------------- */
struct progress
{
	bool		tty;
	bool		quiet;
	double		start;
	double		last_draw;
	long		total_estimate;	/* -1: unknown */
	long		rows_read;
	long		created;
	long		rejected;
	long		skipped;
	long		retried;
	long		rate_limited;	/* of the retries, 429s */
	bool		dry_run;		/* created means would create */
};

extern double now_seconds(void);
extern void progress_update(struct progress *p, bool force);
extern void progress_summary(struct progress *p, FILE *out);

#endif							/* FANFARE_IMPORT_H */
