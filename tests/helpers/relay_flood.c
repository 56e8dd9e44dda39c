/*
 * relay_flood.c - many silent connections from one application.
 *
 *   relay_flood ADDR:PORT N HELD
 *
 * Opens N connections to ADDR:PORT (at most 1,000 connecting at once),
 * sends nothing, and watches each one: connected and still open ("held"),
 * or ended (reset, refused, EOF).  Once all N are connected and exactly
 * HELD are still open (or after 30 s), prints
 *   "N opened, R ended, H held in T ms"
 * and keeps the held ones open until it is killed.  Exit 1 if it gave up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockredir.h>

#define IN_FLIGHT	1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum { CONNECTING = 1, HELD, ENDED };

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct epoll_event ev, evs[256];
	int n, want, opened = 0, connecting = 0, held = 0, ended = 0, ep, i, k;
	struct rlimit rl;
	char *state;
	uint64_t t0, end;
	socklen_t len;

	if (argc != 4 || sockredir_parse_addr(argv[1], &ss) ||
	    (n = atoi(argv[2])) <= 0 || (want = atoi(argv[3])) < 0) {
		fprintf(stderr, "usage: relay_flood ADDR:PORT N HELD\n");
		return 2;
	}
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	      sizeof(struct sockaddr_in);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	state = calloc(rl.rlim_cur + 1, 1);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t0 = now_ms();
	end = t0 + 30000;
	while (now_ms() < end) {
		while (opened < n && connecting < IN_FLIGHT) {
			int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					SOCK_CLOEXEC, 0);

			if (fd < 0) {
				perror("socket");
				return 1;
			}
			opened++;
			if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
			    errno != EINPROGRESS) {
				close(fd);
				ended++;
				continue;
			}
			ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
			ev.data.fd = fd;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			state[fd] = CONNECTING;
			connecting++;
		}
		if (opened == n && !connecting && held == want)
			break;
		k = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < k; i++) {
			int fd = evs[i].data.fd, err = 0;
			socklen_t el = sizeof(err);

			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (!err && !(evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
				if (state[fd] == CONNECTING) {
					connecting--;
					held++;
					state[fd] = HELD;
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				}
				continue;
			}
			/* Reset, refused or closed: it is over. */
			if (state[fd] == CONNECTING)
				connecting--;
			else if (state[fd] == HELD)
				held--;
			state[fd] = ENDED;
			ended++;
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
		}
	}
	printf("%d opened, %d ended, %d held in %llu ms\n", opened,
	       ended, held, (unsigned long long)(now_ms() - t0));
	fflush(stdout);
	if (opened < n || connecting || held != want)
		return 1;
	for (;;)
		pause();
}
