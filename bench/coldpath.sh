#!/usr/bin/env bash
# bench/coldpath.sh: cold plans through mxroute vs the same lookups sent
# straight to its resolver. A loopback nsd serves the zone bench. (DOMAINS
# domains dN.bench, each with one MX host and one IPv4 address); a loopback
# unbound recurses to it (stub zone, do-not-query-localhost: no); mxroute
# uses that unbound. Each round runs both variants on fresh domain ranges
# (every cache cold, unbound's included), in alternating order, and reads
# the CPU time of mxroute and unbound from /proc before and after.
#
#   ROUNDS=3 COUNT=5000 CONC=16 bench/coldpath.sh
#
# MTA_STS (default false) is passed as MXROUTE_MTA_STS: with it on, a plan
# also asks for the domain's _mta-sts TXT record, a fourth query; the
# direct variant then sends it too (coldload -mta-sts), so both sides do
# the same lookups.
#
# Everything listens on 127.0.0.1; each run is bounded by COUNT domains.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-5000}
CONC=${CONC:-16}
MTA_STS=${MTA_STS:-false}
OUT=${OUT:-/tmp/mxroute-coldpath}
DOMAINS=$((COUNT * 2 * ROUNDS + 10))
mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime+stime, clock ticks
TCK=$(getconf CLK_TCK)

(cd "$ROOT" && go build -o "$OUT/mxroute" ./cmd/mxroute && go build -o "$OUT/coldload" ./bench/coldload)

NSD_PORT=$(port); UNB_PORT=$(port); HTTP_PORT=$(port)
python3 - "$OUT/bench.zone" "$DOMAINS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("$TTL 3600\nbench. IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300\nbench. IN NS ns.bench.\nns.bench. IN A 127.0.0.1\n")
    for i in range(n):
        f.write(f"d{i}.bench. IN MX 10 mx.d{i}.bench.\nmx.d{i}.bench. IN A 192.0.2.{i % 250 + 1}\n")
PY
cat > "$OUT/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1
  port: $NSD_PORT
  username: ""
  chroot: ""
  zonesdir: "$OUT"
  pidfile: "$OUT/nsd.pid"
  database: ""
  zonelistfile: "$OUT/zone.list"
  xfrdfile: "$OUT/xfrd.state"
  server-count: 1
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: bench
  zonefile: bench.zone
CONF
cat > "$OUT/unbound.conf" <<CONF
server:
  interface: 127.0.0.1
  port: $UNB_PORT
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$OUT"
  pidfile: "$OUT/unbound.pid"
  use-syslog: no
  logfile: ""
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  do-ip6: no
  qname-minimisation: no
stub-zone:
  name: "bench"
  stub-addr: 127.0.0.1@$NSD_PORT
CONF
nsd -d -c "$OUT/nsd.conf" >"$OUT/nsd.log" 2>&1 & PIDS+=($!); NSD_PID=$!
unbound -d -c "$OUT/unbound.conf" >"$OUT/unbound.log" 2>&1 & PIDS+=($!); UNB_PID=$!
env -i PATH="$PATH" MXROUTE_LISTEN=127.0.0.1:$HTTP_PORT MXROUTE_DNS_SERVERS=127.0.0.1:$UNB_PORT MXROUTE_ZONE_FILES=none MXROUTE_MTA_STS=$MTA_STS \
	"$OUT/mxroute" >"$OUT/mxroute.log" 2>&1 & PIDS+=($!); MXR_PID=$!
for _ in $(seq 100); do
	dig +short -p "$UNB_PORT" @127.0.0.1 d0.bench MX >/dev/null 2>&1 && curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done

run() { # variant from
	local v=$1 from=$2 pid line c0 u0 c1 u1
	c0=$(cpu "$MXR_PID"); u0=$(cpu "$UNB_PID")
	if [ "$v" = dns ]; then
		line=$("$OUT/coldload" -target dns -addr 127.0.0.1:$UNB_PORT -mta-sts="$MTA_STS" -from "$from" -count "$COUNT" -conc "$CONC")
	else
		line=$("$OUT/coldload" -target http -addr 127.0.0.1:$HTTP_PORT -from "$from" -count "$COUNT" -conc "$CONC")
	fi
	c1=$(cpu "$MXR_PID"); u1=$(cpu "$UNB_PID")
	echo "$line mxroute_cpu_us_per_plan=$(( (c1 - c0) * 1000000 / TCK / COUNT )) unbound_cpu_us_per_plan=$(( (u1 - u0) * 1000000 / TCK / COUNT ))"
}
from=10
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="dns http"; else order="http dns"; fi
	for v in $order; do
		echo "round=$r $(run "$v" "$from")"
		from=$((from + COUNT))
	done
done | tee "$OUT/results.txt"
