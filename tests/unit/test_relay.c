/*
 * test_relay.c - the relay's engine without the redirect layer: the
 * socket-option calls are faked, everything else is real.
 *
 *   parent (client + servers) --> child: relay listening on
 *     127.0.0.1:P  -> fake context: remote = server A   (normal flows)
 *     127.0.0.2:P  -> ENOENT                            (not redirected)
 *     127.0.0.3:P  -> remote = a closed port            (refused)
 *     127.0.0.4:P  -> remote = server B, never accepted (deny tests)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "../../relay/diag.c"
#include "../../relay/loop.c"
#include "../../relay/pump.c"
#include "../../relay/flowlog.c"
#include "../../relay/sniff.c"
#include "../../relay/policy.c"
#include "../../relay/http.c"
#include "../../relay/share.c"
#include "../../relay/flow.c"
#include "../../relay/quic.c"
#include "../../relay/udpflow.c"
#include "../../relay/relay.c"
#include "clienthello.h"

static struct sockaddr_storage remote[5];
/* Two relays: "plain" without a deny list, "denying" with one. */
static struct sockaddr_in plain[5], denying[5], *relay_addr = plain;
static uint64_t next_flow = 1000;

static int local_octet(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return 0;
	return ntohl(sin.sin_addr.s_addr) & 0xff;
}

static int fake_records(int fd, void *buf, size_t *len)
{
	if (local_octet(fd) == 2)
		return -ENOENT;
	memcpy(buf, "REC", 3);
	*len = 3;
	return 0;
}

static int fake_context(int fd, struct sockredir_context *ctx)
{
	int o = local_octet(fd);

	memset(ctx, 0, sizeof(*ctx));
	ctx->remote = remote[o < 5 ? o : 0];
	ctx->sr.flow_id = next_flow++;
	ctx->sr.hop = 2;
	ctx->sr.chain[0] = 3;
	ctx->sr.chain[1] = 5;
	ctx->sr.app_pid = 4242;
	ctx->sr.app_uid = 1001;
	strcpy(ctx->sr.app_comm, "t\"s\\t\x01\xff");
	return 0;
}

/* One query, as the relay asks it (SOCKREDIR_QUERY). */
static int fake_query(int fd, struct sockredir_context *ctx, void *buf,
		      size_t *len)
{
	int err = fake_records(fd, buf, len);

	return err ? err : fake_context(fd, ctx);
}

static int fake_set_records(int fd, const void *buf, size_t len)
{
	return len == 3 && !memcmp(buf, "REC", 3) ? 0 : -EINVAL;
}

static int listener(struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
	bind(fd, (struct sockaddr *)sin, sizeof(*sin));
	listen(fd, 64);
	getsockname(fd, (struct sockaddr *)sin, &len);
	return fd;
}

#define FLOW_CFG(first_byte, idle) { \
	.service = "unit", .connect_timeout_ms = 1000, .sniff_timeout_ms = 300, \
	.first_byte_timeout_ms = first_byte, .idle_timeout_ms = idle }

static char denyhost[] = "*.denied.test", *deny_list[] = { denyhost };

static struct relay_config plain_cfg = {
	.drain_timeout_ms = 800, .n_listen = 4, .quiet = true,
	.flow = FLOW_CFG(10000, 10000),
};
static struct relay_config deny_cfg = {
	.drain_timeout_ms = 800, .n_listen = 4, .quiet = true,
	.flow = FLOW_CFG(10000, 10000),
	.policy = { .deny = deny_list, .n_deny = 1 },
};
/* Short timeouts and a small share per app, with a deny list. */
static struct relay_config strict_cfg = {
	.drain_timeout_ms = 800, .n_listen = 4, .quiet = true,
	.max_flows_per_app = 4,
	.flow = FLOW_CFG(500, 700),
	.policy = { .deny = deny_list, .n_deny = 1 },
};
/* A deny list with --unknown-host allow. */
static struct relay_config lenient_cfg = {
	.drain_timeout_ms = 800, .n_listen = 4, .quiet = true,
	.flow = FLOW_CFG(10000, 10000),
	.policy = { .deny = deny_list, .n_deny = 1, .allow_unknown = true },
};
/* Three flows at most. */
static struct relay_config small_cfg = {
	.drain_timeout_ms = 800, .n_listen = 4, .quiet = true,
	.max_flows = 3, .max_flows_per_app = 3,
	.flow = FLOW_CFG(10000, 10000),
};

