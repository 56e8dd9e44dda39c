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
# (dante with redsocks: it makes redsocks' onward connects).
. "$(dirname "$0")/lib.sh"
. "$top/tests/helpers/proxyconf.sh"
# Needs "claim by owner" and records attached to an owner's onward connect
# (issue 12) in the kernel side; until then every assertion below fails.
# SOCKREDIR_TEST_PROXIES=outside-claim claims each proxy's listeners for it
# from outside (tests/helpers/claim_from_outside.py), to see which of the
# rest holds with what is built today.
case "${SOCKREDIR_TEST_PROXIES:-}" in
1|outside-claim) ;;
*) echo "1..0 # SKIP claim by owner not built yet"; exit 0 ;;
esac
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
blocked() { "$SR" -j status | python3 -c 'import json,sys
print(json.load(sys.stdin)["counters"]["blocked"])'; }
service() {	# service NAME [v6]: add NAME, owned by cgroup p-NAME
	local v6=
	pc_conf "$1" "$TMPD/$1"
	[ "${2:-}" = v6 ] && v6="--listen [::1]:$PC_PORT"
	mkdir -p "$CG/p-$1"
	"$SR" service add "$1" --listen 127.0.0.1:$PC_PORT $v6 --owner-cgroup "$CG/p-$1" >/dev/null
}
start() {	# start NAME: start NAME, unmodified, in its owner cgroup
	check "$1: starts unmodified in its owner cgroup" -- pc_start "p-$1" "$1" "$TMPD/$1"
	[ "$SOCKREDIR_TEST_PROXIES" = outside-claim ] &&
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
wait_port 7102 2>/dev/null && bound=bound || bound="refused at bind"
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
hops0=$("$SR" -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["hop_limit"])')
check "chain: the body comes back through squid then haproxy" -- \
	test "$(get http://127.0.0.3:8080/hello.txt?chain)" = hello
check "chain: squid saw the flow" -- wait_seen squid "$TMPD/squid" $((s0 + 1)) 2
check "chain: haproxy saw the flow" -- wait_seen haproxy "$TMPD/haproxy" $((h0 + 1)) 2
check "chain: each exactly once" -- \
	test "$(pc_seen squid "$TMPD/squid") $(pc_seen haproxy "$TMPD/haproxy")" = "$((s0 + 1)) $((h0 + 1))"
check "chain: the server saw it once" -- test "$(served chain)" -eq 1
check "chain: nothing looped (hop_limit unchanged)" -- test "$("$SR" -j status | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["counters"]["hop_limit"])')" = "$hops0"

# --- a block rule for the application holds through an unmodified proxy --------
"$SR" rule add --service haproxy --dst 127.0.0.6 --dport 8080 --weight 200 >/dev/null
"$SR" rule add --block --cgroup "$CG/app" --dst 127.0.0.6 --weight 100 >/dev/null
h0=$(pc_seen haproxy "$TMPD/haproxy"); b0=$(blocked)
in_cg app curl -gs -m 5 -o /dev/null http://127.0.0.6:8080/hello.txt?blocked; st=$?
check "block through haproxy: the application's request fails (curl $st)" -- test $st -ne 0
# haproxy retries a failed connect 3 times, about a second apart, then logs.
check "block through haproxy: haproxy took the flow" -- wait_seen haproxy "$TMPD/haproxy" $((h0 + 1)) 6
check "block through haproxy: the server saw nothing" -- test "$(served blocked)" -eq 0
check "block through haproxy: counted as blocked" -- test "$(blocked)" -gt "$b0"
check "block through haproxy: another application gets through haproxy" -- \
	test "$(get http://127.0.0.6:8080/hello.txt?app2 app2)" = hello
check "block through haproxy: ... and haproxy saw that one" -- wait_seen haproxy "$TMPD/haproxy" $((h0 + 2)) 2
done_testing
