package feedback

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// addrN is the n-th address of a large test population: IPv4 for even n,
// IPv6 for odd n, so both families and their ordering are exercised.
func addrN(n int) netip.Addr {
	if n%2 == 0 {
		return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	}
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(n >> 8), 15: byte(n)})
}

func demotionTo(addr netip.Addr, until time.Time) Transition {
	return Transition{Address: addr, Kind: TransitionDemoted, From: StateHealthy, To: StateDemoted, Until: until}
}

func TestViewApplyReplaceKeepsNewerPushes(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	h := newHealthView()
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")
	h.apply([]Transition{demotionTo(a, t0.Add(time.Hour)), demotionTo(b, t0.Add(time.Hour))}, t0)
	// A resync that started before b's end was pushed still lists b;
	// the push is newer and wins. a, pushed before the read began, is
	// superseded: the read no longer has it.
	h.apply([]Transition{{Address: b, Kind: TransitionRecovered, From: StateDemoted, To: StateHealthy}}, t0.Add(2*time.Second))
	h.replace(map[netip.Addr]ViewEntry{
		b: {State: StateDemoted, Until: t0.Add(time.Hour)},
		c: {State: StateDrained, Until: t0.Add(time.Hour)},
	}, t0.Add(time.Second), t0.Add(3*time.Second))
	v := h.load()
	now := t0.Add(3 * time.Second)
	for _, tc := range []struct {
		addr netip.Addr
		want State
	}{{a, StateHealthy}, {b, StateHealthy}, {c, StateDrained}} {
		if got := v.stateAt(tc.addr, now); got != tc.want {
			t.Errorf("stateAt(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if v.demoted != 0 || v.drained != 1 {
		t.Errorf("counts = %d demoted, %d drained; want 0, 1", v.demoted, v.drained)
	}
	if !v.synced.Equal(now) {
		t.Errorf("synced = %v, want %v", v.synced, now)
	}
	// The next resync starts after the push: the store is the truth again.
	h.replace(map[netip.Addr]ViewEntry{}, t0.Add(4*time.Second), t0.Add(5*time.Second))
	if n := h.load().len(); n != 0 {
		t.Errorf("after an empty resync the view holds %d entries, want 0", n)
	}
}

func TestViewListPagesInAddressOrder(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	h := newHealthView()
	var trans []Transition
	const n = 1000
	for i := range n {
		tr := demotionTo(addrN(i), t0.Add(time.Hour))
		if i%10 == 0 {
			tr.To = StateDrained
		}
		if i%100 == 1 {
			tr.Until = t0.Add(-time.Second) // ran out: never listed
		}
		trans = append(trans, tr)
	}
	h.apply(trans, t0)
	v := h.load()
	var got []netip.Addr
	var after netip.Addr
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not end")
		}
		items, more := v.list(after, netip.Prefix{}, "", t0, 7)
		for _, it := range items {
			got = append(got, it.addr)
		}
		if !more {
			break
		}
		after = items[len(items)-1].addr
	}
	if want := n - n/100; len(got) != want {
		t.Fatalf("listed %d addresses, want %d", len(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Compare(got[i]) >= 0 {
			t.Fatalf("not in address order at %d: %s then %s", i, got[i-1], got[i])
		}
	}
	drained, _ := v.list(netip.Addr{}, netip.Prefix{}, StateDrained, t0, n)
	if len(drained) != n/10 {
		t.Errorf("listed %d drained, want %d", len(drained), n/10)
	}
	// 10.0.1.0/24 holds the even i in 256..511 (the ran-out ones are odd,
	// IPv6), and nothing after it may be visited.
	in, more := v.list(netip.Addr{}, netip.MustParsePrefix("10.0.1.0/24"), "", t0, n)
	if len(in) != 128 || more {
		t.Errorf("prefix 10.0.1.0/24 listed %d (more %v), want 128", len(in), more)
	}
	for _, it := range in {
		if !netip.MustParsePrefix("10.0.1.0/24").Contains(it.addr) {
			t.Errorf("prefix listing returned %s", it.addr)
		}
	}
}

// BenchmarkViewChange measures one transition applied to a view that
// already holds others non-healthy addresses: the cost must not grow
// with them (issue 10: a copy of the whole map per change did).
func BenchmarkViewChange(b *testing.B) {
	for _, others := range []int{0, 50_000} {
		b.Run("others="+strconv.Itoa(others), func(b *testing.B) {
			t0 := time.Unix(1_800_000_000, 0)
			h := newHealthView()
			var trans []Transition
			for i := range others {
				trans = append(trans, demotionTo(addrN(i+1_000_000), t0.Add(time.Hour)))
			}
			h.apply(trans, t0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.apply([]Transition{demotionTo(addrN(i%4096), t0.Add(time.Hour))}, t0)
			}
		})
	}
}

// BenchmarkViewLookup is StateOf's cost per address of a plan.
func BenchmarkViewLookup(b *testing.B) {
	for _, others := range []int{1, 50_000} {
		b.Run("others="+strconv.Itoa(others), func(b *testing.B) {
			t0 := time.Unix(1_800_000_000, 0)
			h := newHealthView()
			var trans []Transition
			for i := range others {
				trans = append(trans, demotionTo(addrN(i), t0.Add(time.Hour)))
			}
			h.apply(trans, t0)
			v := h.load()
			probe := netip.MustParseAddr("198.51.100.7")
			b.ReportAllocs()
			for b.Loop() {
				if v.stateAt(probe, t0) != StateHealthy {
					b.Fatal("wrong state")
				}
			}
		})
	}
}

// laggingStore is a shared store whose resyncs fail while every other call
// answers: a client behind on its topology, not an unreachable store.
type laggingStore struct{ *MemoryStore }

func (laggingStore) Sync(context.Context, time.Time, Policy) (Snapshot, error) {
	return Snapshot{}, errors.New("sync: index read failing")
}

func (laggingStore) Subscribe(ctx context.Context, _ func(Transition), _ func()) { <-ctx.Done() }

// TestViewKeptWhileStoreAnswers: a view not resynced for ViewStaleAfter is
// still trusted while the store answers other calls; it falls back to
// plain RFC order only when nothing answered for that long.
func TestViewKeptWhileStoreAnswers(t *testing.T) {
	clock := newFakeClock()
	svc, err := NewService(laggingStore{NewMemoryStore(MemoryOptions{})}, Options{Policy: testPolicy(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := ip("192.0.2.99")
	fail := func(reporter string) {
		t.Helper()
		var b []Report
		for range 3 {
			b = append(b, Report{Address: a, Outcome: OutcomeFailure, Stage: StageConnect, Reporter: reporter})
		}
		if _, err := svc.Submit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	fail("r1")
	fail("r2")
	if got := svc.StateOf(a); got != StateDemoted {
		t.Fatalf("after two voters: %s, want demoted", got)
	}
	for range 4 { // 40 s without a resync, the store answering every 10 s
		clock.Advance(10 * time.Second)
		if _, err := svc.Submit(ctx, []Report{{Address: ip("192.0.2.1"), Outcome: OutcomeSuccess, Stage: StageData, SMTPCode: 250, Reporter: "r3"}}); err != nil {
			t.Fatal(err)
		}
		if got := svc.StateOf(a); got != StateDemoted {
			t.Fatalf("resyncs failing but the store answering: %s, want demoted", got)
		}
	}
	if st := svc.Status(); strings.Contains(strings.Join(st.Detail, "\n"), "plain RFC order") {
		t.Errorf("status says the view is stale while the store answers: %+v", st)
	}
	clock.Advance(31 * time.Second)
	if got := svc.StateOf(a); got != StateHealthy {
		t.Fatalf("nothing answered for 31 s: %s, want healthy (plain RFC order)", got)
	}
}
