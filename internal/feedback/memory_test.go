package feedback

import (
	"testing"
	"time"
)

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(*testing.T) Store { return NewMemoryStore(MemoryOptions{}) })
}

// TestMemoryPrunes: records, "seen" entries and index entries go away once
// nothing in them can matter, like Redis keys expire.
func TestMemoryPrunes(t *testing.T) {
	store := NewMemoryStore(MemoryOptions{})
	h := newHarness(t, store, testPolicy())
	h.fail("192.0.2.1", 3, "r1", "r2") // demoted, multiplier 1
	h.succeed("192.0.2.2", "r1")
	h.submit(Report{Address: ip("192.0.2.3"), Outcome: OutcomeFailure, Stage: StageRcpt, SMTPCode: 550, Reporter: "r1"})
	if len(store.recs) != 2 || len(store.seen) != 3 || len(store.demoted) != 1 {
		t.Fatalf("before: %d records, %d seen, %d demoted", len(store.recs), len(store.seen), len(store.demoted))
	}
	// The healthy record outlives its window; the demoted one its
	// multiplier's decay (5m demotion + 30m decay).
	h.advance(6*time.Minute + time.Second)
	if _, ok := store.recs[ip("192.0.2.2")]; ok || len(store.recs) != 1 {
		t.Fatalf("after 6m: %d records", len(store.recs))
	}
	h.advance(30 * time.Minute)
	if len(store.recs) != 0 || len(store.seen) != 0 || len(store.demoted) != 0 || len(store.drained) != 0 {
		t.Fatalf("after 36m: %d records, %d seen, %d demoted", len(store.recs), len(store.seen), len(store.demoted))
	}
}
