/* print.c - the little that text and JSON output share. */
#include "cli.h"

void print_addr(FILE *f, const struct sockaddr_storage *ss)
{
	char buf[SOCKREDIR_ADDRSTRLEN];

	sockredir_format_addr(ss, buf, sizeof(buf));
	if (json_output)
		json_string(f, buf);
	else
		fputs(buf, f);
}
