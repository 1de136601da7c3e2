//go:build postfix_e2e && postfix_bench

package postfixe2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/agent/logtail"
)

// TestPostfixBench measures, on the real Postfix of the e2e and in one
// interleaved run: messages per second through one Postfix with plain DNS
// routing, with the agent in fresh order and in stable order (and what
// each does to connections toward one destination); the socketmap's
// latency; and the agent's CPU per 1,000 log lines. make postfix-bench
// runs it; figures go to docs/benchmarks.md.
func TestPostfixBench(t *testing.T) {
	f := setup(t)
	out := &strings.Builder{}
	rounds, perRound := 3, 200
	fmt.Fprintf(out, "messages/s through pf-a, %d messages per run to one domain (two MX of equal preference), %d interleaved rounds\n", perRound, rounds)
	results := map[string][]float64{}
	for r := range rounds {
		for _, mode := range []string{"plain", "fresh", "stable"} {
			f.configure(t, mode)
			mps, sessions, maxActive := f.throughput(t, fmt.Sprintf("r%d-%s", r, mode), perRound)
			results[mode] = append(results[mode], mps)
			fmt.Fprintf(out, "round %d %-6s %7.1f msg/s  connections %3d  most open at once %2d\n", r, mode, mps, sessions, maxActive)
		}
	}
	for _, mode := range []string{"plain", "fresh", "stable"} {
		fmt.Fprintf(out, "median %-6s %7.1f msg/s (%.2f of plain)\n", mode, median(results[mode]), median(results[mode])/median(results["plain"]))
	}
	f.configure(t, "fresh")
	f.latency(t, out, "fresh")
	f.configure(t, "stable")
	f.latency(t, out, "stable")
	f.agentCPU(t, out)
	t.Log("\n" + out.String())
	if p := os.Getenv("E2E_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(out.String()), 0o644)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// configure switches pf-a between plain DNS routing and the agent's
// socketmap in fresh or stable order.
func (f *fixture) configure(t *testing.T, mode string) {
	a := f.a
	maps := fmt.Sprintf("socketmap:inet:127.0.0.1:%d:mxroute", a.agentPort)
	if mode == "plain" {
		maps = ""
	}
	if out, err := a.command("postconf", "-e", "transport_maps="+maps); err != nil {
		t.Fatalf("postconf: %v %s", err, out)
	}
	if mode != "plain" && a.order != mode {
		a.agent.stop(t)
		a.order = mode
		a.startAgent()
	}
	if out, err := a.postfix("reload"); err != nil {
		t.Fatalf("reload: %v %s", err, out)
	}
	time.Sleep(2 * time.Second) // let the old trivial-rewrite processes go
}

// throughput submits n messages from 4 clients and returns messages per
// second from the first submission to the last delivery.
func (f *fixture) throughput(t *testing.T, tag string, n int) (float64, int, int) {
	f.s2.reset()
	f.s3.reset()
	start := time.Now()
	var wg sync.WaitGroup
	var toks []string
	for i := range n {
		toks = append(toks, fmt.Sprintf("bench-%s-%d", tag, i))
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				f.a.send(fmt.Sprintf("b%d@e2e.test", i), toks[i])
			}
		}()
	}
	wg.Wait()
	waitFor(t, 120*time.Second, tag+" delivered", func() bool {
		d2, _ := f.s2.totals()
		d3, _ := f.s3.totals()
		return d2+d3 >= n
	})
	elapsed := time.Since(start)
	c2, m2 := f.s2.connections()
	c3, m3 := f.s3.connections()
	return float64(n) / elapsed.Seconds(), c2 + c3, m2 + m3
}

// latency times socketmap lookups on one connection (a new recipient each,
// so fresh order asks mxroute every time, its DNS cache warm) against
// GET /route straight to mxroute in the same run.
func (f *fixture) latency(t *testing.T, out *strings.Builder, mode string) {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", f.a.agentPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 2000
	var sm, direct []time.Duration
	buf := make([]byte, 4096)
	for i := range n {
		req := fmt.Sprintf("mxroute lat%s%d@e2e.test", mode, i)
		s := time.Now()
		fmt.Fprintf(c, "%d:%s,", len(req), req)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		sm = append(sm, time.Since(s))
		s = time.Now()
		res, err := http.Get(f.mx.url() + "route?domain=e2e.test")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		direct = append(direct, time.Since(s))
	}
	p := func(d []time.Duration, q float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(q*float64(len(s)-1))]
	}
	fmt.Fprintf(out, "socketmap lookup, order %s, %d lookups: p50 %v p99 %v; GET /route direct: p50 %v p99 %v\n",
		mode, n, p(sm, 0.5).Round(time.Microsecond), p(sm, 0.99).Round(time.Microsecond),
		p(direct, 0.5).Round(time.Microsecond), p(direct, 0.99).Round(time.Microsecond))
}

// agentCPU runs one more agent over a log of this run's real lines
// repeated to 200,000 and reads its CPU time from /proc once the state
// file says every line is posted.
func (f *fixture) agentCPU(t *testing.T, out *strings.Builder) {
	src := f.a.logLines()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "maillog")
	var b strings.Builder
	lines := 0
	for lines < 200_000 {
		for _, l := range src {
			b.WriteString(l)
			b.WriteByte('\n')
			lines++
		}
	}
	if err := os.WriteFile(logPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	size := int64(b.Len())
	state := filepath.Join(dir, "state")
	p := startProc(t, "cpu agent", f.a.agentBin, []string{
		"MXROUTE_AGENT_URL=" + f.mx.url(), "MXROUTE_AGENT_REPORTER=cpu-probe",
		"MXROUTE_AGENT_LISTEN=inet:127.0.0.1:" + strconv.Itoa(freePort(t)),
		"MXROUTE_AGENT_MAILLOG=" + logPath, "MXROUTE_AGENT_STATE_FILE=" + state,
		"MXROUTE_AGENT_FROM_START=true", "MXROUTE_AGENT_QUEUE_MAX=1000000",
	}, "postfix")
	start := time.Now()
	waitFor(t, 120*time.Second, "cpu agent done", func() bool {
		pos, ok, _ := logtail.LoadState(state)
		return ok && pos.Offset == size
	})
	wall := time.Since(start)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	cpu := time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ 100
	fmt.Fprintf(out, "agent over %d real log lines (%d smtp attempts among them), parsed and posted: CPU %v (%.2f ms per 1,000 lines), wall %v\n",
		lines, countAttempts(src)*(lines/len(src)), cpu, float64(cpu.Microseconds())/float64(lines), wall.Round(time.Millisecond))
}

func countAttempts(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, "/smtp[") {
			n++
		}
	}
	return n
}
