#!/bin/bash
# sockopt_scope.sh - the socket-option hooks (sr_getsockopt, sr_setsockopt)
# run where the services' proxies run, not for every option an application
# sets (lib/scope.c):
#
#   $CG (attached)  app/ (nobody, curl-like clients)
#                   p-A/ owner of A and of A2     p-A/in/ owner of B (nested)
#                   p-C/ owner of C (removed later)   p-D/ `service own`
#
# Where they are is read from the kernel (bpftool cgroup show ... effective);
# that they do not run for an application is read from the programs' own
# run counts (kernel.bpf_stats_enabled).  Then nobody in app tries every
# option of the layer's on its own sockets, on its redirected connection
# and on the proxy's accepted socket passed to it: all refused.
. "$(dirname "$0")/lib.sh"
setup
PROBE="python3 $top/tests/helpers/scope_probe.py"	# as root; nobody's is /usr/bin/python3
PIN=/sys/fs/bpf/sockredir
mkdir -p "$CG/app" "$CG/p-A/in" "$CG/p-C" "$CG/p-D" "$TMPD/www"
chmod 711 "$TMPD"
echo hello > "$TMPD/www/hello.txt"

# hooks ROLE: how many times the layer's getsockopt and setsockopt run for
# a task in ROLE ("GET SET"), from the cgroup's effective programs.
hooks() {
	bpftool -j cgroup show "$CG${1:+/$1}" effective | python3 -c 'import json, sys
p = json.loads(sys.stdin.read().strip() or "[]")
print(sum(x["name"] == "sr_getsockopt" for x in p), sum(x["name"] == "sr_setsockopt" for x in p))'
}
# live0: poll until no flow is live (the sockets' close is seen).
live0() {
	local i
	for i in $(seq 100); do
		"$SR" -j status | grep -q '"live_flows":0' && return 0
		sleep 0.05
	done
	return 1
}
# pins: the hooks' link pins, sorted, ids as roles where known.
pins() {
	ls "$PIN" | grep -E '^link_sr_[gs]etsockopt' | sed "s/@$(stat -c %i "$CG/p-A")\$/@p-A/
		s/@$(stat -c %i "$CG/p-A/in")\$/@p-A-in/; s/@$(stat -c %i "$CG/p-D")\$/@p-D/" |
		sort | tr '\n' ' '
}

# --- where they are -----------------------------------------------------------
check "up, no services: the hooks run nowhere" -- test "$(hooks app) $(hooks)" = "0 0 0 0"
check "up: the hooks are pinned as programs" -- \
	test -e "$PIN/prog_sr_getsockopt" -a -e "$PIN/prog_sr_setsockopt"
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" > "$TMPD/out"
check "service add with an owner cgroup: no note" -- test "$(wc -l < "$TMPD/out")" -eq 1
check "service A: the hooks run in p-A, once" -- test "$(hooks p-A)" = "1 1"
check "service A: not in app" -- test "$(hooks app)" = "0 0"
check "service A: not on the attached cgroup" -- test "$(hooks)" = "0 0"
"$SR" service add A2 --listen 127.0.0.1:7011 --owner-cgroup "$CG/p-A" >/dev/null
check "two services, one owner cgroup: still once" -- test "$(hooks p-A)" = "1 1"
"$SR" service add B --listen 127.0.0.1:7002 --owner-cgroup "$CG/p-A/in" >/dev/null
check "nested owner cgroup p-A/in: once, not twice" -- test "$(hooks p-A/in)" = "1 1"
check "nested: one attachment, on p-A" -- \
	test "$(pins)" = "link_sr_getsockopt@p-A link_sr_setsockopt@p-A "
"$SR" service del A >/dev/null
check "A deleted: A2 keeps p-A" -- test "$(hooks p-A) $(hooks p-A/in)" = "1 1 1 1"
"$SR" service del A2 >/dev/null
check "A2 deleted: the hooks move to p-A/in (B's)" -- \
	test "$(hooks p-A) $(hooks p-A/in) $(pins)" = "0 0 1 1 link_sr_getsockopt@p-A-in link_sr_setsockopt@p-A-in "
