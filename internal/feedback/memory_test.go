package feedback

import (
	"testing"
	"time"
)

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(*testing.T) Store { return NewMemoryStore(MemoryOptions{}) })
}

// TestMemoryPrunes: records, "seen" times, addresses and index entries go
// away once nothing in them can matter, like Redis keys expire.
func TestMemoryPrunes(t *testing.T) {
	store := NewMemoryStore(MemoryOptions{})
	h := newHarness(t, store, testPolicy())
	counts := func() (addrs, recs, seen, demoted int) {
		store.mu.Lock()
		defer store.mu.Unlock()
		for _, a := range store.addrs {
			if a.rec != nil {
				recs++
			}
			if a.seen != 0 {
				seen++
			}
		}
		return len(store.addrs), recs, seen, len(store.demoted) + len(store.drained)
	}
	h.fail("192.0.2.1", 3, "r1", "r2") // demoted, multiplier 1
	h.succeed("192.0.2.2", "r1")
	h.submit(Report{Address: ip("192.0.2.3"), Outcome: OutcomeFailure, Stage: StageRcpt, SMTPCode: 550, Reporter: "r1"})
	if a, r, s, d := counts(); a != 3 || r != 2 || s != 3 || d != 1 {
		t.Fatalf("before: %d addresses, %d records, %d seen, %d indexed", a, r, s, d)
	}
	// The healthy record outlives its window; the demoted one its
	// multiplier's decay (5m demotion + 30m decay); "seen" lasts the
	// budget window.
	h.advance(6*time.Minute + time.Second)
	if a, r, s, _ := counts(); a != 3 || r != 1 || s != 3 {
		t.Fatalf("after 6m: %d addresses, %d records, %d seen", a, r, s)
	}
	h.advance(5 * time.Minute)
	if a, r, s, _ := counts(); a != 1 || r != 1 || s != 0 {
		t.Fatalf("after 11m: %d addresses, %d records, %d seen", a, r, s)
	}
	h.advance(25 * time.Minute)
	if a, r, s, d := counts(); a+r+s+d != 0 {
		t.Fatalf("after 36m: %d addresses, %d records, %d seen, %d indexed", a, r, s, d)
	}
}
