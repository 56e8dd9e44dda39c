#!/bin/bash
# Proxies people already run, unmodified, as a service's owner: no claim
# call, no records passed.  They read SO_ORIGINAL_DST as behind iptables
# REDIRECT (configurations: tests/helpers/proxyconf.sh).
#
#   app ─connect 127.0.0.2:8080─▶ squid    127.0.0.1:7101 [::1]:7101 ─▶ server :8080
#   app ─connect 127.0.0.4:8080─▶ haproxy  127.0.0.1:7102            ─▶ server
#   app ─connect 127.0.0.5:8080─▶ redsocks 127.0.0.1:7103 ─▶ dante :1080 ─▶ server
#   app ─connect 127.0.0.3:8080─▶ squid (200) ─▶ haproxy (100) ─▶ server
#   app ─connect 127.0.0.6:8080─▶ haproxy ─✗ (block --cgroup app)
# Each proxy runs in its own cgroup p-NAME, the service's --owner-cgroup
# (dante with redsocks: it makes redsocks' onward connects).  The listeners
# are claimed by their owner (bpf/claim.h) and the proxies' onward connects
# given their flows' records by the layer (bpf/forward.h).  Attacks, as
# nobody inside the cgroup: a listener on haproxy's address before it
# starts, decoy flows that would make a blocked flow's onward connect
# ambiguous, and a squatter on haproxy's address after it exits.
# SOCKREDIR_TEST_PROXIES=outside-claim also claims each proxy's listeners
# from outside (tests/helpers/claim_from_outside.py), as before claim by
# owner existed.
. "$(dirname "$0")/lib.sh"
. "$top/tests/helpers/proxyconf.sh"
setup
PEER="python3 $top/tests/helpers/peerget.py"
mkdir -p "$TMPD/www" "$CG/app" "$CG/app2"
echo hello > "$TMPD/www/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind :: --directory '$TMPD/www' \
	>/dev/null 2>'$TMPD/server.log'"
wait_port 8080

get() {	# get URL [ROLE]: the body, as the client in ROLE sees it
	in_cg "${2:-app}" curl -gs -m 5 "$1"
}
served() {	# served MARK: requests for /hello.txt?MARK the server answered
	grep -c "GET /hello.txt?$1 " "$TMPD/server.log"
}
# squat_state PID PORT: "bound" once PID listens on PORT, "refused at bind"
# if PID exits first (the bind hook refused it).
squat_state() {
	local i
	for i in $(seq 200); do
		nsenter --net=/run/netns/$NS ss -H -ltn "sport = :$2" | grep -q . &&
			{ echo bound; return; }
		kill -0 "$1" 2>/dev/null || { echo "refused at bind"; return; }
		sleep 0.05
	done
	echo "neither"
}
service() {	# service NAME [v6]: add NAME, owned by cgroup p-NAME
	local v6=
	pc_conf "$1" "$TMPD/$1"
	[ "${2:-}" = v6 ] && v6="--listen [::1]:$PC_PORT"
	mkdir -p "$CG/p-$1"
	"$SR" service add "$1" --listen 127.0.0.1:$PC_PORT $v6 --owner-cgroup "$CG/p-$1" >/dev/null
}
start() {	# start NAME: start NAME, unmodified, in its owner cgroup
	check "$1: starts unmodified in its owner cgroup" -- pc_start "p-$1" "$1" "$TMPD/$1"
	[ "${SOCKREDIR_TEST_PROXIES:-}" = outside-claim ] &&
		in_cg "p-$1" python3 "$top/tests/helpers/claim_from_outside.py" "$1" $PC_PORT | sed 's/^/# /'
	return 0
}
# through NAME FAMILY URL PEER: one proxy, one address family.  The request
# reaches the server once through NAME, and the client's socket still shows
# the original peer on a connection that went through NAME.
through() {
	local name=$1 fam=$2 url=$3 peer=$4 d=$TMPD/$1 n
	n=$(pc_seen "$name" "$d")
	check "$name $fam: curl gets the body" -- test "$(get "$url/hello.txt?$name-$fam")" = hello
	check "$name $fam: $name logged the flow" -- wait_seen "$name" "$d" $((n + 1)) 2
	check "$name $fam: the server saw the request once" -- test "$(served "$name-$fam")" -eq 1
	check "$name $fam: getpeername shows $peer on a flow through $name" -- \
		test "$(in_cg app $PEER "$peer" "/hello.txt?$name-$fam-peer")" = "$peer 200 hello"
	check "$name $fam: ... and $name logged that flow too" -- wait_seen "$name" "$d" $((n + 2)) 2
}

# --- each proxy alone, every family it supports -------------------------------
for p in squid haproxy redsocks danted; do
	check "$p is installed (scripts/deps.sh)" -- command -v $p
done
service squid v6
start squid
"$SR" rule add --service squid --dst 127.0.0.2 --dport 8080 >/dev/null
"$SR" rule add --service squid --dst ::1/128 --dport 8080 >/dev/null
through squid v4 http://127.0.0.2:8080 127.0.0.2:8080
through squid v6 'http://[::1]:8080' ::1:8080
through squid mapped 'http://[::ffff:127.0.0.2]:8080' ::ffff:127.0.0.2:8080
check "squid: no connect went around it (listener_gone $(counter squid listener_gone))" -- \
	test "$(counter squid listener_gone)" = 0

