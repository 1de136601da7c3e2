package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/routing"
)

// fullPlan sets every field of routing.Plan that the contract can carry,
// optional ones included, with one element in every list.
func fullPlan() routing.Plan {
	return routing.Plan{
		Domain: "example.com", Disposition: routing.Deliver, Reason: "ok", EnhancedStatus: "2.0.0",
		ImplicitMX: true, TTL: 300 * time.Second,
		Attempts: []routing.Attempt{{
			Host: "mx1.example.com", Preference: 10, Address: netip.MustParseAddr("192.0.2.1"), Family: "ipv4", State: "healthy",
			TLSRequired: true, TLSNames: []string{"mx1.example.com"}, DANE: true,
			TLSA: []routing.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: "00ff"}},
		}},
		Skipped:  []routing.Skipped{{Host: "mx2.example.com", Preference: 20, Address: netip.MustParseAddr("192.0.2.2"), Reason: "duplicate_address"}},
		Warnings: []routing.Warning{{Code: "stale_dns", Host: "mx1.example.com", Message: "m"}},
		TLS: routing.PlanTLS{Kind: routing.TLSMTASTS, STS: &routing.STSPolicy{
			Mode: routing.STSEnforce, ID: "1", MaxAge: time.Hour, MX: []string{"*.example.com"},
			ExpiresAt: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), Source: routing.SourceFresh,
		}},
	}
}

// TestPlanEncoderCoversSpec walks the contract's Plan schema through the
// encoder's output for fullPlan: every property the spec declares, at any
// depth, must be there. A property added to the contract and forgotten by
// the hand-written encoder (and by planJSON, its reference) fails here,
// which TestPlanResponseBytes alone cannot see.
func TestPlanEncoderCoversSpec(t *testing.T) {
	spec, err := apigen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	var out any
	b := (planResponse{plan: fullPlan(), id: "0123456789abcdef0123456789abcdef"}).appendJSON(nil)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("encoder output %s: %v", b, err)
	}
	covers(t, "Plan", spec.Components.Schemas["Plan"], out)
}

// covers fails for each property of schema missing from v, recursing into
// objects and array items.
func covers(t *testing.T, path string, ref *openapi3.SchemaRef, v any) {
	t.Helper()
	if ref == nil || ref.Value == nil {
		t.Fatalf("%s: no schema", path)
	}
	s := ref.Value
	switch {
	case s.Type.Is("object"):
		obj, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: %T, the spec says object", path, v)
			return
		}
		names := make([]string, 0, len(s.Properties))
		for name := range s.Properties {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			pv, ok := obj[name]
			if !ok {
				t.Errorf("%s.%s: declared in api/openapi.yaml, never written by the plan encoder (fullPlan sets every field)", path, name)
				continue
			}
			covers(t, path+"."+name, s.Properties[name], pv)
		}
	case s.Type.Is("array"):
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			t.Errorf("%s: %v, want a non-empty array", path, v)
			return
		}
		covers(t, path+"[0]", s.Items, arr[0])
	}
}

// FuzzPlanResponseBytes is the differential test at large: for plans made
// from fuzzed strings and numbers, the hand-written encoder writes exactly
// the generated response's bytes.
func FuzzPlanResponseBytes(f *testing.F) {
	f.Add("example.com", "mx1.example.com", "warn <&> \"q\"", "id", uint16(10), int64(300), true, uint8(3))
	f.Add("bücher.example", "\xff\x01", "line\nbreak \u2028", "", uint16(0), int64(0), false, uint8(0))
	f.Fuzz(func(t *testing.T, domain, host, msg, id string, pref uint16, ttl int64, flag bool, n uint8) {
		p := fullPlan()
		p.Domain, p.ImplicitMX, p.TTL = domain, flag, time.Duration(ttl%1e6)*time.Second
		if !flag {
			p.EnhancedStatus = ""
		}
		p.Attempts[0].Host, p.Attempts[0].Preference, p.Attempts[0].DANE = host, pref, flag
		p.Attempts[0].TLSNames = []string{host, msg}[:n%3]
		p.Attempts[0].TLSA = p.Attempts[0].TLSA[:n%2]
		p.Skipped[0].Host = host
		if n%2 == 0 {
			p.Skipped[0].Address = netip.Addr{}
		}
		p.Warnings[0].Message, p.Warnings[0].Host = msg, host
		p.TLS.STS.ID, p.TLS.STS.MX = id, []string{host, msg}[:n%3]
		if n%4 == 0 {
			p.TLS = routing.PlanTLS{Kind: routing.TLSNone}
		}
		want := httptest.NewRecorder()
		if err := apigen.GetRoute200JSONResponse(planJSON(p, id)).VisitGetRouteResponse(want); err != nil {
			t.Fatal(err)
		}
		got := (planResponse{plan: p, id: id}).appendJSON(nil)
		if !bytes.Equal(got, want.Body.Bytes()) {
			t.Errorf("got  %s\nwant %s", got, want.Body)
		}
	})
}

// BenchmarkPlanEncoder compares the hand-written encoder with the
// generated response for a four-address plan, each writing to a recorder
// as the handler does (docs/benchmarks.md has the figures).
func BenchmarkPlanEncoder(b *testing.B) {
	p := fullPlan()
	p.Attempts = append(p.Attempts, p.Attempts[0], p.Attempts[0], p.Attempts[0])
	const id = "0123456789abcdef0123456789abcdef"
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = (planResponse{plan: p, id: id}).VisitGetRouteResponse(httptest.NewRecorder())
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = apigen.GetRoute200JSONResponse(planJSON(p, id)).VisitGetRouteResponse(httptest.NewRecorder())
		}
	})
}
