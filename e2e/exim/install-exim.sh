#!/usr/bin/env bash
# install-exim.sh unpacks Debian's Exim 4.96 (exim4-daemon-light) into a
# cache directory without installing the package: Debian's exim4 and postfix
# packages conflict (each provides the system MTA), and the tests need both
# on one machine. Only the libraries the binary links against are installed
# with apt-get, plus the Debian-exim user the binary was built to run as.
# No system instance is configured, started or kept.
#   usage: install-exim.sh CACHE_DIR   (prints the path of the exim binary)
set -euo pipefail

cache="${1:?usage: install-exim.sh CACHE_DIR}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
bin="$cache/root/usr/sbin/exim4"
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
apt_get() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 -qq "$@" >/dev/null; }

if [ ! -x "$bin" ]; then
    echo "unpacking exim4-daemon-light into $cache" >&2
    work="$(mktemp -d "$cache/dl.XXXXXX")"
    if ! (cd "$work" && apt-get download exim4-daemon-light exim4-base >/dev/null 2>&1); then
        apt_get update
        (cd "$work" && apt-get download exim4-daemon-light exim4-base >/dev/null 2>&1)
    fi
    rm -rf "$cache/root"
    mkdir -p "$cache/root"
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$cache/root"; done
    rm -rf "$work"
fi

# The libraries exim4-daemon-light depends on (its Depends: line, less the
# MTA plumbing: debconf, exim4-base).
if ldd "$bin" | grep -q 'not found'; then
    echo "installing Exim's libraries" >&2
    "$(dirname "$0")/../../tools/apt-install.sh" libc6 libcrypt1 libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libnsl2 libpcre2-8-0 >&2
fi
if ldd "$bin" | grep 'not found' >&2; then
    echo "exim4 still misses libraries" >&2
    exit 1
fi

# The binary looks up its compiled-in user before reading any configuration.
if ! getent passwd Debian-exim >/dev/null; then
    $SUDO useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin Debian-exim
fi

"$bin" -C /dev/null -bV >/dev/null 2>&1 || { "$bin" -C /dev/null -bV >&2; exit 1; }
echo "$bin"
