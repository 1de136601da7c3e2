package feedback

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestOnTransitionSeesLocalAndEndedTransitions: the hook sees a demotion
// caused by reports, an operator's drain, and a drain that ran out and was
// found by a resync.
func TestOnTransitionSeesLocalAndEndedTransitions(t *testing.T) {
	clock := newFakeClock()
	var mu sync.Mutex
	var got []TransitionKind
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{
		Policy: testPolicy(), Now: clock.Now,
		OnTransition: func(tr Transition) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, tr.Kind)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	addr := ip("192.0.2.9")
	for _, r := range []string{"r1", "r2"} {
		var batch []Report
		for range 3 {
			batch = append(batch, Report{Address: addr, Outcome: OutcomeFailure, Stage: StageConnect, Reporter: r})
		}
		if _, err := svc.Submit(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	other := ip("192.0.2.10")
	if _, err := svc.Drain(ctx, other, time.Minute, "disk swap", "ops"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	svc.resync(ctx)
	mu.Lock()
	defer mu.Unlock()
	want := []TransitionKind{TransitionDemoted, TransitionDrained, TransitionUndrained}
	if len(got) != len(want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("observed %v, want %v", got, want)
		}
	}
}
