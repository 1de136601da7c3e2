#!/usr/bin/env bash
# bench/drainscale/pages.sh: GET /hosts page latency and server CPU per page
# with N addresses drained, this tree's mxroute ("new") against the build
# of BASE_REV ("base"), interleaved.
#
#   BASE_REV=75a520e STORE=memory bench/drainscale/pages.sh
#   BASE_REV=75a520e STORE=redis  bench/drainscale/pages.sh
#
# Both servers are filled with the same N drains (bench/drainscale -phase
# fill), then each round pages through all of them PASSES times at each
# page size of LIMITS on each server, in the order base new in odd rounds
# and new base in even ones (bench/drainscale -phase list). Each row of
# $OUT/pages.tsv is one such run: the pages' p50 and p99, and the
# server's CPU time (utime + stime from /proc) per page. The summary gives
# medians over rounds and the medians of the per-round ratios new/base.
#
# Settings: BASE_REV (required), STORE (memory or redis), N (50000), ROUNDS
# (5), PASSES (1), LIMITS (100,1000), FILL_CONC (8; 4 for redis), OUT
# (/tmp/mxroute-pages), PORT_BASE (18900). Everything listens on
# 127.0.0.1; every run is bounded by N, PASSES and ROUNDS. The script
# stops exactly the processes it started.
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BASE_REV=${BASE_REV:?set BASE_REV to the commit to compare with}
STORE=${STORE:-memory}
N=${N:-50000}
ROUNDS=${ROUNDS:-5}
PASSES=${PASSES:-1}
LIMITS=${LIMITS:-100,1000}
OUT=${OUT:-/tmp/mxroute-pages}
PORT=${PORT_BASE:-18900}
FILL_CONC=${FILL_CONC:-$([ "$STORE" = redis ] && echo 4 || echo 8)}
BIN=$OUT/bin
mkdir -p "$BIN"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
	while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
	printf -v "$1" '%s' "$PORT"
	PORT=$((PORT + 1))
}

wait_http() {
	local i
	for i in $(seq 200); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "no answer from $1" >&2
	exit 1
}

(cd "$ROOT" && go build -o "$BIN/mxroute-new" ./cmd/mxroute && go build -o "$BIN/drainscale" ./bench/drainscale)
rm -rf "$OUT/base-src" && mkdir -p "$OUT/base-src"
git -C "$ROOT" archive "$BASE_REV" | tar -x -C "$OUT/base-src"
(cd "$OUT/base-src" && go build -o "$BIN/mxroute-base" ./cmd/mxroute)

# serve NAME: start mxroute-NAME (and its own redis-server with STORE=redis),
# set URL_NAME and PID_NAME.
serve() {
	local name=$1 port rport envs=()
	free_port port
	if [ "$STORE" = redis ]; then
		free_port rport
		redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$OUT/redis-$name.log" 2>&1 &
		PIDS+=($!)
		for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
		envs+=(MXROUTE_REDIS_URL=redis://127.0.0.1:$rport)
	fi
	env -i PATH="$PATH" HOME="${HOME:-/root}" MXROUTE_LISTEN=127.0.0.1:$port MXROUTE_DNS_SERVERS=127.0.0.1:1 \
		MXROUTE_DRAIN_LIMIT=200000 "${envs[@]}" "$BIN/mxroute-$name" >"$OUT/mxroute-$name.log" 2>&1 &
	PIDS+=($!)
	printf -v "PID_$name" '%s' "$!"
	printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
	wait_http "http://127.0.0.1:$port/healthz"
}

for v in base new; do
	serve "$v"
	url="URL_$v"
	"$BIN/drainscale" -phase fill -url "${!url}" -n "$N" -c "$FILL_CONC"
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

: >"$OUT/pages.tsv"
for r in $(seq "$ROUNDS"); do
	order="base new"
	if [ $((r % 2)) -eq 0 ]; then order="new base"; fi
	for limit in ${LIMITS//,/ }; do
		for v in $order; do
			url="URL_$v" pid="PID_$v"
			t0=$(ticks "${!pid}")
			line=$("$BIN/drainscale" -phase list -url "${!url}" -n "$N" -limits "$limit" -passes "$PASSES")
			t1=$(ticks "${!pid}")
			pages=$(echo "$line" | sed 's/.* n \([0-9]*\) .*/\1/')
			p50=$(echo "$line" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
			p99=$(echo "$line" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
			cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$pages" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }')
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$r" "$limit" "$p50" "$p99" "$cpu" >>"$OUT/pages.tsv"
			echo "round $r $v limit=$limit pages=$pages p50=${p50}us p99=${p99}us server_cpu_per_page=${cpu}us"
		done
	done
done

echo
echo "store=$STORE N=$N rounds=$ROUNDS passes=$PASSES base=$BASE_REV ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
awk -F'\t' '
function median(arr, n,    i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j-1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
	return n % 2 ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
}
{ p50[$1, $2, $3] = $4; p99[$1, $2, $3] = $5; cpu[$1, $2, $3] = $6; rounds[$2] = 1; limits[$3] = 1 }
END {
	printf "%-6s %-5s %10s %10s %14s %10s %10s %10s\n", "limit", "build", "p50 ms", "p99 ms", "cpu us/page", "p50 ratio", "p99 ratio", "cpu ratio"
	for (l in limits) for (bi = 1; bi <= 2; bi++) {
		b = bi == 1 ? "base" : "new"; m = 0
		for (r in rounds) {
			m++; a[m] = p50[b, r, l]; c[m] = p99[b, r, l]; d[m] = cpu[b, r, l]
			q[m] = p50[b, r, l] / p50["base", r, l]; s[m] = p99[b, r, l] / p99["base", r, l]
			u[m] = cpu["base", r, l] > 0 ? cpu[b, r, l] / cpu["base", r, l] : 0
		}
		printf "%-6s %-5s %10.2f %10.2f %14.0f %10.3f %10.3f %10.3f\n", l, b, median(a, m) / 1000, median(c, m) / 1000, median(d, m), median(q, m), median(s, m), median(u, m)
	}
}' "$OUT/pages.tsv" | tee "$OUT/pages-$STORE.summary"
