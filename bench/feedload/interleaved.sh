#!/bin/bash
# Interleaved before/after ingest runs; loopback only: run as
#   unshare -n bench/feedload/interleaved.sh
# with /tmp/ingest-mxroute-before, /tmp/ingest-mxroute-after and
# /tmp/ingest-feedload built first (go build -o ...). Each run gets a fresh
# redis-server and one mxroute; feedload prints the reports Redis applied
# and Redis CPU per applied report. CONC (default 256) concurrent senders,
# ROUNDS (default 2) rounds, DURATION (default 10s) per run. Results in
# /tmp/ingest-bench/results.txt.
set -u
mkdir -p /tmp/ingest-bench
ip link set lo up
out=/tmp/ingest-bench/results.txt; : > $out
one() { # variant addresses duration
  local v=$1 n=$2 d=$3
  local rp=$((16000 + RANDOM % 1000)) hp=$((17000 + RANDOM % 1000))
  local dir=$(mktemp -d)
  redis-server --bind 127.0.0.1 --port $rp --save "" --appendonly no --dir $dir >/dev/null 2>&1 &
  local rpid=$!
  sleep 0.3
  MXROUTE_LISTEN=127.0.0.1:$hp MXROUTE_DNS_SERVERS=127.0.0.1:1 MXROUTE_REDIS_URL=redis://127.0.0.1:$rp MXROUTE_FEEDBACK_RATE=100000 MXROUTE_LOG_LEVEL=error \
    /tmp/ingest-mxroute-$v >/dev/null 2>&1 &
  local mpid=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:$hp/healthz >/dev/null && break; sleep 0.1; done
  echo "=== $v addresses=$n duration=$d concurrency=${CONC:-256}" >> $out
  /tmp/ingest-feedload -url http://127.0.0.1:$hp -redis-stats 127.0.0.1:$rp -addresses $n -duration $d -concurrency ${CONC:-256} -reporters 50 >> $out 2>&1
  kill $mpid; wait $mpid 2>/dev/null
  kill $rpid; wait $rpid 2>/dev/null
  rm -rf $dir
}
case "${1:-}" in
memory) # the steady-state memory run: after only, MEMORY_DURATION at full rate
  one after "${MEMORY_ADDRESSES:-1000}" "${MEMORY_DURATION:-300s}" ;;
*)
  for round in $(seq ${ROUNDS:-2}); do
    for n in 1000 20; do
      one before $n ${DURATION:-10s}
      one after $n ${DURATION:-10s}
    done
  done ;;
esac
