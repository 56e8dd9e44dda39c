#!/bin/bash
# sockredir metrics: the Prometheus text format, read back by Debian's
# python3-prometheus-client parser, with values that match the layer's
# counters; --listen serves the same on /metrics.
#
#   app (curl) ─▶ A 127.0.0.1:7001 (sockredir-relay) ─▶ server :8080
. "$(dirname "$0")/lib.sh"
setup
PY=/usr/bin/python3	# Debian's, where python3-prometheus-client lives
mkdir -p "$TMPD/www" "$CG/app" "$CG/p-A"
echo hello > "$TMPD/www/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind 127.0.0.2 --directory '$TMPD/www' 2>/dev/null"
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" service add B --listen 127.0.0.1:7002 >/dev/null
"$SR" rule add --service A --dst 127.0.0.2 --dport 8080 >/dev/null
"$SR" rule add --block --dst 127.0.0.3 >/dev/null
bg p-A "$RELAY" -q --service A --listen 127.0.0.1:7001 --log "$TMPD/A.log"
wait_port 8080; wait_port 7001
for i in 1 2 3; do in_cg app curl -s -m 5 http://127.0.0.2:8080/hello.txt >/dev/null; done
in_cg app curl -s -m 2 http://127.0.0.3:8080/ >/dev/null
wait_lines "$TMPD/A.log" 3

# parse FILE EXPR: parse FILE with prometheus_client, print EXPR over
# m[(name, labels-dict-as-sorted-tuple)] = value and the families' list.
parse() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
m = {}
for f in fams:
    for s in f.samples:
        m[(s.name, tuple(sorted(s.labels.items())))] = s.value
def v(name, **labels):
    return m[(name, tuple(sorted(labels.items())))]
print(eval(sys.argv[2]))
EOF
}
"$SR" metrics > "$TMPD/m"; st=$?
check "metrics: exit 0" -- test $st -eq 0
check "the parser reads every line back" -- parse "$TMPD/m" 'len(fams) > 20'
check "every family has # HELP and # TYPE (counter or gauge)" -- sh -c "test \"\$(grep -c '^# HELP ' '$TMPD/m')\" -eq \"\$(grep -c '^# TYPE ' '$TMPD/m')\" && \
	test \"\$(grep -c '^# TYPE ' '$TMPD/m')\" -eq \"\$(grep -v '^#' '$TMPD/m' | sed 's/[{ ].*//' | sort -u | wc -l)\" && \
	! grep '^# TYPE ' '$TMPD/m' | grep -vqE ' (counter|gauge)\$'"
check "the parser sees counters and gauges by type" -- \
	parse "$TMPD/m" '{f.type for f in fams} == {"counter", "gauge"}'
check "sockredir_up 1" -- test "$(parse "$TMPD/m" 'v("sockredir_up")')" = 1.0
check "services and rules" -- test "$(parse "$TMPD/m" '(v("sockredir_services"), v("sockredir_rules"))')" = "(2.0, 2.0)"
redir=$(counter A redirected)
check "A's redirected counter is the layer's ($redir)" -- \
	test "$(parse "$TMPD/m" 'int(v("sockredir_service_redirected_total", service="A", id="'"$(sid A)"'"))')" = "$redir"
check "A redirected the 3 requests" -- test "$redir" -ge 3
check "B is listed with zero" -- \
	test "$(parse "$TMPD/m" 'int(v("sockredir_service_redirected_total", service="B", id="'"$(sid B)"'"))')" = 0
check "layer-wide blocked counts the blocked curl" -- \
	test "$(parse "$TMPD/m" 'int(v("sockredir_blocked_total"))')" -ge 1
check "layer-wide equals status -j" -- test "$(parse "$TMPD/m" 'int(v("sockredir_redirected_total"))')" = \
	"$(status_counter redirected)"
check "metrics with junk words: exit 2" -- sh -c "'$SR' metrics now 2>/dev/null; test \$? -eq 2"
check "metrics --listen with a bad address: exit 2" -- sh -c "'$SR' metrics --listen 300.1.1.1:9 2>/dev/null; test \$? -eq 2"
check "metrics as nobody: exit 1, says it needs root" -- sh -c "setpriv --reuid=65534 --regid=65534 --clear-groups \
	'$SR' metrics 2>&1 >/dev/null | grep -q root"

# --- served on /metrics ------------------------------------------------------
bg mon "$SR" metrics --listen 127.0.0.1:9464
MON=$LAST_PID
wait_port 9464
scrape() { in_cg app curl -s -m 5 -o "$1" -w '%{http_code} %{content_type}' "http://127.0.0.1:9464$2"; }
out=$(scrape "$TMPD/m2" /metrics)
check "GET /metrics: 200, the exposition content type ($out)" -- \
	eval 'case "$out" in "200 text/plain; version=0.0.4"*) true ;; *) false ;; esac'
check "the parser reads the served text" -- parse "$TMPD/m2" 'v("sockredir_up") == 1'
in_cg app curl -s -m 5 http://127.0.0.2:8080/hello.txt >/dev/null
wait_lines "$TMPD/A.log" 4
scrape "$TMPD/m3" /metrics >/dev/null
check "each scrape reads the counters fresh" -- test "$(parse "$TMPD/m3" 'int(v("sockredir_service_redirected_total", service="A", id="'"$(sid A)"'"))')" -eq $((redir + 1))
check "GET /other: 404" -- test "$(scrape /dev/null /other | cut -d' ' -f1)" = 404
check "POST: 405" -- test "$(in_cg app curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9464/metrics)" = 405
# A client that sends nothing must not stop the server for good.
in_cg app python3 -c 'import socket, time
s = socket.create_connection(("127.0.0.1", 9464)); time.sleep(6); s.close()' &
idle=$!
for i in $(seq 100); do	# until the idle client is connected
	nsenter --net=/run/netns/$NS ss -Htn state established 'dport = :9464' | grep -q . && break
	sleep 0.05
done
check "an idle client is dropped, then the next scrape is answered" -- \
	test "$(nsenter --net=/run/netns/$NS curl -s -m 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:9464/metrics)" = 200
wait $idle
kill "$MON"; wait "$MON"; st=$?
check "SIGTERM ends the server, exit 0" -- test $st -eq 0
done_testing
