#!/bin/bash
# Which transparent proxies from Debian work unmodified, behind iptables
# REDIRECT and behind sockredir.  `sudo make compat` installs them first.
#
#   app (curl) --connect 127.0.0.2:8080 / [::1]:8080 / [::ffff:127.0.0.2]:8080
#       |  iptables/ip6tables REDIRECT (netns srbase-*, -m cgroup app)
#       |  or sockredir (netns srtest-*, rule --service NAME)
#       v
#   proxy NAME on 127.0.0.1:71xx [::1]:71xx, in cgroup p-NAME (its owner)
#       '--> server :8080 (python3 http.server)
#
# A cell is "yes" when the body arrived and the proxy logged the flow, "no"
# when the request failed or went around the proxy.  Behind sockredir the
# proxy is only started in its owner cgroup: its listener is claimed by its
# owner (bpf/claim.h), no call.  COMPAT_OUTSIDE_CLAIM=1 adds a group that
# also claims it from outside (claim_from_outside.py, root's pidfd_getfd),
# as before claim by owner existed.
# The same configurations (tests/helpers/proxyconf.sh) are used every way.
#   sh scripts/compat.sh [NAME...]     default: all eight
#   COMPAT_KEEP=DIR                    copy every config and log to DIR
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$top/tests/helpers/proxyconf.sh"
names=${*:-$PC_NAMES}
for n in $names; do
	case " $PC_NAMES " in *" $n "*) ;; *) echo "compat: unknown proxy $n" >&2; exit 2 ;; esac
done
setup
SRNS=$NS
BNS=srbase-$$
trap 'ip netns del $BNS 2>/dev/null; NS=$SRNS; cleanup' EXIT
[ -n "${COMPAT_KEEP:-}" ] && trap 'cp -r "$TMPD" "$COMPAT_KEEP"; ip netns del $BNS 2>/dev/null; NS=$SRNS; cleanup' EXIT
ip netns add $BNS
ip -n $BNS link set lo up
# sslsplit resolves its listen address with AI_ADDRCONFIG, which ignores
# loopback: give each namespace a link with addresses of its own.
for n in $BNS $SRNS; do
	ip -n $n link add sr-a type veth peer name sr-b
	ip -n $n link set sr-a up; ip -n $n link set sr-b up
	ip -n $n addr add 10.99.0.1/24 dev sr-a
	ip -n $n addr add fd99::1/64 dev sr-a nodad
done
APP_CG=${CG#"$CG2"/}/app
mkdir -p "$TMPD/www" "$CG/app"
echo hello > "$TMPD/www/hello.txt"
for NS in $BNS $SRNS; do
	bg srv python3 -m http.server 8080 --bind :: --directory "$TMPD/www" >/dev/null 2>&1
	wait_port 8080
done

try() {	# try NAME DIR URL: "yes" if the body came back through NAME
	local before body
	before=$(pc_seen "$1" "$2")
	body=$(in_cg app curl -gs -m 5 "$3/hello.txt")
	if [ "$body" = hello ] && wait_seen "$1" "$2" $((before + 1)) 2; then
		echo yes
	else
		echo no
	fi
}
three() {	# three NAME DIR: IPv4, IPv6, mapped
	echo "$(try "$1" "$2" http://127.0.0.2:8080) $(try "$1" "$2" 'http://[::1]:8080')" \
		"$(try "$1" "$2" 'http://[::ffff:127.0.0.2]:8080')"
}

via_redirect() {	# via_redirect NAME: the three cells behind iptables REDIRECT
	local d=$TMPD/redirect-$1
	NS=$BNS
	if ! pc_start "b-$1" "$1" "$d"; then
		echo "# $1 did not start; $(tail -n 3 "$d"/*.out "$d"/*.log 2>/dev/null | tr '\n' ' ')" >&2
		pc_stop "b-$1"; NS=$SRNS; echo "no no no"; return
	fi
	ip netns exec $BNS iptables -t nat -A OUTPUT -p tcp -d 127.0.0.2 --dport 8080 \
		-m cgroup --path "$APP_CG" -j REDIRECT --to-ports $PC_PORT
	ip netns exec $BNS ip6tables -t nat -A OUTPUT -p tcp -d ::1 --dport 8080 \
		-m cgroup --path "$APP_CG" -j REDIRECT --to-ports $PC_PORT
	three "$1" "$d"
	ip netns exec $BNS iptables -t nat -F OUTPUT
	ip netns exec $BNS ip6tables -t nat -F OUTPUT
	pc_stop "b-$1"
	NS=$SRNS
}
# via_sockredir NAME [claim]: the three cells behind sockredir; with
# "claim", after claiming the proxy's listeners for it from outside.
via_sockredir() {
	local d=$TMPD/sockredir${2:+-$2}-$1 v6=
	pc_conf "$1" "$d"
	[ $PC_V6 = 1 ] && v6="--listen [::1]:$PC_PORT"
	mkdir -p "$CG/p-$1"
	"$SR" service add "$1" --listen 127.0.0.1:$PC_PORT $v6 --owner-cgroup "$CG/p-$1" >/dev/null
	"$SR" rule add --service "$1" --dst 127.0.0.2 --dport 8080 >/dev/null
	"$SR" rule add --service "$1" --dst ::1/128 --dport 8080 >/dev/null
	if pc_start "p-$1" "$1" "$d"; then
		[ -n "${2:-}" ] && in_cg "p-$1" python3 "$top/tests/helpers/claim_from_outside.py" \
			"$1" $PC_PORT >/dev/null
		three "$1" "$d"
		echo "# $1 via sockredir${2:+ ($2)}: listener_gone $(counter "$1" listener_gone)," \
			"unrecorded_egress $(counter "$1" unrecorded_egress)," \
			"onward_recorded $(counter "$1" onward_recorded)" >&2
	else
		echo "# $1 did not start" >&2; echo "no no no"
	fi
	pc_stop "p-$1"
	"$SR" service del "$1" >/dev/null
}

rows=""
for n in $names; do
	r=$(via_redirect "$n")
	s=$(via_sockredir "$n")
	c=
	[ -n "${COMPAT_OUTSIDE_CLAIM:-}" ] && c=$(via_sockredir "$n" claim)
	rows="$rows$n $r $s $c
"
done
echo "sockredir compat: $(uname -r), $(date -u +%Y-%m-%d)"
printf '%s\n' "$rows" | awk -v outside="${COMPAT_OUTSIDE_CLAIM:-}" '
	BEGIN { f = "%-10s | %-4s %-4s %-6s | %-4s %-4s %-6s"
		if (outside == "") {
			printf "%-10s | %-16s | %s\n", "", "iptables REDIRECT", "sockredir"
			printf f "\n", "proxy", "IPv4", "IPv6", "mapped", "IPv4", "IPv6", "mapped"
			printf "-----------+------------------+-----------------\n"
		} else {
			printf "%-10s | %-16s | %-16s | %s\n", "", "iptables REDIRECT",
				"sockredir", "sockredir, claimed from outside"
			printf f " | %-4s %-4s %-6s\n", "proxy", "IPv4", "IPv6", "mapped",
				"IPv4", "IPv6", "mapped", "IPv4", "IPv6", "mapped"
			printf "-----------+------------------+------------------+-----------------\n"
		} }
	NF == 7 { printf f "\n", $1, $2, $3, $4, $5, $6, $7 }
	NF == 10 { printf f " | %-4s %-4s %-6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
