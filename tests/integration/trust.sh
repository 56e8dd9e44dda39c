#!/bin/bash
# Trust and failure: claimed listeners, fail open / fail closed, block rules
# that follow the application through proxies, --skip-inspected.
#
#   app ─▶ A 127.0.0.1:7001 (fail open)   ─▶ server :8080
#   app ─▶ B 127.0.0.1:7002 (fail closed) ─▶ server :8080
# Proxies are sockredir-relay, which claims its listeners.
. "$(dirname "$0")/lib.sh"
setup
mkdir -p "$TMPD/www" "$CG/app" "$CG/app2" "$CG/p-A" "$CG/p-B" "$CG/p-I" "$CG/p-J"
echo hello > "$TMPD/www/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind :: --directory '$TMPD/www' 2>/dev/null"
wait_port 8080

get() { in_cg "${2:-app}" curl -s -m 5 "http://$1:8080/hello.txt"; }
connect() {	# connect ADDR [ROLE]: "OK" or the errno name, and the time taken
	in_cg "${2:-app}" python3 -c 'import errno, socket, sys, time
t = time.time()
try:
    socket.create_connection((sys.argv[1], 8080), timeout=5).close(); r = "OK"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e))
print(r, "fast" if time.time() - t < 1 else "slow")' "$1"
}
relay() {	# relay NAME PORT: start sockredir-relay for service NAME
	bg "p-$1" "$RELAY" -q --service "$1" --listen "127.0.0.1:$2" --log "$TMPD/$1.log"
	eval "PID_$1=$LAST_PID"
	wait_port "$2"
}
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" service add B --listen 127.0.0.1:7002 --owner-cgroup "$CG/p-B" --fail closed >/dev/null
"$SR" rule add --service A --dst 127.0.0.2 --dport 8080 >/dev/null
"$SR" rule add --service B --dst 127.0.0.3 --dport 8080 >/dev/null

# --- claimed listeners and impostors ---------------------------------------
check "no listener, fail open: straight to the destination" -- test "$(get 127.0.0.2)" = hello
check "no listener, fail closed: ECONNREFUSED at once" -- test "$(connect 127.0.0.3)" = "ECONNREFUSED fast"
bg imp python3 "$top/tests/helpers/proxy.py" --name A --no-claim \
	--listen 127.0.0.1:7001 --log "$TMPD/impostor.log"
bg imp python3 "$top/tests/helpers/proxy.py" --name B --no-claim \
	--listen 127.0.0.1:7002 --log "$TMPD/impostor.log"
wait_port 7001; wait_port 7002
check "impostor on A's port, fail open: request answered directly" -- test "$(get 127.0.0.2)" = hello
check "impostor on B's port, fail closed: ECONNREFUSED at once" -- test "$(connect 127.0.0.3)" = "ECONNREFUSED fast"
check "impostors received nothing" -- test "$(lines "$TMPD/impostor.log")" -eq 0
check "skips and refusals are counted" -- \
	test "$(counter A listener_gone) $(counter B refused)" = "2 2"
claim_as() {	# claim_as ROLE UID NAME PORT: listen and claim as UID in ROLE; print the result
	local role=$1; shift
	in_cg "$role" setpriv --reuid="$1" --regid="$1" --clear-groups /usr/bin/python3 -c 'import errno, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen(1)
try:
    s.setsockopt(0x5352, 3, sys.argv[1].encode()); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$2" "$3"
}
# The option hooks run in the owners' cgroups only (lib/scope.c): in an
# application's, the kernel refuses the level itself.
check "an unprivileged impostor in the application cgroup cannot claim: ENOPROTOOPT" -- \
	test "$(claim_as app 65534 A 7101)" = ENOPROTOOPT
check "another service's owner (nobody in p-B) cannot claim A: EACCES" -- \
	test "$(claim_as p-B 65534 A 7101)" = EACCES
check "claiming an unknown service: ENOENT" -- test "$(claim_as p-A 0 nope 7102)" = ENOENT
check "claiming on another port than the service's: EINVAL" -- test "$(claim_as p-A 0 A 7103)" = EINVAL
for p in $(cat "$CG/imp/cgroup.procs"); do kill_pid "$p"; done

# --- kill -9 the proxy, both fail modes --------------------------------------
relay A 7001
relay B 7002
get 127.0.0.2 >/dev/null
check "A up: the request went through A" -- wait_lines "$TMPD/A.log" 1
get 127.0.0.3 >/dev/null
check "B up: the request went through B" -- wait_lines "$TMPD/B.log" 1

# A client streams to a sink through the proxy; the proxy is killed.  What
# the client must see is an error at once: never a connection that hangs.
bg srv sh -c "exec python3 -c 'import socket, threading
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"::\", 9000)); s.listen(16)
def sink(c):
    while c.recv(65536): pass
