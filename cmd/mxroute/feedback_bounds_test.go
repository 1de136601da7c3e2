package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
)

// TestFeedbackContradictions: a report whose outcome, reply code and
// enhanced code contradict each other, or whose names or address are
// malformed, gets the whole batch a 400 naming the report and the field,
// and changes no state, even with a valid failure of the same address
// next to it.
func TestFeedbackContradictions(t *testing.T) {
	s := startServer(t, nil)
	const addr = "172.16.10.1"
	with := func(r report, kv ...any) report {
		out := report{}
		for k, v := range r {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	base := report{"address": addr, "outcome": "failure", "stage": "rcpt"}
	for _, tc := range []struct {
		name  string
		bad   report
		field string
	}{
		{"success with 550", with(base, "outcome", "success", "stage", "ehlo", "smtp_code", 550), "smtp_code"},
		{"success with 421", with(base, "outcome", "success", "smtp_code", 421), "smtp_code"},
		{"failure with 250", with(base, "smtp_code", 250), "smtp_code"},
		{"failure with 354", with(base, "stage", "data", "smtp_code", 354), "smtp_code"},
		{"550 with 4.7.1", with(base, "smtp_code", 550, "enhanced_code", "4.7.1"), "enhanced_code"},
		{"250 with 5.1.1", with(base, "outcome", "success", "smtp_code", 250, "enhanced_code", "5.1.1"), "enhanced_code"},
		{"NUL in host", with(failure(addr), "host", "mx1\x00.example.com"), "host"},
		{"space in domain", with(failure(addr), "domain", "example .com"), "domain"},
		{"markup in domain", with(failure(addr), "domain", "<b>example.com</b>"), "domain"},
		{"zone", with(failure(addr), "address", "fe80::1%eth0"), "address"},
	} {
		code, body := s.post("node-a", batch(tc.bad, failure(addr)))
		if code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %.300s", tc.name, code, body)
			continue
		}
		p := problemOf(t, body)
		if p.InvalidParams == nil || len(*p.InvalidParams) != 1 {
			t.Errorf("%s: problem %s, want one invalid param", tc.name, body)
			continue
		}
		if ip := (*p.InvalidParams)[0]; ip.Name != "reports[0]" || !strings.HasPrefix(ip.Reason, tc.field+": ") {
			t.Errorf("%s: invalid param %+v, want reports[0] with a %s reason", tc.name, ip, tc.field)
		}
	}
	if h := s.host(addr); h.State != apigen.HostStateHealthy || h.RecentFailures != 0 || h.RecentSuccesses != 0 || h.Reporters != 0 {
		t.Errorf("after rejected batches: %+v, want no state", h)
	}

	// Names are checked leniently: case, a trailing dot, underscores and
	// internationalised names in Unicode pass.
	const other = "172.16.10.2"
	ok := with(failure(other), "host", "MX1.Example.COM.", "domain", "bücher.example")
	if code, body := s.post("node-a", batch(ok, with(ok, "host", "_mx.example.com"))); code != http.StatusAccepted {
		t.Fatalf("lenient names: %d %s", code, body)
	}
	if h := s.host(other); h.RecentFailures != 2 || h.LastFailure == nil || h.LastFailure.Host == nil || *h.LastFailure.Host != "_mx.example.com" {
		t.Errorf("after valid names: %+v, want 2 failures, last from _mx.example.com", h)
	}
}

// TestContractBoundsRefused: each value just beyond a bound the contract
// states for POST /feedback and POST /hosts/{a}/drain (a report's host,
// domain, route_id and smtp_code, the X-Mxroute-Reporter header) gets a
// 400 problem naming it and changes no state; the value at the bound is
// accepted.
func TestContractBoundsRefused(t *testing.T) {
	s := startServer(t, nil)
	const addr = "172.16.10.3"
	label := strings.Repeat("a", 63)
	name := strings.Join([]string{label, label, label, label}, ".")[:255] // the bound
	long := name + "b"
	set := func(k string, v any) report {
		r := failure(addr)
		r[k] = v
		return r
	}
	for _, tc := range []struct {
		name, field string
		bad         report
	}{
		{"host", "host", set("host", long)},
		{"domain", "domain", set("domain", long)},
		{"route_id", "route_id", set("route_id", strings.Repeat("f", 129))},
		{"smtp_code below", "smtp_code", set("smtp_code", 199)},
		{"smtp_code above", "smtp_code", set("smtp_code", 600)},
		{"smtp_code 0", "smtp_code", set("smtp_code", 0)},
	} {
		code, body := s.post("node-a", batch(failure(addr), tc.bad))
		if code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %.300s", tc.name, code, body)
			continue
		}
		p := problemOf(t, body)
		if p.InvalidParams == nil || len(*p.InvalidParams) != 1 {
			t.Errorf("%s: problem %s, want one invalid param", tc.name, body)
			continue
		}
		if ip := (*p.InvalidParams)[0]; ip.Name != "reports[1]" || !strings.HasPrefix(ip.Reason, tc.field+": ") {
			t.Errorf("%s: invalid param %+v, want reports[1] with a %s reason", tc.name, ip, tc.field)
		}
	}
	header := map[string]string{"X-Mxroute-Reporter": strings.Repeat("r", 129)}
	for _, path := range []string{"/feedback", "/hosts/" + addr + "/drain"} {
		var body any = batch(failure(addr))
		if path != "/feedback" {
			body = map[string]any{"duration_seconds": 60}
		}
		code, got, _ := s.do(http.MethodPost, path, body, header)
		if p := problemOf(t, got); code != http.StatusBadRequest || p.Detail == nil || !strings.Contains(*p.Detail, "X-Mxroute-Reporter") {
			t.Errorf("POST %s with a 129-byte reporter: %d %s, want 400 naming the header", path, code, got)
		}
	}
	if h := s.host(addr); h.State != apigen.HostStateHealthy || h.RecentFailures != 0 || h.Reporters != 0 {
		t.Fatalf("after refused requests: %+v, want no state", h)
	}

	atBound := failure(addr)
	atBound["host"], atBound["domain"], atBound["route_id"], atBound["smtp_code"] = name, name, strings.Repeat("f", 128), 599
	ok := success(addr)
	ok["smtp_code"] = 200
	if code, body, _ := s.do(http.MethodPost, "/feedback", batch(atBound, ok),
		map[string]string{"X-Mxroute-Reporter": strings.Repeat("r", 128)}); code != http.StatusAccepted {
		t.Fatalf("values at the bounds: %d %s", code, body)
	}
	if h := s.host(addr); h.RecentFailures != 1 || h.RecentSuccesses != 1 {
		t.Errorf("after the batch at the bounds: %+v, want one failure and one success", h)
	}
}

