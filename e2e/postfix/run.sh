#!/usr/bin/env bash
# Runs the Postfix e2e (make postfix-e2e). Postfix is unpacked from
# Debian's package into .cache/mta/postfix, never installed: it would
# conflict with exim4 and start a system MTA. Only its libraries are
# installed. The test runs in a private network and mount namespace with
# lo up and /etc/resolv.conf pointing at the test's own DNS server.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/.cache/mta
PFROOT=$CACHE/postfix
BIN=$ROOT/.cache/postfix-e2e
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
APT="$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900"

libs="libdb5.3 libicu72 libnsl2 libsasl2-2 libssl3 iproute2 util-linux"
missing=""
for p in $libs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	echo "installing$missing"
	$APT update -qq && $APT install -y -qq $missing >/dev/null
fi
# The DANE case runs unbound (internal/dnssectest), installed without its
# system service (tools/apt-install.sh).
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || "$ROOT/tools/apt-install.sh" unbound
if [ ! -x "$PFROOT/usr/sbin/postfix" ]; then
	echo "unpacking Debian's postfix into $PFROOT"
	mkdir -p "$CACHE/deb"
	(cd "$CACHE/deb" && rm -f postfix_*.deb && { apt-get download postfix >/dev/null 2>&1 || { $APT update -qq && apt-get download postfix >/dev/null; }; })
	rm -rf "$PFROOT.tmp" && dpkg-deb -x "$CACHE"/deb/postfix_*.deb "$PFROOT.tmp" && mv "$PFROOT.tmp" "$PFROOT"
fi
mkdir -p "$BIN"
CGO_ENABLED=0 go build -trimpath -o "$BIN/mxroute" ./cmd/mxroute
CGO_ENABLED=0 go build -trimpath -o "$BIN/mxroute-agent" ./cmd/mxroute-agent
go test -c -tags "${E2E_TAGS:-postfix_e2e}" -o "$BIN/postfix-e2e.test" ./e2e/postfix

export E2E_POSTFIX_ROOT=$PFROOT E2E_BIN=$BIN TZ=UTC
AS_ROOT=()
[ -z "$SUDO" ] || AS_ROOT=(sudo --preserve-env=E2E_POSTFIX_ROOT,E2E_BIN,E2E_CORPUS_OUT,E2E_BENCH_OUT,TZ)
exec "${AS_ROOT[@]}" unshare -n -m bash -c '
	set -e
	mount --make-rprivate /
	ip link set lo up
	echo "nameserver 127.0.0.1" > "'"$BIN"'/resolv.conf"
	mount --bind "'"$BIN"'/resolv.conf" /etc/resolv.conf
	exec "'"$BIN"'/postfix-e2e.test" -test.v -test.count=1 -test.timeout=15m '"$*"'
'
