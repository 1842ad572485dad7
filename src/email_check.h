/*
 * email_check.h
 *	  The email rule (email_check.c).
 */
#ifndef FANFARE_EMAIL_CHECK_H
#define FANFARE_EMAIL_CHECK_H

#include "postgres.h"

extern bool email_is_valid(const char *s, int len);

#endif							/* FANFARE_EMAIL_CHECK_H */
