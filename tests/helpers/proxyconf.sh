# proxyconf.sh - minimal transparent-mode configurations for proxies from
# Debian 12, each run unmodified and reading the original destination the way
# it does behind iptables REDIRECT (SO_ORIGINAL_DST, except tinyproxy: it
# forwards to the Host header).  Sourced by bash scripts.
#
#   pc_conf NAME DIR   write NAME's configuration under DIR (created; every
#                      pid file, log and cache stays there) and set
#                        PC_MAIN  the command that runs the proxy in the
#                                 foreground (an array)
#                        PC_AUX   a second program the proxy needs, started
#                                 first (dante, ss-server), or empty
#                        PC_PORT  its port, on 127.0.0.1 and, if PC_V6=1,
#                                 on [::1]; PC_AUX_PORT: the helper's
#   pc_seen NAME DIR   how many flows NAME has logged (its own access log)
#
# Ports: squid 7101, haproxy 7102, redsocks 7103 (dante 1080), mitmproxy
# 7104, sslsplit 7105, tinyproxy 7106, ss-redir 7107 (ss-server 8388),
# v2ray 7108.
PC_NAMES="squid haproxy redsocks mitmproxy sslsplit tinyproxy ss-redir v2ray"

pc_conf() {
	local name=$1 d=$2
	mkdir -p "$d"
	# Some drop to their own user: let them reach their directory.
	chmod 755 "$(dirname "$d")"
	PC_AUX=(); PC_AUX_PORT=; PC_V6=1
	case $name in
	squid)
		# Started as root, squid runs as its cache_effective_user
		# (proxy): that user must be able to write the logs.  The plain
		# port is there because squid wants one forward-proxy port.
		PC_PORT=7101
		cat > "$d/squid.conf" <<-EOF
		http_port 127.0.0.1:3128
		http_port 127.0.0.1:$PC_PORT intercept
		http_port [::1]:$PC_PORT intercept
		http_access allow all
		cache deny all
		cache_mem 8 MB
		pid_filename $d/squid.pid
		access_log stdio:$d/access.log squid
		cache_log $d/cache.log
		cache_store_log none
		coredump_dir $d
		netdb_filename none
		pinger_enable off
		dns_nameservers 127.0.0.1
		visible_hostname sockredir-test
		shutdown_lifetime 0 seconds
		# One onward connection per request, so each flow is logged once.
		server_persistent_connections off
		EOF
		chown proxy "$d"
		PC_MAIN=(squid -N -f "$d/squid.conf")
		;;
	haproxy)
		# "server orig 0.0.0.0:0": connect to the connection's original
		# destination.  haproxy asks SO_ORIGINAL_DST on AF_INET sockets
		# only, so it is IPv4-only here.
		PC_PORT=7102; PC_V6=0
		cat > "$d/haproxy.cfg" <<-EOF
		global
		    pidfile $d/haproxy.pid
		    log stdout format raw local0
		defaults
		    mode tcp
		    log global
		    option tcplog
		    timeout connect 5s
		    timeout client 30s
		    timeout server 30s
		listen orig
		    bind 127.0.0.1:$PC_PORT
		    server orig 0.0.0.0:0
		EOF
		PC_MAIN=(sh -c 'exec haproxy -db -f "$1/haproxy.cfg" > "$1/access.log" 2>&1' sh "$d")
		;;
	redsocks)
		# redsocks hands every flow to a SOCKS5 server (dante here),
		# which makes the onward connect: both are the service's owner.
		PC_PORT=7103; PC_AUX_PORT=1080; PC_V6=0
		cat > "$d/redsocks.conf" <<-EOF
		base {
		    log_debug = off;
		    log_info = on;
		    log = "file:$d/redsocks.log";
		    daemon = off;
		    redirector = iptables;
		}
		redsocks {
		    local_ip = 127.0.0.1;
		    local_port = $PC_PORT;
		    ip = 127.0.0.1;
		    port = $PC_AUX_PORT;
		    type = socks5;
		}
		EOF
		cat > "$d/danted.conf" <<-EOF
		logoutput: $d/danted.log
		internal: 127.0.0.1 port = $PC_AUX_PORT
		external: lo
		clientmethod: none
		socksmethod: none
		user.privileged: root
		user.unprivileged: nobody
		client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
		socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }
		EOF
		PC_AUX=(danted -f "$d/danted.conf" -p "$d/danted.pid" -N 1)
		PC_MAIN=(redsocks -c "$d/redsocks.conf" -p "$d/redsocks.pid")
		;;
	mitmproxy)
		PC_PORT=7104
		mkdir -p "$d/conf"
		PC_MAIN=(sh -c 'exec mitmdump --mode transparent --listen-host "" \
			--listen-port "$2" --set confdir="$1/conf" --set flow_detail=1 \
			--set termlog_verbosity=warn > "$1/access.log" 2>&1' sh "$d" $PC_PORT)
		;;
	sslsplit)
		# "tcp ADDR PORT" with no target: the netfilter engine finds it.
		PC_PORT=7105; PC_V6=1
		PC_MAIN=(sslsplit -e netfilter -u nobody -l "$d/connect.log" \
			tcp 127.0.0.1 $PC_PORT tcp ::1 $PC_PORT)
		chmod 777 "$d"
		;;
	tinyproxy)
		PC_PORT=7106
		cat > "$d/tinyproxy.conf" <<-EOF
		User nobody
		Group nogroup
		Port $PC_PORT
		PidFile "$d/tinyproxy.pid"
		LogFile "$d/tinyproxy.log"
		LogLevel Connect
		MaxClients 50
		DisableViaHeader Yes
		EOF
		chmod 777 "$d"
		PC_MAIN=(tinyproxy -d -c "$d/tinyproxy.conf")
		;;
	ss-redir)
		# ss-redir encrypts every flow to ss-server, which makes the
		# onward connect: both are the service's owner.
		PC_PORT=7107; PC_AUX_PORT=8388
		PC_AUX=(ss-server -s 127.0.0.1 -p $PC_AUX_PORT -k sockredir-test \
			-m chacha20-ietf-poly1305 -v)
		PC_MAIN=(sh -c 'exec ss-redir -s 127.0.0.1 -p "$2" -b :: -l "$3" \
			-k sockredir-test -m chacha20-ietf-poly1305 -v > "$1/access.log" 2>&1' \
			sh "$d" $PC_AUX_PORT $PC_PORT)
		;;
	v2ray)
		PC_PORT=7108
		cat > "$d/config.json" <<-EOF
		{ "log": { "access": "$d/access.log", "error": "$d/error.log",
		           "loglevel": "warning" },
		  "inbounds": [
		    { "listen": "127.0.0.1", "port": $PC_PORT, "protocol": "dokodemo-door",
		      "settings": { "network": "tcp", "followRedirect": true } },
		    { "listen": "::1", "port": $PC_PORT, "protocol": "dokodemo-door",
		      "settings": { "network": "tcp", "followRedirect": true } } ],
		  "outbounds": [ { "protocol": "freedom" } ] }
		EOF
		PC_MAIN=(v2ray -config "$d/config.json")
		;;
	*)
		echo "pc_conf: unknown proxy $name" >&2; return 2 ;;
	esac
}

