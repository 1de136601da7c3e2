package feedback

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// TestSubmitsCoalesce: many senders posting at once against a real Redis.
// Their reports reach the store in far fewer script calls than one per
// address per Submit, and every report counts exactly once.
func TestSubmitsCoalesce(t *testing.T) {
	const senders, posts, perPost = 32, 40, 10
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	p := testPolicy()
	p.VoteFailures = 1_000_000 // count, never demote: the totals are then exact
	r := startReplica(t, NewRedisStore(client, RedisOptions{}), Options{Policy: p, StoreTimeout: 5 * time.Second})
	addrs := []netip.Addr{ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4"), ip("2001:db8::5")}

	before := scriptCalls(t, client)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for j := range posts {
				batch := make([]Report, perPost)
				for k := range batch {
					batch[k] = Report{Address: addrs[(j+k)%len(addrs)], Reporter: fmt.Sprintf("r%d", s),
						Outcome: OutcomeFailure, Stage: StageConnect}
				}
				if n, err := r.svc.Submit(context.Background(), batch); err != nil || n != perPost {
					t.Errorf("Submit = %d, %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := r.svc.Status(); st.Buffered != 0 {
		t.Fatalf("buffered after every Submit returned with Redis up: %+v", st)
	}
	calls := scriptCalls(t, client) - before
	uncoalesced := int64(senders * posts * len(addrs))
	t.Logf("%d Submits over %d addresses: %d script calls (one per address per Submit would be %d)",
		senders*posts, len(addrs), calls, uncoalesced)
	if calls*4 > uncoalesced {
		t.Errorf("%d script calls for %d Submits over %d addresses: want at most a quarter of %d", calls, senders*posts, len(addrs), uncoalesced)
	}
	total := 0
	for _, a := range addrs {
		h, err := r.svc.Host(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		total += h.RecentFailures
	}
	if want := senders * posts * perPost; total != want {
		t.Errorf("%d failures counted, want %d (each exactly once)", total, want)
	}
}

// TestRedisMemoryIndependentOfRate: an address's keys take the same
// memory after 2,000 batches as after 20 (one watermark per replica
// instead of an id per batch), so Redis memory follows addresses, not the
// report rate.
func TestRedisMemoryIndependentOfRate(t *testing.T) {
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	store := NewRedisStore(client, RedisOptions{})
	h := newHarness(t, store, testPolicy())
	addr := ip("192.0.2.9")
	post := func(n int) {
		for i := range n {
			h.submit(Report{Address: addr, Reporter: fmt.Sprintf("r%d", i%5), Outcome: OutcomeSuccess, Stage: StageEHLO, SMTPCode: 250})
		}
	}
	usage := func() (bytes int64, watermarks int) {
		for _, k := range store.addrKeys(addr) {
			v, err := client.MemoryUsage(h.ctx, k).Result()
			if err != nil {
				t.Fatalf("MEMORY USAGE %s: %v", k, err)
			}
			bytes += v
		}
		fields, err := client.HKeys(h.ctx, store.addrKeys(addr)[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			if strings.HasPrefix(f, "w:") {
				watermarks++
			}
		}
		return bytes, watermarks
	}
	post(20)
	small, w1 := usage()
	post(2000)
	large, w2 := usage()
	t.Logf("address keys: %d bytes after 20 batches, %d after 2,020", small, large)
	if w1 != 1 || w2 != 1 {
		t.Errorf("watermarks: %d after 20 batches, %d after 2,020; want 1 (one replica)", w1, w2)
	}
	// Field values grow by a digit or two (the Seq); nothing per batch.
	if large > small+32 {
		t.Errorf("address keys grew from %d to %d bytes with the number of batches", small, large)
	}
}

// TestOverloadTurnsBatchesAway: while the store answers but half the
// buffer waits for it (the applier is busy), a new batch is refused with
// an *OverloadedError and changes nothing; once the buffer drains, batches
// are taken again.
func TestOverloadTurnsBatchesAway(t *testing.T) {
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{BufferSize: 20, StoreTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	batch := func(n int) []Report {
		out := make([]Report, n)
		for i := range out {
			out[i] = Report{Address: ip("192.0.2.8"), Reporter: "r", Outcome: OutcomeFailure, Stage: StageConnect}
		}
		return out
	}
	svc.applier <- struct{}{} // a store call that never ends
	if n, err := svc.Submit(ctx, batch(10)); err != nil || n != 10 {
		t.Fatalf("Submit below the limit = %d, %v", n, err)
	}
	_, err = svc.Submit(ctx, batch(1))
	var over *OverloadedError
	if !errors.As(err, &over) || over.Buffered != 10 || over.Limit != 10 {
		t.Fatalf("Submit with half the buffer waiting = %v, want an OverloadedError for 10 of 10", err)
	}
	if st := svc.Status(); st.Buffered != 10 {
		t.Fatalf("buffered %d after a refused batch, want 10 (nothing of it taken)", st.Buffered)
	}
	<-svc.applier
	if err := svc.Flush(ctx); err != nil { // what Run does when woken
		t.Fatal(err)
	}
	if n, err := svc.Submit(ctx, batch(1)); err != nil || n != 1 {
		t.Fatalf("Submit once the store call ended = %d, %v", n, err)
	}
	if h, _ := svc.Host(ctx, ip("192.0.2.8")); h.RecentFailures != 11 || svc.Status().Buffered != 0 {
		t.Fatalf("after draining: %d failures, %d buffered; want 11 and 0", h.RecentFailures, svc.Status().Buffered)
	}
}

// TestStalledStoreTurnsBatchesAway: against a real Redis that stops
// answering (SIGSTOP), store calls fail; until it has answered nothing for
// OutageAfter it counts as slow, not down, so once half the buffer waits
// new batches get an *OverloadedError (the senders keep them) rather than
// filling the buffer until it drops reports. After OutageAfter the whole
// buffer takes reports, as in any outage.
func TestStalledStoreTurnsBatchesAway(t *testing.T) {
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	const outage = 2 * time.Second
	r := startReplica(t, NewRedisStore(client, RedisOptions{}),
		Options{BufferSize: 20, StoreTimeout: 50 * time.Millisecond, OutageAfter: outage, ResyncInterval: time.Hour})
	ctx := context.Background()
	one := []Report{{Address: ip("192.0.2.9"), Reporter: "r", Outcome: OutcomeFailure, Stage: StageConnect}}
	if _, err := r.svc.Submit(ctx, one); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	stalled := time.Now()
	var over *OverloadedError
	accepted := 1
	for range 30 {
		_, err := r.svc.Submit(ctx, one)
		if errors.As(err, &over) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	if over == nil || time.Since(stalled) >= outage {
		t.Fatalf("a stalled store: %d batches accepted, then %v, after %s; want an OverloadedError at half the buffer, within %s", accepted, over, time.Since(stalled), outage)
	}
	if st := r.svc.Status(); st.Dropped != 0 || st.Buffered != 10 {
		t.Fatalf("status %+v: want 10 buffered (half), nothing dropped", st)
	}
	time.Sleep(time.Until(stalled.Add(outage + 100*time.Millisecond)))
	if _, err := r.svc.Submit(ctx, one); err != nil {
		t.Fatalf("Submit after OutageAfter without an answer = %v; want it buffered (an outage)", err)
	}
	accepted++
	srv.Resume()
	eventually(t, "the buffer drains once the store answers", func() bool { return r.svc.Status().Buffered == 0 })
	if h, err := r.svc.Host(ctx, ip("192.0.2.9")); err != nil || h.RecentFailures != accepted {
		t.Fatalf("%+v, %v: want %d failures, each accepted report once", h, err, accepted)
	}
}
