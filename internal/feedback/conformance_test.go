package feedback

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// The conformance suite: one behaviour table run against every Store, so
// the Go state machine (record.go) and its Lua twin (apply.lua) cannot
// drift apart unnoticed.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testPolicy is the default policy without jitter, so durations are exact.
func testPolicy() Policy {
	p := DefaultPolicy()
	p.Jitter = 0
	return p
}

type harness struct {
	// allowBuffer lets Submit buffer (tests of outages); otherwise a
	// buffered report fails the test, as the store should have taken it.
	allowBuffer bool
	t           *testing.T
	ctx         context.Context
	clock       *fakeClock
	store       Store
	svc         *Service
}

func newHarness(t *testing.T, store Store, p Policy, edit ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), clock: newFakeClock(), store: store}
	opts := Options{
		Policy: p, Now: h.clock.Now, Rand: rand.NewPCG(1, 2),
		StoreTimeout: 5 * time.Second, // a loaded CI machine must not turn into an outage
	}
	for _, e := range edit {
		e(&opts)
	}
	svc, err := NewService(store, opts)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	h.svc = svc
	h.svc.resync(h.ctx)
	return h
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func (h *harness) submit(reports ...Report) {
	h.t.Helper()
	n, err := h.svc.Submit(h.ctx, reports)
	if err != nil || n != len(reports) {
		h.t.Fatalf("Submit: accepted %d of %d, err %v", n, len(reports), err)
	}
	if st := h.svc.Status(); st.Buffered > 0 && !h.allowBuffer {
		h.t.Fatalf("Submit buffered %d reports: %v", st.Buffered, st.Detail)
	}
}

// fail submits n connect failures on addr from each reporter, reporter by
// reporter (one batch per reporter, as senders post them).
func (h *harness) fail(addr string, n int, reporters ...string) {
	h.t.Helper()
	for _, r := range reporters {
		var batch []Report
		for range n {
			batch = append(batch, Report{Address: ip(addr), Outcome: OutcomeFailure, Stage: StageConnect, Reporter: r,
				Host: "mx.example.net", Domain: "example.net"})
		}
		h.submit(batch...)
	}
}

func (h *harness) succeed(addr string, reporters ...string) {
	h.t.Helper()
	for _, r := range reporters {
		h.submit(Report{Address: ip(addr), Outcome: OutcomeSuccess, Stage: StageEHLO, SMTPCode: 250, Reporter: r})
	}
}

// advance moves the clock and resyncs, as Run would have meanwhile.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.svc.resync(h.ctx)
}

func (h *harness) state(addr string) State { return h.svc.StateOf(ip(addr)) }

func (h *harness) host(addr string) HostStatus {
	h.t.Helper()
	st, err := h.svc.Host(h.ctx, ip(addr))
	if err != nil {
		h.t.Fatalf("Host(%s): %v", addr, err)
	}
	return st
}

func (h *harness) wantState(addr string, want State) {
	h.t.Helper()
	if got := h.state(addr); got != want {
		h.t.Fatalf("StateOf(%s) = %s, want %s (store: %+v)", addr, got, want, h.host(addr))
	}
	if got := h.host(addr).State; got != want {
		h.t.Fatalf("Host(%s).State = %s, want %s", addr, got, want)
	}
}

