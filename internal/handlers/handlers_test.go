package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/feedback"
	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/routing"
)

// fixedPlanner answers every domain with one attempt.
type fixedPlanner struct{}

func (fixedPlanner) Plan(_ context.Context, req gather.Request) routing.Plan {
	return routing.Plan{Domain: req.Domain, Disposition: routing.Deliver, Reason: "ok",
		Attempts: []routing.Attempt{{Host: "mx." + req.Domain, Address: netip.MustParseAddr("192.0.2.1"), Family: "ipv4", State: "healthy"}}}
}

// brokenHosts is a health store that fails as a dead Redis does, with an
// error text naming its address.
type brokenHosts struct{}

var errRedis = errors.New("dial tcp 10.9.8.7:6379: connect: connection refused")

func (brokenHosts) Host(context.Context, netip.Addr) (feedback.HostStatus, error) {
	return feedback.HostStatus{}, errRedis
}
func (brokenHosts) ListHosts(context.Context, feedback.HostQuery) (feedback.HostPage, error) {
	return feedback.HostPage{}, errRedis
}
func (brokenHosts) Drain(context.Context, netip.Addr, time.Duration, string, string) (feedback.HostStatus, error) {
	return feedback.HostStatus{}, errRedis
}
func (brokenHosts) Undrain(context.Context, netip.Addr) (feedback.HostStatus, error) {
	return feedback.HostStatus{}, errRedis
}

type noChecker struct{}

func (noChecker) Check(context.Context, string) (check.Report, error) {
	return check.Report{}, errors.New("nil resolver")
}

type alwaysReady struct{}

func (alwaysReady) Ready(context.Context) (bool, []ReadyCheck) { return true, nil }

