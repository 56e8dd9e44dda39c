/*
 * relay_crash.c - kill -9 a relay in the middle of a transfer and report
 * what each end of the flow saw.
 *
 *   relay_crash PROCS DST LISTEN N -- RELAY [ARGS...]
 *
 * N times in each direction: start RELAY (moved into the cgroup whose
 * cgroup.procs file is PROCS; ready once it says "listening on" on
 * stderr), connect to DST (which the layer redirects to the relay, which
 * connects on to LISTEN, where this program accepts), send 1 MiB one way,
 * and once the receiver has 256 KiB, SIGKILL the relay.  Both ends must
 * then see ECONNRESET, each within a second, never an end of stream.
 *
 * Prints one line per direction: "down: 20/20 reset at both ends, slowest
 * 3 ms" and, for each failed run, what each end saw.  Exit 0 if all reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockredir.h>

#define SIZE		(1 << 20)
#define KILL_AT		(256 << 10)
#define DEADLINE_MS	1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static socklen_t alen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	       sizeof(struct sockaddr_in);
}

/* Start the relay in its cgroup; returns its pid once it listens. */
static pid_t start_relay(const char *procs, char **argv)
{
	char buf[4096], *nl;
	size_t len = 0;
	int p[2], fd;
	uint64_t end;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(126);
		close(fd);
		dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	end = now_ms() + 5000;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };

		if (now_ms() >= end || poll(&pfd, 1, (int)(end - now_ms())) <= 0)
			break;
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		if (strstr(buf, "listening on")) {
			close(p[0]);	/* later diagnostics: EPIPE, ignored */
			return pid;
		}
		nl = strrchr(buf, '\n');
		if (nl && len > sizeof(buf) / 2) {
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len);
		}
	}
	fprintf(stderr, "relay did not start: %s\n", buf);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	return -1;
}

/* What one end saw: bytes, and how its stream ended (0 = not yet). */
struct side {
	int fd;
	size_t sent, got;
	int end;		/* errno, or -1 for EOF */
	uint64_t when;
};

static const char *end_name(int end)
{
	return end == -1 ? "EOF" : end == 0 ? "nothing" : strerror(end);
}

/* One step for @s: send what is left of @size, read what comes. */
static void step(struct side *s, size_t size, const char *data)
{
	char buf[65536];
	ssize_t n;

	if (s->end)
		return;
	if (s->sent < size) {
		n = send(s->fd, data + s->sent, size - s->sent,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			s->sent += n;
		else if (n < 0 && errno != EAGAIN)
			s->end = errno;
	}
	if (s->end)
		goto ended;
	n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0)
		s->got += n;
	else if (n == 0)
		s->end = -1;
	else if (errno != EAGAIN)
		s->end = errno;
	if (!s->end)
		return;
ended:
	s->when = now_ms();
}

/* One run; @down: the server sends.  Returns 1 if both ends reset. */
static int run(int lfd, const struct sockaddr_storage *dst, pid_t relay,
	       int down, const char *data, uint64_t *ms, char *why, size_t wlen)
{
	struct side c = { .fd = -1 }, s = { .fd = -1 };
	struct side *recv_side = down ? &c : &s;
	uint64_t killed = 0, end;
	int st, good = 0;

	c.fd = socket(dst->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c.fd, (const struct sockaddr *)dst, alen(dst)) < 0) {
		snprintf(why, wlen, "connect: %s", strerror(errno));
		goto out;
	}
	struct pollfd lp = { .fd = lfd, .events = POLLIN };
	if (poll(&lp, 1, 3000) <= 0 || (s.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		snprintf(why, wlen, "the relay did not connect on");
		goto out;
	}
	end = now_ms() + 10000;
	while (now_ms() < end) {
		struct pollfd p[2] = {
			{ .fd = c.fd, .events = POLLIN | (!down && c.sent < SIZE ? POLLOUT : 0) },
			{ .fd = s.fd, .events = POLLIN | (down && s.sent < SIZE ? POLLOUT : 0) },
		};

		if (c.end && s.end)
			break;
		poll(p, 2, 50);
		step(&c, down ? 0 : SIZE, data);
		step(&s, down ? SIZE : 0, data);
		if (!killed && recv_side->got >= KILL_AT) {
			kill(relay, SIGKILL);
			killed = now_ms();
			end = killed + DEADLINE_MS;
		}
	}
	waitpid(relay, &st, 0);
	if (!killed) {
		snprintf(why, wlen, "never reached %d bytes: client %s, server %s",
			 KILL_AT, end_name(c.end), end_name(s.end));
		goto out;
	}
	good = c.end == ECONNRESET && s.end == ECONNRESET;
	*ms = (c.when > s.when ? c.when : s.when) - killed;
	if (!good)
		snprintf(why, wlen, "client: %s after %zu bytes in, server: %s "
			 "after %zu bytes in (killed at %zu)", end_name(c.end),
			 c.got, end_name(s.end), s.got, (size_t)KILL_AT);
out:
	if (c.fd >= 0)
		close(c.fd);
	if (s.fd >= 0)
		close(s.fd);
	return good;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst, lst;
	int n, i, d, lfd, one = 1, failed = 0;
	char *data, why[256];
	uint64_t ms, slowest;
	pid_t pid;

	if (argc < 7 || strcmp(argv[5], "--") ||
	    sockredir_parse_addr(argv[2], &dst) || sockredir_parse_addr(argv[3], &lst) ||
	    (n = atoi(argv[4])) <= 0) {
		fprintf(stderr, "usage: relay_crash PROCS DST LISTEN N -- RELAY [ARGS...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	data = malloc(SIZE);
	for (i = 0; i < SIZE; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	lfd = socket(lst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&lst, alen(&lst)) < 0 || listen(lfd, 16) < 0) {
		perror("listen");
		return 1;
	}
	for (d = 1; d >= 0; d--) {
		uint64_t t0 = now_ms();
		int good = 0;

		slowest = 0;
		for (i = 0; i < n; i++) {
			why[0] = '\0';
			ms = 0;
			pid = start_relay(argv[1], argv + 6);
			if (pid < 0)
				return 1;
			if (run(lfd, &dst, pid, d, data, &ms, why, sizeof(why)) &&
			    ms <= DEADLINE_MS)
				good++;
			else
				printf("  %s run %d: %s (%llu ms)\n", d ? "down" : "up",
				       i + 1, why, (unsigned long long)ms);
			if (ms > slowest)
				slowest = ms;
		}
		printf("%s: %d/%d reset at both ends, slowest %llu ms after the "
		       "kill; %d runs in %llu ms\n", d ? "down" : "up", good, n,
		       (unsigned long long)slowest, n,
		       (unsigned long long)(now_ms() - t0));
		failed += n - good;
	}
	free(data);
	return failed ? 1 : 0;
}
