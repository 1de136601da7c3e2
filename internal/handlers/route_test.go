package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
)

// TestPlanResponseBytes: the hand-written encoder writes exactly what the
// generated response (encoding/json) writes, for plans with and without
// the optional fields and with strings that need escaping.
func TestPlanResponseBytes(t *testing.T) {
	str := func(s string) *string { return &s }
	plans := map[string]apigen.Plan{
		"deliver": {
			Attempts: []apigen.Attempt{
				{Address: "192.0.2.1", Family: "ipv4", Host: "mx1.example.com", Preference: 10, State: "healthy"},
				{Address: "2001:db8::1", Family: "ipv6", Host: "mx2.example.com", Preference: 20, State: "demoted"},
			},
			Disposition: "deliver", Domain: "example.com", Reason: "ok",
			RouteId: "0123456789abcdef0123456789abcdef", Ttl: 300,
			Skipped:  []apigen.Skipped{},
			Warnings: []apigen.Warning{},
		},
		"optional fields and escapes": {
			Attempts:       []apigen.Attempt{},
			Disposition:    "permanent_failure",
			Domain:         "bücher.example",
			EnhancedStatus: str("5.1.10"),
			ImplicitMx:     true,
			Reason:         "null_mx",
			RouteId:        "id\"with\\quotes",
			Skipped: []apigen.Skipped{
				{Address: str("10.0.0.1"), Host: "internal.example", Preference: 5, Reason: "ignored_network"},
				{Host: ".", Preference: 0, Reason: "invalid_host"},
			},
			Warnings: []apigen.Warning{
				{Code: "stale_dns", Host: str("mx<1>&.example"), Message: "line\nbreak\ttab \u2028 \x01 caf\xc3\xa9 \xff"},
				{Code: "cname_target", Message: "plain"},
			},
			Ttl: -1,
		},
		"nil slices": {Disposition: "temporary_failure", Reason: "dns_error"},
	}
	for name, p := range plans {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			if err := apigen.GetRoute200JSONResponse(p).VisitGetRouteResponse(httptest.NewRecorder()); err != nil {
				t.Fatal(err)
			}
			if err := json.NewEncoder(&want).Encode(p); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			if err := planResponse(p).VisitGetRouteResponse(rec); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != want.String() {
				t.Errorf("got  %s\nwant %s", got, want.String())
			}
			if ct := rec.Header().Get("Content-Type"); rec.Code != 200 || ct != "application/json" {
				t.Errorf("status %d, Content-Type %q; want 200 application/json", rec.Code, ct)
			}
		})
	}
}
