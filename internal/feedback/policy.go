package feedback

import (
	"errors"
	"fmt"
	"time"
)

// Policy holds the thresholds of the health model. The zero Policy is not
// usable; start from DefaultPolicy and change fields.
type Policy struct {
	// VoteFailures is how many consecutive host failures (no host success
	// from the same reporter in between) make a reporter vote the address
	// down. Default 3.
	VoteFailures int
	// VoteTTL is how long a vote lasts after the reporter's last failure;
	// it is also the window in which reporters and their signals count
	// (healthy veto, HostStatus counts). Default 5m.
	VoteTTL time.Duration
	// QuorumReporters is how many distinct reporters must vote before an
	// address is demoted, so that one broken sender cannot demote a host
	// for the fleet. Default 2.
	QuorumReporters int
	// HealthyVeto blocks a demotion when more than this fraction of the
	// reporters that sent host signals within VoteTTL saw a host success
	// after their last failure (the host works for most of the fleet, the
	// voters' path to it does not). 1 disables the veto. Default 0.8.
	HealthyVeto float64
	// BaseDemotion is the demotion length at multiplier 1. Default 5m.
	BaseDemotion time.Duration
	// MaxDemotion caps a demotion's length, jitter included. Default 60m.
	MaxDemotion time.Duration
	// DecayAfter is how long an address must stay undemoted for its
	// backoff multiplier to drop by one. Default 30m.
	DecayAfter time.Duration
	// Jitter spreads demotion lengths by ±Jitter (a fraction), so that
	// addresses demoted together do not all come back at once. Default 0.1.
	Jitter float64
	// RecoveryReporters is how many distinct reporters must report host
	// success during a demotion to end it early. Default 2.
	RecoveryReporters int
	// BudgetMin and BudgetFraction bound automatic demotions: no new
	// demotion while the number of demoted addresses is at least
	// max(BudgetMin, BudgetFraction × addresses reported on within
	// BudgetWindow). A broken reporter network (or a bad classification)
	// can then not demote the world. Defaults 10 and 0.1.
	//
	// An address counts as reported on only once QuorumReporters distinct
	// reporters sent host signals about it within VoteTTL (as many as
	// could demote it), so that one reporter posting reports about
	// thousands of addresses cannot raise the budget for the others.
	BudgetMin      int
	BudgetFraction float64
	// BudgetWindow is the window for "addresses reported on". Default 10m.
	BudgetWindow time.Duration
	// MaxAddresses bounds the distinct addresses the store keeps state
	// about, so that clients cannot grow it without bound by reporting on
	// ever new addresses. Reports about addresses it already tracks are
	// always applied, and so are drains; a new address beyond the bound
	// evicts one (see ReporterNewAddresses) or its reports are dropped
	// and counted (Status.Shed), never refused: the sender can do nothing
	// about it. The memory store's
	// count is exact (an address is tracked while it has a record or was
	// reported on within BudgetWindow); the Redis store's is the number
	// of addresses reported on within BudgetWindow, read with the budget
	// and so up to RedisOptions.BudgetRefresh old, and each replica may
	// admit up to the room it saw before its next read. Default 200,000,
	// a few hundred MB at most in either store (TestMemoryFootprint and
	// TestRedisFootprint measure an address's cost; docs/benchmarks.md
	// §5 has the figures). Size it to the memory at hand.
	MaxAddresses int
	// ReporterNewAddresses bounds, per reporter and BudgetWindow, the new
	// addresses a reporter may bring in while the store holds
	// MaxAddresses, each by evicting a tracked one (see the eviction rule
	// in the package doc). Below the bound new addresses cost nobody
	// anything and are not counted. Beyond it, that reporter's reports
	// about further new addresses are shed, so one sender flooding the
	// store with addresses cannot push out the addresses others report
	// on faster than this. Default 10,000 (5% of the default bound).
	ReporterNewAddresses int
	// MinDrain and MaxDrain bound an operator drain's duration.
	// Defaults 1s and 7 days.
	MinDrain, MaxDrain time.Duration
	// KeyMargin is added to every stored item's lifetime (Redis key TTLs,
	// memory pruning) beyond the last moment it can matter. Default 1m.
	KeyMargin time.Duration
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		VoteFailures:         3,
		VoteTTL:              5 * time.Minute,
		QuorumReporters:      2,
		HealthyVeto:          0.8,
		BaseDemotion:         5 * time.Minute,
		MaxDemotion:          60 * time.Minute,
		DecayAfter:           30 * time.Minute,
		Jitter:               0.1,
		RecoveryReporters:    2,
		BudgetMin:            10,
		BudgetFraction:       0.1,
		BudgetWindow:         10 * time.Minute,
		MaxAddresses:         200_000,
		ReporterNewAddresses: 10_000,
		MinDrain:             time.Second,
		MaxDrain:             7 * 24 * time.Hour,
		KeyMargin:            time.Minute,
	}
}

