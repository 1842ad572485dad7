/*
 * js_number.c
 *	  Numbers as JavaScript sees them.
 *
 * The contract's validator runs on the result of JSON.parse, so every JSON
 * number is first rounded to an IEEE double (1e400 becomes Infinity, 1e-400
 * becomes 0, 9007199254740993 becomes 2^53), and issues print numbers with
 * Number#toString.  jsonb keeps numbers as numeric; this file converts them
 * the way JSON.parse does and prints doubles the way JavaScript does.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "js_number.h"

/*
 * The numeric on-disk header (see numeric.c): it is stable across releases
 * because pg_upgrade keeps numeric data as is.  Only what is needed to read
 * the sign, weight and base-10000 digits is mirrored here.
 */
#define NUMH_SIGN_MASK			0xC000
#define NUMH_NEG				0x4000
#define NUMH_SHORT				0x8000
#define NUMH_SPECIAL			0xC000
#define NUMH_SHORT_SIGN			0x2000
#define NUMH_SHORT_WEIGHT_SIGN	0x0040
#define NUMH_SHORT_WEIGHT_MASK	0x003F

typedef struct NumericParts
{
	bool		neg;
	int			weight;			/* base-10000 exponent of the first digit */
	int			ndigits;
	const char *digits;			/* ndigits uint16s, possibly unaligned */
} NumericParts;

