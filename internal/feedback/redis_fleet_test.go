package feedback

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/redis/go-redis/v9"
)

// replica is a Service with its Run loop, as one mxroute process has.
type replica struct {
	svc  *Service
	stop func()
}

func startReplica(t *testing.T, store Store, opts Options) *replica {
	t.Helper()
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 200 * time.Millisecond
	}
	svc, err := NewService(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	r := &replica{svc: svc}
	var stopped bool
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
	t.Cleanup(r.stop)
	if svc.push != nil {
		// Until its first resync a replica does not trust its view.
		eventually(t, "first resync", func() bool { return !svc.view.load().synced.IsZero() })
	}
	return r
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func demote(t testing.TB, svc *Service, addr netip.Addr) {
	t.Helper()
	for _, r := range []string{"r1", "r2"} {
		var batch []Report
		for range 3 {
			batch = append(batch, Report{Address: addr, Outcome: OutcomeFailure, Stage: StageConnect, Reporter: r})
		}
		if _, err := svc.Submit(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
}

// testReplicas checks that transitions decided through one replica reach
// the other's StateOf: by push, with resync as the fallback.
func testReplicas(t *testing.T, addrs []string) {
	clientA, clientB := newRedisClient(t, addrs...), newRedisClient(t, addrs...)
	p := DefaultPolicy()
	p.BudgetMin = 100
	a := startReplica(t, NewRedisStore(clientA, RedisOptions{}), Options{Policy: p})
	b := startReplica(t, NewRedisStore(clientB, RedisOptions{}), Options{Policy: p})

	var hosts []netip.Addr
	for i := range 12 { // spread over the cluster's slots
		hosts = append(hosts, netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}))
	}
	for _, h := range hosts {
		demote(t, a.svc, h)
	}
	for _, h := range hosts {
		if got := a.svc.StateOf(h); got != StateDemoted {
			t.Fatalf("A.StateOf(%s) = %s right after its own demotion", h, got)
		}
		eventually(t, "B sees "+h.String()+" demoted", func() bool { return b.svc.StateOf(h) == StateDemoted })
	}
	if _, err := b.svc.Drain(context.Background(), hosts[0], time.Hour, "disk", "ops"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A sees the drain", func() bool { return a.svc.StateOf(hosts[0]) == StateDrained })
	if _, err := a.svc.Undrain(context.Background(), hosts[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B sees the undrain", func() bool { return b.svc.StateOf(hosts[0]) == StateHealthy })
	for _, r := range []string{"r3", "r4"} {
		if _, err := b.svc.Submit(context.Background(), []Report{{Address: hosts[1], Outcome: OutcomeSuccess, Stage: StageGreeting, SMTPCode: 220, Reporter: r}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "A sees the recovery", func() bool { return a.svc.StateOf(hosts[1]) == StateHealthy })

	list, err := b.svc.Hosts(context.Background(), StateDemoted)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(hosts)-2 {
		t.Fatalf("B lists %d demoted hosts, want %d", len(list), len(hosts)-2)
	}
	for _, st := range []Status{a.svc.Status(), b.svc.Status()} {
		if st.Store != "redis" || st.Degraded {
			t.Fatalf("status = %+v", st)
		}
	}
	checkTTLs(t, clientA, "mxr")
}

func TestRedisTwoReplicas(t *testing.T) {
	srv := redistest.StartServer(t)
	testReplicas(t, []string{srv.Addr()})
}

// TestRedisCluster runs the replica and apply-once tests on one Cluster
// (starting one takes seconds): every key apply.lua touches must be in
// the address's slot.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	t.Run("TwoReplicas", func(t *testing.T) { testReplicas(t, c.Addrs()) })
	t.Run("ApplyOnce", func(t *testing.T) {
		client := newRedisClient(t, c.Addrs()...)
		testApplyOnce(t, client, "once")
		checkTTLs(t, client, "once")
	})
}

// outageStream yields a minute of reports on a few addresses, one batch
// per second of the clock: steady successes, two addresses failing for
// half of the reporters, some neutral replies. Each batch is stamped when
// it is produced, as a sender stamps its reports.
func outageStream(clock *fakeClock) func() []Report {
	rnd := rand.New(rand.NewPCG(7, 7))
	return func() []Report {
		var batch []Report
		for j := range 20 {
			addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + rnd.IntN(5))})
			r := Report{Address: addr, Reporter: fmt.Sprintf("r%d", rnd.IntN(4)), Stage: StageEHLO,
				Outcome: OutcomeSuccess, SMTPCode: 250, ObservedAt: clock.Now().Add(time.Duration(j) * time.Millisecond)}
			if addr.As4()[3] <= 2 && (r.Reporter == "r0" || r.Reporter == "r1") {
				r.Outcome, r.Stage, r.SMTPCode = OutcomeFailure, StageConnect, 0
			}
			if rnd.IntN(10) == 0 {
				r.Stage, r.Outcome, r.SMTPCode = StageRcpt, OutcomeFailure, 550
			}
			batch = append(batch, r)
		}
		return batch
	}
}

// compareStores fails unless both services report the same status for addrs.
func compareStores(t *testing.T, got, want *Service, addrs []netip.Addr) {
	t.Helper()
	for _, a := range addrs {
		g, err := got.Host(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		w, err := want.Host(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if g.LastFailure != nil && w.LastFailure != nil && g.LastFailure.At.Equal(w.LastFailure.At) {
			g.LastFailure.At = w.LastFailure.At
		}
		g.Until, w.Until = g.Until.UTC(), w.Until.UTC()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", a, g, w)
		}
	}
}

func streamAddrs() []netip.Addr {
	var out []netip.Addr
	for i := range 5 {
		out = append(out, netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i)}))
	}
	return out
}