# service list says who holds the listeners: squid's, claimed by its owner.
check "squid: service list shows both listeners claimed by owner, with a pid" -- \
	test "$("$SR" -j service list | python3 -c 'import json,sys
s = next(s for s in json.load(sys.stdin) if s["name"] == "squid")
print(" ".join("%s:%s:%s" % (l["claimed"], l["how"], l["pid"] is not None)
               for l in s["listeners"]))')" = "True:owner:True True:owner:True"

# haproxy asks SO_ORIGINAL_DST on AF_INET sockets only: IPv4 and mapped.
service haproxy
"$SR" rule add --service haproxy --dst 127.0.0.4 --dport 8080 >/dev/null
# Attack: nobody, outside the owner cgroup, listens on haproxy's address
# first.  Refused at bind, or bound but never given a flow: either way the
# flow must not reach it.
bg imp setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 \
	"$top/tests/helpers/proxy.py" --name haproxy --no-claim \
	--listen 127.0.0.1:7102 --log "$TMPD/impostor.log" 2>/dev/null
IMP=$LAST_PID
bound=$(squat_state $IMP 7102)
check "attack: nobody's listener on haproxy's address ($bound) gets no flow" -- \
	test "$(get http://127.0.0.4:8080/hello.txt?impostor)" = hello -a \
	"$(lines "$TMPD/impostor.log")" -eq 0
kill_pid $IMP
gone=$(counter haproxy listener_gone)
start haproxy
through haproxy v4 http://127.0.0.4:8080 127.0.0.4:8080
through haproxy mapped 'http://[::ffff:127.0.0.4]:8080' ::ffff:127.0.0.4:8080
check "haproxy: no connect went around it (listener_gone $(counter haproxy listener_gone))" -- \
	test "$(counter haproxy listener_gone)" = "$gone"

# redsocks 0.5 has no IPv6.
service redsocks
start redsocks
"$SR" rule add --service redsocks --dst 127.0.0.5 --dport 8080 >/dev/null
through redsocks v4 http://127.0.0.5:8080 127.0.0.5:8080
through redsocks mapped 'http://[::ffff:127.0.0.5]:8080' ::ffff:127.0.0.5:8080
check "redsocks: no connect went around it (listener_gone $(counter redsocks listener_gone))" -- \
	test "$(counter redsocks listener_gone)" = 0

# --- a chain of two proxies that pass no records --------------------------------
"$SR" rule add --service squid --dst 127.0.0.3 --dport 8080 --weight 200 >/dev/null
"$SR" rule add --service haproxy --dst 127.0.0.3 --dport 8080 --weight 100 >/dev/null
s0=$(pc_seen squid "$TMPD/squid"); h0=$(pc_seen haproxy "$TMPD/haproxy")
hops0=$(status_counter hop_limit)
check "chain: the body comes back through squid then haproxy" -- \
	test "$(get http://127.0.0.3:8080/hello.txt?chain)" = hello
check "chain: squid saw the flow" -- wait_seen squid "$TMPD/squid" $((s0 + 1)) 2
check "chain: haproxy saw the flow" -- wait_seen haproxy "$TMPD/haproxy" $((h0 + 1)) 2
check "chain: each exactly once" -- \
	test "$(pc_seen squid "$TMPD/squid") $(pc_seen haproxy "$TMPD/haproxy")" = "$((s0 + 1)) $((h0 + 1))"
check "chain: the server saw it once" -- test "$(served chain)" -eq 1
check "chain: nothing looped (hop_limit unchanged)" -- test "$(status_counter hop_limit)" = "$hops0"

# --- a block rule for the application holds through an unmodified proxy --------
"$SR" rule add --service haproxy --dst 127.0.0.6 --dport 8080 --weight 200 >/dev/null
"$SR" rule add --block --cgroup "$CG/app" --dst 127.0.0.6 --weight 100 >/dev/null
h0=$(pc_seen haproxy "$TMPD/haproxy"); b0=$(status_counter blocked)
in_cg app curl -gs -m 5 -o /dev/null http://127.0.0.6:8080/hello.txt?blocked; st=$?
check "block through haproxy: the application's request fails (curl $st)" -- test $st -ne 0
# haproxy retries a failed connect 3 times, about a second apart, then logs.
check "block through haproxy: haproxy took the flow" -- wait_seen haproxy "$TMPD/haproxy" $((h0 + 1)) 6
check "block through haproxy: the server saw nothing" -- test "$(served blocked)" -eq 0
check "block through haproxy: counted as blocked" -- test "$(status_counter blocked)" -gt "$b0"
check "block through haproxy: another application gets through haproxy" -- \
	test "$(get http://127.0.0.6:8080/hello.txt?app2 app2)" = hello
check "block through haproxy: ... and haproxy saw that one" -- wait_seen haproxy "$TMPD/haproxy" $((h0 + 2)) 2

