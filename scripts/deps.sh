#!/bin/sh
# Install the Debian packages sockredir builds and tests with, if missing.
#   sh scripts/deps.sh            what `make check` needs
#   sh scripts/deps.sh PKG...     those, and PKG... too (`make compat`)
# The proxies among them (squid, haproxy, redsocks, dante-server, dnsmasq, ...) are
# only run by the tests, in their own namespaces: their postinst scripts must
# not start them as daemons on the host, so a policy-rc.d that says "101:
# action forbidden" is in place while apt runs (unless one already is).
set -e
pkgs="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make gcc iproute2 \
curl socat python3 nftables iptables util-linux procps pkg-config \
python3-prometheus-client debhelper dpkg-dev man-db groff-base systemd \
dnsmasq-base bind9-dnsutils libssl-dev python3-cryptography squid haproxy redsocks dante-server $*"
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
policy=/usr/sbin/policy-rc.d
if [ ! -e $policy ]; then
	printf '#!/bin/sh\n# sockredir deps.sh: start no daemon while installing\nexit 101\n' > $policy
	chmod 755 $policy
	trap 'rm -f $policy' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
# (The tests start dnsmasq themselves, inside their network namespace.)
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