// TestReporterHeaderBoundWithTokens: with tokens the reporter header is
// ignored but still bounded, as the contract says.
func TestReporterHeaderBoundWithTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	const sender = "sender-token-0123456789"
	if err := os.WriteFile(file, []byte(sender+" node-a sender\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"MXROUTE_AUTH_TOKENS_FILE": file})
	const addr = "172.16.10.4"
	for _, tc := range []struct {
		n    int
		want int
	}{{129, http.StatusBadRequest}, {128, http.StatusAccepted}} {
		h := map[string]string{"Authorization": "Bearer " + sender, "X-Mxroute-Reporter": strings.Repeat("r", tc.n)}
		if code, body, _ := s.do(http.MethodPost, "/feedback", batch(failure(addr)), h); code != tc.want {
			t.Errorf("%d-byte header with a token: %d %s, want %d", tc.n, code, body, tc.want)
		}
	}
	var st apigen.HostStatus
	code, body, _ := s.do(http.MethodGet, "/hosts/"+addr, nil, map[string]string{"Authorization": "Bearer " + sender})
	if code != http.StatusOK || json.Unmarshal(body, &st) != nil || st.RecentFailures != 1 {
		t.Errorf("after one refused and one accepted batch: %d %s, want one failure", code, body)
	}
}
