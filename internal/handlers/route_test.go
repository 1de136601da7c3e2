package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/routing"
)

// TestPlanResponseBytes: the hand-written encoder writes exactly what the
// generated response writes for the apigen.Plan copy (planJSON, the
// translation the handler used before), for plans with and without the
// optional fields and with strings that need escaping.
func TestPlanResponseBytes(t *testing.T) {
	plans := map[string]routing.Plan{
		"deliver": {
			Domain: "example.com", Disposition: routing.Deliver, Reason: "ok", TTL: 299*time.Second + 700*time.Millisecond,
			Attempts: []routing.Attempt{
				{Host: "mx1.example.com", Preference: 10, Address: netip.MustParseAddr("192.0.2.1"), Family: "ipv4", State: "healthy"},
				{Host: "mx2.example.com", Preference: 20, Address: netip.MustParseAddr("2001:db8::1"), Family: "ipv6", State: "demoted"},
			},
			Skipped:  []routing.Skipped{},
			Warnings: []routing.Warning{},
		},
		"optional fields and escapes": {
			Domain: "bücher.example", Disposition: "permanent_failure", Reason: "null_mx", EnhancedStatus: "5.1.10",
			ImplicitMX: true,
			Attempts:   []routing.Attempt{},
			Skipped: []routing.Skipped{
				{Host: "internal.example", Preference: 5, Address: netip.MustParseAddr("10.0.0.1"), Reason: "ignored_network"},
				{Host: ".", Preference: 0, Reason: "invalid_host"},
			},
			Warnings: []routing.Warning{
				{Code: "stale_dns", Host: "mx<1>&.example", Message: "line\nbreak\ttab \u2028 \x01 caf\xc3\xa9 \xff \"q\" \\"},
				{Code: "cname_target", Message: "plain"},
			},
		},
		"nil slices": {Disposition: "temporary_failure", Reason: "dns_error"},
		"tls": {
			Domain: "example.com", Disposition: routing.Deliver, Reason: "ok",
			Attempts: []routing.Attempt{
				{Host: "mx1.example.com", Preference: 10, Address: netip.MustParseAddr("192.0.2.1"), Family: "ipv4", State: "healthy",
					TLSRequired: true, TLSNames: []string{"mx1.example.com"}},
				{Host: "mx2.example.com", Preference: 20, Address: netip.MustParseAddr("2001:db8::1"), Family: "ipv6", State: "healthy",
					TLSRequired: true, TLSNames: []string{"mx2.example.com"}, DANE: true,
					TLSA: []routing.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: "00ff"}, {Usage: 2, Data: "ab"}}},
			},
			TLS: routing.PlanTLS{Kind: routing.TLSDANE, STS: &routing.STSPolicy{
				Mode: routing.STSEnforce, ID: "2026<01>", MaxAge: 86400 * time.Second, MX: []string{"*.example.com", "mx2.example.com"},
				ExpiresAt: time.Date(2026, 12, 7, 11, 0, 0, 123000000, time.UTC), Source: routing.SourceStale,
			}},
		},
		"tls testing, no patterns": {
			Domain: "example.com", Disposition: "temporary_failure", Reason: "mta_sts_no_matching_mx", EnhancedStatus: "4.7.5",
			TLS: routing.PlanTLS{Kind: routing.TLSMTASTS, STS: &routing.STSPolicy{Mode: routing.STSTesting, ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		},
	}
	for name, p := range plans {
		for _, id := range []string{"0123456789abcdef0123456789abcdef", "id\"with\\quotes"} {
			t.Run(name, func(t *testing.T) {
				want := httptest.NewRecorder()
				if err := apigen.GetRoute200JSONResponse(planJSON(p, id)).VisitGetRouteResponse(want); err != nil {
					t.Fatal(err)
				}
				got := httptest.NewRecorder()
				if err := (planResponse{plan: p, id: id}).VisitGetRouteResponse(got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
					t.Errorf("got  %s\nwant %s", got.Body, want.Body)
				}
				if !json.Valid(got.Body.Bytes()) {
					t.Errorf("not valid JSON: %s", got.Body)
				}
				if ct, wct := got.Header().Get("Content-Type"), want.Header().Get("Content-Type"); got.Code != want.Code || ct != wct {
					t.Errorf("status %d, Content-Type %q; want %d %q", got.Code, ct, want.Code, wct)
				}
			})
		}
	}
}

// planJSON is the handler's former translation into the generated type,
// kept as the reference the hand-written encoder must match.
func planJSON(p routing.Plan, id string) apigen.Plan {
	out := apigen.Plan{
		Domain:      p.Domain,
		Disposition: apigen.Disposition(p.Disposition),
		Reason:      apigen.Reason(p.Reason),
		ImplicitMx:  p.ImplicitMX,
		Ttl:         int(p.TTL.Seconds()),
		RouteId:     id,
		Attempts:    make([]apigen.Attempt, len(p.Attempts)),
		Skipped:     make([]apigen.Skipped, len(p.Skipped)),
		Warnings:    make([]apigen.Warning, len(p.Warnings)),
		Tls:         apigen.TLSPolicy{Policy: apigen.TLSPolicyPolicy(p.TLS.Kind), Mode: "none"},
	}
	if sts := p.TLS.STS; sts != nil {
		out.Tls.Mode = apigen.TLSPolicyMode(sts.Mode)
		id, age, exp, src, mx := sts.ID, int(sts.MaxAge.Seconds()), sts.ExpiresAt, apigen.TLSPolicySource(sts.Source), append([]string{}, sts.MX...)
		out.Tls.PolicyId, out.Tls.MaxAge, out.Tls.ExpiresAt, out.Tls.Source, out.Tls.MxPatterns = &id, &age, &exp, &src, &mx
	}
	if p.EnhancedStatus != "" {
		s := p.EnhancedStatus
		out.EnhancedStatus = &s
	}
	for i, a := range p.Attempts {
		out.Attempts[i] = apigen.Attempt{
			Host:        a.Host,
			Preference:  int(a.Preference),
			Address:     a.Address.String(),
			Family:      apigen.Family(a.Family),
			State:       apigen.HostState(a.State),
			TlsRequired: a.TLSRequired,
		}
		if a.DANE {
			d := true
			out.Attempts[i].Dane = &d
		}
		if len(a.TLSNames) > 0 {
			n := a.TLSNames
			out.Attempts[i].TlsNames = &n
		}
		if len(a.TLSA) > 0 {
			rs := make([]apigen.TLSA, len(a.TLSA))
			for j, r := range a.TLSA {
				rs[j] = apigen.TLSA{Usage: int(r.Usage), Selector: int(r.Selector), MatchingType: int(r.MatchingType), Data: r.Data}
			}
			out.Attempts[i].Tlsa = &rs
		}
	}
	for i, s := range p.Skipped {
		out.Skipped[i] = apigen.Skipped{Host: s.Host, Preference: int(s.Preference), Reason: apigen.SkippedReason(s.Reason)}
		if s.Address.IsValid() {
			a := s.Address.String()
			out.Skipped[i].Address = &a
		}
	}
	for i, w := range p.Warnings {
		out.Warnings[i] = apigen.Warning{Code: apigen.WarningCode(w.Code), Message: w.Message}
		if w.Host != "" {
			h := w.Host
			out.Warnings[i].Host = &h
		}
	}
	return out
}
