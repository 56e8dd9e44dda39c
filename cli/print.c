/* print.c - the little that text and JSON output share, and a note. */
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

void print_scope_note(const char *service, int64_t owner_uid,
		      const char *owner_cgroup)
{
	if (owner_uid < 0 && owner_cgroup)
		return;
	printf("service %s: %s, so the socket-option hooks and the proxies' "
	       "sockops program run for every process in the attached cgroup "
	       "(give the service --owner-cgroup to keep the option hooks off "
	       "applications)\n", service,
	       owner_uid >= 0 ? "owned by a uid" : "no owner");
}
