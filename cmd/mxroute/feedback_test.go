package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
)

type report map[string]any

func batch(rs ...report) map[string]any { return map[string]any{"reports": rs} }

func failure(addr string) report {
	return report{"address": addr, "host": "mail1.example.com", "domain": "example.com", "outcome": "failure", "stage": "connect"}
}

func success(addr string) report {
	return report{"address": addr, "outcome": "success", "stage": "data", "smtp_code": 250}
}

// post sends a batch as reporter (dev mode: the X-Mxroute-Reporter header).
func (s *testServer) post(reporter string, body any) (int, []byte) {
	s.t.Helper()
	code, b, _ := s.do(http.MethodPost, "/feedback", body, map[string]string{"X-Mxroute-Reporter": reporter})
	return code, b
}

func (s *testServer) host(addr string) apigen.HostStatus {
	s.t.Helper()
	var h apigen.HostStatus
	if code := s.getJSON("/hosts/"+addr, &h); code != http.StatusOK {
		s.t.Fatalf("GET /hosts/%s: %d", addr, code)
	}
	return h
}

// demote makes two reporters vote addr down with three failures each.
func (s *testServer) demote(addr string) {
	s.t.Helper()
	for _, r := range []string{"node-a", "node-b"} {
		if code, body := s.post(r, batch(failure(addr), failure(addr), failure(addr))); code != http.StatusAccepted {
			s.t.Fatalf("POST /feedback as %s: %d %s", r, code, body)
		}
	}
}

// TestFeedbackDemotesForEveryPlan: the fleet reports mail1's address down;
// every plan then leads with mail2, and mail1 is still in the plan.
func TestFeedbackDemotesForEveryPlan(t *testing.T) {
	s := startServer(t, nil)
	const bad, good = "172.16.10.1", "172.16.10.2"

	// One reporter alone never demotes.
	if code, body := s.post("node-a", batch(failure(bad), failure(bad), failure(bad), failure(bad))); code != http.StatusAccepted {
		t.Fatalf("POST /feedback: %d %s", code, body)
	}
	if h := s.host(bad); h.State != apigen.HostStateHealthy {
		t.Fatalf("after one reporter: state %s, want healthy", h.State)
	}
	s.demote(bad)
	h := s.host(bad)
	if h.State != apigen.HostStateDemoted || h.Until == nil || len(h.Votes) != 2 {
		t.Fatalf("after two reporters: %+v, want demoted with 2 votes", h)
	}
	if h.LastFailure == nil || h.LastFailure.Stage != "connect" {
		t.Errorf("last failure = %+v, want the connect failure", h.LastFailure)
	}
	for range 50 {
		p := s.route("example.com")
		if addrs(p) != good+","+bad || p.Attempts[0].State != apigen.HostStateHealthy || p.Attempts[1].State != apigen.HostStateDemoted {
			t.Fatalf("plan = %+v, want %s first and %s demoted second", p.Attempts, good, bad)
		}
	}
	var list apigen.HostList
	if code := s.getJSON("/hosts?state=demoted", &list); code != http.StatusOK || len(list.Hosts) != 1 || list.Hosts[0].Address != bad {
		t.Errorf("GET /hosts?state=demoted: %d %+v", code, list)
	}

	// Two reporters' successes end the demotion early.
	for _, r := range []string{"node-a", "node-b"} {
		s.post(r, batch(success(bad)))
	}
	if h := s.host(bad); h.State != apigen.HostStateHealthy {
		t.Errorf("after two successes: %s, want healthy", h.State)
	}
}

// TestFeedbackNeutralNeverDemotes: recipient and greylisting replies say
// nothing about the host.
func TestFeedbackNeutralNeverDemotes(t *testing.T) {
	s := startServer(t, nil)
	const addr = "172.16.10.2"
	rcpt := report{"address": addr, "outcome": "failure", "stage": "rcpt", "smtp_code": 550, "enhanced_code": "5.1.1"}
	grey := report{"address": addr, "outcome": "failure", "stage": "rcpt", "smtp_code": 451, "enhanced_code": "4.7.1"}
	for _, r := range []string{"a", "b", "c"} {
		s.post(r, batch(rcpt, grey, rcpt, grey))
	}
	if h := s.host(addr); h.State != apigen.HostStateHealthy {
		t.Errorf("state %s after neutral replies, want healthy", h.State)
	}
	// A 421 at any stage is the host saying it is unavailable.
	busy := report{"address": addr, "outcome": "failure", "stage": "rcpt", "smtp_code": 421}
	for _, r := range []string{"a", "b"} {
		s.post(r, batch(busy, busy, busy))
	}
	if h := s.host(addr); h.State != apigen.HostStateDemoted {
		t.Errorf("state %s after 421s from two reporters, want demoted", h.State)
	}
}

