package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// These tests run in a synctest bubble: synctest.Wait returns once every
// goroutine is blocked, which proves that the callers are all waiting on
// one upstream lookup without sleeping or timing anything. The bubble also
// fails the test if a goroutine is left behind.

type lookupResult struct {
	answer resolver.Answer
	result Result
	err    error
}

func lookupAsync(ctx context.Context, c *Cache, name string, qtype uint16) <-chan lookupResult {
	ch := make(chan lookupResult, 1)
	go func() {
		a, r, err := c.LookupResult(ctx, name, qtype)
		ch <- lookupResult{a, r, err}
	}()
	return ch
}

func TestConcurrentMissesShareOneLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 50
		up := newUpstream()
		up.set(mxAnswer("example.com.", time.Minute, "mx.example.com."))
		gate := up.hold()
		c := newCache(t, up, nil, Config{}) // the bubble's clock

		results := make([]<-chan lookupResult, callers)
		for i := range results {
			results[i] = lookupAsync(context.Background(), c, "Example.com", dns.TypeMX)
		}
		synctest.Wait()
		if got := up.count(); got != 1 {
			t.Fatalf("upstream calls with %d callers waiting = %d, want 1", callers, got)
		}
		close(gate)
		for i, ch := range results {
			r := <-ch
			if r.err != nil || r.result != ResultMiss || len(r.answer.MX) != 1 || r.answer.TTL != time.Minute {
				t.Errorf("caller %d: %+v, %v, %v; want the MX answer, %v", i, r.answer, r.result, r.err, ResultMiss)
			}
		}
		if _, r, err := c.LookupResult(context.Background(), "example.com.", dns.TypeMX); r != ResultHit || err != nil {
			t.Errorf("lookup after the shared one: %v, %v; want %v", r, err, ResultHit)
		}
		if got := up.count(); got != 1 {
			t.Errorf("upstream calls = %d, want 1", got)
		}
	})
}

func TestCallerCancelDoesNotCancelOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newUpstream()
		up.set(mxAnswer("example.com.", time.Minute, "mx.example.com."))
		gate := up.hold()
		c := newCache(t, up, nil, Config{})

		// The impatient caller starts the shared lookup, so the lookup
		// runs on its context's values.
		impatientCtx, cancel := context.WithCancel(context.Background())
		impatient := lookupAsync(impatientCtx, c, "example.com.", dns.TypeMX)
		synctest.Wait()
		patient := lookupAsync(context.Background(), c, "example.com.", dns.TypeMX)
		synctest.Wait()

		cancel()
		r := <-impatient
		if !errors.Is(r.err, context.Canceled) || r.result != ResultError {
			t.Errorf("cancelled caller: %v, %v; want %v, error wrapping %v", r.result, r.err, ResultError, context.Canceled)
		}
		close(gate)
		r = <-patient
		if r.err != nil || r.result != ResultMiss || len(r.answer.MX) != 1 {
			t.Errorf("other caller: %+v, %v, %v; want the MX answer", r.answer, r.result, r.err)
		}
		up.mu.Lock()
		defer up.mu.Unlock()
		if up.calls != 1 || len(up.ctxErrs) != 1 || up.ctxErrs[0] != nil {
			t.Errorf("upstream calls = %d, context errors seen = %v; want 1 call with a live context", up.calls, up.ctxErrs)
		}
	})
}

func TestUpstreamTimeoutBoundsSharedLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newUpstream()
		up.hold() // never released: only the timeout ends the lookup
		c := newCache(t, up, nil, Config{UpstreamTimeout: 3 * time.Second})
		start := time.Now()
		_, r, err := c.LookupResult(context.Background(), "example.com.", dns.TypeMX)
		if !errors.Is(err, context.DeadlineExceeded) || r != ResultError {
			t.Errorf("LookupResult: %v, %v; want %v, error wrapping %v", r, err, ResultError, context.DeadlineExceeded)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("waited %v (bubble time), want the UpstreamTimeout 3s", waited)
		}
	})
}

func TestCloseCancelsLookupsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newUpstream()
		up.hold()
		c, err := New(up, Config{})
		if err != nil {
			t.Fatal(err)
		}
		pending := lookupAsync(context.Background(), c, "example.com.", dns.TypeMX)
		synctest.Wait()
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		r := <-pending
		if !errors.Is(r.err, context.Canceled) || r.result != ResultError {
			t.Errorf("lookup cut by Close: %v, %v; want %v, error wrapping %v", r.result, r.err, ResultError, context.Canceled)
		}
		if _, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX); !errors.Is(err, ErrClosed) {
			t.Errorf("Lookup after Close: %v, want %v", err, ErrClosed)
		}
	})
}

func TestConcurrentMixedLookups(t *testing.T) {
	// Many goroutines over a few names with a moving clock, for the race
	// detector: hits, misses, stale answers and failures interleave.
	up, clock := newUpstream(), newClock()
	names := []string{"a.example.", "b.example.", "c.example.", "d.example."}
	for _, n := range names {
		up.set(mxAnswer(n, 10*time.Second, "mx."+n))
	}
	c := newCache(t, up, clock, Config{StaleFor: time.Minute})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if g == 0 && i%20 == 0 {
					clock.advance(3 * time.Second)
					up.fail(map[bool]error{true: errUpstream}[i%40 == 0])
				}
				a, r, err := c.LookupResult(context.Background(), names[(g+i)%len(names)], dns.TypeMX)
				switch {
				case err != nil && !errors.Is(err, errUpstream):
					t.Errorf("unexpected error: %v", err)
				case err == nil && len(a.MX) != 1:
					t.Errorf("result %v: answer %+v, want one MX", r, a)
				}
			}
		})
	}
	wg.Wait()
}
