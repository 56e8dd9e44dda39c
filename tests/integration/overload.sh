#!/bin/bash
# A stopped (kill -STOP) proxy whose accept queue is full follows its
# service's fail mode at once, like a missing one, and counts as overloaded.
#
#   app ─▶ A 127.0.0.1:7011 (fail open)   ─▶ server :8080
#   app ─▶ B 127.0.0.1:7012 (fail closed) ─▶ server :8080
#   filler (outside the layer) ─▶ :7011, :7012 until their queues are full
#
# The namespace's somaxconn is lowered so a queue fills with 17 connections.
. "$(dirname "$0")/lib.sh"
setup
ROUNDS=10
nsenter --net=/run/netns/$NS sysctl -qw net.core.somaxconn=16
mkdir -p "$TMPD/www" "$CG/app" "$CG/p-A" "$CG/p-B"
echo hello > "$TMPD/www/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind :: --directory '$TMPD/www' 2>/dev/null"
wait_port 8080

relay() {	# relay NAME PORT
	bg "p-$1" "$RELAY" -q --service "$1" --listen "127.0.0.1:$2" --log "$TMPD/$1.log"
	eval "PID_$1=$LAST_PID"
	wait_port "$2"
}
# connect ADDR: the outcome and the time of one connect with a 3 s timeout.
connect() {
	in_cg app python3 -c 'import errno, socket, sys, time
t = time.time()
try:
    s = socket.create_connection((sys.argv[1], 8080), timeout=3)
    s.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
    r = "OK" if b"hello" in s.makefile("rb").read() else "BAD"
except OSError as e:
    r = errno.errorcode.get(e.errno, "TIMEOUT" if isinstance(e, socket.timeout) else str(e))
print(r, "%.3f" % (time.time() - t))' "$1"
}
# queue PORT: "accept-queue max" of the listener on PORT.
queue() { nsenter --net=/run/netns/$NS ss -Hltn "sport = :$1" | awk '{ print $2, $3; exit }'; }
# fill PORT: hold connections to PORT until its queue is over its limit.
fill() {
	local max; max=$(queue "$1" | cut -d' ' -f2)
	bg filler nsenter --net=/run/netns/$NS python3 -c 'import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        for _ in range(int(sys.argv[2]) + 1)]
time.sleep(3600)' "$1" "$max"
	local i q
	for i in $(seq 200); do
		q=$(queue "$1"); [ "${q% *}" -gt "${q#* }" ] && return 0
		sleep 0.05
	done
	echo "# queue of $1 never filled: $q" >&2; return 1
}
# rounds ADDR WANT: ROUNDS connects; ok if each is WANT in under 1 s.
# Prints "n/N WANT, slowest S s".
rounds() {
	local i out good=0 worst=0
	for i in $(seq $ROUNDS); do
		out=$(connect "$1")
		[ "${out% *}" = "$2" ] && awk "BEGIN { exit !(${out#* } < 1) }" &&
			good=$((good + 1))
		worst=$(awk "BEGIN { print (${out#* } > $worst) ? ${out#* } : $worst }")
		[ "${out% *}" = "$2" ] || echo "# round $i: $out" >&2
	done
	echo "$good/$ROUNDS $2, slowest ${worst}s"
	[ $good -eq $ROUNDS ]
}
svc_field() {	# svc_field NAME EXPR: EXPR over service NAME's JSON
	"$SR" -j service list | python3 -c 'import json,sys
s = next(s for s in json.load(sys.stdin) if s["name"] == sys.argv[1])
print(eval(sys.argv[2], {}, s))' "$1" "$2"
}

"$SR" service add A --listen 127.0.0.1:7011 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" service add B --listen 127.0.0.1:7012 --owner-cgroup "$CG/p-B" --fail closed >/dev/null
"$SR" rule add --service A --dst 127.0.0.2 --dport 8080 >/dev/null
"$SR" rule add --service B --dst 127.0.0.3 --dport 8080 >/dev/null
relay A 7011
relay B 7012

out=$(connect 127.0.0.2)
check "A running: answered ($out)" -- test "${out% *}" = OK
check "A running: through A" -- wait_lines "$TMPD/A.log" 1
out=$(connect 127.0.0.3)
check "B running: answered ($out)" -- test "${out% *}" = OK
check "B running: through B" -- wait_lines "$TMPD/B.log" 1

kill -STOP $PID_A $PID_B
fill 7011; st=$?
check "A stopped: its accept queue fills (queue, limit: $(queue 7011))" -- test $st -eq 0
fill 7012; st=$?
check "B stopped: its accept queue fills (queue, limit: $(queue 7012))" -- test $st -eq 0
a_before=$(lines "$TMPD/A.log")
out=$(rounds 127.0.0.2 OK); st=$?
check "A stopped and full, fail open: straight to the server, each in < 1 s ($out)" -- test $st -eq 0
out=$(rounds 127.0.0.3 ECONNREFUSED); st=$?
check "B stopped and full, fail closed: refused, each in < 1 s ($out)" -- test $st -eq 0
check "A: overloaded counted ($(svc_field A overloaded)), not as listener-gone ($(svc_field A listener_gone))" -- \
	sh -c "test $(svc_field A overloaded) -eq $ROUNDS && test $(svc_field A listener_gone) -eq 0"
check "B overloaded counted: $(svc_field B overloaded), not as refused ($(svc_field B refused))" -- \
	sh -c "test $(svc_field B overloaded) -eq $ROUNDS && test $(svc_field B refused) -eq 0"
check "service list: A's listener is overloaded, still claimed by the relay" -- \
	test "$(svc_field A '(listeners[0]["state"], listeners[0]["pid"])')" = "('overloaded', $PID_A)"
check "service list text says overloaded" -- sh -c "'$SR' service list | grep -q 'overloaded: accept queue 17 of 16'"
check "status names both overloaded services" -- \
	sh -c "'$SR' status | grep -A1 '^service A:' | grep -q overloaded &&
	       '$SR' status | grep -A1 '^service B:' | grep -q overloaded"
kill -CONT $PID_A $PID_B
# The relays drain their queues (the filler's connections were not
# redirected: they are refused), then take traffic again.
for i in $(seq 100); do q=$(queue 7011); [ "${q% *}" -le "${q#* }" ] && break; sleep 0.05; done
out=$(connect 127.0.0.2)
check "A continued: answered ($out)" -- test "${out% *}" = OK
check "A continued: through A again" -- wait_lines "$TMPD/A.log" $((a_before + 1))
out=$(connect 127.0.0.3)
check "B continued: answered ($out)" -- test "${out% *}" = OK
check "service list: A's listener ok again" -- test "$(svc_field A 'listeners[0]["state"]')" = ok
done_testing
