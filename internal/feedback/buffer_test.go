package feedback

import (
	"testing"
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
	if d := r.push(obsN(0, 3)); d != 0 {
		t.Fatalf("dropped %d, want 0", d)
	}
	if d := r.push(obsN(3, 4)); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	got, seq := r.peek(10)
	if want := []int{2, 3, 4, 5, 6}; !equalInts(latencies(got), want) {
		t.Fatalf("peek = %v, want %v", latencies(got), want)
	}
	if r.Dropped() != 2 || r.Len() != 5 {
		t.Fatalf("dropped %d len %d, want 2 and 5", r.Dropped(), r.Len())
	}
	// A push that overflows while a replay holds a peek: pop must not
	// remove the newer observations that took the dropped ones' place.
	part, seq := r.peek(2) // 2, 3
	r.push(obsN(7, 1))     // drops 2
	r.pop(seq, len(part))  // removes only 3
	got, _ = r.peek(10)
	if want := []int{4, 5, 6, 7}; !equalInts(latencies(got), want) {
		t.Fatalf("after concurrent drop: %v, want %v", latencies(got), want)
	}
	// A failed part goes back to the front, in order; overflow drops its
	// head, the oldest of all.
	r.pushFront(obsN(100, 3))
	got, _ = r.peek(10)
	if want := []int{102, 4, 5, 6, 7}; !equalInts(latencies(got), want) {
		t.Fatalf("after pushFront: %v, want %v", latencies(got), want)
	}
	if r.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5", r.Dropped())
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
