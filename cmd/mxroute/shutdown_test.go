package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// waitUntil polls cond until it holds, failing the test after a generous
// deadline: it waits for a state, it does not time anything.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopAsync starts the shutdown (SIGTERM) and returns a channel closed
// once run has returned and been checked.
func (s *testServer) stopAsync() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Stop()
	}()
	return done
}

// listening reports whether the server still accepts connections: a
// request on a fresh connection (no keep-alive, so no idle connection is
// left behind to hold up the shutdown) gets an answer.
func (s *testServer) listening() bool {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(s.URL + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// heldMX answers the MX query of domain with the zone's MX records, but
// only once release is closed; arrived is closed when the query comes in.
func heldMX(t *testing.T, d *dnstest.Server, domain string, mx []string) (arrived <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	var inOnce, outOnce sync.Once
	release = func() { outOnce.Do(func() { close(out) }) }
	// Registered after the DNS server, so it runs first at cleanup and a
	// failed test never leaves the handler blocked.
	t.Cleanup(release)
	d.Handle(domain, dns.TypeMX, func(req *dns.Msg) *dns.Msg {
		inOnce.Do(func() { close(in) })
		<-out
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		for _, s := range mx {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Errorf("MX record %q: %v", s, err)
				continue
			}
			m.Answer = append(m.Answer, rr)
		}
		return m
	})
	return in, release
}

// TestShutdownFinishesInFlightRequest: a plan still waiting for DNS when
// SIGTERM arrives is completed and answered, the listener closes at once
// so no new request starts, run returns nil, and the request's span is
// exported because telemetry is flushed last.
func TestShutdownFinishesInFlightRequest(t *testing.T) {
	d := dnstest.NewServer(t, opsZone)
	arrived, release := heldMX(t, d, "cold.test.", []string{
		"cold.test. 300 IN MX 10 mx1.cold.test.",
		"cold.test. 300 IN MX 20 mx2.cold.test.",
	})
	recv := newOTLPReceiver(t)
	env := recv.env()
	env["MXROUTE_DNS_SERVERS"] = d.Addr()
	env["MXROUTE_ZONE_FILES"] = "none"
	// Far beyond the test's own run time: the held query must not time out.
	env["MXROUTE_DNS_TIMEOUT"] = "60s"
	env["MXROUTE_DNS_BUDGET"] = "120s"
	s := startServer(t, env)

	type result struct {
		code int
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.URL + "/route?domain=cold.test")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- result{code: resp.StatusCode, body: body, err: err}
	}()
	select {
	case <-arrived:
	case r := <-got:
		t.Fatalf("GET /route answered before its MX query reached DNS: %+v", r)
	case <-time.After(20 * time.Second):
		t.Fatalf("the MX query never reached the DNS server")
	}

	// The request is now provably in flight: its MX answer is held.
	stopped := s.stopAsync()
	waitUntil(t, "the listener closes after SIGTERM", func() bool { return !s.listening() })
	select {
	case <-stopped:
		t.Fatalf("run returned while a request was still in flight")
	case r := <-got:
		t.Fatalf("the in-flight request ended before its DNS answer: %+v", r)
	default:
	}
	release()
	<-stopped // Stop checked that run returned nil

	r := <-got
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight GET /route: %d %v %s, want 200", r.code, r.err, r.body)
	}
	var p apigen.Plan
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("in-flight GET /route: %v: %s", err, r.body)
	}
	if p.Disposition != apigen.Deliver || addrs(p) != "192.0.2.10,192.0.2.20" {
		t.Errorf("in-flight plan: %s %s, want deliver to both hosts (the shutdown must not cancel its DNS)", p.Disposition, addrs(p))
	}
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Errorf("the server still answers after run returned")
	}
	root := serverSpan(t, inTrace(recv.received(), p.RouteId), "GET /route")
	checkAttrs(t, "in-flight GET /route", root.GetAttributes(), map[string]string{
		"http.response.status_code": "200", "mxroute.disposition": "deliver", "mxroute.attempts": "2",
	})
}

