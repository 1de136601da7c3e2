package cache

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mxroute/mxroute/internal/resolver"
)

// RFC 8767's timers. Most of these tests run in a synctest bubble, whose
// clock only moves when every goroutine is blocked: how long a caller
// waited is then exact, and says whether it waited for the upstream or
// for the StaleAnswerAfter timer. The cache's own clock (Config.Now) is
// the fake one, moved by hand to expire entries.

// primeExpired caches an MX answer for example.com. pointing at host, then
// moves the clock to its expiry.
func primeExpired(t *testing.T, c *Cache, up *countingUpstream, clock *fakeClock, host string) {
	t.Helper()
	up.set(mxAnswer("example.com.", time.Minute, host))
	expect(t, c, up, "example.com.", dns.TypeMX, ResultMiss, time.Minute, 1)
	clock.advance(time.Minute)
}

func mxHost(t *testing.T, a resolver.Answer) string {
	t.Helper()
	if len(a.MX) != 1 {
		t.Fatalf("answer = %+v, want one MX", a)
	}
	return a.MX[0].Host
}

func TestSlowRefreshServesStaleThenLandsInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, clock := newUpstream(), newClock()
		c := newCache(t, up, clock, Config{})
		primeExpired(t, c, up, clock, "old.example.com.")

		// The upstream now hangs; it will say "new" once released.
		gate := up.hold()
		up.set(mxAnswer("example.com.", time.Minute, "new.example.com."))
		start := time.Now()
		a := expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
		if waited := time.Since(start); waited != DefaultStaleAnswerAfter {
			t.Errorf("waited %v (bubble time), want StaleAnswerAfter %v", waited, DefaultStaleAnswerAfter)
		}
		if h := mxHost(t, a); h != "old.example.com." {
			t.Errorf("stale answer's MX = %s, want old.example.com.", h)
		}

		// The refresh is overdue: later callers get the stale answer
		// at once and send nothing (expect checks the count).
		start = time.Now()
		expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
		if waited := time.Since(start); waited != 0 {
			t.Errorf("caller after an overdue refresh waited %v, want 0", waited)
		}

		close(gate)
		synctest.Wait() // the background refresh lands
		if h := mxHost(t, expect(t, c, up, "example.com.", dns.TypeMX, ResultHit, time.Minute, 2)); h != "new.example.com." {
			t.Errorf("after the refresh: MX %s, want new.example.com.", h)
		}
	})
}

func TestStaleAnswerAfterRunsFromRefreshStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, clock := newUpstream(), newClock()
		c := newCache(t, up, clock, Config{StaleAnswerAfter: time.Second})
		primeExpired(t, c, up, clock, "mx.example.com.")
		gate := up.hold()

		start := time.Now()
		first := lookupAsync(context.Background(), c, "example.com.", dns.TypeMX)
		time.Sleep(300 * time.Millisecond)
		second := lookupAsync(context.Background(), c, "example.com.", dns.TypeMX)
		for i, ch := range []<-chan lookupResult{first, second} {
			r := <-ch
			if r.err != nil || r.result != ResultStale {
				t.Errorf("caller %d: %v, %v; want %v", i, r.result, r.err, ResultStale)
			}
			if waited := time.Since(start); waited != time.Second {
				t.Errorf("caller %d answered %v after the refresh started, want 1s", i, waited)
			}
		}
		if got := up.count(); got != 2 {
			t.Errorf("upstream calls = %d, want 2: the first lookup and one shared refresh", got)
		}
		close(gate)
	})
}

func TestNothingStaleWaitsForUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hang = 5 * time.Second
		tests := []struct {
			name   string
			cfg    Config
			expire time.Duration // how far past the cached answer's expiry
		}{
			{"never seen", Config{}, -1},
			{"past StaleFor", Config{StaleFor: time.Minute}, time.Minute},
			{"StaleAnswerAfter disabled", Config{StaleAnswerAfter: -1}, 0},
		}
		for _, tt := range tests {
			up, clock := newUpstream(), newClock()
			c, err := New(up, Config{Now: clock.Now, StaleFor: tt.cfg.StaleFor, StaleAnswerAfter: tt.cfg.StaleAnswerAfter})
			if err != nil {
				t.Fatal(err)
			}
			if tt.expire >= 0 {
				primeExpired(t, c, up, clock, "mx.example.com.")
				clock.advance(tt.expire)
			}
			gate := up.hold()
			start := time.Now()
			pending := lookupAsync(context.Background(), c, "example.com.", dns.TypeMX)
			time.Sleep(hang)
			close(gate)
			r := <-pending
			if waited := time.Since(start); waited != hang || r.result != ResultMiss || r.err != nil {
				t.Errorf("%s: %v, %v after %v; want %v after the upstream's %v", tt.name, r.result, r.err, waited, ResultMiss, hang)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
}

func TestRememberedFailureServesStaleWithoutUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, clock := newUpstream(), newClock()
		c := newCache(t, up, clock, Config{})
		primeExpired(t, c, up, clock, "mx.example.com.")

		up.fail(errUpstream)
		expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
		// Within the failure recheck timer: stale at once, no query.
		start := time.Now()
		for range 10 {
			expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
			clock.advance(DefaultFailureTTL / 20)
		}
		clock.advance(DefaultFailureTTL/2 - time.Nanosecond)
		expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
		if waited := time.Since(start); waited != 0 {
			t.Errorf("lookups within FailureTTL waited %v, want 0", waited)
		}

		// Past it, one refresh, shared by every caller. It hangs now.
		clock.advance(time.Nanosecond)
		gate := up.hold()
		var pending []<-chan lookupResult
		for range 5 {
			pending = append(pending, lookupAsync(context.Background(), c, "example.com.", dns.TypeMX))
		}
		for i, ch := range pending {
			if r := <-ch; r.err != nil || r.result != ResultStale {
				t.Errorf("caller %d after FailureTTL: %v, %v; want %v", i, r.result, r.err, ResultStale)
			}
		}
		if got := up.count(); got != 3 {
			t.Errorf("upstream calls after FailureTTL = %d, want 3: one refresh", got)
		}
		close(gate)
		synctest.Wait() // the refresh fails too: remembered again
		start = time.Now()
		expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 3)
		if waited := time.Since(start); waited != 0 {
			t.Errorf("lookup after the failed refresh waited %v, want 0", waited)
		}
	})
}

func TestCloseCancelsBackgroundRefresh(t *testing.T) {
	defer goleak.VerifyNone(t)
	up, clock := newUpstream(), newClock()
	// The runtime's clock, as in production: the timer really runs.
	c, err := New(up, Config{Now: clock.Now, StaleAnswerAfter: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	primeExpired(t, c, up, clock, "mx.example.com.")
	up.hold() // never released: only Close ends the refresh
	expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if n := len(up.ctxErrs); n != 2 || !errors.Is(up.ctxErrs[1], context.Canceled) {
		t.Errorf("upstream context errors = %v, want the refresh's cancelled by Close", up.ctxErrs)
	}
}
