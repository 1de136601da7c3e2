package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
)

// TestCheckEndpoint grades the demo zone's layouts through HTTP; do()
// validates each body against the contract.
func TestCheckEndpoint(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct {
		domain string
		grade  apigen.CheckReportGrade
		lb     apigen.CheckReportLoadBalancing
		code   string
	}{
		{"equal.example", "A", apigen.CheckReportLoadBalancingStrong, ""},
		{"onename.example", "B", apigen.CheckReportLoadBalancingWeak, "SAME_PREFIX"},
		{"example.com", "B", apigen.CheckReportLoadBalancingStrong, "DUPLICATE_ADDRESS"},
		{"nullmx.example", "B", apigen.CheckReportLoadBalancingNone, "NULL_MX"},
		{"nosuch.example.com", "F", apigen.CheckReportLoadBalancingNone, "MX_LOOKUP_FAILED"},
	} {
		var r apigen.CheckReport
		if code := s.getJSON("/check?domain="+tc.domain, &r); code != http.StatusOK {
			t.Fatalf("%s: status %d", tc.domain, code)
		}
		if r.Grade != tc.grade || r.LoadBalancing != tc.lb {
			t.Errorf("%s: grade %s, balancing %s; want %s, %s", tc.domain, r.Grade, r.LoadBalancing, tc.grade, tc.lb)
		}
		if tc.code != "" {
			var codes []string
			for _, f := range r.Findings {
				codes = append(codes, f.Code)
			}
			if !strings.Contains(strings.Join(codes, ","), tc.code) {
				t.Errorf("%s: findings %v lack %s", tc.domain, codes, tc.code)
			}
		}
	}
	if code, body, _ := s.do(http.MethodGet, "/check?domain=not..valid", nil, nil); code != http.StatusBadRequest {
		t.Errorf("invalid domain: %d %s", code, body)
	}
}

func TestCheckCommand(t *testing.T) {
	out, _, err := runCLI(t, nil, "check", "equal.example")
	if err != nil || !strings.Contains(out, "PASS, grade A") || !strings.Contains(out, "Load balancing: strong") {
		t.Errorf("check equal.example: %v\n%s", err, out)
	}
}
