package feedback

import (
	"testing"
	"time"
)

func obsN(from, n int) []Observation {
	out := make([]Observation, n)
	for i := range out {
		out[i].LatencyMS = from + i
	}
	return out
}

func latencies(obs []Observation) []int {
	out := make([]int, len(obs))
	for i, o := range obs {
		out[i] = o.LatencyMS
	}
	return out
}

func TestRingDropsOldest(t *testing.T) {
	r := newRing(5)
	if d := len(droppedBy(r.push(obsN(0, 3)))); d != 0 {
		t.Fatalf("dropped %d, want 0", d)
	}
	if d := len(droppedBy(r.push(obsN(3, 4)))); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	got, _ := r.peek(10)
	if want := []int{2, 3, 4, 5, 6}; !equalInts(latencies(got), want) {
		t.Fatalf("peek = %v, want %v", latencies(got), want)
	}
	if r.Dropped() != 2 || r.Len() != 5 {
		t.Fatalf("dropped %d len %d, want 2 and 5", r.Dropped(), r.Len())
	}
	// A push that overflows while a store call carries the front drops
	// the newest instead: a carried report must not also be dropped (and
	// spooled), since the call may apply it.
	part, seq := r.peek(2) // 2, 3
	if _, d := r.push(obsN(7, 1)); len(d) != 1 || d[0].LatencyMS != 7 {
		t.Fatalf("push while the front is in flight dropped %v, want the new 7", latencies(d))
	}
	r.pop(seq, len(part)) // removes 2 and 3
	got, _ = r.peek(10)
	if want := []int{4, 5, 6}; !equalInts(latencies(got), want) {
		t.Fatalf("after the call: %v, want %v", latencies(got), want)
	}
	r.unpeek() // that peek's call failed whole
	// With nothing in flight the oldest goes again.
	r.push(obsN(8, 3))
	got, pos := r.peek(10)
	if want := []int{5, 6, 8, 9, 10}; !equalInts(latencies(got), want) {
		t.Fatalf("after an overflow with nothing in flight: %v, want %v", latencies(got), want)
	}
	r.pop(pos, 2) // 5 and 6 applied
	// A failed part goes back to the front, in order; overflow drops its
	// head, the oldest of all.
	r.pushFront(obsN(100, 3))
	got, _ = r.peek(10)
	if want := []int{101, 102, 8, 9, 10}; !equalInts(latencies(got), want) {
		t.Fatalf("after pushFront: %v, want %v", latencies(got), want)
	}
	if r.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5 (2 at first, 7, 4, 100)", r.Dropped())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRingGrowsToItsBound(t *testing.T) {
	r := newRing(100)
	for i := 0; i < 250; i += 10 {
		r.push(obsN(i, 10))
	}
	got, seq := r.peek(1000)
	if len(got) != 100 || got[0].LatencyMS != 150 || got[99].LatencyMS != 249 || r.Dropped() != 150 {
		t.Fatalf("kept %d (%d..%d), dropped %d; want the newest 100 and 150 dropped",
			len(got), got[0].LatencyMS, got[len(got)-1].LatencyMS, r.Dropped())
	}
	r.pop(seq, len(got))
	if r.Len() != 0 || r.buf != nil {
		t.Fatalf("after popping everything: len %d, storage %d", r.Len(), len(r.buf))
	}
	r.push(obsN(0, 1))
	if got, _ := r.peek(10); len(got) != 1 {
		t.Fatalf("reuse after release: %v", latencies(got))
	}
}

func batchN(id string, from, n int) []Observation {
	out := obsN(from, n)
	for i := range out {
		out[i].BatchID = id
	}
	return out
}

// TestRingKeepsBatchesWhole: a replay call gets whole batches, since a
// store that applied part of a batch on an address skips the rest.
func TestRingKeepsBatchesWhole(t *testing.T) {
	r := newRing(100)
	r.push(batchN("a", 0, 3))
	r.push(batchN("b", 3, 4))
	r.push(batchN("c", 7, 2))
	for _, c := range []struct {
		max  int
		want int
	}{{1, 3}, {3, 3}, {4, 7}, {7, 7}, {8, 9}, {100, 9}} {
		if got, _ := r.peek(c.max); len(got) != c.want {
			t.Errorf("peek(%d) = %v, want %d observations", c.max, latencies(got), c.want)
		}
	}
	got, seq := r.peek(2)
	r.pop(seq, len(got))
	if got, _ := r.peek(1); !equalInts(latencies(got), []int{3, 4, 5, 6}) {
		t.Fatalf("after popping batch a, peek(1) = %v, want batch b", latencies(got))
	}
}

// TestInSeqOrder: what a store hands back address by address goes back
// to the ring in the order the ring stamped, so each address's reports
// reach the store in Seq order (its watermark needs it).
func TestInSeqOrder(t *testing.T) {
	x, y := ip("192.0.2.1"), ip("192.0.2.2")
	r := newRing(100)
	r.push([]Observation{
		{Report: Report{Address: x, LatencyMS: 1}, BatchID: "a"},
		{Report: Report{Address: y, LatencyMS: 2}, BatchID: "a"},
		{Report: Report{Address: x, LatencyMS: 3}, BatchID: "a"},
	})
	r.push([]Observation{
		{Report: Report{Address: y, LatencyMS: 4}, BatchID: "b"},
		{Report: Report{Address: x, LatencyMS: 5}, BatchID: "b"},
	})
	replayed, _ := r.peek(100)
	var unapplied []Observation
	for _, g := range groupByAddress(Batch{Now: time.Now(), Policy: testPolicy(), Observations: replayed}, true) {
		unapplied = append(unapplied, g.obs...) // x: 1 3 5, y: 2 4
	}
	if got, want := latencies(inSeqOrder(unapplied)), []int{1, 2, 3, 4, 5}; !equalInts(got, want) {
		t.Fatalf("inSeqOrder = %v, want %v", got, want)
	}
	if !r.doneThrough(0) || r.doneThrough(1) || r.doneThrough(5) {
		t.Fatal("doneThrough: want true only below the front's Seq")
	}
}

// droppedBy returns what a push dropped.
func droppedBy(_ uint64, dropped []Observation) []Observation { return dropped }
