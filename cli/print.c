/* print.c - the little that text and JSON output share. */
#include "cli.h"

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void print_addr(FILE *f, const struct sockaddr_storage *ss)
{
	char buf[SOCKREDIR_ADDRSTRLEN];

	sockredir_format_addr(ss, buf, sizeof(buf));
	if (json)
		json_str(f, buf);
	else
		fputs(buf, f);
}
