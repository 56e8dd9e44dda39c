/*
 * test_json - common/json.c, the JSON string writer the command and the
 * relay share: what it writes for quotes, control bytes, valid and invalid
 * UTF-8, checked byte for byte and by Python's own JSON parser.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tap.h"
#include "json.h"

static char *written(const char *s)
{
	static char buf[1024];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	json_string(f, s);
	fclose(f);
	return buf;
}

static void is(const char *in, const char *want, const char *what)
{
	const char *got = written(in);

	ok(!strcmp(got, want), "json: %s -> %s (got %s)", what, want, got);
}

/* Does Python's json module read @text back as the code points @want? */
static int python_reads(const char *text, const char *want)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != "
		 "bytes.fromhex(sys.argv[2]).decode(\"utf-8\"))' '%s' '%s'", text, want);
	return system(cmd) == 0;
}

static void test_strings(void)
{
	is("plain", "\"plain\"", "ASCII is copied");
	is("", "\"\"", "the empty string");
	ok(!strcmp(written(NULL), "null"), "json: NULL is null");
	is("a\"b\\c", "\"a\\\"b\\\\c\"", "quote and backslash are escaped");
	is("\n\t", "\"\\n\\t\"", "newline and tab");
	is("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"", "other control bytes and DEL");
	is("caf\xc3\xa9", "\"caf\xc3\xa9\"", "valid 2-byte UTF-8 is copied");
	is("\xe2\x82\xac", "\"\xe2\x82\xac\"", "valid 3-byte UTF-8 (euro sign)");
	is("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"", "valid 4-byte UTF-8");
	is("\xff", "\"\\u00ff\"", "a byte never in UTF-8 is \\u00XX");
	is("\x80x", "\"\\u0080x\"", "a lone continuation byte");
	is("\xc3", "\"\\u00c3\"", "a sequence cut short by the end");
	is("\xe2\x82", "\"\\u00e2\\u0082\"", "a 3-byte sequence cut after 2");
	is("\xc0\xaf", "\"\\u00c0\\u00af\"", "an overlong '/' is not UTF-8");
	is("\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\"", "a 3-byte overlong");
	is("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"", "a UTF-16 surrogate");
	is("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"", "beyond U+10FFFF");
	is("a\xe9z\xc3\xa9", "\"a\\u00e9z\xc3\xa9\"", "Latin-1 then real UTF-8");
}

static void test_python(void)
{
	/* Python must read each back as text, the bad bytes as Latin-1. */
	ok(python_reads(written("a\xff\x01\"\\"), "61c3bf01225c"),
	   "python reads invalid UTF-8 and control bytes back");
	ok(python_reads(written("caf\xc3\xa9\xed\xa0\x80"), "636166c3a9c3adc2a0c280"),
	   "python reads valid UTF-8 and a surrogate's bytes back");
}

int main(void)
{
	test_strings();
	test_python();
	return done();
}