// TestRedisKilledAndRestarted kills redis-server while reports keep
// coming: Submit keeps accepting, and after the restart the buffered
// reports are replayed, in order, into the same state a store that never
// failed reaches from them (the killed server's earlier data is gone with
// it: it persists nothing).
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.StartServer(t)
	clock := newFakeClock()
	opts := Options{Policy: testPolicy(), Now: clock.Now, Rand: rand.NewPCG(3, 3), StoreTimeout: time.Second}
	r := startReplica(t, NewRedisStore(newRedisClient(t, srv.Addr()), RedisOptions{}), opts)
	ref, err := NewService(NewMemoryStore(MemoryOptions{}), Options{Policy: testPolicy(), Now: clock.Now, Rand: rand.NewPCG(3, 3)})
	if err != nil {
		t.Fatal(err)
	}
	next := outageStream(clock)
	var failures, successes int
	for i := range 60 {
		batch := next()
		if i == 10 {
			srv.Stop()
		}
		n, err := r.svc.Submit(context.Background(), batch)
		if err != nil || n != len(batch) {
			t.Fatalf("batch %d: Submit = %d, %v", i, n, err)
		}
		if i >= 10 {
			if _, err := ref.Submit(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			for _, rep := range batch {
				switch Classify(rep) {
				case SignalHostFailure:
					failures++
				case SignalHostSuccess:
					successes++
				}
			}
		}
		clock.Advance(time.Second)
	}
	st := r.svc.Status()
	if !st.Degraded || st.Buffered == 0 || st.Dropped != 0 {
		t.Fatalf("status during the outage = %+v", st)
	}
	if !strings.Contains(strings.Join(st.Detail, "\n"), "buffered") {
		t.Fatalf("status detail does not mention the buffer: %v", st.Detail)
	}
	srv.Restart()
	eventually(t, "buffer replayed", func() bool { return r.svc.Status().Buffered == 0 })
	compareStores(t, r.svc, ref, streamAddrs())
	var gotF, gotS int
	for _, a := range streamAddrs() {
		h, _ := r.svc.Host(context.Background(), a)
		gotF += h.RecentFailures
		gotS += h.RecentSuccesses
	}
	if gotF != failures || gotS != successes {
		t.Fatalf("store counted %d failures and %d successes, %d and %d were reported during the outage", gotF, gotS, failures, successes)
	}
	if st := r.svc.Status(); st.Degraded {
		t.Fatalf("still degraded after replay: %+v", st)
	}
}

