#!/bin/bash
# make install, then build examples/proxy.c the way a user would, with
# pkg-config against the installed header and library, and run it.
. "$(dirname "$0")/lib.sh"
setup
PFX=$TMPD/prefix
check "make install into a prefix" -- make -s -C "$top" install PREFIX="$PFX"
export PKG_CONFIG_PATH=$PFX/lib/pkgconfig
check "pkg-config knows sockredir" -- pkg-config --exists sockredir
check "examples/proxy.c builds against the installed library" -- \
	sh -c "cc '$top/examples/proxy.c' \$(pkg-config --cflags --libs sockredir) -lpthread -o '$TMPD/proxy'"
check "the shared library exports only the API" -- sh -c "! nm -D --defined-only \
	'$PFX/lib/libsockredir.so.1' | awk '{print \$3}' | grep -v -e '^sockredir_' -e '^SOCKREDIR_0' | grep ."
check "the Winsock library exports only its API" -- sh -c "! nm -D --defined-only \
	'$PFX/lib/libsockredir-winsock.so.1' | awk '{print \$3}' | grep -v -e '^sockredir_wsa_' -e '^WSA' -e '^WSP' -e '^SOCKREDIR_WINSOCK_0' | grep ."
check "a Windows-style proxy builds against the installed Winsock library" -- \
	sh -c "cc '$top/tests/helpers/wsa_proxy.c' \$(pkg-config --cflags --libs sockredir-winsock) -o '$TMPD/wsa_proxy'"
mkdir -p "$CG/p-E" "$CG/p-W" "$CG/app"
"$SR" service add E --listen 127.0.0.1:7400 --owner-cgroup "$CG/p-E" >/dev/null
"$SR" rule add --service E --dst 127.0.0.2 --dport 8080 >/dev/null
echo hello > "$TMPD/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind 127.0.0.2 --directory '$TMPD' 2>/dev/null"
bg p-E env LD_LIBRARY_PATH="$PFX/lib" sh -c "exec '$TMPD/proxy' E 127.0.0.1:7400 > '$TMPD/proxy.out'"
wait_port 8080; wait_port 7400
check "curl through the example proxy" -- \
	test "$(in_cg app curl -s -m 5 http://127.0.0.2:8080/hello.txt)" = hello
check "the example proxy saw curl's flow at hop 1" -- grep -q 'hop 1 from curl .* to 127.0.0.2:8080' "$TMPD/proxy.out"
"$SR" service add W --listen 127.0.0.1:7401 --owner-cgroup "$CG/p-W" >/dev/null
"$SR" rule add --service W --dst 127.0.0.3 --dport 8081 >/dev/null
bg srv3 sh -c "exec python3 -m http.server 8081 --bind 127.0.0.3 --directory '$TMPD' 2>/dev/null"
bg p-W env LD_LIBRARY_PATH="$PFX/lib" "$TMPD/wsa_proxy" --name W --log "$TMPD/wsa.log" 127.0.0.1:7401
wait_port 8081; wait_port 7401
check "curl through the installed Winsock-style proxy" -- \
	test "$(in_cg app curl -s -m 5 http://127.0.0.3:8081/hello.txt)" = hello
check "the Winsock-style proxy logged that flow at hop 1" -- \
	eval 'wait_lines "$TMPD/wsa.log" 1 && grep -q "hop=1" "$TMPD/wsa.log"' 
done_testing