// reporterFails reads a reporter's consecutive failure count for addr
// straight from Redis (the mxr:db0:{addr}:r hash, "fails,lastFail,...").
func reporterFails(t *testing.T, redisAddr, addr, reporter string) int {
	t.Helper()
	v, err := redistest.Command(redisAddr, "HGET", "mxr:db0:{"+addr+"}:r", reporter)
	if err != nil {
		t.Fatalf("HGET reporters of %s: %v", addr, err)
	}
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.SplitN(v, ",", 2)[0])
	if err != nil {
		t.Fatalf("reporter %s of %s: field %q: %v", reporter, addr, v, err)
	}
	return n
}

func findCheck(r apigen.Readiness, name string) *apigen.ReadinessCheck {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// TestShutdownFlushesBufferedReports: reports accepted while Redis hangs
// are buffered (and /readyz and /metrics say so); when SIGTERM comes and
// Redis answers again, they reach Redis before run returns.
func TestShutdownFlushesBufferedReports(t *testing.T) {
	rs := redistest.StartServer(t)
	s := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + rs.Addr()})
	const before, bad = "172.16.10.2", "172.16.10.1"

	// With Redis answering, a report is applied.
	if code, body := s.post("node-a", batch(failure(before))); code != http.StatusAccepted {
		t.Fatalf("POST /feedback: %d %s", code, body)
	}
	// (Waited for rather than read once: a store call slower than the
	// 250 ms store timeout on a loaded machine is buffered and replayed.)
	waitUntil(t, "node-a's first failure reaches Redis", func() bool { return reporterFails(t, rs.Addr(), before, "node-a") == 1 })

	rs.Pause()
	for _, r := range []string{"node-a", "node-b"} {
		if code, body := s.post(r, batch(failure(bad), failure(bad), failure(bad))); code != http.StatusAccepted {
			t.Fatalf("POST /feedback as %s with Redis paused: %d %s, want 202", r, code, body)
		}
	}
	var ready apigen.Readiness
	if code := s.getJSON("/readyz?verbose=true", &ready); code != http.StatusOK || ready.Status != apigen.ReadinessStatusDegraded {
		t.Errorf("/readyz with reports buffered: %d %+v, want 200 degraded", code, ready)
	}
	if c := findCheck(ready, "feedback_buffer"); c == nil || c.Status != apigen.ReadinessCheckStatusDegraded ||
		c.Detail == nil || !strings.Contains(*c.Detail, "6 reports buffered") {
		t.Errorf("/readyz feedback_buffer check = %+v, want degraded with 6 reports buffered", c)
	}
	if c := findCheck(ready, "redis"); c == nil || c.Status != apigen.ReadinessCheckStatusDegraded {
		t.Errorf("/readyz redis check = %+v, want degraded", c)
	}
	m := s.scrape()
	m.expect(t, "mxroute_feedback_buffer_depth", nil, 6)
	m.atLeast(t, "mxroute_redis_errors_total", map[string]string{"op": "apply"}, 1)

	// SIGTERM while Redis still hangs; it comes back once the server has
	// stopped taking requests, so the shutdown's flush is what delivers.
	stopped := s.stopAsync()
	waitUntil(t, "the listener closes after SIGTERM", func() bool { return !s.listening() })
	rs.Resume()
	<-stopped // Stop checked that run returned nil

	// Exactly 3: node-a's batch, sent on a pooled connection before its
	// call timed out, sits in the paused server's socket and runs on
	// SIGCONT, and the flush replays it; the store applies a batch once.
	for _, r := range []string{"node-a", "node-b"} {
		if n := reporterFails(t, rs.Addr(), bad, r); n != 3 {
			t.Errorf("after shutdown, %s's failures of %s in Redis = %d, want the 3 buffered, counted once", r, bad, n)
		}
	}
	// A nil reply (not a member) is an error for Command.
	if v, err := redistest.Command(rs.Addr(), "ZSCORE", "mxr:db0:{mxr:db0}:demoted", bad); err != nil || v == "" {
		t.Errorf("ZSCORE mxr:db0:{mxr:db0}:demoted %s = %q, %v: the two reporters' demotion did not reach Redis", bad, v, err)
	}
	if !strings.Contains(s.Stderr.String(), `"buffered_reports_left":0`) {
		t.Errorf("shutdown log does not say every buffered report was flushed:\n%s", lastLines(s.Stderr.String(), 10))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
