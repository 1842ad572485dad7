/*
 * byte_scan.h
 *	  Scanning text eight bytes at a time, for the JSON reader and printer.
 *
 * A word in which no byte can matter is skipped whole.  The tests may also
 * flag a byte that comes after a flagged one (a borrow carries into it), so
 * a caller reads the flagged word byte by byte: a false alarm costs a few
 * bytes read singly, never a missed byte.
 */
#ifndef BYTE_SCAN_H
#define BYTE_SCAN_H

#include "postgres.h"

#define BYTE_SCAN_ONES UINT64CONST(0x0101010101010101)
#define BYTE_SCAN_HIGH UINT64CONST(0x8080808080808080)

/* Whether word w (may) hold a byte below n (n <= 0x80). */
static inline uint64
byte_scan_has_below(uint64 w, unsigned char n)
{
	return (w - BYTE_SCAN_ONES * n) & ~w & BYTE_SCAN_HIGH;
}

/* Whether word w (may) hold byte b. */
static inline uint64
byte_scan_has(uint64 w, unsigned char b)
{
	return byte_scan_has_below(w ^ (BYTE_SCAN_ONES * b), 1);
}

/*
 * Whether word w (may) hold a byte a JSON string cannot carry as it is: a
 * quote, a backslash or a control character.
 */
static inline uint64
byte_scan_has_string_special(uint64 w)
{
	return byte_scan_has(w, '"') | byte_scan_has(w, '\\') | byte_scan_has_below(w, 0x20);
}

#endif							/* BYTE_SCAN_H */