"$SR" service add U --listen 127.0.0.1:7003 --owner-uid 12345 > "$TMPD/out"
check "service add --owner-uid: says the hooks go on the whole cgroup" -- \
	grep -q "give the service --owner-cgroup to keep the option hooks off applications" "$TMPD/out"
check "a uid-owned service: the hooks run in app too" -- test "$(hooks app)" = "1 1"
check "a uid-owned service: once in p-A/in, not twice" -- test "$(hooks p-A/in)" = "1 1"
check "a uid-owned service: one attachment, on the attached cgroup" -- \
	test "$(pins)" = "link_sr_getsockopt link_sr_setsockopt "
"$SR" service del U >/dev/null
check "U deleted: off app again, back on p-A/in" -- \
	test "$(hooks app) $(hooks p-A/in)" = "0 0 1 1"
"$SR" service add C --listen 127.0.0.1:7004 --owner-cgroup "$CG/p-C" >/dev/null
check "service C: the hooks run in p-C" -- test "$(hooks p-C)" = "1 1"
rmdir "$CG/p-C"
"$SR" service add E --listen 127.0.0.1:7005 --owner-cgroup "$CG/p-D" >/dev/null
check "p-C removed: its attachment goes at the next service change" -- \
	test "$(pins)" = "link_sr_getsockopt@p-A-in link_sr_getsockopt@p-D link_sr_setsockopt@p-A-in link_sr_setsockopt@p-D "
"$SR" service del E >/dev/null
"$SR" service del C >/dev/null
in_cg p-D "$SR" service own B >/dev/null
check "service own from p-D: the hooks move to p-D" -- \
	test "$(hooks p-D) $(hooks p-A/in) $(pins)" = "1 1 0 0 link_sr_getsockopt@p-D link_sr_setsockopt@p-D "
in_cg p-A/in "$SR" service own B >/dev/null
check "service own from p-A/in: and back" -- test "$(hooks p-D) $(hooks p-A/in)" = "0 0 1 1"
printf 'service U {\n\tlisten 127.0.0.1:7003\n}\n' > "$TMPD/u.conf"
check "apply with an ownerless service: says so" -- \
	sh -c "'$SR' apply '$TMPD/u.conf' | grep -q 'keep the option hooks off applications'"
check "apply: the hooks on the attached cgroup" -- test "$(hooks app) $(hooks p-A/in)" = "1 1 1 1"
printf 'service B {\n\tlisten 127.0.0.1:7002\n\towner-cgroup %s\n}\n' "$CG/p-A/in" > "$TMPD/b.conf"
check "apply with owner cgroups only: no note" -- \
	sh -c "! '$SR' apply '$TMPD/b.conf' | grep -q 'option hooks'"
check "apply: off app again" -- test "$(hooks app) $(hooks p-A/in)" = "0 0 1 1"

# --- they do not run for an application's options ------------------------------
"$SR" rule add --service B --dst 127.0.0.9 --dport 9000 >/dev/null
prev=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
runs() {	# runs: "GET SET" run counts of the layer's hooks
	for p in get set; do
		bpftool -j prog show pinned "$PIN/prog_sr_${p}sockopt" |
			python3 -c 'import json, sys; print(json.load(sys.stdin).get("run_cnt", 0))'
	done | tr '\n' ' '
}
r0=$(runs)
in_cg app $PROBE loop 10000 > "$TMPD/loop.out"
r1=$(runs)
check "an application's 10,000 SO_LINGER + TCP_NODELAY + getsockopt ran" -- grep -qx done "$TMPD/loop.out"
check "... and the hooks did not run once ($r0-> $r1)" -- test "$r0" = "$r1"
mkdir -m 777 "$TMPD/pub"
bg p-A/in sh -c "exec $PROBE proxy 127.0.0.1 7002 B '$TMPD/pub' > '$TMPD/proxy.out' 2>&1"
PROXY=$LAST_PID
for i in $(seq 200); do [ -e "$TMPD/pub/ready" ] && break; sleep 0.05; done
in_cg app setpriv --reuid=65534 --regid=65534 --clear-groups \
	/usr/bin/python3 "$top/tests/helpers/scope_probe.py" attack 127.0.0.9 9000 B "$TMPD/pub" \
	> "$TMPD/attack.out" 2>&1 &
