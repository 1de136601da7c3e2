package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback"
)

// fullHostPage sets every field of feedback.HostPage the contract can
// carry, optional ones included, with one element in every list.
func fullHostPage() feedback.HostPage {
	return feedback.HostPage{
		Hosts: []feedback.HostStatus{{
			Address: netip.MustParseAddr("192.0.2.1"), State: feedback.StateDrained,
			Until: time.Date(2026, 12, 7, 1, 2, 3, 456000000, time.UTC), Votes: []string{"mta-1"},
			Reporters: 2, RecentFailures: 3, RecentSuccesses: 4, Demotions: 1,
			DrainReason: "maintenance", DrainedBy: "ops",
			LastFailure: &feedback.FailureDetail{
				Reporter: "mta-1", Host: "mx1.example.com", Domain: "example.com", Stage: feedback.Stage("connect"),
				SMTPCode: 421, EnhancedCode: "4.4.2", At: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC),
			},
		}},
		Next:    netip.MustParseAddr("192.0.2.1"),
		Drained: 1, DrainLimit: 10_000,
	}
}

// hostListJSON is the generated response's body: the copy into
// apigen.HostList that the hand-written encoder replaces, kept as its
// reference.
func hostListJSON(page feedback.HostPage) apigen.HostList {
	out := apigen.HostList{Hosts: make([]apigen.HostStatus, len(page.Hosts)), Drained: page.Drained, DrainLimit: page.DrainLimit}
	for i, st := range page.Hosts {
		out.Hosts[i] = hostJSON(st)
	}
	if page.Next.IsValid() {
		c := encodeCursor(page.Next)
		out.NextCursor = &c
	}
	return out
}

// TestHostListEncoderCoversSpec: every property the contract's HostList
// declares, at any depth, is in the encoder's output for fullHostPage.
func TestHostListEncoderCoversSpec(t *testing.T) {
	spec, err := apigen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	var out any
	b := (hostListResponse{page: fullHostPage()}).appendJSON(nil)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("encoder output %s: %v", b, err)
	}
	covers(t, "HostList", spec.Components.Schemas["HostList"], out)
}

// FuzzHostListBytes is the differential test: for pages made from fuzzed
// strings and numbers, the hand-written encoder writes exactly the
// generated response's bytes.
func FuzzHostListBytes(f *testing.F) {
	f.Add("maintenance", "mta-1", "mx1.example.com", int64(1_800_000_000_123), 3, uint8(0))
	f.Add("bücher <&> \"q\"\n", "\xff\x01", "\u2028", int64(0), -1, uint8(7))
	f.Fuzz(func(t *testing.T, reason, reporter, host string, ms int64, n int, bits uint8) {
		p := fullHostPage()
		st := &p.Hosts[0]
		st.DrainReason, st.Votes = reason, []string{reporter, host}[:bits%3]
		st.Demotions, st.Reporters, st.RecentFailures, st.RecentSuccesses = n, n+1, n*2, -n
		// time.Time's MarshalJSON refuses years outside 0-9999: 1970-9999.
		const maxMilli = 253_402_300_799_000
		if ms %= maxMilli; ms < 0 {
			ms += maxMilli
		}
		st.Until = time.UnixMilli(ms).In(time.FixedZone("x", 3600))
		f := st.LastFailure
		f.Reporter, f.Host, f.Domain, f.EnhancedCode, f.SMTPCode = reporter, host, reason, host, n
		f.At = st.Until.Add(-time.Duration(bits) * time.Millisecond)
		if bits&4 != 0 {
			st.Until, st.LastFailure = time.Time{}, nil
		}
		if bits&8 != 0 {
			p.Next = netip.Addr{}
		}
		if bits&16 != 0 {
			p.Hosts = append(p.Hosts, p.Hosts[0])
			p.Hosts[1].Address = netip.MustParseAddr("2001:db8::1")
		}
		if bits&32 != 0 {
			p.Hosts = nil
		}
		want := httptest.NewRecorder()
		if err := apigen.ListHosts200JSONResponse(hostListJSON(p)).VisitListHostsResponse(want); err != nil {
			t.Fatal(err)
		}
		got := (hostListResponse{page: p}).appendJSON(nil)
		if !bytes.Equal(got, want.Body.Bytes()) {
			t.Errorf("got  %s\nwant %s", got, want.Body)
		}
	})
}

// BenchmarkHostListEncoder compares the hand-written encoder with the
// generated response for a page of 1000 drained addresses.
func BenchmarkHostListEncoder(b *testing.B) {
	p := fullHostPage()
	for i := 1; i < 1000; i++ {
		st := p.Hosts[0]
		st.Address, st.LastFailure = netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), nil
		p.Hosts = append(p.Hosts, st)
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = (hostListResponse{page: p}).VisitListHostsResponse(httptest.NewRecorder())
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = apigen.ListHosts200JSONResponse(hostListJSON(p)).VisitListHostsResponse(httptest.NewRecorder())
		}
	})
}
