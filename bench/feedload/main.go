// Command feedload measures feedback ingest through mxroute's HTTP API:
// concurrent workers POST /feedback batches (100 reports by default) for
// a bounded time, each batch as one of a pool of reporters (the
// X-Mxroute-Reporter header of unauthenticated mode), and it prints
// batches/s, reports/s and the POST latency percentiles. With -redis-stats
// it also reads Redis's INFO commandstats before and after and prints the
// commands the run cost per batch, which is the store's real price: the
// HTTP figure alone cannot tell one EVALSHA per address from one per
// report. It then waits until Redis stops changing and counts the reports
// Redis actually applied (a 202 only says a report was accepted, maybe
// into a buffer that later dropped it): ingest throughput is applied
// reports per second from the start until the last one landed, and Redis
// CPU is divided by applied reports.
//
// Reports mix successes and failures over a pool of addresses, all in
// 10.8.0.0/16 (report payloads only: nothing is ever sent to them). With
// the default 5 % failures over 10000 addresses and 50 reporters, few
// addresses reach a vote, so the run measures ingest, not demotion.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "feedload:", err)
		os.Exit(1)
	}
}

type settings struct {
	url         string
	batch       int
	concurrency int
	duration    time.Duration
	reporters   int
	addresses   int
	failRatio   float64
	redisAddr   string
}