ATTACK=$!; PIDS="$PIDS $ATTACK"
for i in $(seq 400); do [ -e "$TMPD/pub/own" ] && break; sleep 0.05; done
r2=$(runs)
touch "$TMPD/pub/counted"
wait "$ATTACK"; wait "$PROXY" 2>/dev/null
sysctl -qw kernel.bpf_stats_enabled="$prev"
sed 's/^/# proxy: /' "$TMPD/proxy.out"
sed 's/^/# nobody: /' "$TMPD/attack.out"
# The proxy set two options (SO_REUSEADDR, its claim) and got three; the
# attacker's 25 tries on its own sockets ran nothing.
check "the proxy got records, context and SO_ORIGINAL_DST through the hooks" -- \
	grep -qx "records 248 context 127.0.0.9:9000 odst 127.0.0.9:9000" "$TMPD/proxy.out"
check "the hooks ran for the proxy's 3 gets and 2 sets only ($r1-> $r2)" -- \
	test "$(echo $r1 $r2 | awk '{ print $3 - $1, $4 - $2 }')" = "3 2"

# --- nobody in app: nothing it could not get before --------------------------
grep -v ' passed ' "$TMPD/attack.out" > "$TMPD/mine.out"	# its own sockets
mine() { cat "$TMPD/mine.out"; }
n=$(grep -c . "$TMPD/attack.out")
check "nobody tried every option on 5 sockets, and records on a new one ($n)" -- test "$n" -eq 36
# status WHAT: "SOCKET RESULT" per socket for get-WHAT, OK's payload cut.
status() { grep "^get-$1 " "$TMPD/attack.out" | sed 's/^[^ ]* //; s/ OK:.*/ OK/'; }
check "SOCKREDIR_QUERY: answered for nobody exactly where CONTEXT is, refused where it is" -- \
	test "$(status query)" = "$(status context)" -a "$(status query | grep -c .)" -eq 5
check "... on the proxy's socket passed to it, both answered" -- \
	test "$(status query | grep '^passed')" = "passed OK"
check "its own sockets: every try refused" -- test "$(grep -c ' OK' "$TMPD/mine.out")" -eq 0
check "its own sockets, SOL_SOCKREDIR sets: the kernel's ENOPROTOOPT" -- \
	test "$(mine | grep -E '^(set-|records-)' | grep -vc ' ENOPROTOOPT$')" -eq 0
check "its own sockets, SOL_SOCKREDIR gets: the kernel's EOPNOTSUPP" -- \
	test "$(mine | grep -E '^get-' | grep -vc ' ENOTSUP$')" -eq 0
check "its own sockets, SO_ORIGINAL_DST: the kernel's own refusal, as before" -- \
	test "$(mine | grep -E '^original-dst' | grep -Evc ' (ENOENT|ENOPROTOOPT)$')" -eq 0
# A socket keeps the hooks of the cgroup it was made in (the kernel runs a
# socket's option programs by its own cgroup), so the proxy's accepted
# socket, handed to nobody, is answered as it was before this scope; what
# only an owner may do stays refused by the owner checks.
check "the proxy's socket passed to nobody: setting records refused (EACCES)" -- \
	grep -qx "set-records passed EACCES" "$TMPD/attack.out"
check "... claiming on it refused (EACCES)" -- grep -qx "set-claim passed EACCES" "$TMPD/attack.out"
check "... selecting a flow on it refused" -- \
	sh -c "grep '^set-flow passed' '$TMPD/attack.out' | grep -vq ' OK'"
