package check

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGuard: concurrent checks of one domain run once, a report is reused
// until its TTL passes, and a check beyond MaxRunning is ErrBusy.
func TestGuard(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g, err := NewGuard(func(_ context.Context, domain string) (Report, error) {
		runs.Add(1)
		if domain == "slow.example" {
			<-release
		}
		return Report{Domain: domain}, nil
	}, GuardOptions{MaxRunning: 1, ReportTTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if r, err := g.Check(context.Background(), "slow.example"); err != nil || r.Domain != "slow.example" {
				t.Errorf("got %+v, %v", r, err)
			}
		})
	}
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := g.Check(context.Background(), "other.example"); !errors.Is(err, ErrBusy) {
		t.Errorf("a second domain while one runs at MaxRunning 1: %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	g.Check(context.Background(), "slow.example")
	if n := runs.Load(); n != 1 {
		t.Errorf("6 checks of one domain ran %d times, want 1", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	g.Check(context.Background(), "slow.example")
	if n := runs.Load(); n != 2 {
		t.Errorf("after the TTL the check ran %d times in all, want 2", n)
	}
}
