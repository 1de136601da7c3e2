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