// result is what one worker saw.
type result struct {
	batches, reports int
	status           map[int]int
	transportErrs    int
	latencies        []time.Duration
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var s settings
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.StringVar(&s.url, "url", "http://127.0.0.1:8080", "mxroute base URL (loopback only)")
	fs.IntVar(&s.batch, "batch", 100, "reports per POST")
	fs.IntVar(&s.concurrency, "concurrency", 8, "concurrent workers, each with one keep-alive connection")
	fs.DurationVar(&s.duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&s.reporters, "reporters", 50, "distinct reporters the batches are spread over")
	fs.IntVar(&s.addresses, "addresses", 10000, "distinct addresses the reports are about (10.8.0.0/16)")
	fs.Float64Var(&s.failRatio, "fail-ratio", 0.05, "share of reports that are connect failures")
	fs.StringVar(&s.redisAddr, "redis-stats", "", "host:port of the Redis the server uses, for commands per batch")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if s.batch < 1 || s.concurrency < 1 || s.reporters < 1 || s.addresses < 1 || s.addresses > 65536 {
		return errors.New("-batch, -concurrency, -reporters must be positive, -addresses in 1..65536")
	}
	if s.duration <= 0 || s.duration > 10*time.Minute {
		return errors.New("-duration must be in (0, 10m]: a load run is bounded")
	}
	if err := loopbackOnly(s.url, s.redisAddr); err != nil {
		return err
	}

	var rdb *redis.Client
	var before map[string]cmdStat
	var beforeRes redisResources
	if s.redisAddr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: s.redisAddr})
		defer rdb.Close()
		var err error
		if before, err = commandStats(ctx, rdb); err != nil {
			return err
		}
		if beforeRes, err = resources(ctx, rdb); err != nil {
			return err
		}
	}

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: s.concurrency},
		Timeout:   10 * time.Second,
	}
	runCtx, cancel := context.WithTimeout(ctx, s.duration)
	defer cancel()
	results := make([]result, s.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range s.concurrency {
		wg.Go(func() { results[w] = worker(runCtx, client, s, w) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	var total result
	total.status = map[int]int{}
	for _, r := range results {
		total.batches += r.batches
		total.reports += r.reports
		total.transportErrs += r.transportErrs
		total.latencies = append(total.latencies, r.latencies...)
		for k, v := range r.status {
			total.status[k] += v
		}
	}
	slices.Sort(total.latencies)
	fmt.Fprintf(stdout, "feedload: %d workers, batches of %d, %d reporters, %d addresses, %.0f%% failures, %v\n",
		s.concurrency, s.batch, s.reporters, s.addresses, s.failRatio*100, elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "accepted batches %d (%.0f/s), reports %d (%.0f/s)\n",
		total.batches, float64(total.batches)/elapsed.Seconds(), total.reports, float64(total.reports)/elapsed.Seconds())
	fmt.Fprintf(stdout, "POST latency p50 %v p99 %v max %v\n", pct(total.latencies, 50), pct(total.latencies, 99), pct(total.latencies, 100))
	fmt.Fprintf(stdout, "status counts %v, transport errors %d\n", total.status, total.transportErrs)

	if rdb != nil {
		after, err := commandStats(ctx, rdb)
		if err != nil {
			return err
		}
		printCommandDelta(stdout, before, after, total.batches)
		afterRes, err := resources(ctx, rdb)
		if err != nil {
			return err
		}
		applied, appliedIn, err := settle(ctx, rdb, start)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied reports %d of %d accepted (%.0f/s: from the start until the last reached Redis, %v); server: %s\n",
			applied, total.reports, float64(applied)/appliedIn.Seconds(), appliedIn.Round(time.Millisecond), bufferMetrics(ctx, client, s.url))
		afterRes, err = resources(ctx, rdb)
		if err != nil {
			return err
		}
		cpu := afterRes.cpu - beforeRes.cpu
		fmt.Fprintf(stdout, "redis CPU %.2f s (%.2f cores), %.1f µs per applied report; applied reports per Redis CPU second %.0f\n",
			cpu, cpu/appliedIn.Seconds(), 1e6*cpu/float64(max(applied, 1)), float64(applied)/max(cpu, 1e-9))
		fmt.Fprintf(stdout, "redis used_memory %d -> %d bytes, %d keys; %.0f bytes per address (of %d)\n",
			beforeRes.memory, afterRes.memory, afterRes.keys, float64(afterRes.memory-beforeRes.memory)/float64(s.addresses), s.addresses)
	}
	if total.batches == 0 {
		return errors.New("no batch was accepted")
	}
	return nil
}

// worker posts batches until ctx ends.
func worker(ctx context.Context, client *http.Client, s settings, w int) result {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	r := result{status: map[int]int{}}
	var body bytes.Buffer
	for n := 0; ctx.Err() == nil; n++ {
		body.Reset()
		body.WriteString(`{"reports":[`)
		for i := range s.batch {
			if i > 0 {
				body.WriteByte(',')
			}
			a := rng.IntN(s.addresses)
			addr := "10.8." + strconv.Itoa(a>>8) + "." + strconv.Itoa(a&0xff)
			if rng.Float64() < s.failRatio {
				fmt.Fprintf(&body, `{"address":%q,"outcome":"failure","stage":"connect"}`, addr)
			} else {
				fmt.Fprintf(&body, `{"address":%q,"outcome":"success","stage":"data","smtp_code":250}`, addr)
			}
		}
		body.WriteString(`]}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/feedback", bytes.NewReader(body.Bytes()))
		if err != nil {
			r.transportErrs++
			return r
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Mxroute-Reporter", "load-"+strconv.Itoa((w+n*s.concurrency)%s.reporters))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.transportErrs++
			}
			continue
		}
		var acc struct {
			Accepted int `json:"accepted"`
		}
		derr := json.NewDecoder(resp.Body).Decode(&acc)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.status[resp.StatusCode]++
		if resp.StatusCode == http.StatusAccepted && derr == nil {
			r.latencies = append(r.latencies, time.Since(start))
			r.batches++
			r.reports += acc.Accepted
		}
	}
	return r
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted) - 1) * p / 100
	return sorted[i].Round(10 * time.Microsecond)
}

// loopbackOnly refuses targets outside 127.0.0.0/8 and ::1: load is only
// ever sent to this machine.
func loopbackOnly(rawURL, redisAddr string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	hosts := []string{u.Hostname()}
	if redisAddr != "" {
		h, _, err := net.SplitHostPort(redisAddr)
		if err != nil {
			return fmt.Errorf("-redis-stats: %w", err)
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Unmap().IsLoopback() {
			return fmt.Errorf("%q is not a loopback address: feedload sends only to 127.0.0.0/8 and ::1", h)
		}
	}
	return nil
}

// settleQuiet is how long the count must stay put to be final: longer
// than one store call carrying a full replay batch.
const settleQuiet = 3 * time.Second

// settle waits until the reports counted in Redis stop changing (the
// server may still be sending what it buffered during the run) and
// returns their number and the time from start to the last change. The
// count is the ground truth of ingest: every report feedload sends is a
// host signal, and apply.lua adds each one it applies to its address's
// counters hash (kept for the vote window, longer than a run).
func settle(ctx context.Context, rdb *redis.Client, start time.Time) (int64, time.Duration, error) {
	last, at := int64(-1), time.Now()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		n, err := appliedReports(ctx, rdb)
		if err != nil {
			return 0, 0, err
		}
		if n == last && time.Since(at) >= settleQuiet {
			return n, at.Sub(start), nil
		}
		if n != last {
			last, at = n, time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return last, at.Sub(start), nil
}

// bufferMetrics returns the server's buffer depth and drops from
// /metrics, which say where accepted reports that Redis lacks went.
func bufferMetrics(ctx context.Context, client *http.Client, base string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var out []string
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "mxroute_feedback_buffer_depth") || strings.HasPrefix(line, "mxroute_feedback_buffer_dropped_total") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return "no buffer metrics (nothing buffered or dropped)"
	}
	return strings.Join(out, "; ")
}

// appliedReports sums the failures and successes of every address's
// counters hash (keys ending in "}:c").
func appliedReports(ctx context.Context, rdb *redis.Client) (int64, error) {
	var total int64
	iter := rdb.Scan(ctx, 0, "*}:c", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("redis SCAN: %w", err)
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	if len(keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, fmt.Errorf("redis HGETALL counters: %w", err)
		}
	}
	for _, c := range cmds {
		for _, v := range c.Val() {
			f, sc, _ := strings.Cut(v, ",")
			a, _ := strconv.ParseInt(f, 10, 64)
			b, _ := strconv.ParseInt(sc, 10, 64)
			total += a + b
		}
	}
	return total, nil
}

// redisResources is Redis's CPU time (used_cpu_sys + used_cpu_user, s),
// memory (used_memory) and key count.
type redisResources struct {
	cpu    float64
	memory int64
	keys   int64
}

func resources(ctx context.Context, rdb *redis.Client) (redisResources, error) {
	var r redisResources
	info, err := rdb.Info(ctx, "cpu", "memory").Result()
	if err != nil {
		return r, fmt.Errorf("redis INFO: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			r.cpu += f
		case "used_memory":
			r.memory, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if r.keys, err = rdb.DBSize(ctx).Result(); err != nil {
		return r, fmt.Errorf("redis DBSIZE: %w", err)
	}
	return r, nil
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct{ calls, usec int64 }

// commandStats returns calls and time per command from INFO commandstats.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]cmdStat, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO commandstats: %w", err)
	}
	out := map[string]cmdStat{}
	for line := range strings.SplitSeq(info, "\n") {
		// cmdstat_evalsha:calls=123,usec=4567,usec_per_call=...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st cmdStat
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			var dst *int64
			switch k {
			case "calls":
				dst = &st.calls
			case "usec":
				dst = &st.usec
			default:
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redis INFO commandstats: %q: %w", line, err)
			}
			*dst = n
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return out, nil
}

// printCommandDelta prints the commands run between two INFO snapshots,
// per accepted batch, with the time Redis spent in them. Commands a
// script runs are counted too (EVALSHA's time includes theirs, so the
// time column is not summed). Commands from other clients (the servers'
// resync, pub/sub) are included: that is what the store costs while
// ingesting.
func printCommandDelta(w io.Writer, before, after map[string]cmdStat, batches int) {
	type row struct {
		name        string
		calls, usec int64
	}
	var rows []row
	var total int64
	for name, st := range after {
		if d := st.calls - before[name].calls; d > 0 && name != "info" {
			rows = append(rows, row{name, d, st.usec - before[name].usec})
			total += d
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].calls > rows[j].calls })
	per := func(n int64) float64 {
		if batches == 0 {
			return 0
		}
		return float64(n) / float64(batches)
	}
	fmt.Fprintf(w, "redis commands executed: %d (%.1f per batch, scripts' inner commands included)\n", total, per(total))
	fmt.Fprintf(w, "  %-18s %9s %10s %12s\n", "command", "calls", "per batch", "usec/call")
	for _, r := range rows {
		fmt.Fprintf(w, "  %-18s %9d %10.2f %12.2f\n", r.name, r.calls, per(r.calls), float64(r.usec)/float64(r.calls))
	}
}
