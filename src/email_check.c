/*
 * email_check.c
 *	  The contract's email rule, without a regex engine.
 *
 * Valibot 1.5.0's email() is
 *	 /^[\w+-]+(?:\.[\w+-]+)*@[\da-zA-Z]+(?:[.-][\da-zA-Z]+)*\.[a-zA-Z]{2,}$/u
 * which, \w being [A-Za-z0-9_] without the i flag, is ASCII only:
 *	- local part: runs of [A-Za-z0-9_+-] joined by single dots;
 *	- one '@';
 *	- domain: runs of [A-Za-z0-9] joined by single '.' or '-', at least two
 *	  runs, the last separator a '.', the last run two or more letters.
 */
#include "postgres.h"

#include "email_check.h"

static inline bool
is_alnum_ascii(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_alpha_ascii(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_local_char(unsigned char c)
{
	return is_alnum_ascii(c) || c == '_' || c == '+' || c == '-';
}

bool
email_is_valid(const char *s, int len)
{
	int			i = 0;
	int			run = 0;
	int			last_run_start;
	bool		last_run_alpha;
	char		last_sep = 0;
	int			nruns = 0;

	/* local part */
	for (; i < len && s[i] != '@'; i++)
	{
		unsigned char c = s[i];

		if (c == '.')
		{
			if (run == 0)
				return false;
			run = 0;
		}
		else if (is_local_char(c))
			run++;
		else
			return false;
	}
	if (i == len || run == 0)
		return false;
	i++;						/* '@' */

	/* domain */
	run = 0;
	last_run_start = i;
	last_run_alpha = true;
	for (; i < len; i++)
	{
		unsigned char c = s[i];

		if (c == '.' || c == '-')
		{
			if (run == 0)
				return false;
			nruns++;
			last_sep = c;
			run = 0;
			last_run_start = i + 1;
			last_run_alpha = true;
		}
		else if (is_alnum_ascii(c))
		{
			run++;
			if (!is_alpha_ascii(c))
				last_run_alpha = false;
		}
		else
			return false;
	}
	if (run == 0)
		return false;
	nruns++;
	return nruns >= 2 && last_sep == '.' && last_run_alpha &&
		(i - last_run_start) >= 2;
}
