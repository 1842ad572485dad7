/*
 * timestamp_check.c
 *	  The contract's timestamp rule, and conversion to timestamptz.
 *
 * A timestamp is valid when it matches Valibot's isoTimestamp() regex
 *	 ^\d{4}-(0[1-9]|1[0-2])-([12]\d|0[1-9]|3[01])[T ]([01]\d|2[0-3])
 *	 (:[0-5]\d){2}(\.\d{1,9})?(Z| ?[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$
 * names a real day of the proleptic Gregorian calendar with year >= 1, and
 * its instant (offset applied) lies in years 0001..9999 UTC.
 *
 * The instant is computed here rather than by timestamptz_in, which rejects
 * offsets beyond +-15:59 that the contract accepts.  Fraction digits beyond
 * microseconds are truncated, so an instant never moves into the next
 * millisecond, second or year.
 */
#include "postgres.h"

#include "timestamp_check.h"

static inline bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline int
two_digits(const char *p)
{
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void
civil_from_days(int64 z, int *year, int *month, int *day)
{
	int64		era;
	int64		doe;
	int64		yoe;
	int64		doy;
	int64		mp;
	int64		y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*day = (int) (doy - (153 * mp + 2) / 5 + 1);
	*month = (int) (mp < 10 ? mp + 3 : mp - 9);
	*year = (int) (y + (*month <= 2));
}

static const int days_in_month[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

#define UNIX_EPOCH_DAYS_BEFORE_PG	INT64CONST(10957)	/* 1970-01-01 .. 2000-01-01 */

/* A fraction at s[*i]: nothing, or a point and 1 to 9 digits (microseconds kept). */
static bool
parse_fraction(const char *s, int len, int *pos, int64 *micros)
{
	int			i = *pos;

	if (s[i] == '.')
	{
		int			start = ++i;
		int64		scale = 100000;

		while (i < len && digit(s[i]))
		{
			if (i - start < 6)
			{
				*micros += (s[i] - '0') * scale;
				scale /= 10;
			}
			i++;
		}
		if (i == start || i - start > 9)
			return false;
	}
	*pos = i;
	return true;
}

/* Two digits at s[*i] making at most max: the offset's hours or minutes. */
static bool
offset_part(const char *s, int len, int *i, int max, int *value)
{
	if (*i + 2 > len || !digit(s[*i]) || !digit(s[*i + 1]))
		return false;
	*value = two_digits(s + *i);
	*i += 2;
	return *value <= max;
}

/* An offset at s[*i]: Z, or an optional space then +-hh, +-hhmm or +-hh:mm. */
static bool
parse_offset(const char *s, int len, int *pos, int *offset_minutes)
{
	int			i = *pos;
	int			sign;
	int			oh,
				om = 0;

	if (i < len && s[i] == 'Z')
	{
		*pos = i + 1;
		return true;
	}
	if (i < len && s[i] == ' ')
		i++;
	if (i >= len || (s[i] != '+' && s[i] != '-'))
		return false;
	sign = s[i++] == '-' ? -1 : 1;
	if (!offset_part(s, len, &i, 23, &oh))
		return false;
	if (i < len)
	{
		if (s[i] == ':')
			i++;
		if (!offset_part(s, len, &i, 59, &om))
			return false;
	}
	*offset_minutes = sign * (oh * 60 + om);
	*pos = i;
	return true;
}

/*
 * Parse an ISO timestamp as the contract defines it.  Returns false when the
 * string is not one (regex or calendar failure: the issue is the same);
 * otherwise sets *result to the instant.
 */
bool
timestamp_parse_iso(const char *s, int len, TimestampTz *result)
{
	int			year,
				month,
				day,
				hour,
				minute,
				second;
	int64		micros = 0;
	int			offset_minutes = 0;
	int			i;
	int64		days;
	int64		minutes;

	/* date and time: fixed layout up to the seconds */
	if (len < 20)
		return false;
	for (i = 0; i < 19; i++)
	{
		static const char layout[] = "dddd-dd-dd?dd:dd:dd";

		if (layout[i] == 'd' ? !digit(s[i]) :
			layout[i] == '?' ? (s[i] != 'T' && s[i] != ' ') : s[i] != layout[i])
			return false;
	}
	year = two_digits(s) * 100 + two_digits(s + 2);
	month = two_digits(s + 5);
	day = two_digits(s + 8);
	hour = two_digits(s + 11);
	minute = two_digits(s + 14);
	second = two_digits(s + 17);
	if (month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || second > 59)
		return false;

	/* fraction, then offset: the rest of the string */
	i = 19;
	if (!parse_fraction(s, len, &i, &micros) ||
		!parse_offset(s, len, &i, &offset_minutes) || i != len)
		return false;

	/* calendar: the day must exist, year 0000 does not */
	if (year < 1)
		return false;
	if (day > days_in_month[month - 1] &&
		!(month == 2 && day == 29 &&
		  year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return false;

	/* the instant must lie in years 0001..9999 UTC */
	days = days_from_civil(year, month, day);
	minutes = days * 1440 + hour * 60 + minute - offset_minutes;
	if (minutes < days_from_civil(1, 1, 1) * 1440 ||
		minutes >= days_from_civil(10000, 1, 1) * 1440)
		return false;

	if (result)
		*result = ((minutes - UNIX_EPOCH_DAYS_BEFORE_PG * 1440) * 60 + second) *
			USECS_PER_SEC + micros;
	return true;
}

/*
 * Print an instant as JavaScript's Date#toISOString does:
 * YYYY-MM-DDTHH:MM:SS.sssZ, milliseconds truncated.  Returns the length.
 * Only called for instants in years 0001..9999.
 */
/* n as exactly width decimal digits at p; returns the end. */
static char *
put_digits(char *p, int n, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		p[i] = '0' + n % 10;
		n /= 10;
	}
	return p + width;
}

int
timestamp_format_iso(TimestampTz ts, char *buf)
{
	int64		ms = ts / 1000 - (ts % 1000 < 0 ? 1 : 0);	/* floor */
	int64		days = ms / 86400000 - (ms % 86400000 < 0 ? 1 : 0);
	int			in_day = (int) (ms - days * 86400000);
	int			year,
				month,
				day;
	char	   *p = buf;

	civil_from_days(days + UNIX_EPOCH_DAYS_BEFORE_PG, &year, &month, &day);
	/* as sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"), which is slow */
	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, month, 2);
	*p++ = '-';
	p = put_digits(p, day, 2);
	*p++ = 'T';
	p = put_digits(p, in_day / 3600000, 2);
	*p++ = ':';
	p = put_digits(p, in_day / 60000 % 60, 2);
	*p++ = ':';
	p = put_digits(p, in_day / 1000 % 60, 2);
	*p++ = '.';
	p = put_digits(p, in_day % 1000, 3);
	*p++ = 'Z';
	*p = '\0';
	return p - buf;
}