check "B's flow was redirected once" -- test "$(counter B redirected)" = 1
check "no flow left live" -- live0

"$SR" service del B >/dev/null
check "last service deleted: the hooks run nowhere" -- \
	test "$(hooks app) $(hooks p-A/in) $(pins)" = "0 0 0 0 "
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" down >/dev/null
check "down: no attachment left" -- test "$(hooks p-A)" = "0 0"

# --- upgrade from a layer with the hooks on the attached cgroup --------------
# Such a layer (every earlier build) pins link_sr_[gs]etsockopt on the
# attached cgroup and no prog_ pins: made here with a uid-owned service,
# then its program pins taken away (so no service change moves them).
"$SR" up --cgroup "$CG" >/dev/null
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" service add U --listen 127.0.0.1:7003 --owner-uid 12345 >/dev/null
rm "$PIN/prog_sr_getsockopt" "$PIN/prog_sr_setsockopt" "$PIN/prog_sr_proxy_ops"
"$SR" service del U >/dev/null
check "old layout: the hooks on the attached cgroup, left as they are" -- \
	test "$(hooks app) $(pins)" = "1 1 link_sr_getsockopt link_sr_setsockopt "
"$SR" rule add --service A --dst 127.0.0.2 --dport 8080 >/dev/null
bg srv sh -c "exec python3 -m http.server 8080 --bind 0.0.0.0 --directory '$TMPD/www' >/dev/null 2>&1"
bg p-A "$RELAY" -q --service A --listen 127.0.0.1:7001 --log "$TMPD/A.log"
wait_port 8080; wait_port 7001
check "old layout: the relay claimed A through the hook" -- \
	sh -c "'$SR' -j service list | grep -q '\"how\":\"explicit\"'"
# held FILE: one request through A, held open across what happens until
# FILE appears; prints the answer's last line.
held() {
	in_cg app python3 -c 'import os, socket, sys, time
s = socket.create_connection(("127.0.0.2", 8080))
s.sendall(b"GET /hello.txt HTTP/1.0\r\n")
open(sys.argv[1] + ".open", "w").close()
while not os.path.exists(sys.argv[1]): time.sleep(0.02)
s.sendall(b"\r\n")
d = b""
while True:
    b = s.recv(4096)
    if not b: break
    d += b
print(d.decode().splitlines()[-1])' "$1"
}
held "$TMPD/go" > "$TMPD/held.out" &
HELD=$!; PIDS="$PIDS $HELD"
for i in $(seq 200); do [ -e "$TMPD/go.open" ] && break; sleep 0.05; done
check "upgrade from the old layout" -- "$SR" upgrade
check "upgrade: the hooks now in p-A only" -- \
	test "$(hooks app) $(hooks p-A) $(pins)" = "0 0 1 1 link_sr_getsockopt@p-A link_sr_setsockopt@p-A "
check "upgrade: the programs pinned for the next service change" -- \
	test -e "$PIN/prog_sr_getsockopt" -a -e "$PIN/prog_sr_setsockopt" -a -e "$PIN/prog_sr_proxy_ops"
check "upgrade: the proxies' sockops program in p-A only" -- \
	sh -c "ls '$PIN' | grep -qx 'link_sr_proxy_ops@$(stat -c %i "$CG/p-A")' && test ! -e '$PIN/link_sr_proxy_ops'"
touch "$TMPD/go"
wait "$HELD"
check "upgrade: the flow held across it is answered in full" -- test "$(cat "$TMPD/held.out")" = hello
check "upgrade: the claim made through the old hook stands (a new flow goes through A)" -- \
	test "$(in_cg app python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.2:8080/hello.txt").read().decode().strip())')" = hello
check "upgrade: A logged both flows, each with its context" -- wait_lines "$TMPD/A.log" 2
check "upgrade: A's relay read the original destination" -- \
	test "$(grep -c '127.0.0.2' "$TMPD/A.log")" -ge 2
done_testing
