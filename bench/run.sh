#!/usr/bin/env bash
# bench/run.sh re-runs the measurements recorded in docs/benchmarks.md.
#
#   bench/run.sh micro     planner, cache and in-process /route Go benchmarks
#   bench/run.sh cold      BenchmarkColdPlan: a cache-miss plan against a slow DNS server
#   bench/run.sh route     cached /route (in-memory store) vs bench/bare, wrk, interleaved
#   bench/run.sh tls       cached /route with a cached MTA-STS policy vs the build of
#                          BASE_REV (default: the commit before MTA-STS) and vs MTA-STS off
#   bench/run.sh tls-contract  e374cb2 (TLS fields in every plan) against its parent
#   bench/run.sh tracing   /route with tracing off, at 100 % and at 1 % to bench/otlpsink
#   bench/run.sh redis     /route memory vs Redis store; feedback ingest; propagation
#   bench/run.sh all       all of the above, in that order
#
# Settings (environment): ROUNDS (interleaved rounds, default 3), DURATION
# (one wrk run, default 10s), CONNS (wrk connections, default 32), THREADS
# (wrk threads, default 1), OUT (results, default /tmp/mxroute-bench),
# PORT_BASE (first port tried, default 18400). Everything listens on
# 127.0.0.1 and every load run is bounded by DURATION or a request count.
#
# Every load comparison is interleaved: round r runs each variant once, in
# the order A B C in odd rounds and C B A in even rounds, so drift on the
# shared machine (other processes, thermal, GC heap growth) hits every
# variant alike. Ratios are computed per round, against the round's own
# baseline, and the median over rounds is reported.
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
OUT=${OUT:-/tmp/mxroute-bench}
PORT_BASE=${PORT_BASE:-18400}
BIN=$OUT/bin
LUA=$ROOT/bench/latency.lua
mkdir -p "$OUT" "$BIN"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
trap cleanup EXIT

need() {
	command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 1; }
}

build() {
	(cd "$ROOT" && go build -o "$BIN/mxroute" ./cmd/mxroute &&
		go build -o "$BIN/bare" ./bench/bare &&
		go build -o "$BIN/otlpsink" ./bench/otlpsink &&
		go build -o "$BIN/feedload" ./bench/feedload &&
		go build -o "$BIN/propagation" ./bench/propagation &&
		go build -o "$BIN/stspolicy" ./bench/stspolicy)
}

NEXT_PORT=$PORT_BASE
# free_port VAR sets VAR to a loopback TCP port nobody listens on, never
# the same one twice in a run (servers started a moment ago may not listen
# yet). It sets a variable rather than printing, because $(...) would run
# it in a subshell and forget NEXT_PORT.
free_port() {
	while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do
		NEXT_PORT=$((NEXT_PORT + 1))
	done
	printf -v "$1" '%s' "$NEXT_PORT"
	NEXT_PORT=$((NEXT_PORT + 1))
}

# start NAME ENV... -- CMD ARGS...: run CMD in the background with only the
# given environment (so no OTEL_* or MXROUTE_* of the caller leaks in),
# logging to $OUT/NAME.log.
start() {
	local name=$1 envs=()
	shift
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	env -i PATH="$PATH" HOME="${HOME:-/root}" "${envs[@]}" "$@" >"$OUT/$name.log" 2>&1 &
	PIDS+=($!)
}

wait_http() {
	local url=$1 i
	for i in $(seq 200); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "no answer from $url" >&2
	exit 1
}

# mxroute NAME PORT [ENV...]: start an mxroute on PORT with the defaults
# the benchmarks assume (demo zone, in-memory store unless ENV says
# otherwise, no upstream resolver) and wait until it is ready.
mxroute() {
	local name=$1 port=$2
	shift 2
	start "$name" MXROUTE_LISTEN=127.0.0.1:$port MXROUTE_DNS_SERVERS=127.0.0.1:1 "$@" -- "$BIN/mxroute"
	wait_http "http://127.0.0.1:$port/healthz"
}

