package exim

import (
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
)

func ptr[T any](v T) *T { return &v }

func TestAnswer(t *testing.T) {
	deliver := apigen.Plan{Domain: "example.com", Disposition: apigen.Deliver, Reason: apigen.ReasonOk, Attempts: []apigen.Attempt{
		{Host: "mx2.example.com", Address: "192.0.2.2"},
		{Host: "mx1.example.com", Address: "2001:db8::1"},
		{Host: "mx3.example.com", Address: "::ffff:192.0.2.3"},
	}}
	for _, tc := range []struct {
		name string
		plan apigen.Plan
		port int
		want string
	}{
		{"plan order, IPv6 bracketed, port on each", deliver, 25, "<;[192.0.2.2]:25;[2001:db8::1]:25;[192.0.2.3]:25"},
		{"other port", deliver, 2525, "<;[192.0.2.2]:2525;[2001:db8::1]:2525;[192.0.2.3]:2525"},
		{"null MX fails with 5.1.10", apigen.Plan{Domain: "null.example", Disposition: apigen.PermanentFailure, Reason: apigen.ReasonNullMx, EnhancedStatus: ptr("5.1.10")}, 25,
			":fail: 5.1.10 domain null.example accepts no mail (null MX, RFC 7505)"},
		{"nxdomain", apigen.Plan{Domain: "nx.example", Disposition: apigen.PermanentFailure, Reason: apigen.ReasonNxdomain, EnhancedStatus: ptr("5.1.2")}, 25,
			":fail: 5.1.2 nxdomain for nx.example"},
		{"temporary defers", apigen.Plan{Domain: "slow.example", Disposition: apigen.TemporaryFailure, Reason: apigen.ReasonDnsError, EnhancedStatus: ptr("4.4.3")}, 25,
			":defer: 4.4.3 dns error for slow.example"},
		{"no status", apigen.Plan{Domain: "x.example", Disposition: apigen.TemporaryFailure, Reason: apigen.ReasonDnsError}, 25,
			":defer: 4.0.0 dns error for x.example"},
		{"empty deliver plan defers", apigen.Plan{Domain: "x.example", Disposition: apigen.Deliver}, 25, ":defer: 4.4.4 no usable mail host in the plan"},
		{"address that is no IP: pass", apigen.Plan{Domain: "x.example", Disposition: apigen.Deliver, Attempts: []apigen.Attempt{{Address: "mx.x.example"}}}, 25, "pass"},
		{"unknown disposition: pass", apigen.Plan{Domain: "x.example", Disposition: "maybe"}, 25, "pass"},
		{"control characters stay off the line", apigen.Plan{Domain: "a\nb", Disposition: apigen.TemporaryFailure, Reason: apigen.ReasonDnsError}, 25,
			":defer: 4.0.0 dns error for a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Answer(tc.plan, tc.port); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := Unavailable(false); got != "pass" {
		t.Errorf("fail open: got %q", got)
	}
	if got := Unavailable(true); got != ":defer: 4.4.3 mxroute unavailable" {
		t.Errorf("fail closed: got %q", got)
	}
}