/* Start a relay with @cfg on 127.0.0.1-4; @addr[1..4] get its listeners. */
static pid_t start_relay(struct relay_config *cfg, const char *log,
			 struct sockaddr_in addr[5])
{
	const size_t size = 5 * sizeof(addr[0]);
	int p[2], i, rc;
	struct relay *r;
	pid_t pid;

	cfg->log_path = log;
	for (i = 0; i < 4; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->listen[i];

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(0x7f000001 + i);
	}
	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		diag_quiet = true;
		redirect_ops = (struct redirect_ops){ fake_query,
						      fake_set_records };
		r = relay_new(cfg);
		if (!r)
			_exit(1);
		for (i = 0; i < 4; i++) {
			socklen_t len = sizeof(addr[i + 1]);

			getsockname(r->listen_fd[i],
				    (struct sockaddr *)&addr[i + 1], &len);
		}
		if (write(p[1], addr, size) < 0)
			_exit(1);
		close(p[1]);
		rc = relay_run(r);
		relay_free(r);
		_exit(rc);
	}
	close(p[1]);
	if (read(p[0], addr, size) != (ssize_t)size)
		pid = -1;
	close(p[0]);
	return pid;
}

static int dial(int which)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&relay_addr[which],
		    sizeof(relay_addr[which])) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int take(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	if (poll(&pfd, 1, 5000) <= 0)
		return -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void rst_close(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Read until EOF into @buf; returns the length, or -errno. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while ((n = recv(fd, buf + len, cap - len, 0)) > 0)
		len += n;
	return n < 0 ? -errno : (ssize_t)len;
}

static unsigned char pattern(uint64_t i)
{
	return (i * 2654435761u) >> 13;
}

struct stream {
	int fd;
	uint64_t size;
	int slow;
	uint64_t got;
	int ok;
};

static void *write_pattern(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[65536];
	uint64_t off = 0;
	size_t n, i;

	while (off < s->size) {
		n = s->size - off < sizeof(buf) ? s->size - off : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		if (send_all(s->fd, buf, n) < 0)
			return NULL;
		off += n;
	}
	shutdown(s->fd, SHUT_WR);
	s->ok = 1;
	return NULL;
}

static void *check_pattern(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[65536];
	ssize_t n, i;

	s->ok = 1;
	while ((n = recv(s->fd, buf, s->slow ? 997 : sizeof(buf), 0)) > 0) {
		for (i = 0; i < n; i++)
			if (buf[i] != pattern(s->got + i))
				s->ok = 0;
		s->got += n;
		if (s->slow && s->got % (64 * 997) < (uint64_t)n)
			usleep(2000);
	}
	if (n < 0)
		s->ok = 0;
	return NULL;
}

static void *echo(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (send_all(fd, buf, n) < 0)
			break;
	shutdown(fd, SHUT_WR);
	return NULL;
}

/* @size bytes each way at once, server echoing; optionally a slow reader. */
static int echo_transfer(int srv, uint64_t size, int slow)
{
	struct stream w = { .size = size }, r = { .slow = slow };
	pthread_t tw, tr, te;
	char req[] = "PUT / HTTP/1.1\r\nHost: ok.test\r\n\r\n";
	int c = dial(1), s, good;

	if (c < 0 || send_all(c, req, sizeof(req) - 1) < 0)
		return 0;
	s = take(srv);
	good = recv(s, req, sizeof(req) - 1, MSG_WAITALL) == sizeof(req) - 1;
	w.fd = r.fd = c;
	w.size = size;
	pthread_create(&te, NULL, echo, &s);
	pthread_create(&tw, NULL, write_pattern, &w);
	pthread_create(&tr, NULL, check_pattern, &r);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	pthread_join(te, NULL);
	close(c);
	close(s);
	return good && w.ok && r.ok && r.got == size;
}

static void test_pump_copy(void)
{
	static char buf[300000], out[300000];
	const ssize_t size = sizeof(buf);
	int a[2], b[2], i;
	ssize_t k, sent = 0, got = 0;
	struct end from, to;
	struct pump p;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b);
	from = (struct end){ .fd = a[1] };
	to = (struct end){ .fd = b[0] };
	pump_init(&p, &from, &to);
	use_copy(&p);
	for (i = 0; i < size; i++)
		buf[i] = pattern(i);
	for (i = 0; i < 100000 && (got < size || !p.shut); i++) {
		if (sent < size && (k = send(a[0], buf + sent, size - sent, 0)) > 0) {
			sent += k;
			if (sent == size)
				shutdown(a[0], SHUT_WR);
		}
		from.rd = to.wr = true;	/* as if epoll said so */
		if (pump_run(&p, 1 << 20) < 0)
			break;
		while ((k = recv(b[1], out + got, size - got, 0)) > 0)
			got += k;
	}
	ok(got == size && !memcmp(buf, out, size) && p.copy && p.eof &&
	   p.shut && recv(b[1], out, 1, 0) == 0,
	   "pump, copy mode: 300000 bytes in order, then EOF passed on");
	pump_release(&p);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly @len bytes within @ms; returns how many came. */
static ssize_t arrives(int fd, char *buf, size_t len, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t end = now_ms() + ms;
	size_t got = 0;
	ssize_t n;

	while (got < len && now_ms() < end) {
		if (poll(&pfd, 1, (int)(end - now_ms())) <= 0)
			continue;
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

/* Poll until nothing listens on @sin any more: binding it then works. */
static int wait_unlisten(const struct sockaddr_in *sin, int ms)
{
	uint64_t end = now_ms() + ms;
	int one = 1, fd, st;

	do {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		st = bind(fd, (const struct sockaddr *)sin, sizeof(*sin));
		close(fd);
		if (st == 0)
			return 0;
		usleep(5000);
	} while (now_ms() < end);
	return -1;
}

/* Is a connection waiting in @lfd's accept queue? */
static int pending(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* Read until the stream ends; *end: 0 for EOF, else the errno. */
static ssize_t read_end(int fd, char *buf, size_t cap, int *end)
{
	size_t len = 0;
	ssize_t n;

	while ((n = recv(fd, buf + len, cap - len, 0)) > 0)
		len += n;
	*end = n < 0 ? errno : 0;
	return len;
}

/* The length of @sin's accept queue (a listener's rx_queue), or -1. */
static int accept_queue(const struct sockaddr_in *sin)
{
	unsigned int addr, port, st, tx, rx;
	char line[512];
	FILE *f = fopen("/proc/net/tcp", "r");
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %*d: %x:%x %*x:%*x %x %x:%x", &addr, &port,
			   &st, &tx, &rx) == 5 && st == 0x0a &&
		    addr == sin->sin_addr.s_addr && port == ntohs(sin->sin_port))
			n = rx;
	fclose(f);
	return n;
}

static int count(const char *log, const char *what)
{
	char line[4096];
	FILE *f = fopen(log, "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			n++;
	fclose(f);
	return n;
}

/* The DNS question name the deny list sees: only a query, only a name. */
static void test_dns_qname(void)
{
	static const unsigned char q[] = "\x12\x34\x01\x00\x00\x01\0\0\0\0\0\0"
		"\x03WwW\x07" "Example\x04test\0\0\x01\0\x01";
	unsigned char r[sizeof(q)], bad[sizeof(q)];
	char name[256];

	ok(dns_qname(q, sizeof(q) - 1, name, sizeof(name)) == 0 &&
		   !strcmp(name, "www.example.test"),
	   "dns: the question name, lower-case (%s)", name);
	memcpy(r, q, sizeof(q));
	r[2] |= 0x80;
	ok(dns_qname(r, sizeof(q) - 1, name, sizeof(name)) < 0,
	   "dns: a response is not a query");
	ok(dns_qname(q, 20, name, sizeof(name)) < 0, "dns: a truncated name is refused");
	memcpy(bad, q, sizeof(q));
	bad[12] = 0xc0;		/* a compression pointer */
	ok(dns_qname(bad, sizeof(q) - 1, name, sizeof(name)) < 0,
	   "dns: a pointer in the question is refused");
	memcpy(bad, q, sizeof(q));
	bad[13] = '.';
	ok(dns_qname(bad, sizeof(q) - 1, name, sizeof(name)) < 0,
	   "dns: a dot inside a label is refused");
	ok(dns_qname(q, sizeof(q) - 1, name, 8) < 0, "dns: a short buffer is refused");
}

/* Send a string literal, without its NUL. */
#define SEND(fd, lit) send_all(fd, lit, sizeof(lit) - 1)

/*
 * With a deny list, nothing fails open (strict_cfg: sniff window 300 ms,
 * first byte 500 ms, idle 700 ms, 4 flows per app).
 */
static void strict_tests(const char *log, int srv, int srv_b)
{
	static char pad[17000];
	static const char req1[] = "POST /a HTTP/1.1\r\nHost: ok.test\r\n"
				   "Content-Length: 5\r\n\r\nhello";
	static const char chunked[] = "POST /c HTTP/1.1\r\nHost: ok.test\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"29\r\nGET / HTTP/1.1\r\nHost: www.denied.test\r\n\r\n\r\n"
		"0\r\n\r\nGET /d HTTP/1.1\r\nHost: fine.test\r\n\r\n";
	char buf[65536], hello[600];
	int c, s, c_end, s_end, i, held[4];
	uint64_t t0, t;
	ssize_t n;
	pid_t pid;

	pid = start_relay(&strict_cfg, log, denying);
	relay_addr = denying;

	c = dial(4);
	SEND(c, "GET / HTTP/1.1\r\nHost: www.denied.test\r\n\r\n");
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET && !pending(srv_b),
	   "deny list: a denied flow is reset, and nothing was connected upstream");
	close(c);

	c = dial(4);
	t0 = now_ms();
	SEND(c, "GET / HTTP/1.1\r\nHost: www.den");
	n = read_all(c, buf, sizeof(buf));
	t = now_ms() - t0;
	ok(n == -ECONNRESET && t >= 250 && t < 1000 && !pending(srv_b),
	   "deny list: no name by the sniff timeout: reset after %llu ms, nothing upstream",
	   (unsigned long long)t);
	close(c);

	memset(pad, 'a', sizeof(pad));
	c = dial(4);
	t0 = now_ms();
	SEND(c, "GET / HTTP/1.1\r\nX-Pad: ");
	send_all(c, pad, sizeof(pad));
	n = read_all(c, buf, sizeof(buf));
	t = now_ms() - t0;
	ok(n == -ECONNRESET && t < 250 && !pending(srv_b),
	   "deny list: 17,000 bytes and no name yet: reset at once (%llu ms), nothing upstream",
	   (unsigned long long)t);
	close(c);

	c = dial(4);
	n = make_hello((unsigned char *)hello, NULL, 100);
	send_all(c, hello, n);
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET && !pending(srv_b),
	   "deny list: a ClientHello without SNI is reset");
	close(c);

	/* Keep-alive: the second request names a denied host. */
	c = dial(1);
	send_all(c, req1, sizeof(req1) - 1);
	s = take(srv);
	n = recv(s, buf, sizeof(req1) - 1, MSG_WAITALL);
	ok(n == sizeof(req1) - 1 && !memcmp(buf, req1, n),
	   "keep-alive: the first request (with a body) is relayed");
	SEND(c, "GET /b HTTP/1.1\r\nHost: www.denied.test\r\n\r\n");
	n = read_end(s, buf, sizeof(buf), &s_end);
	ok(n == 0 && s_end == ECONNRESET,
	   "keep-alive: a second request for a denied host never reaches the server: "
	   "reset (%zd bytes, %s)", n, strerror(s_end));
	ok(read_end(c, buf, sizeof(buf), &c_end) == 0 && c_end == ECONNRESET,
	   "keep-alive: the client of the denied second request is reset");
	close(s);
	close(c);

	/* A denied-looking request inside a chunked body is data; the next
	 * request after the body is checked and allowed. */
	c = dial(1);
	send_all(c, chunked, sizeof(chunked) - 1);
	shutdown(c, SHUT_WR);
	s = take(srv);
	n = read_end(s, buf, sizeof(buf), &s_end);
	ok(n == sizeof(chunked) - 1 && !memcmp(buf, chunked, n) && s_end == 0,
	   "keep-alive: chunked body framed, then a second request: all relayed (%zd)", n);
	close(s);
	close(c);

	/* A request a server could frame two ways is not guessed at. */
	c = dial(1);
	send_all(c, "POST / HTTP/1.1\r\nHost: ok.test\r\nContent-Length: 5\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 85);
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET && !pending(srv),
	   "keep-alive: Content-Length with Transfer-Encoding is reset, nothing upstream");
	close(c);

	/* The second request waits out the sniff window. */
	c = dial(1);
	SEND(c, "GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n");
	s = take(srv);
	n = recv(s, buf, 33, MSG_WAITALL);
	t0 = now_ms();
	SEND(c, "GET / HTTP/1.1\r\nHo");
	n = read_end(s, buf, sizeof(buf), &s_end);
	t = now_ms() - t0;
	ok(n == 0 && s_end == ECONNRESET && t >= 250 && t < 1000,
	   "keep-alive: a second head still nameless at the sniff timeout: reset (%llu ms)",
	   (unsigned long long)t);
	close(s);
	close(c);

	c = dial(1);
	SEND(c, "\x01\x02\x03 not a named protocol");
	shutdown(c, SHUT_WR);
	s = take(srv);
	ok(read_all(s, buf, sizeof(buf)) == 24, "deny list: a protocol that names no host passes");
	close(s);
	close(c);

	/* Timeouts: silent, then idle. */
	c = dial(4);
	t0 = now_ms();
	n = read_all(c, buf, sizeof(buf));
	t = now_ms() - t0;
	ok(n == -ECONNRESET && t >= 450 && t < 1500 && !pending(srv_b),
	   "first-byte timeout: a silent client is reset after %llu ms, nothing upstream",
	   (unsigned long long)t);
	close(c);
	c = dial(1);
	SEND(c, "GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n");
	s = take(srv);
	n = recv(s, buf, 33, MSG_WAITALL);
	t0 = now_ms();
	read_end(s, buf, sizeof(buf), &s_end);
	t = now_ms() - t0;
	ok(read_end(c, buf, sizeof(buf), &c_end) == 0 && c_end == ECONNRESET &&
	   s_end == ECONNRESET && t >= 600 && t < 1500,
	   "idle timeout: both ends reset after %llu ms without a byte", (unsigned long long)t);
	close(s);
	close(c);

	/* One app, 4 flows at most: the fifth is reset at once. */
	for (i = 0; i < 4; i++)
		held[i] = dial(4);
	c = dial(4);
	t0 = now_ms();
	n = c >= 0 ? read_all(c, buf, sizeof(buf)) : -1;
	t = now_ms() - t0;
	ok(n == -ECONNRESET && t < 300, "per-app cap: the fifth flow of an app is reset (%llu ms)",
	   (unsigned long long)t);
	close(c);
	for (i = 0; i < 4; i++)
		close(held[i]);

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	relay_addr = plain;
	snprintf(buf, sizeof(buf), "\"host\":\"www.denied.test\",\"bytes_up\":%zu,",
		 sizeof(req1) - 1);
	ok(count(log, "\"end\":\"denied\"") == 7 && count(log, "\"end\":\"silent\"") == 1 &&
	   count(log, "\"end\":\"idle\"") == 1 && count(log, "\"end\":\"app_limit\"") == 1 &&
	   count(log, buf) == 1,
	   "log: 7 denied (the keep-alive one with its host), silent, idle, app_limit");
	ok(!pending(srv_b), "deny list: no flow ever reached the denied destination");
}

/* --unknown-host allow: what names no host passes, a denied name does not. */
static void lenient_tests(const char *log, int srv)
{
	static struct sockaddr_in lenient[5];
	static const char ambiguous[] = "POST / HTTP/1.1\r\nHost: a.test\r\n"
		"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab";
	char buf[256];
	uint64_t t0, t;
	int c, s;
	ssize_t n;
	pid_t pid;

	pid = start_relay(&lenient_cfg, log, lenient);
	relay_addr = lenient;
	c = dial(1);
	t0 = now_ms();
	SEND(c, "GET / HTTP/1.1\r\nHo");
	s = take(srv);
	n = arrives(s, buf, 18, 3000);
	t = now_ms() - t0;
	ok(n == 18 && t >= 250, "--unknown-host allow: a nameless head goes on at the "
	   "sniff timeout (%llu ms)", (unsigned long long)t);
	close(s);
	close(c);
	c = dial(1);
	send_all(c, ambiguous, sizeof(ambiguous) - 1);
	shutdown(c, SHUT_WR);
	s = take(srv);
	ok(read_all(s, buf, sizeof(buf)) == sizeof(ambiguous) - 1,
	   "--unknown-host allow: an ambiguous request goes on unchecked");
	close(s);
	close(c);
	c = dial(4);
	SEND(c, "GET / HTTP/1.1\r\nHost: a.denied.test\r\n\r\n");
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET,
	   "--unknown-host allow: a denied host is still reset");
	close(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	relay_addr = plain;
}

/* At --max-flows the relay stops accepting; the queue is served later. */
static void small_tests(const char *log, int srv)
{
	static struct sockaddr_in small[5];
	int c[4], s[4], i, q = -1;
	char buf[16];
	uint64_t end;
	pid_t pid;

	pid = start_relay(&small_cfg, log, small);
	relay_addr = small;
	for (i = 0; i < 3; i++) {
		c[i] = dial(1);
		s[i] = take(srv);
	}
	c[3] = dial(1);
	send_all(c[3], "ping", 4);
	for (end = now_ms() + 2000; now_ms() < end; usleep(5000))
		if ((q = accept_queue(&small[1])) == 1)
			break;
	ok(q == 1 && !pending(srv),
	   "max flows: at 3 flows the fourth waits in the accept queue (%d)", q);
	close(c[0]);
	close(s[0]);
	s[3] = take(srv);
	ok(s[3] >= 0 && recv(s[3], buf, 4, MSG_WAITALL) == 4 && !memcmp(buf, "ping", 4) &&
	   accept_queue(&small[1]) == 0,
	   "max flows: once one ends, the queued flow is accepted and relayed");
	for (i = 1; i < 4; i++) {
		close(c[i]);
		close(s[i]);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	relay_addr = plain;
}

int main(void)
{
	char log[64], log2[80];
	char buf[65536], hello[600];
	int srv, srv_b, c, s, st, gone;
	uint64_t t0, t1;
	ssize_t n;
	pid_t pid, pid_d;

	alarm(120);
	signal(SIGPIPE, SIG_IGN);
	test_pump_copy();
	test_dns_qname();

	snprintf(log, sizeof(log), "/tmp/test_relay.%d.log", getpid());
	snprintf(log2, sizeof(log2), "/tmp/test_relay.%d.strict.log", getpid());
	unlink(log);
	unlink(log2);
	srv = listener(&remote[1]);
	srv_b = listener(&remote[4]);
	close(listener(&remote[3]));
	(void)srv_b;
	remote[2] = remote[1];
	pid = start_relay(&plain_cfg, log, plain);
	pid_d = start_relay(&deny_cfg, log, denying);
	if (!ok(pid > 0 && pid_d > 0, "relays started, one with a deny list"))
		return done();

	ok(echo_transfer(srv, 20 << 20, 0), "20 MiB each way at once, verified");
	ok(echo_transfer(srv, 2 << 20, 1), "2 MiB each way, slow reader");

	/* Half-close, client first. */
	c = dial(1);
	send_all(c, "GET / HTTP/1.0\r\nHost: a.test\r\n\r\nrest", 36);
	shutdown(c, SHUT_WR);
	s = take(srv);
	n = read_all(s, buf, sizeof(buf));
	ok(n == 36 && !memcmp(buf + 32, "rest", 4), "client half-close: server reads all, then EOF");
	send_all(s, "reply after EOF", 15);
	close(s);
	n = read_all(c, buf, sizeof(buf));
	ok(n == 15, "client half-close: reply still reaches the client");
	close(c);

	/* Half-close, server first (and server speaks first). */
	c = dial(1);
	s = take(srv);
	send_all(s, "220 banner\r\n", 12);
	shutdown(s, SHUT_WR);
	n = recv(c, buf, sizeof(buf), 0);
	ok(n == 12, "server speaks first: banner arrives before the client sends");
	ok(recv(c, buf, sizeof(buf), 0) == 0, "server half-close: client sees EOF");
	send_all(c, "late data", 9);
	shutdown(c, SHUT_WR);
	ok(read_all(s, buf, sizeof(buf)) == 9, "server half-close: client data still flows");
	close(s);
	close(c);

	/* Client reset. */
	c = dial(1);
	send_all(c, "GET / HTTP/1.1\r\nHost: r.test\r\n\r\n", 33);
	s = take(srv);
	n = recv(s, buf, 33, MSG_WAITALL);
	rst_close(c);
	n = read_all(s, buf, sizeof(buf));
	ok(n == -ECONNRESET, "client reset reaches the server as a reset (%zd)", n);
	close(s);

	/* Server reset. */
	c = dial(1);
	send_all(c, "x", 1);
	s = take(srv);
	recv(s, buf, 1, 0);
	rst_close(s);
	n = read_all(c, buf, sizeof(buf));
	ok(n == -ECONNRESET, "server reset reaches the client as a reset (%zd)", n);
	close(c);

	/* A partial request: held back while it may still name a host, and
	 * relayed when the sniff timer (300 ms) fires, with nothing more
	 * from the client. */
	c = dial(1);
	t0 = now_ms();
	send_all(c, "GET / HT", 8);
	s = take(srv);
	n = arrives(s, buf, 8, 3000);
	t1 = now_ms() - t0;
	ok(n == 8 && !memcmp(buf, "GET / HT", 8) && t1 >= 250,
	   "partial request: held for the sniff window, then relayed (%zd bytes after %llu ms)",
	   n, (unsigned long long)t1);
	send_all(c, "TP/1.1\r\n\r\n", 10);
	shutdown(c, SHUT_WR);
	ok(read_all(s, buf, sizeof(buf)) == 10, "partial request: the rest follows");
	close(s);
	close(c);

	/* Deny: Host, then SNI. */
	relay_addr = denying;
	c = dial(4);
	send_all(c, "GET / HTTP/1.1\r\nHost: WWW.Denied.Test\r\n\r\n", 41);
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET, "denied Host: client reset");
	close(c);
	c = dial(4);
	n = make_hello((unsigned char *)hello, "api.denied.test", 100);
	send_all(c, hello, n);
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET, "denied SNI: client reset");
	close(c);
	c = dial(1);
	n = make_hello((unsigned char *)hello, "denied.test", 4096);
	send_all(c, hello, n);
	shutdown(c, SHUT_WR);
	s = take(srv);
	ok(read_all(s, buf, sizeof(buf)) == n && !memcmp(buf, hello, n),
	   "SNI not matching the pattern: relayed unchanged");
	close(s);
	close(c);
	relay_addr = plain;
	kill(pid_d, SIGTERM);
	ok(waitpid(pid_d, &st, 0) == pid_d && WIFEXITED(st) && !WEXITSTATUS(st),
	   "relay with the deny list: drained, exit 0");

	/* Not redirected, upstream refused. */
	c = dial(2);
	ok(c >= 0 && read_all(c, buf, sizeof(buf)) == -ECONNRESET, "not redirected: reset");
	close(c);
	c = dial(3);
	ok(c >= 0 && read_all(c, buf, sizeof(buf)) == -ECONNRESET, "upstream refused: reset");
	close(c);

	/* Drain: a live flow carries on, new connections are refused. */
	c = dial(1);
	send_all(c, "GET / HTTP/1.1\r\nHost: d.test\r\n\r\n", 33);
	s = take(srv);
	recv(s, buf, 33, MSG_WAITALL);
	kill(pid, SIGTERM);
	ok(wait_unlisten(&relay_addr[1], 3000) == 0 && dial(1) < 0,
	   "draining: listeners closed, new connections refused");
	send_all(s, "still here", 10);
	ok(recv(c, buf, sizeof(buf), 0) == 10, "draining: live flow still relays");
	close(s);
	shutdown(c, SHUT_WR);
	gone = waitpid(pid, &st, 0) == pid;
	ok(gone && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "drained: exit 0 once the last flow closed");
	close(c);

	ok(count(log, "\"end\":\"closed\"") == 7, "log: 7 closed flows (%d)",
	   count(log, "\"end\":\"closed\""));
	ok(count(log, "\"end\":\"reset_by_client\"") == 1 &&
	   count(log, "\"end\":\"reset_by_server\"") == 1, "log: one reset each way");
	ok(count(log, "\"end\":\"denied\"") == 2 &&
	   count(log, "\"host\":\"www.denied.test\"") == 1 &&
	   count(log, "\"host\":\"api.denied.test\"") == 1, "log: two denied, with hosts");
	ok(count(log, "\"end\":\"not_redirected\"") == 1 &&
	   count(log, "\"flow_id\":null,\"service\":\"unit\",\"chain\":[],\"app\":null,\"dst\":null") == 1,
	   "log: not_redirected, without context");
	ok(count(log, "\"end\":\"upstream_refused\"") == 1, "log: upstream_refused");
	ok(count(log, "\"bytes_up\":20971553,\"bytes_down\":20971520") == 1,
	   "log: byte counts of the 20 MiB flow");
	ok(count(log, "\"service\":\"unit\",\"chain\":[3,5],\"app\":{\"pid\":4242,"
		 "\"uid\":1001,\"comm\":\"t\\\"s\\\\t\\u0001\\u00ff\"},\"dst\":\"127.0.0.1:") == 12,
	   "log: chain, app with escaped comm, dst");
	ok(count(log, "\"host\":\"ok.test\"") == 2 && count(log, "\"host\":null") == 5,
	   "log: hosts learned, null when none");

	/* Drain timeout: a flow that does not end is reset. */
	pid = start_relay(&plain_cfg, log, plain);
	c = dial(1);
	s = take(srv);
	kill(pid, SIGTERM);
	gone = waitpid(pid, &st, 0) == pid;
	ok(gone && WIFEXITED(st) && WEXITSTATUS(st) == 0, "drain deadline: exit 0");
	ok(read_all(c, buf, sizeof(buf)) == -ECONNRESET, "drain deadline: client reset");
	ok(count(log, "\"end\":\"drained\"") == 1, "log: drained");
	close(c);
	close(s);

	strict_tests(log2, srv, srv_b);
	small_tests(log2, srv);
	lenient_tests(log2, srv);
	unlink(log);
	if (!getenv("KEEP_LOG"))
		unlink(log2);
	return done();
}
