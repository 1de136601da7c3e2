#!/usr/bin/env bash
# End-to-end test of the Haraka plugin against the real mxroute binary.
# Installs the Haraka release pinned in package-lock.json into a scratch
# folder (reused while the lock file is unchanged), builds ./cmd/mxroute,
# then runs e2e.test.js with node's test runner.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
scratch="${MXROUTE_E2E_DIR:-${TMPDIR:-/tmp}/mxroute-haraka-e2e}"
mkdir -p "$scratch"

lock_sum="$(sha256sum "$here/package-lock.json" | cut -c1-16)"
haraka_root="$scratch/haraka-$lock_sum"
if [ ! -f "$haraka_root/.installed" ]; then
    rm -rf "$haraka_root"
    mkdir -p "$haraka_root"
    cp "$here/package.json" "$here/package-lock.json" "$haraka_root/"
    # Optional dependencies are Haraka's bundled plugins: the test uses none.
    (cd "$haraka_root" && npm ci --omit=optional --no-audit --no-fund --loglevel=error)
    touch "$haraka_root/.installed"
fi

# The plugin is installed the way an operator installs it: packed with
# npm pack, then npm install into the Haraka folder. Each Haraka node's
# folder links to this node_modules (e2e/lib/procs.js).
site="$scratch/site"
rm -rf "$site" && mkdir -p "$site"
tgz="$(cd "$here/.." && npm pack --silent --pack-destination "$site" | tail -1)"
(cd "$site" && npm init -y >/dev/null && npm install --omit=dev --no-audit --no-fund --loglevel=error "./$tgz")
test -f "$site/node_modules/haraka-plugin-mxroute/index.js"

# The test makes its CAs and certificates with the openssl command line.
command -v openssl >/dev/null || "$repo/tools/apt-install.sh" openssl

# MXROUTE_BIN set: test that binary instead of building one.
if [ -z "${MXROUTE_BIN:-}" ]; then
    (cd "$repo" && go build -o "$scratch/mxroute" ./cmd/mxroute)
    MXROUTE_BIN="$scratch/mxroute"
fi

export HARAKA_MODULE="$haraka_root/node_modules/Haraka"
export MXROUTE_BIN
export E2E_WORK="$scratch"
export E2E_PLUGIN_MODULES="$site/node_modules"
# The test itself runs in a private network namespace: only loopback exists,
# so nothing it starts can reach another address.
exec unshare -n sh -c 'ip link set lo up && exec node --test --test-timeout=120000 "$0"' "$here/e2e.test.js"