// TestRedisPaused freezes redis-server (requests hang rather than fail):
// every Submit still returns, and after Resume the store holds exactly the
// state of a store that never stalled, although the batch that met the
// freeze was sent before its call timed out and ran on resume, and its
// buffered copy was replayed after (the budget, read once an hour here,
// does not stop the EVALSHAs before they are sent).
func TestRedisPaused(t *testing.T) {
	srv := redistest.StartServer(t)
	clock := newFakeClock()
	opts := Options{Policy: testPolicy(), Now: clock.Now, Rand: rand.NewPCG(3, 3), StoreTimeout: 100 * time.Millisecond}
	r := startReplica(t, NewRedisStore(newRedisClient(t, srv.Addr()), RedisOptions{BudgetRefresh: time.Hour}), opts)
	ref, err := NewService(NewMemoryStore(MemoryOptions{}), Options{Policy: testPolicy(), Now: clock.Now, Rand: rand.NewPCG(3, 3)})
	if err != nil {
		t.Fatal(err)
	}
	next := outageStream(clock)
	for i := range 40 {
		batch := next()
		switch i {
		case 10:
			// Read the budget now: a demotion in the last batch made the
			// next Apply read it first, which would time out before the
			// EVALSHAs are sent.
			r.svc.resync(context.Background())
			srv.Pause()
		case 30:
			srv.Resume()
		}
		if n, err := r.svc.Submit(context.Background(), batch); err != nil || n != len(batch) {
			t.Fatalf("batch %d: Submit = %d, %v", i, n, err)
		}
		if _, err := ref.Submit(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if st := r.svc.Status(); i == 29 && (st.Buffered == 0 || !st.Degraded) {
			t.Fatalf("status while paused = %+v", st)
		}
		clock.Advance(time.Second)
	}
	eventually(t, "buffer replayed", func() bool { return r.svc.Status().Buffered == 0 })
	compareStores(t, r.svc, ref, streamAddrs())
}

// TestRedisStaleView: without a successful resync for ViewStaleAfter,
// StateOf stops trusting the view and Status says so.
func TestRedisStaleView(t *testing.T) {
	srv := redistest.StartServer(t)
	h := newHarness(t, NewRedisStore(newRedisClient(t, srv.Addr()), RedisOptions{}), testPolicy(), shortTimeout)
	a := "192.0.2.99"
	h.fail(a, 3, "r1", "r2")
	h.wantState(a, StateDemoted)
	srv.Stop()
	h.allowBuffer = true
	h.advance(20 * time.Second)
	if got := h.state(a); got != StateDemoted {
		t.Fatalf("view 20s old: %s, want the last known demotion", got)
	}
	h.advance(11 * time.Second)
	if got := h.state(a); got != StateHealthy {
		t.Fatalf("view 31s old: %s, want healthy (plain RFC order)", got)
	}
	st := h.svc.Status()
	detail := strings.Join(st.Detail, "\n")
	if !st.Degraded || st.ViewAge != 31*time.Second || !strings.Contains(detail, "resynced") || !strings.Contains(detail, "failing") {
		t.Fatalf("status = %+v", st)
	}
	// Submit still accepts, into the buffer; Host reports the outage.
	h.fail(a, 1, "r3")
	if _, err := h.svc.Host(h.ctx, ip(a)); err == nil {
		t.Fatal("Host succeeded with Redis down")
	}
	srv.Restart()
	h.advance(time.Second)
	if err := h.svc.Flush(h.ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if st := h.svc.Status(); st.Degraded || st.Buffered != 0 {
		t.Fatalf("status after restart and flush = %+v", st)
	}
	if got := h.host(a); got.RecentFailures != 1 {
		t.Fatalf("after flush: %+v, want the one buffered failure", got)
	}
}

// TestFlushGivesUp: Flush returns the context's error, saying how many
// reports are left, when the store stays down.
func TestFlushGivesUp(t *testing.T) {
	srv := redistest.StartServer(t)
	h := newHarness(t, NewRedisStore(newRedisClient(t, srv.Addr()), RedisOptions{}), testPolicy(), shortTimeout)
	srv.Stop()
	h.allowBuffer = true
	h.fail("192.0.2.1", 3, "r1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := h.svc.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 reports still buffered") {
		t.Fatalf("Flush = %v", err)
	}
}

// shortTimeout is for tests of a dead store: every call waits for it.
func shortTimeout(o *Options) { o.StoreTimeout = 250 * time.Millisecond }

// TestRedisSentinel runs the store through a Sentinel-discovered master
// (the failover client a MXROUTE_REDIS_URL with a master name builds).
func TestRedisSentinel(t *testing.T) {
	master := redistest.StartServer(t)
	sentinel := redistest.StartSentinel(t, master)
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{sentinel.Addr()}, MasterName: sentinel.MasterName(), ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = client.Close() })
	if _, ok := client.(*redis.Client); !ok {
		t.Fatalf("client is %T, want a failover *redis.Client", client)
	}
	r := startReplica(t, NewRedisStore(client, RedisOptions{}), Options{})
	addr := ip("192.0.2.77")
	demote(t, r.svc, addr)
	st, err := r.svc.Host(context.Background(), addr)
	if err != nil || st.State != StateDemoted {
		t.Fatalf("Host = %+v, %v", st, err)
	}
	checkTTLs(t, client, "mxr")
}

// TestRedisBufferBound: in an outage (the store answered nothing for
// OutageAfter, here at once), beyond BufferSize the oldest reports are
// dropped and counted; the rest are replayed.
func TestRedisBufferBound(t *testing.T) {
	srv := redistest.StartServer(t)
	h := newHarness(t, NewRedisStore(newRedisClient(t, srv.Addr()), RedisOptions{}), testPolicy(), shortTimeout,
		func(o *Options) { o.BufferSize, o.OutageAfter = 50, time.Nanosecond })
	h.allowBuffer = true
	srv.Stop()
	for i := range 10 {
		var batch []Report
		for range 10 {
			batch = append(batch, Report{Address: ip("192.0.2.5"), Outcome: OutcomeSuccess, Stage: StageConnect, Reporter: "r1", LatencyMS: i})
		}
		h.submit(batch...)
	}
	if st := h.svc.Status(); st.Buffered != 50 || st.Dropped != 50 || !strings.Contains(strings.Join(st.Detail, "\n"), "50 reports dropped") {
		t.Fatalf("status = %+v", st)
	}
	srv.Restart()
	if err := h.svc.Flush(h.ctx); err != nil {
		t.Fatal(err)
	}
	if st := h.host("192.0.2.5"); st.RecentSuccesses != 50 {
		t.Fatalf("replayed %d successes, want the newest 50", st.RecentSuccesses)
	}
}