# --- attack: send and reset, so the flow is gone before squid connects on ------
# nobody in app (blocked from 127.0.0.7 behind squid) sends a whole request
# and resets the connection at once.  squid may still read it and connect
# onward after the reset: that connect must still be the blocked flow's.
"$SR" rule add --service squid --dst 127.0.0.7 --dport 8080 --weight 200 >/dev/null
"$SR" rule add --block --cgroup "$CG/app" --dst 127.0.0.7 --weight 100 >/dev/null
s0=$(pc_seen squid "$TMPD/squid")
for i in 1 2 3 4 5; do
	as_nobody app /usr/bin/python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.7", 8080), timeout=5)
s.sendall(b"GET /hello.txt?reset-%s HTTP/1.1\r\nHost: 127.0.0.7:8080\r\n\r\n" % sys.argv[1].encode())
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' $i
done
# squid logs each request it handled; wait for all five (or 5 s).
wait_seen squid "$TMPD/squid" $((s0 + 5)) 5
check "send and reset through squid: the server saw none of 5 ($(pc_seen squid "$TMPD/squid") squid log lines, was $s0)" -- \
	test "$(grep -c 'GET /hello.txt?reset-' "$TMPD/server.log")" -eq 0

# --- attack: decoys to make the blocked flow's onward connect ambiguous ------
# nobody in app2 (not blocked) holds 16 flows to the blocked destination open
# through haproxy while nobody in app (blocked) makes its request: haproxy's
# onward connect for it could be any of them.  It must not be taken for a
# decoy's: the layer refuses what it cannot tell apart (onward_ambiguous),
# and haproxy's retries (3, about a second apart) meet the same.
amb0=$(counter haproxy onward_ambiguous)
mkdir -p "$TMPD/decoys"; chmod 777 "$TMPD/decoys"	# nobody writes there
bg app2 setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import os, socket, sys, time
ready, stop = sys.argv[1], sys.argv[2]
socks = []
for i in range(16):
    s = socket.create_connection(("127.0.0.6", 8080), timeout=5)
    s.sendall(b"GET /hello.txt?decoy HTTP/1.1\r\nHost: d\r\n")	# never ends
    socks.append(s)
open(ready, "w").close()
for _ in range(400):
    if os.path.exists(stop):
        break
    time.sleep(0.05)
' "$TMPD/decoys/ready" "$TMPD/decoys/stop"
DECOYS=$LAST_PID
for i in $(seq 200); do [ -f "$TMPD/decoys/ready" ] && break; sleep 0.05; done
check "decoys: 16 flows of nobody in app2 held open through haproxy" -- test -f "$TMPD/decoys/ready"
as_nobody app curl -gs -m 8 -o /dev/null http://127.0.0.6:8080/hello.txt?decoyblocked; st=$?
check "decoys: the blocked application's request still fails (curl $st)" -- test $st -ne 0
check "decoys: the server never saw it" -- test "$(served decoyblocked)" -eq 0
check "decoys: its onward connects were refused as ambiguous ($(counter haproxy onward_ambiguous) > $amb0)" -- \
	test "$(counter haproxy onward_ambiguous)" -gt "$amb0"
touch "$TMPD/decoys/stop"
kill_pid $DECOYS
# The blocked flow, never forwarded, stays noted 5 s after it closes (a
# proxy may still read it and connect late): until then app2 is refused too.
t0=$(date +%s%N)
for i in $(seq 40); do
	[ "$(get http://127.0.0.6:8080/hello.txt?after-decoys-$i app2)" = hello ] && break
	sleep 0.25
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "decoys: once they end, app2 gets through haproxy again (after $ms ms)" -- \
	test "$(served "after-decoys-$i")" -eq 1 -a $ms -lt 8000

# --- attack: squatting haproxy's address after it exits ------------------------
pc_stop p-haproxy
gone=$(counter haproxy listener_gone)
bg app setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 \
	"$top/tests/helpers/proxy.py" --name haproxy --no-claim \
	--listen 127.0.0.1:7102 --log "$TMPD/squatter.log" 2>/dev/null
SQ=$LAST_PID
bound=$(squat_state $SQ 7102)
bg app setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 \
	"$top/tests/helpers/proxy.py" --name haproxy --no-claim \
	--listen 0.0.0.0:7102 --log "$TMPD/squatter-any.log" 2>/dev/null
SQA=$LAST_PID
bound_any=$(squat_state $SQA 7102)
check "squat after exit: nobody on 127.0.0.1:7102 ($bound), on 0.0.0.0:7102 ($bound_any): gets no flow" -- \
	test "$(get http://127.0.0.4:8080/hello.txt?squat)" = hello -a \
	"$(lines "$TMPD/squatter.log")" -eq 0 -a "$(lines "$TMPD/squatter-any.log")" -eq 0
check "squat after exit: the flow went around the gone proxy, counted (listener_gone)" -- \
	test "$(counter haproxy listener_gone)" -gt "$gone"
kill_pid $SQ; kill_pid $SQA
done_testing