func reporters(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// runConformance runs the behaviour table; newStore returns a fresh empty
// store for each subtest.
func runConformance(t *testing.T, newStore func(t *testing.T) Store) {
	run := func(name string, p Policy, f func(h *harness)) {
		t.Run(name, func(t *testing.T) { f(newHarness(t, newStore(t), p)) })
	}
	const a, b, c = "192.0.2.10", "192.0.2.20", "2001:db8::25"

	run("one reporter never demotes", testPolicy(), func(h *harness) {
		h.fail(a, 20, "r1")
		h.wantState(a, StateHealthy)
		st := h.host(a)
		if !slices.Equal(st.Votes, []string{"r1"}) || st.RecentFailures != 20 || st.Reporters != 1 {
			h.t.Fatalf("status = %+v, want r1 voting, 20 failures, 1 reporter", st)
		}
	})

	run("two reporters with three failures demote", testPolicy(), func(h *harness) {
		h.fail(a, 3, "r1")
		h.fail(a, 2, "r2")
		h.wantState(a, StateHealthy)
		h.fail(a, 1, "r2")
		h.wantState(a, StateDemoted)
		st := h.host(a)
		want := h.clock.Now().Add(5 * time.Minute)
		if !st.Until.Equal(want) || !slices.Equal(st.Votes, []string{"r1", "r2"}) || st.Demotions != 1 {
			h.t.Fatalf("status = %+v, want until %s, votes r1 r2, multiplier 1", st, want)
		}
		lf := st.LastFailure
		if lf == nil || lf.Reporter != "r2" || lf.Stage != StageConnect || lf.Host != "mx.example.net" || !lf.At.Equal(h.clock.Now()) {
			h.t.Fatalf("last failure = %+v", lf)
		}
		if got := h.state(b); got != StateHealthy {
			h.t.Fatalf("unrelated address %s", got)
		}
	})

	run("a success breaks the streak", testPolicy(), func(h *harness) {
		h.fail(a, 2, "r1")
		h.succeed(a, "r1")
		h.fail(a, 2, "r1")
		h.fail(a, 3, "r2")
		h.wantState(a, StateHealthy)
		if st := h.host(a); !slices.Equal(st.Votes, []string{"r2"}) {
			h.t.Fatalf("votes = %v, want only r2", st.Votes)
		}
		h.fail(a, 1, "r1") // third consecutive
		h.wantState(a, StateDemoted)
	})

	run("votes expire", testPolicy(), func(h *harness) {
		h.fail(a, 3, "r1")
		h.advance(5 * time.Minute)
		h.fail(a, 3, "r2")
		h.wantState(a, StateHealthy)
		if st := h.host(a); !slices.Equal(st.Votes, []string{"r2"}) || st.Reporters != 1 {
			h.t.Fatalf("status = %+v, want r1's vote gone", st)
		}
		// Counters age out by a fifth of the window at a time.
		h.advance(time.Minute)
		if st := h.host(a); st.RecentFailures != 3 {
			h.t.Fatalf("status = %+v, want r1's failures gone", st)
		}
	})

	run("failures spread beyond the window do not add up", testPolicy(), func(h *harness) {
		for range 3 {
			h.fail(a, 1, "r1", "r2")
			h.advance(5*time.Minute + time.Second)
		}
		h.wantState(a, StateHealthy)
	})

	run("healthy veto", testPolicy(), func(h *harness) {
		// 2 voters and 9 reporters that see the host serve: 9/11 > 0.8.
		h.succeed(a, reporters("ok", 9)...)
		h.fail(a, 3, "bad1", "bad2")
		h.wantState(a, StateHealthy)
		if st := h.host(a); st.Reporters != 11 || len(st.Votes) != 2 {
			h.t.Fatalf("status = %+v, want 11 reporters, 2 votes", st)
		}
		// 8 of 10 is not more than 0.8: demoted.
		h.succeed(b, reporters("ok", 8)...)
		h.fail(b, 3, "bad1", "bad2")
		h.wantState(b, StateDemoted)
		// A voter that later sees the host serve withdraws its vote.
		h.fail(c, 3, "bad1")
		h.succeed(c, "bad1")
		h.fail(c, 3, "bad2")
		h.wantState(c, StateHealthy)
	})

	run("neutral replies never demote nor restore", testPolicy(), func(h *harness) {
		for _, r := range []string{"r1", "r2", "r3"} {
			for range 5 {
				h.submit(Report{Address: ip(a), Outcome: OutcomeFailure, Stage: StageRcpt, SMTPCode: 550, EnhancedCode: "5.1.1", Reporter: r})
				h.submit(Report{Address: ip(a), Outcome: OutcomeFailure, Stage: StageRcpt, SMTPCode: 451, EnhancedCode: "4.7.1", Reporter: r})
			}
		}
		h.wantState(a, StateHealthy)
		if st := h.host(a); st.RecentFailures != 0 || st.Reporters != 0 {
			h.t.Fatalf("neutral replies counted as host signals: %+v", st)
		}
		h.fail(b, 3, "r1", "r2")
		h.wantState(b, StateDemoted)
		for _, r := range []string{"r3", "r4", "r5"} {
			h.submit(Report{Address: ip(b), Outcome: OutcomeFailure, Stage: StageData, SMTPCode: 552, Reporter: r})
		}
		h.wantState(b, StateDemoted)
		// A dropped connection mid-transaction blames the host.
		for _, r := range []string{"r1", "r2"} {
			for range 3 {
				h.submit(Report{Address: ip(c), Outcome: OutcomeFailure, Stage: StageData, Reporter: r})
			}
		}
		h.wantState(c, StateDemoted)
	})

	run("reports older than the window are only seen", testPolicy(), func(h *harness) {
		old := h.clock.Now().Add(-6 * time.Minute)
		for _, r := range []string{"r1", "r2"} {
			for range 3 {
				h.submit(Report{Address: ip(a), Outcome: OutcomeFailure, Stage: StageConnect, Reporter: r, ObservedAt: old})
			}
		}
		h.wantState(a, StateHealthy)
		if st := h.host(a); st.RecentFailures != 0 {
			h.t.Fatalf("old reports counted: %+v", st)
		}
	})

	run("multiplier grows on re-demotion and caps at 60m", testPolicy(), func(h *harness) {
		for i := 1; i <= 14; i++ {
			h.fail(a, 3, "r1", "r2")
			st := h.host(a)
			want := min(time.Duration(i)*5*time.Minute, time.Hour)
			if st.State != StateDemoted || st.Until.Sub(h.clock.Now()) != want || st.Demotions != min(i, 12) {
				h.t.Fatalf("demotion %d: %+v, want %s and multiplier %d", i, st, want, min(i, 12))
			}
			h.advance(want)
			h.wantState(a, StateHealthy)
		}
		// Quiet decays the multiplier by one per 30 minutes.
		h.advance(time.Hour)
		if st := h.host(a); st.Demotions != 10 {
			h.t.Fatalf("after an hour of quiet: multiplier %d, want 10", st.Demotions)
		}
		h.fail(a, 3, "r1", "r2")
		if st := h.host(a); st.Until.Sub(h.clock.Now()) != 55*time.Minute {
			h.t.Fatalf("demotion after decay: %+v, want 55m", st)
		}
	})

	run("votes are used up by the demotion they cause", testPolicy(), func(h *harness) {
		h.fail(a, 3, "r1", "r2")
		h.wantState(a, StateDemoted)
		// Jump to the end of the demotion while the votes are still alive.
		h.advance(5*time.Minute - time.Second)
		h.advance(time.Second)
		h.wantState(a, StateHealthy)
		h.fail(a, 1, "r3") // any host failure re-evaluates
		h.wantState(a, StateHealthy)
	})

	run("early recovery by two reporters", testPolicy(), func(h *harness) {
		h.fail(a, 3, "r1", "r2")
		h.wantState(a, StateDemoted)
		h.advance(time.Minute)
		h.succeed(a, "r3", "r3")
		h.wantState(a, StateDemoted)
		h.succeed(a, "r4")
		h.wantState(a, StateHealthy)
		if st := h.host(a); st.Demotions != 1 || !st.Until.IsZero() {
			h.t.Fatalf("after recovery: %+v, want multiplier 1 kept", st)
		}
		// Fresh failures by a quorum re-demote with the grown multiplier.
		h.fail(a, 1, "r1", "r2")
		h.wantState(a, StateDemoted)
		if st := h.host(a); st.Until.Sub(h.clock.Now()) != 10*time.Minute {
			h.t.Fatalf("re-demotion: %+v, want 10m", st)
		}
	})

	run("demotion expires by the clock", testPolicy(), func(h *harness) {
		h.fail(a, 3, "r1", "r2")
		h.advance(5*time.Minute - time.Millisecond)
		if got := h.state(a); got != StateDemoted {
			h.t.Fatalf("1ms before the end: %s", got)
		}
		h.clock.Advance(time.Millisecond)
		if got := h.state(a); got != StateHealthy {
			h.t.Fatalf("at the end: %s (view, no resync)", got)
		}
		snap, err := h.store.Sync(h.ctx, h.clock.Now(), testPolicy())
		if err != nil {
			h.t.Fatal(err)
		}
		if len(snap.Ended) != 1 || snap.Ended[0].Kind != TransitionExpired || snap.Ended[0].Address != ip(a) {
			h.t.Fatalf("ended = %+v, want one expiry of %s", snap.Ended, a)
		}
		if len(snap.NonHealthy) != 0 {
			h.t.Fatalf("non-healthy = %v", snap.NonHealthy)
		}
		if snap, _ := h.store.Sync(h.ctx, h.clock.Now(), testPolicy()); len(snap.Ended) != 0 {
			h.t.Fatalf("expiry handed out twice: %+v", snap.Ended)
		}
	})

	run("drain and undrain", testPolicy(), func(h *harness) {
		st, err := h.svc.Drain(h.ctx, ip(a), time.Hour, "maintenance", "alice")
		if err != nil {
			h.t.Fatal(err)
		}
		if st.State != StateDrained || !st.Until.Equal(h.clock.Now().Add(time.Hour)) || st.DrainReason != "maintenance" || st.DrainedBy != "alice" {
			h.t.Fatalf("drained status = %+v", st)
		}
		h.wantState(a, StateDrained)
		h.fail(a, 3, "r1", "r2") // votes while drained do not demote...
		h.wantState(a, StateDrained)
		st, err = h.svc.Undrain(h.ctx, ip(a)) // ...but re-demote when the drain ends
		if err != nil {
			h.t.Fatal(err)
		}
		if st.State != StateDemoted {
			h.t.Fatalf("undrain with live votes: %+v, want demoted", st)
		}
		h.wantState(a, StateDemoted)

		// A drain replaces a demotion; its end leaves the address healthy.
		h.fail(b, 3, "r1", "r2")
		h.wantState(b, StateDemoted)
		if _, err := h.svc.Drain(h.ctx, ip(b), time.Minute, "", "bob"); err != nil {
			h.t.Fatal(err)
		}
		h.wantState(b, StateDrained)
		if st, _ := h.svc.Undrain(h.ctx, ip(b)); st.State != StateHealthy {
			h.t.Fatalf("undrain after demotion: %+v", st)
		}
		h.wantState(b, StateHealthy)
		if st, err := h.svc.Undrain(h.ctx, ip(b)); err != nil || st.State != StateHealthy {
			h.t.Fatalf("undrain twice: %+v %v", st, err)
		}

		// A drain runs out by the clock and Sync reports it once.
		if _, err := h.svc.Drain(h.ctx, ip(c), time.Minute, "", "carol"); err != nil {
			h.t.Fatal(err)
		}
		h.advance(time.Minute - time.Millisecond)
		if got := h.state(c); got != StateDrained {
			h.t.Fatalf("drain 1ms before its end: %s", got)
		}
		h.clock.Advance(time.Millisecond)
		if got := h.state(c); got != StateHealthy {
			h.t.Fatalf("drain at its end: %s", got)
		}
		snap, err := h.store.Sync(h.ctx, h.clock.Now(), testPolicy())
		if err != nil {
			h.t.Fatal(err)
		}
		var kinds []TransitionKind
		for _, t := range snap.Ended {
			kinds = append(kinds, t.Kind)
		}
		if !slices.Contains(kinds, TransitionUndrained) {
			h.t.Fatalf("ended = %+v, want the drain of %s", snap.Ended, c)
		}

		for _, d := range []time.Duration{0, time.Second - 1, 7*24*time.Hour + 1} {
			_, err := h.svc.Drain(h.ctx, ip(a), d, "", "x")
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "duration" {
				h.t.Fatalf("Drain(%s) = %v, want a duration error", d, err)
			}
		}
	})

	budget := testPolicy()
	budget.BudgetMin = 2
	run("the budget stops new demotions", budget, func(h *harness) {
		h.fail(a, 3, "r1", "r2")
		h.advance(2 * time.Second) // the Redis store rereads the budget at most once a second
		h.fail(b, 3, "r1", "r2")
		h.advance(2 * time.Second)
		h.wantState(a, StateDemoted)
		h.wantState(b, StateDemoted)
		if !h.svc.Status().BudgetExhausted {
			h.t.Fatalf("status = %+v, want budget exhausted", h.svc.Status())
		}
		h.fail(c, 3, "r1", "r2")
		h.wantState(c, StateHealthy)
		// a's and b's demotions end; the budget frees up.
		h.advance(5 * time.Minute)
		if h.svc.Status().BudgetExhausted {
			h.t.Fatal("budget still exhausted after the demotions ended")
		}
		h.fail(c, 3, "r1", "r2")
		h.wantState(c, StateDemoted)
	})

	jittered := DefaultPolicy()
	jittered.BudgetMin = 100
	run("jitter stays within 10%", jittered, func(h *harness) {
		var lengths []time.Duration
		for i := range 20 {
			addr := fmt.Sprintf("198.51.100.%d", i+1)
			h.fail(addr, 3, "r1", "r2")
			d := h.host(addr).Until.Sub(h.clock.Now())
			if d < 270*time.Second || d > 330*time.Second {
				h.t.Fatalf("demotion of %s lasts %s, want 5m±10%%", addr, d)
			}
			lengths = append(lengths, d)
		}
		slices.Sort(lengths)
		if lengths[0] == lengths[len(lengths)-1] {
			h.t.Fatalf("no jitter: all %s", lengths[0])
		}
	})

	run("hosts lists by state", testPolicy(), func(h *harness) {
		h.fail(a, 3, "r1", "r2")
		if _, err := h.svc.Drain(h.ctx, ip(c), time.Hour, "disk", "ops"); err != nil {
			h.t.Fatal(err)
		}
		h.succeed(b, "r1")
		list := func(s State) []string {
			hs, err := h.svc.Hosts(h.ctx, s)
			if err != nil {
				h.t.Fatal(err)
			}
			var out []string
			for _, st := range hs {
				out = append(out, st.Address.String()+"="+string(st.State))
			}
			return out
		}
		if got, want := list(""), []string{a + "=demoted", c + "=drained"}; !slices.Equal(got, want) {
			h.t.Fatalf("Hosts(\"\") = %v, want %v", got, want)
		}
		if got, want := list(StateDemoted), []string{a + "=demoted"}; !slices.Equal(got, want) {
			h.t.Fatalf("Hosts(demoted) = %v, want %v", got, want)
		}
		if got, want := list(StateDrained), []string{c + "=drained"}; !slices.Equal(got, want) {
			h.t.Fatalf("Hosts(drained) = %v, want %v", got, want)
		}
		if got, want := list(StateHealthy), []string{b + "=healthy"}; !slices.Equal(got, want) {
			h.t.Fatalf("Hosts(healthy) = %v, want %v", got, want)
		}
		_, err := h.svc.Hosts(h.ctx, "sick")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "state" {
			h.t.Fatalf("Hosts(sick) = %v", err)
		}
	})

	run("validation errors name the field", testPolicy(), func(h *harness) {
		good := Report{Address: ip(a), Outcome: OutcomeFailure, Stage: StageConnect, Reporter: "r1"}
		bad := good
		bad.SMTPCode = 700
		n, err := h.svc.Submit(h.ctx, []Report{good, bad})
		var fe *FieldError
		if n != 0 || !errors.As(err, &fe) || fe.Field != "smtp_code" {
			h.t.Fatalf("Submit = %d, %v; want 0 and a smtp_code error", n, err)
		}
		if st := h.host(a); st.RecentFailures != 0 {
			h.t.Fatalf("part of a rejected batch was applied: %+v", st)
		}
	})

	run("addresses are normalised", testPolicy(), func(h *harness) {
		h.fail("::ffff:192.0.2.10", 3, "r1", "r2")
		h.wantState(a, StateDemoted)
		if got := h.svc.StateOf(ip("::ffff:192.0.2.10")); got != StateDemoted {
			h.t.Fatalf("mapped form: %s", got)
		}
	})

	runBoundConformance(run)
}