func newTestServer(t *testing.T, hosts HostRegistry) http.Handler {
	t.Helper()
	fb, err := feedback.NewService(feedback.NewMemoryStore(feedback.MemoryOptions{}), feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if hosts == nil {
		hosts = fb
	}
	return NewServer(Deps{Planner: fixedPlanner{}, Reports: fb, Hosts: hosts, Checker: noChecker{}, Readiness: alwaysReady{}})
}

// TestProblems sends bad requests through the real router and checks the
// one error mapping: status, problem type and what the detail names.
func TestProblems(t *testing.T) {
	report := `{"address":"192.0.2.1","outcome":"failure","stage":"connect"}`
	for _, tc := range []struct {
		name, method, path, body string
		hosts                    HostRegistry
		status                   int
		kind                     string // problem type after problemBase
		detail                   string // a substring of the detail
		notDetail                string // must not appear anywhere in the body
	}{
		{"domain reason", "GET", "/route?domain=a..b", "", nil, 400, "invalid-parameter", "domain: empty label", ""},
		{"domain missing", "GET", "/route", "", nil, 400, "invalid-parameter", "domain: is required", ""},
		{"max_attempts range", "GET", "/route?domain=example.com&max_attempts=101", "", nil, 400, "invalid-parameter", "between 1 and 100", ""},
		{"max_attempts plus sign", "GET", "/route?domain=example.com&max_attempts=%2B5", "", nil, 400, "invalid-parameter", "max_attempts", ""},
		{"max_attempts leading zero", "GET", "/route?domain=example.com&max_attempts=05", "", nil, 400, "invalid-parameter", "plain decimal", ""},
		{"max_attempts word", "GET", "/route?domain=example.com&max_attempts=ten", "", nil, 400, "invalid-parameter", "plain decimal", ""},
		{"max_attempts twice", "GET", "/route?domain=example.com&max_attempts=5&max_attempts=6", "", nil, 400, "invalid-parameter", "given once", ""},
		{"family", "GET", "/route?domain=example.com&family=ipv5", "", nil, 400, "invalid-parameter", "family", ""},
		{"bad escape", "GET", "/route?domain=%zzexample.com", "", nil, 400, "invalid-query", `"%zz"`, "is required"},
		{"check domain", "GET", "/check?domain=-x.example", "", nil, 400, "invalid-parameter", "domain: label", ""},
		{"reports missing", "POST", "/feedback", `{}`, nil, 400, "invalid-parameter", "reports: is required", ""},
		{"reports empty", "POST", "/feedback", `{"reports":[]}`, nil, 400, "invalid-parameter", "1 to 1000", ""},
		{"report invalid", "POST", "/feedback", `{"reports":[{"address":"x","outcome":"failure","stage":"connect"}]}`, nil, 400, "invalid-reports", "nothing was applied", ""},
		{"report field type", "POST", "/feedback", `{"reports":[{"address":"192.0.2.1","outcome":"failure","stage":"connect","smtp_code":"x"}]}`, nil, 400, "invalid-body", "smtp_code", ""},
		{"key case", "POST", "/feedback", `{"Reports":[` + report + `]}`, nil, 400, "invalid-body", `field is "reports"`, ""},
		{"nested key case", "POST", "/feedback", `{"reports":[{"ADDRESS":"192.0.2.1","outcome":"failure","stage":"connect"}]}`, nil, 400, "invalid-body", `reports[0]`, ""},
		{"duplicate key", "POST", "/feedback", `{"reports":[],"reports":[` + report + `]}`, nil, 400, "invalid-body", "appears twice", ""},
		{"nested duplicate", "POST", "/feedback", `{"reports":[{"address":"192.0.2.9","address":"192.0.2.1","outcome":"failure","stage":"connect"}]}`, nil, 400, "invalid-body", `"address" appears twice`, ""},
		{"trailing data", "POST", "/feedback", `{"reports":[` + report + `]} {}`, nil, 400, "invalid-body", "single JSON value", ""},
		{"drain unspecified", "POST", "/hosts/0.0.0.0/drain", `{"duration_seconds":60}`, nil, 400, "invalid-parameter", "never dialled", ""},
		{"drain ipv6 unspecified", "POST", "/hosts/::/drain", `{"duration_seconds":60}`, nil, 400, "invalid-parameter", "never dialled", ""},
		{"drain mapped unspecified", "POST", "/hosts/::ffff:0.0.0.0/drain", `{"duration_seconds":60}`, nil, 400, "invalid-parameter", "never dialled", ""},
		{"drain loopback", "POST", "/hosts/127.0.0.1/drain", `{"duration_seconds":60}`, nil, 400, "invalid-parameter", "never dialled", ""},
		{"drain broadcast", "POST", "/hosts/255.255.255.255/drain", `{"duration_seconds":60}`, nil, 400, "invalid-parameter", "never dialled", ""},
		{"drain too long", "POST", "/hosts/192.0.2.1/drain", `{"duration_seconds":604801}`, nil, 400, "invalid-parameter", "between 1 and 604800", ""},
		{"drain reason", "POST", "/hosts/192.0.2.1/drain", `{"duration_seconds":60,"reason":"` + strings.Repeat("é", 513) + `"}`, nil, 400, "invalid-parameter", "at most 512", ""},
		{"drain store down", "POST", "/hosts/192.0.2.1/drain", `{"duration_seconds":60}`, brokenHosts{}, 503, "unavailable", "did not complete", "10.9.8.7"},
		{"host store down", "GET", "/hosts/192.0.2.1", "", brokenHosts{}, 503, "unavailable", "did not complete", "10.9.8.7"},
		{"hosts store down", "GET", "/hosts", "", brokenHosts{}, 503, "unavailable", "did not complete", "10.9.8.7"},
		{"hosts limit", "GET", "/hosts?limit=1001", "", nil, 400, "invalid-parameter", "between 1 and 1000", ""},
		{"host address", "GET", "/hosts/not-an-ip", "", nil, 400, "invalid-parameter", "not an IP address", ""},
		{"hosts state", "GET", "/hosts?state=sick", "", nil, 400, "invalid-parameter", "state", ""},
		{"method", "PUT", "/route", "", nil, 405, "method-not-allowed", "PUT", ""},
		{"not found", "GET", "/nope", "", nil, 404, "not-found", "/nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestServer(t, tc.hosts)
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var p apigen.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("body is not a problem: %v: %s", err, rec.Body)
			}
			detail := ""
			if p.Detail != nil {
				detail = *p.Detail
			}
			if rec.Code != tc.status || p.Status != tc.status || p.Type != problemBase+tc.kind || !strings.Contains(detail, tc.detail) {
				t.Errorf("got %d %s %q; want %d %s containing %q", rec.Code, p.Type, detail, tc.status, tc.kind, tc.detail)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.notDetail != "" && strings.Contains(rec.Body.String(), tc.notDetail) {
				t.Errorf("body names %q: %s", tc.notDetail, rec.Body)
			}
		})
	}
}

