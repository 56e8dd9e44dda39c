#!/bin/sh
# Install the Debian packages sockredir builds and tests with, if missing.
set -e
pkgs="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make gcc iproute2 \
curl socat python3 nftables iptables util-linux procps pkg-config \
python3-prometheus-client debhelper dpkg-dev man-db groff-base systemd \
dnsmasq-base bind9-dnsutils"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "sockredir: missing packages:$missing (run with sudo)" >&2
	exit 1
fi
echo "sockredir: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# No package may start a daemon on this host: the tests start dnsmasq
# themselves, inside their network namespace.  (dnsmasq-base has no service
# unit; the guard covers anything else.)  policy-rc.d exiting 101 tells
# invoke-rc.d "not allowed"; a guard someone else put there stays.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	guard=/usr/sbin/policy-rc.d
fi
trap 'if [ -n "$guard" ]; then rm -f "$guard"; fi' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