// TestFeedbackBadBatches: any invalid report rejects the whole batch with
// a problem naming it, and nothing is applied.
func TestFeedbackBadBatches(t *testing.T) {
	s := startServer(t, nil)
	const addr = "172.16.10.1"
	many := make([]report, 1001)
	for i := range many {
		many[i] = failure(addr)
	}
	for _, tc := range []struct {
		name  string
		body  any
		code  int
		param string
	}{
		{"not json", "{", 400, ""},
		{"empty object", map[string]any{}, 400, "reports"},
		{"no reports", batch(), 400, "reports"},
		{"too many", map[string]any{"reports": many}, 400, "reports"},
		{"bad address", batch(failure(addr), report{"address": "300.1.1.1", "outcome": "failure", "stage": "connect"}), 400, "reports[1]"},
		{"bad outcome", batch(failure(addr), report{"address": addr, "outcome": "maybe", "stage": "connect"}), 400, "reports[1]"},
		{"bad stage", batch(report{"address": addr, "outcome": "failure", "stage": "quit"}), 400, "reports[0]"},
		{"missing stage", batch(report{"address": addr, "outcome": "failure"}), 400, "reports[0]"},
		{"bad smtp code", batch(report{"address": addr, "outcome": "failure", "stage": "ehlo", "smtp_code": 999}), 400, "reports[0]"},
		{"bad enhanced code", batch(report{"address": addr, "outcome": "failure", "stage": "ehlo", "enhanced_code": "9.9"}), 400, "reports[0]"},
		{"too large", batch(report{"address": addr, "outcome": "failure", "stage": "connect", "host": strings.Repeat("x", 2<<20)}), 413, ""},
	} {
		for _, r := range []string{"node-a", "node-b"} {
			code, body := s.post(r, tc.body)
			if code != tc.code {
				t.Errorf("%s: status %d, want %d: %.300s", tc.name, code, tc.code, body)
				continue
			}
			if tc.param != "" {
				p := problemOf(t, body)
				if p.InvalidParams == nil || (*p.InvalidParams)[0].Name != tc.param {
					t.Errorf("%s: problem %.300s does not name %s", tc.name, body, tc.param)
				}
			}
		}
	}
	// Three rejected batches per reporter, each holding a failure of addr:
	// had any been half-applied, addr would now be demoted.
	if h := s.host(addr); h.State != apigen.HostStateHealthy || h.RecentFailures != 0 {
		t.Errorf("after rejected batches: %+v, want untouched", h)
	}
}

func TestDrain(t *testing.T) {
	s := startServer(t, nil)
	const addr = "172.16.10.2"
	code, body, _ := s.do(http.MethodPost, "/hosts/"+addr+"/drain", map[string]any{"duration_seconds": 600, "reason": "maintenance"}, nil)
	if code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	h := s.host(addr)
	if h.State != apigen.HostStateDrained || h.DrainReason == nil || *h.DrainReason != "maintenance" {
		t.Fatalf("after drain: %+v", h)
	}
	p := s.route("example.com")
	if p.Attempts[0].Address != "172.16.10.1" || p.Attempts[1].State != apigen.HostStateDrained {
		t.Errorf("plan after drain = %+v", p.Attempts)
	}
	// A limit that cuts the tie keeps the healthy address, every time.
	for range 30 {
		var lp apigen.Plan
		if code := s.getJSON("/route?domain=example.com&max_attempts=1", &lp); code != http.StatusOK || addrs(lp) != "172.16.10.1" {
			t.Fatalf("max_attempts=1 after drain: %d %s, want only 172.16.10.1", code, addrs(lp))
		}
	}
	for _, tc := range []struct {
		path string
		body any
	}{
		{"/hosts/not-an-ip/drain", map[string]any{"duration_seconds": 60}},
		{"/hosts/" + addr + "/drain", map[string]any{"duration_seconds": 0}},
		{"/hosts/" + addr + "/drain", map[string]any{"duration_seconds": 604801}},
		{"/hosts/" + addr + "/drain", map[string]any{"duration_seconds": "soon"}},
	} {
		if code, body, _ := s.do(http.MethodPost, tc.path, tc.body, nil); code != http.StatusBadRequest {
			t.Errorf("POST %s %v: %d %s, want 400", tc.path, tc.body, code, body)
		}
	}
	if h := s.host(addr); h.State != apigen.HostStateDrained || *h.DrainReason != "maintenance" {
		t.Errorf("bad drains changed state: %+v", h)
	}
	if code, body, _ := s.do(http.MethodDelete, "/hosts/"+addr+"/drain", nil, nil); code != http.StatusOK {
		t.Fatalf("undrain: %d %s", code, body)
	}
	if h := s.host(addr); h.State != apigen.HostStateHealthy {
		t.Errorf("after undrain: %s", h.State)
	}
}