# pc_seen NAME DIR: flows NAME logged.  Most log a flow when it ends, so
# callers poll (wait_seen) rather than read once.
pc_seen() {
	case $1 in
	squid)	pc_count "$2/access.log" . ;;
	haproxy) pc_count "$2/access.log" ' orig/orig ' ;;
	redsocks) pc_count "$2/danted.log" 'pass.*: tcp/connect ' ;;
	mitmproxy) pc_count -E "$2/access.log" ' (GET|POST|HEAD) ' ;;
	sslsplit) pc_count "$2/connect.log" . ;;
	tinyproxy) pc_count "$2/tinyproxy.log" 'Established connection to host' ;;
	ss-redir) pc_count "$2/access.log" 'redir to' ;;
	v2ray)	pc_count "$2/access.log" 'accepted' ;;
	esac
}

# pc_count [-E] FILE PATTERN: lines of FILE that match (0 if no FILE).
pc_count() {
	local e=; [ "$1" = -E ] && { e=-E; shift; }
	if [ -f "$1" ]; then grep -c $e -- "$2" "$1"; else echo 0; fi
	return 0
}

# wait_seen NAME DIR N [SECONDS]: poll until NAME logged N flows; 10 s at
# most, or SECONDS.
wait_seen() {
	local i
	for i in $(seq $((${4:-10} * 20))); do
		[ "$(pc_seen "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.05
	done
	return 1
}

# pc_start ROLE NAME DIR: configure NAME under DIR and start it (its helper
# first) in cgroup ROLE of the test (lib.sh's bg), stdout and stderr to
# DIR/main.out and DIR/aux.out; wait until it listens.
pc_start() {
	pc_conf "$2" "$3" || return 1
	if [ ${#PC_AUX[@]} -gt 0 ]; then
		bg "$1" "${PC_AUX[@]}" >> "$3/aux.out" 2>&1
		wait_port $PC_AUX_PORT || return 1
	fi
	bg "$1" "${PC_MAIN[@]}" >> "$3/main.out" 2>&1
	wait_port $PC_PORT
}

# pc_stop ROLE: end every process in cgroup ROLE (all were started by the
# test: squid, danted and v2ray have children or threads of their own).
pc_stop() {
	local p i
	for p in $(cat "$CG/$1/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
	for i in $(seq 100); do
		[ -z "$(cat "$CG/$1/cgroup.procs" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	for p in $(cat "$CG/$1/cgroup.procs"); do kill -9 "$p" 2>/dev/null; done
}
