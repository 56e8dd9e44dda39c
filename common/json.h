/* SPDX-License-Identifier: MIT */
/*
 * json.h - the one JSON string writer the sockredir command and
 * sockredir-relay share.
 */
#ifndef SOCKREDIR_COMMON_JSON_H
#define SOCKREDIR_COMMON_JSON_H

#include <stdio.h>

/*
 * json_string - write @s as a JSON string, quotes included; NULL writes
 * null.  Valid UTF-8 is copied; '"', '\' and control bytes (and DEL) are
 * escaped; a byte that is not part of valid UTF-8 (process names and
 * paths are any bytes) is written as the code point of the same value
 * (\u00XX, reading it as Latin-1), so the output is always valid JSON and
 * nothing is dropped.
 */
void json_string(FILE *f, const char *s);

#endif
