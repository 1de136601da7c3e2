package routing

import (
	"net/netip"
	"testing"
)

// BenchmarkBuild4MX is the seed's 10/10/20/30 layout, all healthy, default
// options: the planner's share of a cached /route request.
func BenchmarkBuild4MX(b *testing.B) {
	in := seedInput()
	opts := DefaultOptions()
	b.ReportAllocs()
	for b.Loop() {
		if p := Build(in, nil, opts); len(p.Attempts) != 2 {
			b.Fatalf("attempts %v", attemptsOf(p))
		}
	}
}

// BenchmarkBuild4MXWithHealth adds a health view over a small map with one
// address demoted, so the reordering path runs on every call.
func BenchmarkBuild4MXWithHealth(b *testing.B) {
	in := seedInput()
	opts := DefaultOptions()
	states := map[netip.Addr]State{
		netip.MustParseAddr("172.16.10.1"): StateDemoted,
		netip.MustParseAddr("192.0.2.1"):   StateDrained,
		netip.MustParseAddr("192.0.2.2"):   StateHealthy,
	}
	health := func(a netip.Addr) State {
		if s, ok := states[a]; ok {
			return s
		}
		return StateHealthy
	}
	b.ReportAllocs()
	for b.Loop() {
		if p := Build(in, health, opts); p.Attempts[0].Address.String() != "172.16.10.2" {
			b.Fatalf("attempts %v", attemptsOf(p))
		}
	}
}
