package cache

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// anyMX answers every MX query with one host and an hour's TTL.
type anyMX struct{}

func (anyMX) Lookup(_ context.Context, name string, _ uint16) (resolver.Answer, error) {
	return mxAnswer(name, time.Hour, "mx."+name), nil
}

// TestRefetchWithinMinutesHits streams names seen once through a small
// cache until it has overflowed many times (the long tail of recipient
// domains), then fetches names again a few simulated seconds after their
// first fetch: each must hit, though W-TinyLFU alone refuses new names
// once it is full of others seen as often (without the recent tier all
// 100 missed). Whether otter keeps a name fetched twice once the recent
// tier has forgotten it is up to its sketch, which is probabilistic:
// bench/cachefill measures it (docs/benchmarks.md).
func TestRefetchWithinMinutesHits(t *testing.T) {
	clock := newClock()
	c := newCache(t, anyMX{}, clock, Config{MaxBytes: 4 << 20})
	ctx := context.Background()
	name := func(i int) string { return "d" + strconv.Itoa(i) + ".example." }
	fetch := func(i int) Result {
		t.Helper()
		_, r, err := c.LookupResult(ctx, name(i), dns.TypeMX)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	stream := func(from, to int) {
		for i := from; i < to; i++ {
			clock.advance(10 * time.Millisecond)
			fetch(i)
		}
	}
	stream(0, 100_000) // the cache holds about 10,000 of these
	missed := 0
	for i := 99_000; i < 100_000; i += 10 {
		if fetch(i) != ResultHit {
			missed++
		}
	}
	if missed > 0 {
		t.Errorf("%d of 100 names fetched again 10 s or less after their first fetch missed", missed)
	}
}