// Validate reports the first unusable field.
func (p Policy) Validate() error {
	var errs []error
	check := func(ok bool, field string, v any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s %v out of range", field, v))
		}
	}
	check(p.VoteFailures >= 1, "VoteFailures", p.VoteFailures)
	check(p.VoteTTL >= time.Second, "VoteTTL", p.VoteTTL)
	check(p.QuorumReporters >= 1, "QuorumReporters", p.QuorumReporters)
	check(p.HealthyVeto > 0 && p.HealthyVeto <= 1, "HealthyVeto", p.HealthyVeto)
	check(p.BaseDemotion >= time.Millisecond, "BaseDemotion", p.BaseDemotion)
	check(p.MaxDemotion >= p.BaseDemotion, "MaxDemotion", p.MaxDemotion)
	check(p.DecayAfter >= time.Millisecond, "DecayAfter", p.DecayAfter)
	check(p.Jitter >= 0 && p.Jitter < 1, "Jitter", p.Jitter)
	check(p.RecoveryReporters >= 1, "RecoveryReporters", p.RecoveryReporters)
	check(p.BudgetMin >= 0, "BudgetMin", p.BudgetMin)
	check(p.BudgetFraction >= 0 && p.BudgetFraction <= 1, "BudgetFraction", p.BudgetFraction)
	check(p.BudgetWindow >= time.Second, "BudgetWindow", p.BudgetWindow)
	check(p.MaxAddresses >= 1, "MaxAddresses", p.MaxAddresses)
	check(p.ReporterNewAddresses >= 0, "ReporterNewAddresses", p.ReporterNewAddresses)
	check(p.MinDrain > 0, "MinDrain", p.MinDrain)
	check(p.MaxDrain >= p.MinDrain, "MaxDrain", p.MaxDrain)
	check(p.KeyMargin >= 0, "KeyMargin", p.KeyMargin)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("feedback policy: %w", err)
	}
	return nil
}

// params is the Policy in integer milliseconds, the unit both stores keep
// times in, so the Go state machine and the Redis script compute the same
// numbers.
type params struct {
	voteFailures, quorum, recovery int
	voteTTL, base, max, decay      int64
	bucket, margin                 int64
	veto, jitter                   float64
}

func (p Policy) params() params {
	return params{
		voteFailures: p.VoteFailures,
		quorum:       p.QuorumReporters,
		recovery:     p.RecoveryReporters,
		voteTTL:      p.VoteTTL.Milliseconds(),
		base:         p.BaseDemotion.Milliseconds(),
		max:          p.MaxDemotion.Milliseconds(),
		decay:        p.DecayAfter.Milliseconds(),
		bucket:       bucketWidth(p.VoteTTL),
		margin:       p.KeyMargin.Milliseconds(),
		veto:         p.HealthyVeto,
		jitter:       p.Jitter,
	}
}

// bucketWidth is the granularity of the per-address failure and success
// counters: a fifth of the window, so counts "in the window" are exact to
// within 20% of its length while an address keeps at most six counters.
func bucketWidth(window time.Duration) int64 {
	return max(window.Milliseconds()/5, 1000)
}

// budgetExhausted applies the budget rule to the two fleet-wide counts:
// addresses demoted now, and addresses confirmed (reported on by a quorum)
// within BudgetWindow.
func (p Policy) budgetExhausted(demoted, confirmed int) bool {
	limit := max(float64(p.BudgetMin), p.BudgetFraction*float64(confirmed))
	return float64(demoted) >= limit
}
