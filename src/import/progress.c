/*
 * progress.c
 *	  What the import tells the person watching it.
 *
 * On a terminal (stderr), a bar redrawn at most 10 times a second: rows
 * done of the total (for stdin, estimated from the bytes read), rows/s,
 * rejected rows and the ETA.  Off a terminal, a plain line every 10 s
 * (none with --quiet).  At the end, the summary: created, rejected,
 * skipped as already done, retried, elapsed.
 */
#include "import.h"

#include <time.h>

/* seconds since the epoch, with a fraction */
double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Redraws the bar, or prints a plain line, if it is time (or force). */
void
progress_update(struct progress *p, bool force)
{
	double		now = now_seconds();
	double		elapsed = now - p->start;
	long		done = p->created + p->rejected + p->skipped;
	double		rate = elapsed > 0 ? (p->created + p->rejected) / elapsed : 0;

	if (p->quiet && !force)
		return;
	if (!force && now - p->last_draw < (p->tty ? 0.1 : 10.0))
		return;
	p->last_draw = now;
	if (p->tty)
	{
		char		bar[31];
		long		total = p->total_estimate > done ? p->total_estimate : done;
		int			filled = total > 0 ? (int) (30.0 * done / total) : 0;
		double		eta = rate > 0 && total > done ? (total - done) / rate : 0;

		for (int i = 0; i < 30; i++)
			bar[i] = i < filled ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %ld/%s%ld rows  %.0f rows/s  %ld rejected  ETA %d:%02d   ",
				bar, done, p->total_estimate < 0 ? "~" : "", total, rate, p->rejected,
				(int) (eta / 60), (int) eta % 60);
	}
	else if (!p->quiet)
		fprintf(stderr, "fanfare-import: %ld rows done (%ld %s, %ld rejected, %ld skipped), %.0f rows/s\n",
				done, p->created, p->dry_run ? "would create" : "created", p->rejected, p->skipped, rate);
}

/* The final summary. */
void
progress_summary(struct progress *p, FILE *out)
{
	if (p->tty && !p->quiet)
	{
		progress_update(p, true);
		fputc('\n', stderr);
	}
	fprintf(out, "fanfare-import: %s %ld, rejected %ld, skipped as already done %ld, retried %ld (429: %ld), elapsed %.1f s%s\n",
			p->dry_run ? "dry run: would create" : "created", p->created, p->rejected,
			p->skipped, p->retried, p->rate_limited, now_seconds() - p->start,
			p->dry_run ? " (nothing was stored)" : "");
}
