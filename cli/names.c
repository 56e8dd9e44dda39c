/* names.c - service names by id, for listings that carry ids. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int names_load(struct names_table *t)
{
	struct sockredir_service *list;
	int n, i;

	memset(t, 0, sizeof(*t));
	n = sockredir_service_list(&list);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (list[i].id < SOCKREDIR_MAX_SERVICES)
			snprintf(t->name[list[i].id], sizeof(t->name[0]), "%s",
				 list[i].name);
	free(list);
	return 0;
}

const char *names_get(const struct names_table *t, unsigned int id, char *buf,
		      size_t len)
{
	if (id < SOCKREDIR_MAX_SERVICES && t->name[id][0])
		return t->name[id];
	snprintf(buf, len, "#%u", id);	/* deleted since */
	return buf;
}

