package exim

import (
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

func TestPlansRememberAndExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewPlans(2, time.Minute, func() time.Time { return now })
	p.Remember(apigen.Plan{Domain: "a.example", RouteId: "r1", Attempts: []apigen.Attempt{
		{Host: "mx1.a.example", Address: "192.0.2.1"}, {Host: "mx2.a.example", Address: "::ffff:192.0.2.2"}}})
	if h, id, ok := p.Lookup("a.example", "192.0.2.2"); !ok || h != "mx2.a.example" || id != "r1" {
		t.Errorf("lookup: %q %q %v", h, id, ok)
	}
	// Full: a new pair evicts one old one, never grows past max.
	p.Remember(apigen.Plan{Domain: "b.example", RouteId: "r2", Attempts: []apigen.Attempt{{Host: "mx.b.example", Address: "192.0.2.9"}}})
	if len(p.byPair) != 2 {
		t.Errorf("%d entries, max 2", len(p.byPair))
	}
	if _, _, ok := p.Lookup("b.example", "192.0.2.9"); !ok {
		t.Error("newest pair missing")
	}
	now = now.Add(2 * time.Minute)
	if _, _, ok := p.Lookup("b.example", "192.0.2.9"); ok {
		t.Error("expired pair still found")
	}
}

func TestReportFromAttempt(t *testing.T) {
	at := time.Date(2026, 12, 6, 11, 34, 20, 0, time.UTC)
	p := NewPlans(0, 0, nil)
	p.Remember(apigen.Plan{Domain: "g.example", RouteId: "abc", Attempts: []apigen.Attempt{{Host: "mx1.g.example", Address: "192.0.2.4"}}})
	r := Attempt{At: at, Address: "192.0.2.4", Host: "192.0.2.4", Domain: "g.example", Outcome: apigen.Failure, Stage: apigen.Greeting, Code: 421, Status: "4.3.2"}.Report(p)
	if r.Address != "192.0.2.4" || *r.Host != "mx1.g.example" || *r.RouteId != "abc" || *r.Domain != "g.example" ||
		*r.SmtpCode != 421 || *r.EnhancedCode != "4.3.2" || !r.ObservedAt.Equal(at) || r.Stage != apigen.Greeting || r.Outcome != apigen.Failure {
		t.Errorf("report %+v", r)
	}
	// Without a plan (Exim's own H= lines name no domain), an IP-literal
	// host is not repeated as a host name and zero codes are left out.
	r = Attempt{At: at, Address: "192.0.2.5", Host: "192.0.2.5", Outcome: apigen.Failure, Stage: apigen.Connect}.Report(p)
	if r.Host != nil || r.RouteId != nil || r.Domain != nil || r.SmtpCode != nil || r.EnhancedCode != nil {
		t.Errorf("report %+v", r)
	}
}
