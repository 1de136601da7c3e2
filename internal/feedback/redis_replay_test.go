package feedback

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/redis/go-redis/v9"
)

// applyCounter counts the Apply pipelines the client sends (to wait for
// replays into a paused server) and the EVALSHAs Redis answered.
type applyCounter struct{ sent, answered atomic.Int64 }

func (h *applyCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *applyCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *applyCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var evals []redis.Cmder
		for _, c := range cmds {
			if c.Name() == "evalsha" {
				evals = append(evals, c)
			}
		}
		if len(evals) > 0 {
			h.sent.Add(1)
		}
		err := next(ctx, cmds)
		for _, c := range evals {
			var rerr redis.Error
			if c.Err() == nil || errors.As(c.Err(), &rerr) {
				h.answered.Add(1)
			}
		}
		return err
	}
}

// scriptCalls is how many EVALSHAs the server ran.
func scriptCalls(t *testing.T, c redis.UniversalClient) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(info, "cmdstat_evalsha:calls=")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
	return n
}

// TestRedisStalledBatchAppliedOnce: a batch whose store call times out
// against a frozen redis-server has already been written to the
// connection; the server runs it when it resumes, and the replays of the
// buffered copy (several, while it stays frozen) run too. Every report
// must still count once: the state equals a memory store's fed each batch
// once. With quorum 1 and 3 failures to vote, a reporter's 2 real
// failures must not demote the address.
func TestRedisStalledBatchAppliedOnce(t *testing.T) {
	srv := redistest.StartServer(t)
	clock := newFakeClock()
	p := testPolicy()
	p.QuorumReporters = 1
	client := newRedisClient(t, srv.Addr())
	// Loaded up front, so that no EVALSHA meets NOSCRIPT: every one the
	// server ran either answered or stalled.
	if err := client.ScriptLoad(context.Background(), applySource).Err(); err != nil {
		t.Fatal(err)
	}
	calls := &applyCounter{}
	client.AddHook(calls)
	// The budget is read at each resync and otherwise cached, so every
	// Apply writes its EVALSHAs before it can time out.
	store := NewRedisStore(client, RedisOptions{BudgetRefresh: time.Hour})
	opts := Options{Policy: p, Now: clock.Now, Rand: rand.NewPCG(5, 5), StoreTimeout: 100 * time.Millisecond}
	r := startReplica(t, store, opts)
	ref, err := NewService(NewMemoryStore(MemoryOptions{}), Options{Policy: p, Now: clock.Now, Rand: rand.NewPCG(5, 5)})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ip("192.0.2.31"), ip("192.0.2.32"), ip("2001:db8::33")
	fail := func(addr netip.Addr, reporter string) Report {
		return Report{Address: addr, Outcome: OutcomeFailure, Stage: StageConnect, Reporter: reporter, Host: "mx.example.net"}
	}
	succeed := func(addr netip.Addr, reporter string) Report {
		return Report{Address: addr, Outcome: OutcomeSuccess, Stage: StageEHLO, SMTPCode: 250, Reporter: reporter}
	}
	submit := func(batch ...Report) {
		t.Helper()
		if n, err := r.svc.Submit(context.Background(), batch); err != nil || n != len(batch) {
			t.Fatalf("Submit = %d, %v", n, err)
		}
		if _, err := ref.Submit(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond) // distinct event times, as real senders have
	}

	submit(fail(a, "r1"), succeed(b, "r2"))
	if st := r.svc.Status(); st.Buffered != 0 {
		t.Fatalf("buffered with Redis answering: %+v", st)
	}

	srv.Pause()
	// Sent, timed out, buffered: Redis holds it in the socket.
	submit(fail(a, "r1"), fail(b, "r2"), fail(b, "r2"), succeed(c, "r3"))
	if st := r.svc.Status(); st.Buffered != 4 {
		t.Fatalf("status after a stalled Submit = %+v, want 4 reports buffered", st)
	}
	// These go to the buffer behind it; the replay loop sends them all
	// again, and again, into the frozen server.
	submit(fail(b, "r2"), fail(c, "r3"), fail(c, "r3"))
	submit(fail(c, "r4"), succeed(a, "r5"), fail(a, "r5"))
	before := calls.sent.Load()
	eventually(t, "replays sent into the paused server", func() bool { return calls.sent.Load() >= before+3 })
	srv.Resume()

	eventually(t, "buffer replayed", func() bool { return r.svc.Status().Buffered == 0 })
	// Otherwise the test proves nothing: the server must have run at least
	// one call whose answer the client had given up on.
	eventually(t, "redis-server runs more scripts than it answered (a stalled call ran on resume)", func() bool {
		return scriptCalls(t, client) > calls.answered.Load()
	})
	addrs := []netip.Addr{a, b, c}
	compareStores(t, r.svc, ref, addrs)
	h, err := r.svc.Host(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if h.State != StateHealthy || h.RecentFailures != 3 || len(h.Votes) != 0 {
		t.Fatalf("%s after replay: %+v, want healthy with 3 failures and no vote (r1 failed twice, r5 once)", a, h)
	}
	// b: r2 failed 3 times in a row (one vote, quorum 1): demoted, once.
	if h, _ := r.svc.Host(context.Background(), b); h.State != StateDemoted || h.Demotions != 1 || h.RecentFailures != 3 {
		t.Fatalf("%s after replay: %+v, want demoted once after 3 failures", b, h)
	}
	// The demotion's reply was lost; the replay's reply put it in the index
	// and the view learns it from there.
	if list, err := r.svc.Hosts(context.Background(), StateDemoted); err != nil || len(list) != 1 || list[0].Address != b {
		t.Fatalf("demoted hosts = %+v, %v; want %s", list, err, b)
	}
	eventually(t, "the view has the demotion", func() bool { return r.svc.StateOf(b) == StateDemoted })
	checkTTLs(t, client, "mxr")
}

// testApplyOnce sends batches to a RedisStore the way a lossy connection
// does (each twice, and merged with the next one in a replay) and requires
// the state of a memory store that got each batch once.
func testApplyOnce(t *testing.T, client redis.UniversalClient, prefix string) {
	ctx := context.Background()
	p := testPolicy()
	p.QuorumReporters = 1
	red := NewRedisStore(client, RedisOptions{Prefix: prefix})
	mem := NewMemoryStore(MemoryOptions{})
	now := newFakeClock().Now()
	a, b := ip("192.0.2.41"), ip("2001:db8::42")
	seq := uint64(0)
	obs := func(id string, addr netip.Addr, reporter string, failure bool, at time.Time) Observation {
		seq++
		o := Observation{Report: Report{Address: addr, Reporter: reporter, Stage: StageConnect, Outcome: OutcomeFailure, Host: "mx." + id},
			Signal: SignalHostFailure, At: at, BatchID: id, Seq: seq}
		if !failure {
			o.Outcome, o.Stage, o.SMTPCode, o.Host = OutcomeSuccess, StageEHLO, 250, ""
			o.Signal = SignalHostSuccess
		}
		return o
	}
	b1 := []Observation{
		obs("i.1", a, "r1", true, now), obs("i.1", b, "r2", true, now),
		obs("i.1", a, "r1", true, now.Add(time.Millisecond)), obs("i.1", b, "r2", false, now.Add(time.Millisecond)),
	}
	b2 := []Observation{obs("i.2", a, "r1", false, now.Add(2*time.Millisecond)), obs("i.2", a, "r1", true, now.Add(3*time.Millisecond))}
	b3 := []Observation{obs("i.3", b, "r2", true, now.Add(4*time.Millisecond))}
	// No Seq: not deduplicated, applied every time it comes.
	anon := []Observation{obs("", b, "r3", true, now.Add(5*time.Millisecond))}
	anon[0].Seq = 0

	apply := func(s Store, at time.Time, parts ...[]Observation) {
		t.Helper()
		var all []Observation
		for _, o := range parts {
			all = append(all, o...)
		}
		if _, err := s.Apply(ctx, Batch{Now: at, Policy: p, Observations: all, Origin: "i"}); err != nil {
			t.Fatalf("%s Apply: %v", s.Kind(), err)
		}
	}
	compare := func(step string, at time.Time) {
		t.Helper()
		for _, addr := range []netip.Addr{a, b} {
			r, err := red.Host(ctx, addr, at, p)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := mem.Host(ctx, addr, at, p)
			if at.Sub(now) > p.VoteTTL {
				// The memory store forgets a record on the (fake) clock,
				// Redis on its own: the last failure outlives the window
				// there.
				r.LastFailure, m.LastFailure = nil, nil
			}
			if describe(r) != describe(m) {
				t.Fatalf("%s, %s:\nredis  %s\nmemory %s", step, addr, describe(r), describe(m))
			}
		}
	}
	t1 := now.Add(time.Second)
	apply(mem, t1, b1)
	apply(mem, t1, b2)
	apply(mem, t1, b3)
	apply(mem, t1, anon)
	apply(mem, t1, anon)

	apply(red, t1, b1)
	apply(red, t1, b1)       // the lost reply's retry
	apply(red, t1, b1, b2)   // a replay of it and the next batch
	apply(red, t1, b2, b3)   // and again, with b3 new
	apply(red, t1, b3, anon) // b3 again; anon counts
	apply(red, t1, anon)     // and counts again
	compare("replays within the window", t1)
	if h, _ := red.Host(ctx, a, t1, p); h.State != StateHealthy || h.RecentFailures != 3 {
		t.Fatalf("%s: %+v, want healthy with 3 failures (r1: 2, success, 1)", a, h)
	}
	if h, _ := red.Host(ctx, b, t1, p); h.State != StateHealthy || h.RecentFailures != 4 {
		t.Fatalf("%s: %+v, want healthy with 4 failures (r2: 1, success, 1; r3: 2)", b, h)
	}

	// Past the window, a replay's events no longer count (they are only
	// "seen"), so forgetting the watermark then is safe.
	late := now.Add(p.VoteTTL + p.KeyMargin + time.Second)
	apply(red, late, b1, b2)
	apply(mem, late, b1, b2)
	compare("a replay after the window", late)
	fresh := []Observation{obs("i.4", a, "r1", true, late)}
	apply(red, late, fresh)
	apply(mem, late, fresh)
	compare("a new batch after the window", late)
	// One watermark per origin, whatever the number of batches: the
	// replays above, and a second origin's report, which counts.
	other := []Observation{obs("j.1", a, "r1", true, late.Add(time.Millisecond))}
	other[0].Seq = 1
	if _, err := red.Apply(ctx, Batch{Now: late, Policy: p, Observations: other, Origin: "j"}); err != nil {
		t.Fatal(err)
	}
	apply(mem, late, other)
	compare("another origin's first report", late)
	key := prefix + ":{" + a.String() + "}:s"
	w, err := client.HGetAll(ctx, key).Result()
	want := map[string]string{
		"w:i": fmt.Sprintf("%d,%d", fresh[0].Seq, late.UnixMilli()),
		"w:j": fmt.Sprintf("1,%d", late.Add(time.Millisecond).UnixMilli()),
	}
	for k, v := range want {
		if w[k] != v {
			t.Errorf("%s %s = %q, want %q (all: %v, %v)", key, k, w[k], v, w, err)
		}
	}
	// The earlier watermark of origin i, with events past the window, was
	// replaced; nothing else of the kind is kept.
	n := 0
	for k := range w {
		if strings.HasPrefix(k, "w:") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%s holds %d watermarks, want 2: %v", key, n, w)
	}
}

func TestRedisApplyOnce(t *testing.T) {
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	testApplyOnce(t, client, "once")
	checkTTLs(t, client, "once")
}
