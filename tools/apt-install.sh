#!/bin/sh
# apt-install.sh PACKAGE... installs Debian packages for the Makefile's test
# targets, which start their own servers on free loopback ports. So the
# install must not give a fresh machine system services of its own (a Redis
# on 6379, a Prometheus on 9090 and a node exporter on 9100, a resolver on
# 53), nor the recommended packages that would bring more of them:
#
#   - no recommends (--no-install-recommends; what a target does need is
#     named on its line);
#   - a policy-rc.d that exits 101 ("action forbidden", invoke-rc.d and
#     deb-systemd-invoke honour it) for the length of the install, and
#     whatever policy-rc.d was there before put back afterwards, also when
#     the install fails or is interrupted;
#   - under systemd, the units the packages enabled for the next boot
#     disabled.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
policy=/usr/sbin/policy-rc.d
saved=
if [ -e "$policy" ]; then
	saved=$(mktemp)
	$SUDO cp -p "$policy" "$saved"
fi
restore() {
	if [ -n "$saved" ]; then
		$SUDO cp -p "$saved" "$policy" && $SUDO rm -f "$saved"
	else
		$SUDO rm -f "$policy"
	fi
}
trap restore EXIT
trap 'exit 130' INT TERM
printf '#!/bin/sh\n# tools/apt-install.sh: no service starts during the install\nexit 101\n' | $SUDO tee "$policy" >/dev/null
$SUDO chmod 755 "$policy"

apt() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 "$@"; }
apt update -qq
apt install -y -qq --no-install-recommends "$@" >/dev/null

if [ -d /run/systemd/system ]; then
	units=$(dpkg -L "$@" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.(service|socket|timer)$' | xargs -r -n1 basename | sort -u)
	if [ -n "$units" ]; then
		# shellcheck disable=SC2086 # one unit per word
		$SUDO systemctl disable --now $units >/dev/null 2>&1 || true
	fi
fi