static inline uint16
read_u16(const char *p)
{
	uint16		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Split a finite numeric into its parts; false for NaN and infinities. */
static bool
numeric_parts(Numeric num, NumericParts *parts)
{
	const char *p = VARDATA_ANY(num);
	int			size = VARSIZE_ANY_EXHDR(num);
	uint16		h = read_u16(p);

	if ((h & NUMH_SIGN_MASK) == NUMH_SPECIAL)
		return false;
	if (h & NUMH_SHORT)
	{
		parts->neg = (h & NUMH_SHORT_SIGN) != 0;
		parts->weight = (h & NUMH_SHORT_WEIGHT_SIGN ? ~NUMH_SHORT_WEIGHT_MASK : 0) |
			(h & NUMH_SHORT_WEIGHT_MASK);
		parts->digits = p + 2;
		parts->ndigits = (size - 2) / 2;
	}
	else
	{
		parts->neg = (h & NUMH_SIGN_MASK) == NUMH_NEG;
		parts->weight = (int16) read_u16(p + 2);
		parts->digits = p + 4;
		parts->ndigits = (size - 4) / 2;
	}
	return true;
}

/*
 * True when |num| >= 1e300: only such numbers can overflow a double, so
 * only they need the full conversion to find out.
 */
bool
js_number_is_huge(Numeric num)
{
	NumericParts parts;

	return !numeric_parts(num, &parts) || (parts.ndigits > 0 && parts.weight >= 75);
}

static const double exact_powers_of_ten[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/*
 * mantissa x 10^exp10 as a double when one exact operand and one correctly
 * rounded operation give it (mantissa <= 2^53, |exp10| <= 22); NaN when not.
 */
static double
exact_double(uint64 mantissa, int exp10, bool neg)
{
	double		d;

	while (mantissa != 0 && mantissa % 10 == 0)
	{
		mantissa /= 10;
		exp10++;
	}
	if (mantissa > (UINT64CONST(1) << 53) || exp10 < -22 || exp10 > 22)
		return NAN;
	d = exp10 >= 0 ? (double) mantissa * exact_powers_of_ten[exp10]
		: (double) mantissa / exact_powers_of_ten[-exp10];
	return neg ? -d : d;
}

/*
 * The double JSON.parse gives for this number, correctly rounded.
 *
 * Numbers of at most 16 significant digits and a small exponent are
 * converted exactly from the base-10000 digits (one correctly rounded
 * multiplication or division of exact operands); anything else goes through
 * strtod, which rounds correctly and overflows to +-Infinity like JSON.parse.
 */
double
js_number_from_numeric(Numeric num)
{
	NumericParts parts;
	char	   *text;
	double		d;

	if (numeric_parts(num, &parts))
	{
		uint64		mantissa = 0;
		int			exp10;

		if (parts.ndigits == 0)
			return 0.0;
		if (parts.ndigits <= 4)
		{
			for (int i = 0; i < parts.ndigits; i++)
				mantissa = mantissa * 10000 + read_u16(parts.digits + 2 * i);
			exp10 = 4 * (parts.weight - parts.ndigits + 1);
			d = exact_double(mantissa, exp10, parts.neg);
			if (!isnan(d))
				return d;
		}
	}

	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	d = strtod(text, NULL);
	pfree(text);
	return d;
}

/*
 * The double JSON.parse gives for the JSON number text s[0..len), which
 * need not be NUL-terminated: exactly from the digits when that is one
 * correctly rounded operation, else through strtod.
 */
double
js_number_parse(const char *s, int len)
{
	const char *p = s;
	const char *end = s + len;
	bool		neg = false;
	uint64		mantissa = 0;
	int			digits = 0;
	int			exp10 = 0;
	char		buf[64];
	char	   *copy;
	double		d;

	if (p < end && *p == '-')
		neg = true, p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		if (digits < 19 && (mantissa > 0 || *p != '0'))
			mantissa = mantissa * 10 + (*p - '0'), digits++;
		else if (mantissa > 0)
			goto slow;			/* more significant digits than a uint64 holds */
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
		{
			if (digits >= 19)
				goto slow;
			if (mantissa > 0 || *p != '0')
				digits++;
			mantissa = mantissa * 10 + (*p - '0');
			exp10--;
		}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		int			e = 0;
		bool		eneg = false;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
		exp10 += eneg ? -e : e;
	}
	if (mantissa == 0)
		return neg ? -0.0 : 0.0;
	d = exact_double(mantissa, exp10, neg);
	if (!isnan(d))
		return d;

slow:
	copy = len < (int) sizeof(buf) ? buf : palloc(len + 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	d = strtod(copy, NULL);
	if (copy != buf)
		pfree(copy);
	return d;
}

/* The double that digits (k of them, value 0.digits x 10^n) read back as. */
static double
digits_value(double sign, const char *digits, int k, int n)
{
	char		text[48];

	snprintf(text, sizeof(text), "%s0.%.*se%d", sign < 0 ? "-" : "", k, digits, n);
	return strtod(text, NULL);
}

/*
 * Try one digit fewer, rounded down and up: when one of them still reads
 * back as d, it is the shorter form JavaScript prints (the nearer of the
 * two if both do, the even one on a tie).  Repeats while it succeeds.
 * Returns k unchanged, or -k' with the new digits in out (and *n moved
 * when the digits rounded up to a power of ten).
 */
static int
shorten_at_interval_end(double d, const char *digits, int k, int *n, char *out)
{
	int			best = k;

	memcpy(out, digits, k);
	while (best > 1)
	{
		char		down[32];
		char		up[32];
		int			m = best - 1;
		bool		down_ok;
		bool		up_ok;
		int			carry = 1;

		memcpy(down, out, m);
		memcpy(up, out, m);
		for (int i = m - 1; i >= 0 && carry; i--)
		{
			if (up[i] == '9')
				up[i] = '0';
			else
			{
				up[i]++;
				carry = 0;
			}
		}
		if (carry)
		{
			/* 99..9 rounds up to 10^n: the digit 1, one place higher */
			if (digits_value(d, "1", 1, *n + 1) == d)
			{
				out[0] = '1';
				(*n)++;
				best = 1;
			}
			break;
		}
		down_ok = digits_value(d, down, m, *n) == d;
		up_ok = digits_value(d, up, m, *n) == d;
		if (!down_ok && !up_ok)
			break;
		if (down_ok && up_ok)
		{
			/* the dropped digit says which is nearer; 5 is a tie: even */
			char		dropped = out[m];
			bool		more = m + 1 < best;

			if (dropped > '5' ||
				(dropped == '5' && (more || (down[m - 1] - '0') % 2 == 1)))
				down_ok = false;
		}
		memcpy(out, down_ok ? down : up, m);
		best = m;
		while (best > 1 && out[best - 1] == '0')
			best--;
	}
	return best == k ? k : -best;
}

/*
 * Number#toString's layout of the value 0.digits[0..k) * 10^n at out:
 * plain digits up to 21 before the point, down to 6 zeros after it,
 * exponent form beyond.  Returns the end of what it wrote.
 */
static char *
js_number_layout(char *out, const char *digits, int k, int n)
{
	if (k <= n && n <= 21)
	{
		memcpy(out, digits, k);
		out += k;
		for (int i = k; i < n; i++)
			*out++ = '0';
	}
	else if (0 < n && n <= 21)
	{
		memcpy(out, digits, n);
		out += n;
		*out++ = '.';
		memcpy(out, digits + n, k - n);
		out += k - n;
	}
	else if (-6 < n && n <= 0)
	{
		*out++ = '0';
		*out++ = '.';
		for (int i = 0; i < -n; i++)
			*out++ = '0';
		memcpy(out, digits, k);
		out += k;
	}
	else
	{
		*out++ = digits[0];
		if (k > 1)
		{
			*out++ = '.';
			memcpy(out, digits + 1, k - 1);
			out += k - 1;
		}
		out += sprintf(out, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
	}
	return out;
}

/*
 * The numbers js_number_format prints without Ryu, into buf; returns the
 * length, or -1 for any other number.
 */
static int
format_without_ryu(double d, char *buf)
{
	if (isnan(d))
		return sprintf(buf, "NaN");
	if (isinf(d))
		return sprintf(buf, d > 0 ? "Infinity" : "-Infinity");
	if (d == 0)
	{
		/* also -0; the commonest number of a response (the defaults) */
		buf[0] = '0';
		buf[1] = '\0';
		return 1;
	}

	/*
	 * An integer below 2^53 in magnitude: its shortest round-tripping
	 * digits are its own (a shorter string would be another integer, and
	 * no other integer rounds to it), and JavaScript writes every integer
	 * below 1e21 without an exponent.  The common case, so no Ryu.
	 */
	if (fabs(d) < 9007199254740992.0 && d == floor(d))
		return pg_lltoa((int64) d, buf);
	return -1;
}

/*
 * The digits JavaScript prints for a finite, nonzero double that is not a
 * safe integer: |d| = 0.out[0..k) * 10^*n, out without leading or trailing
 * zeros; returns k.  The shortest round-tripping digits come from
 * PostgreSQL's Ryu.
 */
static int
js_number_digits(double d, char *out, int *n)
{
	char		tmp[32];
	char		raw[32];
	char		shortened[32];
	const char *digits;
	int			nraw = 0;
	int			before_point = -1;
	int			exp10 = 0;
	int			k;
	const char *p;

	tmp[double_to_shortest_decimal_bufn(d, tmp)] = '\0';
	p = tmp;
	if (*p == '-')
		p++;
	/* mantissa digits, and how many of them stand before the point */
	for (; *p && *p != 'e' && *p != 'E'; p++)
	{
		if (*p == '.')
			before_point = nraw;
		else
			raw[nraw++] = *p;
	}
	if (nraw == 0)				/* cannot happen for a printed double; be safe */
		raw[nraw++] = '0';
	if (before_point < 0)
		before_point = nraw;
	if (*p)
		exp10 = atoi(p + 1);

	digits = raw;
	k = nraw;
	while (k > 1 && *digits == '0')
	{
		digits++;
		k--;
		before_point--;
	}
	while (k > 1 && digits[k - 1] == '0')
		k--;
	*n = before_point + exp10;

	/*
	 * Ryu gives the shortest digits strictly inside the double's rounding
	 * interval; JavaScript also accepts its ends, which read back to the
	 * double by round-half-even.  Only from 2^53 on (ulp >= 2) can an end
	 * be shorter, e.g. 58003624577995136 prints as 58003624577995140.
	 */
	if (fabs(d) >= 9007199254740992.0)
		k = shorten_at_interval_end(d, digits, k, n, shortened);
	if (k < 0)
	{
		k = -k;
		digits = shortened;
	}
	memcpy(out, digits, k);
	return k;
}

/*
 * Print a double as JavaScript's Number#toString does; returns the length.
 * Only the layout (where JavaScript switches to exponent form) is done
 * here; the digits are js_number_digits'.
 */
int
js_number_format(double d, char *buf)
{
	char		digits[32];
	int			k;
	int			n;
	char	   *out = buf;

	if ((k = format_without_ryu(d, buf)) >= 0)
		return k;
	if (d < 0)
		*out++ = '-';
	k = js_number_digits(d, digits, &n);
	out = js_number_layout(out, digits, k, n);
	*out = '\0';
	return out - buf;
}

/*
 * Writing a numeric: the on-disk form numeric.c's make_result() gives
 * (mirrored as numeric_parts() reads it): a 2-byte header, short when the
 * display scale and weight fit, else a sign-and-scale word and a weight
 * word; then the base-10000 digits, no leading or trailing zero digit.
 */
#define NUMH_POS				0x0000
#define NUMH_DSCALE_MASK		0x3FFF
#define NUMH_SHORT_DSCALE_SHIFT	7
#define NUMH_SHORT_DSCALE_MAX	63
#define NUMH_SHORT_WEIGHT_MAX	63
#define NUMH_SHORT_WEIGHT_MIN	(-64)
#define NBASE_DIGITS			4

static int
numeric_write(char *out, bool neg, int weight, int dscale, const uint16 *digits, int ndigits)
{
	int			at;

	if (ndigits == 0)
	{
		neg = false;
		weight = 0;
	}
	if (dscale <= NUMH_SHORT_DSCALE_MAX &&
		weight <= NUMH_SHORT_WEIGHT_MAX && weight >= NUMH_SHORT_WEIGHT_MIN)
	{
		uint16		h = NUMH_SHORT | (neg ? NUMH_SHORT_SIGN : 0) |
			(dscale << NUMH_SHORT_DSCALE_SHIFT) |
			(weight < 0 ? NUMH_SHORT_WEIGHT_SIGN : 0) |
			(weight & NUMH_SHORT_WEIGHT_MASK);

		memcpy(out, &h, sizeof(h));
		at = sizeof(h);
	}
	else
	{
		uint16		h = (neg ? NUMH_NEG : NUMH_POS) | (dscale & NUMH_DSCALE_MASK);
		int16		w = weight;

		memcpy(out, &h, sizeof(h));
		memcpy(out + sizeof(h), &w, sizeof(w));
		at = sizeof(h) + sizeof(w);
	}
	memcpy(out + at, digits, ndigits * sizeof(uint16));
	return at + ndigits * sizeof(uint16);
}

/* floor(e / NBASE_DIGITS) for any sign of e */
static inline int
nbase_group(int e)
{
	return e >= 0 ? e / NBASE_DIGITS : -((-e + NBASE_DIGITS - 1) / NBASE_DIGITS);
}

/*
 * The numeric numeric_in makes of js_number_format(d)'s text, written at
 * out without its varlena header (at most JS_NUMBER_NUMERIC_MAX bytes);
 * returns its length.  d is finite.  Built from the digits directly:
 * printing the text and parsing it back with numeric_in cost about 1,800
 * instructions a number; this, about 750 for a fraction and 200 for an
 * integer (callgrind).
 */
int
js_number_numeric_bytes(double d, char *out)
{
	uint16		groups[8] = {0};
	int			ngroups = 0;
	bool		neg = d < 0;

	Assert(isfinite(d));
	if (d == 0)
		return numeric_write(out, false, 0, 0, groups, 0);
	if (fabs(d) < 9007199254740992.0 && d == floor(d))
	{
		/* a safe integer: its base-10000 digits, least significant first */
		uint64		v = (uint64) fabs(d);
		uint16		rev[8] = {0};
		int			nrev = 0;
		int			weight;

		while (v > 0)
		{
			rev[nrev++] = v % 10000;
			v /= 10000;
		}
		weight = nrev - 1;
		while (rev[ngroups] == 0)	/* trailing zero digits go */
			ngroups++;
		for (int i = nrev - 1, j = 0; i >= ngroups; i--, j++)
			groups[j] = rev[i];
		return numeric_write(out, neg, weight, 0, groups, nrev - ngroups);
	}
	else
	{
		char		digits[32];
		int			n;
		int			k = js_number_digits(d, digits, &n);
		int			weight = nbase_group(n - 1);

		/* digit i stands for 10^(n - 1 - i) */
		for (int i = 0; i < k; i++)
		{
			int			e = n - 1 - i;
			int			g = weight - nbase_group(e);
			static const uint16 pow10[NBASE_DIGITS] = {1, 10, 100, 1000};

			while (ngroups <= g)
				groups[ngroups++] = 0;
			groups[g] += (digits[i] - '0') * pow10[e - NBASE_DIGITS * nbase_group(e)];
		}
		/* k >= 1 and its last digit is not 0: no trailing zero digit */
		return numeric_write(out, neg, weight, Max(0, k - n), groups, ngroups);
	}
}

/*
 * The largest display scale numeric keeps (NUMERIC_DSCALE_MASK in
 * numeric.c), and the exponent beyond which numeric_in refuses a number
 * (INT_MAX / 2 there).
 */
#define NUMERIC_TEXT_MAX_DSCALE 0x3FFF
#define NUMERIC_TEXT_MAX_EXPONENT (INT_MAX / 2)

/*
 * Whether numeric_in takes the number text s[0..len) as written.  A number
 * JSON.parse reads as finite may still be refused: "1e-20000" (JavaScript:
 * 0) or 0.1 followed by 20 000 zeros has too many digits after the point,
 * and "0e999999999999" too large an exponent.  Numbers beyond a double are
 * not asked about: they are Infinity, which is stored as null.
 */
bool
js_number_fits_numeric(const char *s, int len)
{
	const char *p = s;
	const char *end = s + len;
	int64		fraction = 0;
	int64		exponent = 0;
	bool		negative_exponent = false;

	if (p < end && *p == '-')
		p++;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			fraction++;
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			negative_exponent = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (exponent <= NUMERIC_TEXT_MAX_EXPONENT)
				exponent = exponent * 10 + (*p - '0');
	}
	if (exponent >= NUMERIC_TEXT_MAX_EXPONENT)
		return false;
	return fraction + (negative_exponent ? exponent : -exponent) <= NUMERIC_TEXT_MAX_DSCALE;
}
