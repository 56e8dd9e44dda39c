#!/bin/sh
# Install the Debian packages sockredir builds and tests with, if missing.
set -e
pkgs="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make gcc iproute2 \
curl socat python3 nftables iptables util-linux procps pkg-config \
python3-prometheus-client debhelper dpkg-dev man-db groff-base systemd"
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
