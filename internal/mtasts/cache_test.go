package mtasts_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/mtasts/redisstore"
	"github.com/mxroute/mxroute/internal/routing"
)

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func mode(in routing.STSInput) string {
	if in.Policy == nil {
		return "none"
	}
	return string(in.Policy.Mode) + "/" + in.Policy.ID + "/" + string(in.Policy.Source)
}

func TestCachePolicyLifecycle(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	c := mtasts.NewCache(e.fetcher(nil), mtasts.CacheConfig{Now: clk.now, RetryAfter: time.Minute})
	ctx := context.Background()
	reqs := func() int { return e.srv.Requests("mta-sts.example.com") }

	if got := mode(c.Policy(ctx, "example.com", mtasts.TXT{ID: "v1"})); got != "enforce/v1/fresh" {
		t.Fatalf("first lookup %s, want a fresh enforce policy", got)
	}
	in := c.Policy(ctx, "example.com", mtasts.TXT{ID: "v1"})
	if mode(in) != "enforce/v1/cached" || reqs() != 1 {
		t.Fatalf("second lookup %s after %d requests, want cached after 1", mode(in), reqs())
	}
	if want := clk.now().Add(86400 * time.Second); !in.Policy.ExpiresAt.Equal(want) {
		t.Errorf("expires %v, want %v", in.Policy.ExpiresAt, want)
	}

	// The TXT record disappears: the cached policy still applies.
	if got := mode(c.Policy(ctx, "example.com", mtasts.TXT{})); got != "enforce/v1/cached" {
		t.Errorf("without TXT: %s, want the cached policy", got)
	}

	// A new id with a changed policy: fetched again.
	e.policies.Set("example.com", "version: STSv1\nmode: testing\nmx: *.mail.example.com\nmax_age: 3600\n")
	if got := mode(c.Policy(ctx, "example.com", mtasts.TXT{ID: "v2"})); got != "testing/v2/fresh" || reqs() != 2 {
		t.Fatalf("new id: %s after %d requests, want the testing policy fetched", got, reqs())
	}

	// The policy host breaks and the id changes: the cached policy keeps
	// applying, marked stale, and the failure is not retried at once.
	e.policies.Set("example.com", "")
	in = c.Policy(ctx, "example.com", mtasts.TXT{ID: "v3"})
	if mode(in) != "testing/v2/stale" || in.FetchFailed == "" {
		t.Fatalf("failed refresh: %s (%q), want the cached policy, stale, with the failure", mode(in), in.FetchFailed)
	}
	c.Policy(ctx, "example.com", mtasts.TXT{ID: "v3"})
	if reqs() != 3 {
		t.Errorf("%d requests, want the failure remembered for RetryAfter", reqs())
	}

	// After max_age nothing is cached any more: no policy, with the failure.
	clk.advance(3601 * time.Second)
	in = c.Policy(ctx, "example.com", mtasts.TXT{ID: "v3"})
	if in.Policy != nil || in.FetchFailed == "" || reqs() != 4 {
		t.Errorf("expired: %s (%q) after %d requests, want no policy and a new attempt", mode(in), in.FetchFailed, reqs())
	}
	if got := mode(c.Policy(ctx, "unknown.example.com", mtasts.TXT{})); got != "none" {
		t.Errorf("no TXT, nothing cached: %s", got)
	}
}

func TestCacheBackgroundRefresh(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	c := mtasts.NewCache(e.fetcher(nil), mtasts.CacheConfig{Now: clk.now})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	c.Policy(ctx, "example.com", mtasts.TXT{ID: "v1"})
	clk.advance(43201 * time.Second) // past half of max_age
	if got := mode(c.Policy(ctx, "example.com", mtasts.TXT{ID: "v1"})); got != "enforce/v1/cached" {
		t.Fatalf("got %s, want the cached policy while it refreshes", got)
	}
	// The refresh is done when the copy in use expires a full max_age
	// after the refresh.
	refreshed := clk.now().Add(86400 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		in := c.Policy(ctx, "example.com", mtasts.TXT{ID: "v1"})
		if in.Policy.ExpiresAt.Equal(refreshed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no background refresh: %d requests, policy expires %v", e.srv.Requests("mta-sts.example.com"), in.Policy.ExpiresAt)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.srv.Requests("mta-sts.example.com"); n != 2 {
		t.Fatalf("%d requests, want one background refresh", n)
	}
	// The refreshed copy is good for a full max_age from now.
	clk.advance(50000 * time.Second)
	if got := mode(c.Policy(ctx, "example.com", mtasts.TXT{})); got != "enforce/v1/cached" {
		t.Errorf("after the first copy's expiry: %s, want the refreshed copy", got)
	}
}

// TestCacheFleetFetchesOnce: replicas sharing one real Redis fetch a policy
// once between them, however many ask at the same moment; the others read
// it from Redis.
func TestCacheFleetFetchesOnce(t *testing.T) {
	e := newEnv(t)
	rs := redistest.StartServer(t)
	const replicas, callers = 3, 8
	var caches []*mtasts.Cache
	for range replicas {
		rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		st := redisstore.New(rdb, "mxr:test")
		caches = append(caches, mtasts.NewCache(e.fetcher(nil), mtasts.CacheConfig{Store: st, Locker: st}))
	}
	var wg sync.WaitGroup
	results := make(chan string, replicas*callers)
	for _, c := range caches {
		for range callers {
			wg.Go(func() { results <- mode(c.Policy(context.Background(), "example.com", mtasts.TXT{ID: "v1"})) })
		}
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "enforce/v1/fresh" && r != "enforce/v1/cached" {
			t.Errorf("a replica got %s", r)
		}
	}
	if n := e.srv.Requests("mta-sts.example.com"); n != 1 {
		t.Errorf("%d HTTPS requests for %d replicas, want 1", n, replicas)
	}
	// A replica that starts later reads the policy from Redis.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	st := redisstore.New(rdb, "mxr:test")
	late := mtasts.NewCache(e.fetcher(nil), mtasts.CacheConfig{Store: st, Locker: st})
	if got := mode(late.Policy(context.Background(), "example.com", mtasts.TXT{ID: "v1"})); got != "enforce/v1/cached" || e.srv.Requests("mta-sts.example.com") != 1 {
		t.Errorf("late replica: %s, %d requests", got, e.srv.Requests("mta-sts.example.com"))
	}
}

// TestCacheRedisDown: with Redis unreachable a replica still fetches and
// serves the policy itself.
func TestCacheRedisDown(t *testing.T) {
	e := newEnv(t)
	rs := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	rs.Stop()
	st := redisstore.New(rdb, "mxr:test")
	c := mtasts.NewCache(e.fetcher(nil), mtasts.CacheConfig{Store: st, Locker: st})
	if got := mode(c.Policy(context.Background(), "example.com", mtasts.TXT{ID: "v1"})); got != "enforce/v1/fresh" {
		t.Errorf("got %s, want the policy fetched without Redis", got)
	}
}