// TestAccepted: what the strict checks must still let through.
func TestAccepted(t *testing.T) {
	h := newTestServer(t, nil)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/route?domain=example.com&max_attempts=10", ""},
		{"GET", "/route?domain=example.com&max_attempts=0", ""}, // plain decimal; range is checked after
		{"POST", "/feedback", `{"reports":[{"address":"192.0.2.1","outcome":"failure","stage":"connect","x-extra":1}],"unknown":{"Reports":1}}`},
		{"POST", "/hosts/192.0.2.1/drain", `{"duration_seconds":604800,"reason":"` + strings.Repeat("é", 512) + `"}`},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := []int{200, 202}
		if strings.Contains(tc.path, "max_attempts=0") {
			want = []int{400}
		}
		if rec.Code != want[0] && (len(want) < 2 || rec.Code != want[1]) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
}

// TestHead: HEAD on a GET operation answers as GET, without a body.
func TestHead(t *testing.T) {
	srv := httptest.NewServer(newTestServer(t, nil))
	defer srv.Close()
	for _, path := range []string{"/route?domain=example.com", "/healthz", "/readyz", "/openapi.yaml", "/hosts"} {
		resp, err := http.Head(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %d, %d body bytes, Content-Type %q", path, resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
		}
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/feedback", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("HEAD /feedback: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestContractBounds: every bound the handlers use is in the spec.
func TestContractBounds(t *testing.T) {
	b, err := contractBounds()
	if err != nil {
		t.Fatal(err)
	}
	want := Bounds{MaxAttempts: IntRange{1, 100}, Reports: IntRange{1, 1000}, DrainSeconds: IntRange{1, 604800}, DrainReason: 512,
		Report:   ReportBounds{Name: 255, RouteID: 128, SMTPCode: IntRange{200, 599}},
		Reporter: 128}
	want.HostsPage.Range, want.HostsPage.Default = IntRange{1, 1000}, 100
	if b != want {
		t.Errorf("got %+v, want %+v", b, want)
	}
}

// TestProblemForDefault: an error nobody typed is a 500 that says nothing
// of its cause.
func TestProblemForDefault(t *testing.T) {
	p := problemFor(errRedis)
	if p.Status != 500 || p.Detail != nil {
		t.Errorf("got %+v", p)
	}
}

// TestReportBoundsWithinFeedback: a report at every contract bound passes
// the feedback package's own checks, so a sender within the contract is
// never refused by them; and the route ids GET /route hands out fit.
func TestReportBoundsWithinFeedback(t *testing.T) {
	b := ContractBounds()
	label := strings.Repeat("a", 63)
	name := strings.Join([]string{label, label, label, label}, ".")[:b.Report.Name]
	if len(name) != b.Report.Name {
		t.Fatalf("test name is %d bytes", len(name))
	}
	for _, r := range []feedback.Report{
		{Outcome: feedback.OutcomeSuccess, SMTPCode: b.Report.SMTPCode.Min},
		{Outcome: feedback.OutcomeFailure, SMTPCode: b.Report.SMTPCode.Max},
		{Outcome: feedback.OutcomeFailure, Host: name, Domain: name},
		{Outcome: feedback.OutcomeFailure, RouteID: strings.Repeat("f", b.Report.RouteID)},
		{Outcome: feedback.OutcomeFailure, Reporter: strings.Repeat("r", b.Reporter)},
	} {
		r.Address, r.Stage = netip.MustParseAddr("192.0.2.1"), feedback.StageRcpt
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if id := routeID(context.Background()); len(id) > b.Report.RouteID {
		t.Errorf("route id %q is longer than the contract's %d", id, b.Report.RouteID)
	}
}

// TestOverloadedIs503WithRetryAfter: a batch the feedback service turns
// away for overload is a 503 problem of its own type with Retry-After, so
// the sender keeps it and retries.
func TestOverloadedIs503WithRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, fmt.Errorf("submit: %w", &feedback.OverloadedError{Buffered: 50_000, Limit: 50_000, RetryAfter: 2 * time.Second}))
	var p apigen.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" || p.Type != problemBase+"overloaded" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("got %d, Retry-After %q, %+v", rec.Code, rec.Header().Get("Retry-After"), p)
	}
}