while True: threading.Thread(target=sink, args=(s.accept()[0],), daemon=True).start()'"
wait_port 9000
"$SR" rule add --service A --dst 127.0.0.2 --dport 9000 >/dev/null
"$SR" rule add --service B --dst 127.0.0.3 --dport 9000 >/dev/null
kill_mid_transfer() {	# kill_mid_transfer PID ADDR: what the client saw, and how soon
	in_cg app python3 -c 'import errno, os, socket, sys, time
c = socket.create_connection((sys.argv[1], 9000), timeout=10)
open(sys.argv[2], "w").close()
t = None
try:
    while True:
        c.send(b"x" * 16384)
        time.sleep(0.002)
        if t is None and not os.path.exists(sys.argv[2]):
            t = time.time()
        if t and time.time() - t > 5:
            print("hang"); break
except OSError as e:
    # The reset can beat the next look at the file: then it is gone now.
    if t is None and not os.path.exists(sys.argv[2]):
        t = time.time()
    if t is None:
        print(errno.errorcode.get(e.errno), "before the kill")
    else:
        print(errno.errorcode.get(e.errno), "fast" if time.time() - t < 3 else "slow %.1fs" % (time.time() - t))' \
		"$2" "$TMPD/streaming" &
	local pid=$! mid=0
	for _ in $(seq 100); do [ -e "$TMPD/streaming" ] && break; sleep 0.05; done
	# Mid-transfer means the proxy's onward connection to the sink has
	# carried bytes: poll its TCP counters rather than sleep.  Never seen
	# (10 s): say so, rather than test a kill at some other moment.
	for _ in $(seq 200); do
		nsenter --net=/run/netns/$NS ss -Htni state established 'dport = :9000' |
			grep -q 'bytes_acked:[1-9]' && { mid=1; break; }
		sleep 0.05
	done
	if [ $mid = 0 ]; then
		kill_pid $pid
		echo "never mid-transfer"
		return
	fi
	rm -f "$TMPD/streaming"	# the clock starts here, just before the kill
	kill -9 "$1"
	wait $pid
}
out=$(kill_mid_transfer $PID_A 127.0.0.2)
check "kill -9 A mid-transfer: the open connection errs at once ($out)" -- \
	eval 'case "$out" in ECONNRESET\ fast|EPIPE\ fast) true ;; *) false ;; esac'
check "A dead, fail open: the next connect goes straight through" -- test "$(get 127.0.0.2)" = hello
out=$(kill_mid_transfer $PID_B 127.0.0.3)
check "kill -9 B mid-transfer: the open connection errs at once ($out)" -- \
	eval 'case "$out" in ECONNRESET\ fast|EPIPE\ fast) true ;; *) false ;; esac'
check "B dead, fail closed: the next connect is refused at once" -- \
	test "$(connect 127.0.0.3)" = "ECONNREFUSED fast"
: > "$TMPD/A.log"; : > "$TMPD/B.log"
relay A 7001
relay B 7002
get 127.0.0.2 >/dev/null
check "A restarted: traffic goes through A again" -- wait_lines "$TMPD/A.log" 1
check "B restarted: the request is answered" -- test "$(get 127.0.0.3)" = hello
check "B restarted: through B" -- wait_lines "$TMPD/B.log" 1

# --- block rules follow the application ---------------------------------------
"$SR" rule add --block --cgroup "$CG/app" --dst 127.0.0.6 >/dev/null
check "block: app's direct connect fails with EPERM" -- test "$(connect 127.0.0.6)" = "EPERM fast"
check "block: another app's connect is allowed" -- test "$(connect 127.0.0.6 app2)" = "OK fast"
"$SR" rule add --service A --dst 127.0.0.5 --weight 200 >/dev/null
"$SR" rule add --block --cgroup "$CG/app" --dst 127.0.0.5 --weight 100 >/dev/null
: > "$TMPD/A.log"
blocked_before=$(status_counter blocked)
check "block through a proxy: app's request never reaches the server" -- \
	test "$(get 127.0.0.5)" != hello
check "block through a proxy: A took the flow" -- wait_lines "$TMPD/A.log" 1
check "block through a proxy: A's onward connect was refused ($(jfield "$TMPD/A.log" 0 end))" -- \
	test "$(jfield "$TMPD/A.log" 0 end)" != closed
check "block through a proxy: counted as blocked" -- test "$(status_counter blocked)" -gt "$blocked_before"
check "block through a proxy: another app through A is allowed" -- test "$(get 127.0.0.5 app2)" = hello

"$SR" rule add --service A --dst 127.0.0.10 --weight 300 >/dev/null
"$SR" rule add --block --dst 127.0.0.10 --weight 100 >/dev/null
check "block: a proxy's own connect without records skips redirects, meets blocks" -- \
	test "$(connect 127.0.0.10 p-A)" = "EPERM fast"

# --- --skip-inspected ---------------------------------------------------------
mkdir -p "$CG/p-C"
"$SR" service add C --listen 127.0.0.1:7003 --owner-cgroup "$CG/p-C" --skip-inspected >/dev/null
relay C 7003
"$SR" rule add --service A --dst 127.0.0.7 --weight 200 >/dev/null
"$SR" rule add --service C --dst 127.0.0.7 --weight 100 >/dev/null
"$SR" rule add --service C --dst 127.0.0.8 --weight 100 >/dev/null
: > "$TMPD/A.log"; : > "$TMPD/C.log"
check "skip-inspected: request answered" -- test "$(get 127.0.0.7)" = hello
check "skip-inspected: A inspected it" -- wait_lines "$TMPD/A.log" 1
check "skip-inspected: C left A's flow alone" -- test "$(lines "$TMPD/C.log")" -eq 0
check "skip-inspected: C still takes flows nobody inspected" -- test "$(get 127.0.0.8)" = hello
check "skip-inspected: C logged that one" -- wait_lines "$TMPD/C.log" 1
check "skip-inspected: at hop 1, chain [C]" -- test "$(jfield "$TMPD/C.log" 0 chain)" = "[$(sid C)]"
check "service list shows fail modes" -- sh -c "'$SR' service list | grep -q ' closed '"
done_testing