# cpu_ticks PID: user+system CPU time of a process, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# load NAME ROUND URL: one wrk run; appends a row to $OUT/$SCENARIO.tsv.
# When PID_NAME names the server's process, the row also gets the CPU
# time the server spent per request, in microseconds: a figure that other
# load on the machine disturbs far less than req/s, since a server that
# waits for a core is not charged for the wait.
load() {
	local name=$1 round=$2 url=$3 f pidvar="PID_$1" t0=0 t1=0
	f=$OUT/$name.r$round.txt
	if [ -n "${!pidvar:-}" ]; then t0=$(cpu_ticks "${!pidvar}"); fi
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$LUA" "$url" >"$f"
	if [ -n "${!pidvar:-}" ]; then t1=$(cpu_ticks "${!pidvar}"); fi
	local line reqs cpu
	line=$(grep '^RESULT' "$f") || { echo "wrk gave no RESULT for $name" >&2; cat "$f" >&2; exit 1; }
	reqs=$(echo "$line" | sed 's/.*requests=\([0-9]*\).*/\1/')
	cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
	# RESULT rps=.. p50_us=.. p90_us=.. p99_us=.. max_us=.. requests=.. non2xx=.. sockerr=..
	echo "$SCENARIO $name $round $(echo "$line" | sed 's/^RESULT //; s/[a-z0-9_]*=//g') $cpu" | tr ' ' '\t' >>"$OUT/$SCENARIO.tsv"
	echo "  round $round $name: $(echo "$line" | sed 's/^RESULT //') server_cpu_us_per_req=$cpu"
}

