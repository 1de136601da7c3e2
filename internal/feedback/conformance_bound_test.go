package feedback

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The bounds part of the conformance suite: the address bound
// (Policy.MaxAddresses) and the budget's denominator, which one reporter
// must not be able to inflate.

// nthAddr is the i-th address of a block no other test uses.
func nthAddr(i int) string { return fmt.Sprintf("198.18.%d.%d", i/256, i%256) }

func connectFailure(addr, reporter string) Report {
	return Report{Address: ip(addr), Outcome: OutcomeFailure, Stage: StageConnect, Reporter: reporter}
}

func runBoundConformance(run func(name string, p Policy, f func(h *harness))) {
	bounded := testPolicy()
	bounded.MaxAddresses = 50
	bounded.ReporterNewAddresses = 0 // no eviction: the bound as such

	run("a batch retried with its idempotency key is applied once", testPolicy(), func(h *harness) {
		const addr = "192.0.2.10"
		once := func(key, reporter string, n int) {
			h.t.Helper()
			var batch []Report
			for range n {
				batch = append(batch, connectFailure(addr, reporter))
			}
			if got, err := h.svc.SubmitOnce(h.ctx, key, batch); got != n || err != nil {
				h.t.Fatalf("SubmitOnce(%q) = %d, %v; want all %d accepted", key, got, err, n)
			}
		}
		for range 3 {
			once("k1", "r1", 2)
		}
		if st := h.host(addr); st.RecentFailures != 2 || len(st.Votes) != 0 {
			h.t.Fatalf("one batch posted 3 times: %+v, want 2 failures and no vote", st)
		}
		// Keys are the reporter's: another reporter's k1 is another batch.
		once("k1", "r2", 3)
		once("k2", "r1", 1)
		if st := h.host(addr); st.RecentFailures != 6 || !slices.Equal(st.Votes, []string{"r1", "r2"}) {
			h.t.Fatalf("after r2's k1 and r1's k2: %+v, want 6 failures, votes r1 and r2", st)
		}
		h.wantState(addr, StateDemoted)
		// A key is remembered for IdempotencyWindow.
		h.advance(IdempotencyWindow + time.Second)
		once("k1", "r1", 1)
		if st := h.host(addr); st.RecentFailures != 1 {
			h.t.Fatalf("k1 after the window: %+v, want applied (1 failure in the new window)", st)
		}
		if _, err := h.svc.SubmitOnce(h.ctx, "bad key", []Report{connectFailure(addr, "r1")}); !errors.As(err, new(*FieldError)) {
			h.t.Fatalf("key with a space: %v, want a *FieldError", err)
		}
	})

	evicting := testPolicy()
	evicting.MaxAddresses = 50
	evicting.ReporterNewAddresses = 5
	run("a flood of new addresses cannot keep others' hosts out", evicting, func(h *harness) {
		const host = "192.0.2.10"
		kept := nthAddr(0) // two reporters agree on it: never evicted
		h.succeed(kept, "r1", "r2")
		flood := func(from, to int) {
			var batch []Report
			for i := from; i < to; i++ {
				batch = append(batch, connectFailure(nthAddr(i), "r1"))
			}
			h.submit(batch...)
		}
		flood(1, 50)
		h.advance(2 * time.Second) // the Redis store reads its count at most once a second
		if st := h.svc.Status(); !st.AtAddressLimit || st.Shed != 0 {
			h.t.Fatalf("bound filled: %+v, want at the limit, nothing shed", st)
		}
		// At the bound, r1 may bring in 5 new addresses per window, each
		// evicting the least recently reported address that fewer than
		// a quorum of reporters speak of; the rest are shed.
		flood(100, 120)
		if st := h.svc.Status(); st.Shed != 15 || !st.AtAddressLimit {
			h.t.Fatalf("flood at the bound: %+v, want 15 shed (quota 5), at the limit", st)
		}
		if st := h.host(kept); st.Reporters != 2 || st.RecentSuccesses != 2 {
			h.t.Fatalf("address two reporters agree on: %+v, want kept", st)
		}
		admitted := 0
		for i := 100; i < 120; i++ {
			if h.host(nthAddr(i)).RecentFailures == 1 {
				admitted++
			}
		}
		evicted := 0
		for i := 1; i < 50; i++ {
			if h.host(nthAddr(i)).RecentFailures == 0 {
				evicted++
			}
		}
		if admitted != 5 || evicted != 5 {
			h.t.Fatalf("flood: %d new addresses admitted, %d evicted; want 5 and 5", admitted, evicted)
		}
		// Two other reporters' failures on a real host still demote it,
		// and a further flood (quota spent) changes nothing.
		h.fail(host, 3, "r2", "r3")
		h.wantState(host, StateDemoted)
		flood(200, 260)
		h.wantState(host, StateDemoted)
		if st := h.host(host); len(st.Votes) != 2 {
			h.t.Fatalf("host after a second flood: %+v, want both votes kept", st)
		}
		// The quota is per window.
		h.advance(10 * time.Minute)
		flood(300, 301)
		if st := h.host(nthAddr(300)); st.RecentFailures != 1 {
			h.t.Fatalf("new address in a new window: %+v, want admitted", st)
		}
	})

	run("the address bound sheds reports about new addresses only", bounded, func(h *harness) {
		var batch []Report
		for i := range 50 {
			batch = append(batch, connectFailure(nthAddr(i), "r1"))
		}
		h.submit(batch...)
		h.advance(2 * time.Second) // the Redis store reads its count at most once a second
		if st := h.svc.Status(); !st.AtAddressLimit || !st.Degraded || st.Shed != 0 {
			h.t.Fatalf("at the bound: %+v, want at the limit, degraded, nothing shed", st)
		}

		// Known addresses are updated; new ones, with host signals or
		// neutral replies only, are shed. Submit still accepts them all.
		batch = []Report{connectFailure(nthAddr(0), "r2"), connectFailure(nthAddr(49), "r2")}
		for i := 50; i < 60; i++ {
			batch = append(batch, connectFailure(nthAddr(i), "r2"))
		}
		batch = append(batch, Report{Address: ip(nthAddr(60)), Outcome: OutcomeFailure, Stage: StageRcpt, SMTPCode: 550, Reporter: "r2"})
		h.submit(batch...)
		for _, i := range []int{0, 49} {
			if st := h.host(nthAddr(i)); st.RecentFailures != 2 || st.Reporters != 2 {
				h.t.Fatalf("known %s: %+v, want 2 failures from 2 reporters", nthAddr(i), st)
			}
		}
		for i := 50; i <= 60; i++ {
			if st := h.host(nthAddr(i)); st.RecentFailures != 0 || st.Reporters != 0 {
				h.t.Fatalf("new %s beyond the bound: %+v, want no state", nthAddr(i), st)
			}
		}
		st := h.svc.Status()
		if st.Shed != 11 || !st.AtAddressLimit || !st.Degraded || !strings.Contains(strings.Join(st.Detail, "\n"), "shed") {
			h.t.Fatalf("after shedding: %+v, want 11 shed, at the limit, degraded, said in Detail", st)
		}
		healthy, err := h.svc.Hosts(h.ctx, StateHealthy)
		if err != nil || len(healthy) != 50 {
			h.t.Fatalf("Hosts(healthy) = %d addresses, %v; want the 50 tracked", len(healthy), err)
		}

		// A known address still goes through its states at the bound.
		h.fail(nthAddr(1), 3, "r1", "r2")
		h.wantState(nthAddr(1), StateDemoted)

		// Once tracked addresses expire, new ones are taken again.
		h.advance(11 * time.Minute)
		if st := h.svc.Status(); st.AtAddressLimit || st.Degraded || st.Shed != 11 {
			h.t.Fatalf("after expiry: %+v, want below the limit, not degraded, 11 shed in all", st)
		}
		h.fail(nthAddr(50), 1, "r1")
		if st := h.host(nthAddr(50)); st.RecentFailures != 1 {
			h.t.Fatalf("new address after expiry: %+v, want its failure counted", st)
		}
	})

	run("known addresses reported again do not use up the bound", bounded, func(h *harness) {
		batch := func(from, to int) []Report {
			var out []Report
			for i := from; i < to; i++ {
				out = append(out, connectFailure(nthAddr(i), "r1"))
			}
			return out
		}
		// No clock advance: the Redis store counts on its own between
		// reads of the seen set.
		h.submit(batch(0, 30)...)
		for range 3 {
			h.submit(batch(0, 20)...)
			if st := h.svc.Status(); st.AtAddressLimit {
				h.t.Fatalf("30 addresses reported on: %+v, want below the limit of 50", st)
			}
		}
		h.submit(batch(30, 50)...)
		if st := h.svc.Status(); st.Shed != 0 || !st.AtAddressLimit {
			h.t.Fatalf("status = %+v, want 50 addresses taken, nothing shed", st)
		}
		h.submit(batch(50, 51)...)
		if st := h.svc.Status(); st.Shed != 1 {
			h.t.Fatalf("status = %+v, want the 51st address shed", st)
		}
	})

	run("an address with a record but no recent report is known at the bound", bounded, func(h *harness) {
		drained := nthAddr(100)
		if _, err := h.svc.Drain(h.ctx, ip(drained), time.Hour, "disk", "ops"); err != nil {
			h.t.Fatal(err)
		}
		var batch []Report
		for i := range 60 {
			batch = append(batch, connectFailure(nthAddr(i), "r1"))
		}
		h.submit(batch...)
		h.advance(2 * time.Second)
		// The memory store counts the drained address, Redis only
		// addresses reported on: 11 or 10 shed.
		if st := h.svc.Status(); st.Shed < 10 || st.Shed > 11 || !st.AtAddressLimit {
			h.t.Fatalf("status = %+v, want 10 or 11 shed and at the limit", st)
		}
		h.fail(drained, 1, "r1")
		if st := h.host(drained); st.RecentFailures != 1 || st.State != StateDrained {
			h.t.Fatalf("drained address at the bound: %+v, want its failure counted", st)
		}
		h.fail(nthAddr(200), 1, "r1")
		if st := h.host(nthAddr(200)); st.RecentFailures != 0 {
			h.t.Fatalf("new address at the bound: %+v, want it shed", st)
		}
	})

	lone := testPolicy()
	lone.BudgetMin = 1
	lone.BudgetFraction = 0.5
	run("one reporter does not raise the budget", lone, func(h *harness) {
		const a, b = "192.0.2.10", "192.0.2.20"
		var batch []Report
		for i := range 20 {
			batch = append(batch, Report{Address: ip(nthAddr(i)), Outcome: OutcomeSuccess, Stage: StageEHLO, SMTPCode: 250, Reporter: "r1"})
		}
		h.submit(batch...)
		h.fail(a, 3, "r1", "r2")
		h.wantState(a, StateDemoted)
		h.advance(2 * time.Second) // the Redis store writes confirmations and reads the budget with the resync
		// Confirmed: a alone, so the budget is max(1, 0.5 × 1): spent.
		// Had r1's 20 addresses counted, it would be 11.
		h.fail(b, 3, "r1", "r2")
		h.wantState(b, StateHealthy)
		if !h.svc.Status().BudgetExhausted {
			h.t.Fatalf("status = %+v, want the budget exhausted", h.svc.Status())
		}

		// A second reporter confirms the 20: the budget grows to 11.
		for i := range batch {
			batch[i].Reporter = "r2"
		}
		h.submit(batch...)
		h.advance(2 * time.Second)
		if h.svc.Status().BudgetExhausted {
			h.t.Fatal("budget still exhausted with 22 confirmed addresses")
		}
		h.fail(b, 1, "r1")
		h.wantState(b, StateDemoted)
	})
}