// TestAuth: with a tokens file, /route, /feedback and /hosts need a valid
// token, drains need the admin role, and probes need nothing.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	const sender, admin = "sender-token-0123456789", "admin-token-0123456789"
	if err := os.WriteFile(file, []byte(fmt.Sprintf("# fleet\n%s node-a sender\n%s ops admin\n", sender, admin)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"MXROUTE_AUTH_TOKENS_FILE": file})
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	for _, tc := range []struct {
		method, path string
		body         any
		header       map[string]string
		want         int
	}{
		{"GET", "/healthz", nil, nil, 200},
		{"GET", "/readyz", nil, nil, 200},
		{"GET", "/metrics", nil, nil, 200},
		{"GET", "/openapi.yaml", nil, nil, 200},
		{"GET", "/route?domain=example.com", nil, nil, 401},
		{"GET", "/route?domain=example.com", nil, bearer("wrong-token-0123456789"), 401},
		{"GET", "/route?domain=example.com", nil, bearer(sender), 200},
		{"GET", "/check?domain=example.com", nil, nil, 401},
		{"POST", "/feedback", batch(failure("172.16.10.1")), nil, 401},
		{"POST", "/feedback", batch(failure("172.16.10.1")), bearer(sender), 202},
		{"GET", "/hosts/172.16.10.1", nil, nil, 401},
		{"GET", "/hosts/172.16.10.1", nil, bearer(sender), 200},
		{"POST", "/hosts/172.16.10.1/drain", map[string]any{"duration_seconds": 60}, bearer(sender), 403},
		{"POST", "/hosts/172.16.10.1/drain", map[string]any{"duration_seconds": 60}, bearer(admin), 200},
		{"DELETE", "/hosts/172.16.10.1/drain", nil, bearer(sender), 403},
		{"DELETE", "/hosts/172.16.10.1/drain", nil, bearer(admin), 200},
	} {
		code, body, hdr := s.do(tc.method, tc.path, tc.body, tc.header)
		if code != tc.want {
			t.Errorf("%s %s: %d, want %d: %.300s", tc.method, tc.path, code, tc.want, body)
		}
		if code == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.path)
		}
	}
	// The reporter is the token's name, whatever the header says.
	hdr := bearer(sender)
	hdr["X-Mxroute-Reporter"] = "spoofed"
	if code, body, _ := s.do("POST", "/feedback", batch(failure("172.16.10.2")), hdr); code != 202 {
		t.Fatalf("POST /feedback: %d %s", code, body)
	}
	var h apigen.HostStatus
	code, body, _ := s.do("GET", "/hosts/172.16.10.2", nil, bearer(sender))
	if code != 200 || json.Unmarshal(body, &h) != nil || h.LastFailure == nil || h.LastFailure.Reporter != "node-a" {
		t.Errorf("GET /hosts/172.16.10.2: %d %s, want the last failure reported by node-a", code, body)
	}
}

// TestFeedbackRateLimit: a reporter over its rate gets 429 with
// Retry-After; another reporter is unaffected.
func TestFeedbackRateLimit(t *testing.T) {
	s := startServer(t, map[string]string{"MXROUTE_FEEDBACK_RATE": "3"})
	limited := false
	for range 10 {
		code, _, h := s.do(http.MethodPost, "/feedback", batch(success("172.16.10.1")), map[string]string{"X-Mxroute-Reporter": "noisy"})
		if code == http.StatusTooManyRequests {
			limited = true
			if h.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			break
		}
	}
	if !limited {
		t.Fatalf("10 quick requests at a limit of 3/s were never limited")
	}
	if code, body := s.post("quiet", batch(success("172.16.10.1"))); code != http.StatusAccepted {
		t.Errorf("another reporter: %d %s", code, body)
	}
}

// TestBodyChecks: a body must be declared JSON and be one JSON value.
func TestBodyChecks(t *testing.T) {
	s := startServer(t, nil)
	good := `{"reports":[{"address":"172.16.10.1","outcome":"failure","stage":"connect"}]}`
	for _, tc := range []struct {
		name, ctype, body string
		want              int
	}{
		{"text/plain", "text/plain", good, http.StatusUnsupportedMediaType},
		{"no content type", "", good, http.StatusUnsupportedMediaType},
		{"trailing data", "application/json", good + ` {"x":1}`, http.StatusBadRequest},
		{"two values", "application/json", good + good, http.StatusBadRequest},
		{"charset allowed", "application/json; charset=utf-8", good, http.StatusAccepted},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/feedback", strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", tc.name, resp.Header.Get("Content-Type"))
		}
	}
	if h := s.host("172.16.10.1"); h.RecentFailures != 1 {
		t.Errorf("recent failures %d, want only the accepted batch's 1", h.RecentFailures)
	}
	code, _, hdr := s.do(http.MethodPut, "/route?domain=example.com", nil, nil)
	if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("PUT /route: %d Allow %q, want 405 Allow \"GET, HEAD\"", code, hdr.Get("Allow"))
	}
	code, _, hdr = s.do(http.MethodPost, "/route?domain=example.com", "{}", nil)
	if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /route: %d Allow %q, want 405 Allow \"GET, HEAD\"", code, hdr.Get("Allow"))
	}
	_, _, hdr = s.do(http.MethodGet, "/route?domain=example.com", nil, nil)
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /route: Cache-Control %q, want no-store", hdr.Get("Cache-Control"))
	}
	code, body, _ := s.do(http.MethodGet, "/hosts?state=demoted&state=drained", nil, nil)
	if p := problemOf(t, body); code != http.StatusBadRequest || p.InvalidParams == nil || (*p.InvalidParams)[0].Reason != "must be given once" {
		t.Errorf("repeated state: %d %s", code, body)
	}
}