# interleave URL_OF NAME...: ROUNDS rounds, order reversed every other
# round; URL_OF is a function printing a variant's URL.
interleave() {
	local urlof=$1 r n names
	shift
	for r in $(seq "$ROUNDS"); do
		names=("$@")
		if [ $((r % 2)) -eq 0 ]; then
			names=()
			for ((n = $#; n >= 1; n--)); do names+=("${!n}"); done
		fi
		for n in "${names[@]}"; do
			load "$n" "$r" "$($urlof "$n")"
			if [ -n "${AFTER_LOAD:-}" ]; then $AFTER_LOAD "$n" "$r"; fi
		done
	done
}

# summary BASELINE NAME...: medians over rounds of req/s, p50, p99 and
# server CPU per request, and the medians of the per-round ratios to
# BASELINE's req/s and CPU per request.
summary() {
	local base=$1
	shift
	echo
	echo "scenario=$SCENARIO rounds=$ROUNDS wrk -t$THREADS -c$CONNS -d$DURATION ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
	awk -F'\t' -v sc="$SCENARIO" -v base="$base" -v names="$*" '
	function median(arr, n,    i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j-1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
		return n % 2 ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
	}
	$1 == sc { rps[$2, $3] = $4; p50[$2, $3] = $5; p99[$2, $3] = $7; cpu[$2, $3] = $12; err[$2] += $10 + $11; rounds[$3] = 1 }
	END {
		printf "%-10s %9s %8s %8s %12s %12s %14s %6s\n", "variant", "req/s", "p50 ms", "p99 ms", "cpu us/req", "req/s ratio", "cpu/req ratio", "errors"
		k = split(names, ns, " ")
		for (i = 1; i <= k; i++) {
			n = ns[i]; m = 0
			for (r in rounds) {
				m++; a[m] = rps[n, r]; b[m] = p50[n, r]; c[m] = p99[n, r]; d[m] = cpu[n, r]
				q[m] = rps[base, r] ? rps[n, r] / rps[base, r] : 0
				u[m] = cpu[base, r] > 0 ? cpu[n, r] / cpu[base, r] : 0
			}
			printf "%-10s %9.0f %8.2f %8.2f %12.1f %12.3f %14.3f %6d\n", n, median(a, m), median(b, m) / 1000, median(c, m) / 1000, median(d, m), median(q, m), median(u, m), err[n]
		}
		print "(req/s ratio: variant over " base ", per round; cpu/req ratio: server CPU per request over " base "'"'"'s, per round; medians)"
	}' "$OUT/$SCENARIO.tsv"
}

# micro runs each Go benchmark COUNT times (default 5) and prints the
# median ns/op of each next to its allocations.
micro() {
	cd "$ROOT"
	local count=${COUNT:-5}
	go test -run='^$' -bench=. -benchmem -count="$count" ./internal/routing ./internal/cache | tee "$OUT/micro.txt"
	go test -run='^$' -bench='PlanCached|RouteHTTP' -benchmem -count="$count" ./cmd/mxroute | tee -a "$OUT/micro.txt"
	echo
	echo "medians of $count runs:"
	awk '/^Benchmark/ { n[$1]++; v[$1, n[$1]] = $3; b[$1] = $5; a[$1] = $7; if (!seen[$1]++) order[++k] = $1 }
	END {
		for (i = 1; i <= k; i++) {
			name = order[i]; m = n[name]
			for (x = 1; x <= m; x++) t[x] = v[name, x]
			for (x = 2; x <= m; x++) for (y = x; y > 1 && t[y-1] > t[y]; y--) { z = t[y]; t[y] = t[y-1]; t[y-1] = z }
			med = m % 2 ? t[(m+1)/2] : (t[m/2] + t[m/2+1]) / 2
			printf "%-36s %12.1f ns/op %8s B/op %6s allocs/op\n", name, med, b[name], a[name]
		}
	}' "$OUT/micro.txt"
}

cold() {
	cd "$ROOT"
	go test -run='^$' -bench=ColdPlan -benchtime=100x -count=3 ./cmd/mxroute | tee "$OUT/cold.txt"
}

route() {
	need wrk wrk
	SCENARIO=route
	: >"$OUT/$SCENARIO.tsv"
	local pm pb
	free_port pm
	free_port pb
	mxroute route-mx "$pm"
	PID_mxroute=${PIDS[-1]}
	start bare -- "$BIN/bare" -listen "127.0.0.1:$pb"
	PID_bare=${PIDS[-1]}
	wait_http "http://127.0.0.1:$pb/"
	URL_mxroute="http://127.0.0.1:$pm/route?domain=example.com"
	URL_bare="http://127.0.0.1:$pb/route?domain=example.com"
	urlof() { local v="URL_$1"; echo "${!v}"; }
	# Warm-up: fill the cache, grow the heaps, open the connections.
	for n in mxroute bare; do wrk -t1 -c"$CONNS" -d2s "$(urlof $n)" >/dev/null; done
	interleave urlof mxroute bare
	summary bare mxroute bare | tee "$OUT/route.summary"
	cleanup
}

# tls: the cost of MTA-STS on a cached plan. "base" is mxroute as built
# from BASE_REV, before plans carried TLS policy, on example.com; "off" is
# this build with MXROUTE_MTA_STS=false on example.com; "sts" is this
# build on sts.example, example.com's layout with an enforce policy that
# every host matches, fetched once from bench/stspolicy and then cached;
# "stsoff" is this build with MXROUTE_MTA_STS=false on sts.example, so
# that sts against stsoff differs by the policy alone (same build, same
# zone, same domain). TLS_BASE=false leaves "base" out.
tls() {
	need wrk wrk
	SCENARIO=tls
	: >"$OUT/$SCENARIO.tsv"
	local rev=${BASE_REV:-e374cb2^} src=$OUT/base-src pb po ps pn ph names=(off stsoff sts)
	free_port pb
	free_port po
	free_port ps
	free_port pn
	free_port ph
	if [ "${TLS_BASE:-true}" != false ]; then
		names=(base off stsoff sts)
		rm -rf "$src" && mkdir -p "$src"
		git -C "$ROOT" archive "$rev" | tar -x -C "$src"
		(cd "$src" && go build -o "$BIN/mxroute-base" ./cmd/mxroute)
		start tls-base MXROUTE_LISTEN=127.0.0.1:$pb MXROUTE_DNS_SERVERS=127.0.0.1:1 -- "$BIN/mxroute-base"
		PID_base=${PIDS[-1]}
		wait_http "http://127.0.0.1:$pb/healthz"
	fi
	start stspolicy -- "$BIN/stspolicy" -listen "127.0.0.1:$ph" -ca "$OUT/sts-ca.pem"
	sleep 1
	mxroute tls-off "$po" MXROUTE_MTA_STS=false
	PID_off=${PIDS[-1]}
	mxroute tls-stsoff "$pn" MXROUTE_ZONE_FILES=demo,$ROOT/bench/sts.zone MXROUTE_MTA_STS=false
	PID_stsoff=${PIDS[-1]}
	mxroute tls-sts "$ps" MXROUTE_ZONE_FILES=demo,$ROOT/bench/sts.zone MXROUTE_MTA_STS_CA_FILE=$OUT/sts-ca.pem \
		MXROUTE_MTA_STS_PORT=$ph MXROUTE_MTA_STS_ALLOW_LOOPBACK=true
	PID_sts=${PIDS[-1]}
	URL_base="http://127.0.0.1:$pb/route?domain=example.com"
	URL_off="http://127.0.0.1:$po/route?domain=example.com"
	URL_stsoff="http://127.0.0.1:$pn/route?domain=sts.example"
	URL_sts="http://127.0.0.1:$ps/route?domain=sts.example"
	urlof() { local v="URL_$1"; echo "${!v}"; }
	curl -fsS "$URL_sts" | grep -q '"mode":"enforce"' || { echo "sts.example plan carries no enforce policy" >&2; curl -sS "$URL_sts" >&2; exit 1; }
	if curl -fsS "$URL_stsoff" | grep -q '"mode":"enforce"'; then echo "stsoff carries a policy" >&2; exit 1; fi
	for n in "${names[@]}"; do wrk -t1 -c"$CONNS" -d2s "$(urlof "$n")" >/dev/null; done
	interleave urlof "${names[@]}"
	summary stsoff "${names[@]}" | tee "$OUT/tls.summary"
	if [ "${TLS_BASE:-true}" != false ]; then summary base "${names[@]}" | tee -a "$OUT/tls.summary"; fi
	cleanup
}

# tls_contract: the plan-side cost of TLS policy alone: mxroute built from
# e374cb2 (the tls object and tls_required on every plan, the planner's TLS
# pass, no MTA-STS lookups yet) against its parent, on example.com.
tls_contract() {
	need wrk wrk
	SCENARIO=iso
	: >"$OUT/$SCENARIO.tsv"
	local pb pc
	for rev in e374cb2^ e374cb2; do
		n=$( [ "$rev" = e374cb2 ] && echo tlsrev || echo base )
		rm -rf "$OUT/src-$n" && mkdir -p "$OUT/src-$n"
		git -C "$ROOT" archive "$rev" | tar -x -C "$OUT/src-$n"
		(cd "$OUT/src-$n" && go build -o "$BIN/mxroute-$n" ./cmd/mxroute)
	done
	free_port pb
	free_port pc
	start iso-base MXROUTE_LISTEN=127.0.0.1:$pb MXROUTE_DNS_SERVERS=127.0.0.1:1 -- "$BIN/mxroute-base"
	PID_base=${PIDS[-1]}
	start iso-tls MXROUTE_LISTEN=127.0.0.1:$pc MXROUTE_DNS_SERVERS=127.0.0.1:1 -- "$BIN/mxroute-tlsrev"
	PID_tlsrev=${PIDS[-1]}
	wait_http "http://127.0.0.1:$pb/healthz"
	wait_http "http://127.0.0.1:$pc/healthz"
	URL_base="http://127.0.0.1:$pb/route?domain=example.com"
	URL_tlsrev="http://127.0.0.1:$pc/route?domain=example.com"
	urlof() { local v="URL_$1"; echo "${!v}"; }
	for n in base tlsrev; do wrk -t1 -c"$CONNS" -d2s "$(urlof $n)" >/dev/null; done
	interleave urlof base tlsrev
	summary base base tlsrev | tee "$OUT/iso.summary"
	cleanup
}

# spans_after NAME ROUND: after a tracing run, wait SPAN_WAIT seconds
# (default 6) for the batch span processor to export what it holds
# (OTEL_BSP_SCHEDULE_DELAY, 5 s), then record how many spans the sink
# received since the previous run and how many requests wrk sent. Fewer
# spans than requests at 100 % sampling means the processor's queue (2048
# spans) overflowed and dropped some. A shorter SPAN_WAIT allows more,
# shorter rounds; the per-round span counts then smear into the next.
spans_after() {
	sleep "${SPAN_WAIT:-6}"
	local now
	now=$(curl -fsS "http://127.0.0.1:$SINK_PORT/stats" | sed 's/.*"spans":\([0-9]*\).*/\1/')
	local reqs
	reqs=$(grep '^RESULT' "$OUT/$1.r$2.txt" | sed 's/.*requests=\([0-9]*\).*/\1/')
	echo "    spans received $((now - SPANS_SEEN)) for $reqs requests"
	echo "$1 $2 $((now - SPANS_SEEN)) $reqs" >>"$OUT/spans.txt"
	SPANS_SEEN=$now
}

tracing() {
	need wrk wrk
	SCENARIO=tracing
	: >"$OUT/$SCENARIO.tsv"
	free_port SINK_PORT
	SPANS_SEEN=0
	start otlpsink -- "$BIN/otlpsink" -listen "127.0.0.1:$SINK_PORT"
	wait_http "http://127.0.0.1:$SINK_PORT/stats"
	local p0 p100 p1 otlp
	free_port p0
	free_port p100
	free_port p1
	otlp=(OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
	mxroute trace-off "$p0"
	PID_off=${PIDS[-1]}
	mxroute trace-100 "$p100" "${otlp[@]}" OTEL_TRACES_SAMPLER=always_on
	PID_on100=${PIDS[-1]}
	mxroute trace-1 "$p1" "${otlp[@]}" OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01
	PID_on1=${PIDS[-1]}
	URL_off="http://127.0.0.1:$p0/route?domain=example.com"
	URL_on100="http://127.0.0.1:$p100/route?domain=example.com"
	URL_on1="http://127.0.0.1:$p1/route?domain=example.com"
	urlof() { local v="URL_$1"; echo "${!v}"; }
	for n in off on100 on1; do wrk -t1 -c"$CONNS" -d2s "$(urlof $n)" >/dev/null; done
	sleep 6 # let the batch span processors drain the warm-up
	SPANS_SEEN=$(curl -fsS "http://127.0.0.1:$SINK_PORT/stats" | sed 's/.*"spans":\([0-9]*\).*/\1/')
	: >"$OUT/spans.txt"
	AFTER_LOAD=spans_after interleave urlof off on100 on1
	summary off off on100 on1 | tee "$OUT/tracing.summary"
	cleanup
}

redis() {
	need wrk wrk
	need redis-server redis-server
	SCENARIO=redis
	: >"$OUT/$SCENARIO.tsv"
	local pr pm px pb zone common
	free_port pr
	mkdir -p "$OUT/redis"
	start redis -- redis-server --bind 127.0.0.1 --port "$pr" --save "" --appendonly no --dir "$OUT/redis"
	PID_redisserver=${PIDS[-1]}
	for _ in $(seq 50); do redis-cli -p "$pr" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis-cli -p "$pr" flushall >/dev/null
	# Every instance gets the same settings but the store: the demo zone
	# plus the propagation zone, a demotion budget above its 1000
	# addresses, and a feedback rate limit out of the way (the ingest
	# figure is the store's, not the limiter's).
	zone=$OUT/prop.zone
	"$BIN/propagation" -zone "$zone" -n "${PROP_N:-1000}"
	common=(MXROUTE_ZONE_FILES=demo,$zone MXROUTE_HEALTH_BUDGET_MIN=100000 MXROUTE_FEEDBACK_RATE=1000000)
	free_port pm
	free_port px
	mxroute redis-mem "$pm" "${common[@]}"
	PID_memory=${PIDS[-1]}
	mxroute redis-store "$px" "${common[@]}" MXROUTE_REDIS_URL=redis://127.0.0.1:$pr
	PID_redis=${PIDS[-1]}
	URL_memory="http://127.0.0.1:$pm/route?domain=example.com"
	URL_redis="http://127.0.0.1:$px/route?domain=example.com"
	urlof() { local v="URL_$1"; echo "${!v}"; }
	for n in memory redis; do wrk -t1 -c"$CONNS" -d2s "$(urlof $n)" >/dev/null; done
	redis-cli -p "$pr" config resetstat >/dev/null
	interleave urlof memory redis
	summary memory memory redis | tee "$OUT/redis.summary"
	# /route must never wait for Redis: the routing view is local.
	echo "redis commands during the /route runs (both variants, all rounds; includes resync and INFO):" | tee -a "$OUT/redis.summary"
	redis-cli -p "$pr" info commandstats | grep '^cmdstat' | tee -a "$OUT/redis.summary"

	echo
	echo "feedback ingest through HTTP, batches of 100: Redis store (:$px), then memory store (:$pm)"
	redis-cli -p "$pr" config resetstat >/dev/null
	local m0 r0 m1 r1
	m0=$(cpu_ticks "$PID_redis")
	r0=$(cpu_ticks "$PID_redisserver")
	"$BIN/feedload" -url "http://127.0.0.1:$px" -batch 100 -concurrency "${FEED_CONC:-8}" \
		-duration "${FEED_DURATION:-10s}" -reporters 50 -redis-stats "127.0.0.1:$pr" | tee "$OUT/feedload-redis.txt"
	m1=$(cpu_ticks "$PID_redis")
	r1=$(cpu_ticks "$PID_redisserver")
	echo "CPU during the run: mxroute $(((m1 - m0) * 1000 / $(getconf CLK_TCK))) ms, redis-server $(((r1 - r0) * 1000 / $(getconf CLK_TCK))) ms" | tee -a "$OUT/feedload-redis.txt"
	m0=$(cpu_ticks "$PID_memory")
	"$BIN/feedload" -url "http://127.0.0.1:$pm" -batch 100 -concurrency "${FEED_CONC:-8}" \
		-duration "${FEED_DURATION:-10s}" -reporters 50 | tee "$OUT/feedload-memory.txt"
	m1=$(cpu_ticks "$PID_memory")
	echo "CPU during the run: mxroute $(((m1 - m0) * 1000 / $(getconf CLK_TCK))) ms" | tee -a "$OUT/feedload-memory.txt"

	echo
	echo "propagation: demote through instance A (:$px), watch instance B's /route (both on Redis)"
	free_port pb
	mxroute redis-b "$pb" "${common[@]}" MXROUTE_REDIS_URL=redis://127.0.0.1:$pr
	"$BIN/propagation" -a "http://127.0.0.1:$px" -b "http://127.0.0.1:$pb" -n "${PROP_N:-1000}" | tee "$OUT/propagation.txt"
	cleanup
}

case "${1:-}" in
micro) micro ;;
cold) cold ;;
route) build && route ;;
tls) build && tls ;;
tls-contract) build && tls_contract ;;
tracing) build && tracing ;;
redis) build && redis ;;
all) build && micro && cold && route && tracing && redis ;;
*)
	sed -n '2,12p' "$0"
	exit 2
	;;
esac
