package feedback

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Store keeps the per-address health records. It is the Service's one
// dependency on storage and is implemented by *MemoryStore (one instance)
// and *RedisStore (shared by the fleet). Stores are mechanisms: the Service
// passes the clock and the Policy into every call, so a store never
// disagrees with its Service about either.
type Store interface {
	// Kind names the store for Status: "memory" or "redis".
	Kind() string
	// Apply runs a batch of observations through the state machine,
	// atomically per address. On error, Applied.Unapplied holds the
	// observations that may not have been applied, to be retried; an
	// error with an empty Unapplied means the reports were applied but a
	// follow-up (index, publish) failed. A store that can hand back
	// observations it did apply (a call that timed out after it was sent)
	// must apply each of them at most once, so that the retry counts
	// nothing twice: it keeps, per address and Batch.Origin, the highest
	// Observation.Seq it applied (a watermark) and skips what is not
	// above it. That is sound because one origin hands each address its
	// observations in Seq order and never skips one (the Service applies
	// through one ordered buffer, and puts what failed back in front). The
	// memory store never fails and needs no such record. Observations
	// about addresses beyond Policy.MaxAddresses are shed: counted in
	// Applied.Shed, neither applied nor handed back.
	Apply(ctx context.Context, b Batch) (Applied, error)
	// Sync reads every address that is not healthy at now, hands out the
	// demotions and drains that ran out since the last Sync of any replica
	// (each exactly once) and refreshes the budget.
	Sync(ctx context.Context, now time.Time, p Policy) (Snapshot, error)
	// Host reads one address's status.
	Host(ctx context.Context, addr netip.Addr, now time.Time, p Policy) (HostStatus, error)
	// Hosts lists addresses in a state at now, sorted by address: demoted
	// or drained ones from the store's index, healthy ones among the
	// addresses reported on within Policy.BudgetWindow; "" lists both
	// non-healthy states.
	Hosts(ctx context.Context, state State, now time.Time, p Policy) ([]HostStatus, error)
	// Statuses reads the status of each of addrs, in their order, in
	// one call (one pipelined round trip for Redis): a page of /hosts.
	Statuses(ctx context.Context, addrs []netip.Addr, now time.Time, p Policy) ([]HostStatus, error)
	// Drain puts addr in the drained state until until.
	Drain(ctx context.Context, addr netip.Addr, until time.Time, reason, by string, now time.Time, p Policy) ([]Transition, error)
	// Undrain ends a drain of addr now; live votes may demote it again.
	Undrain(ctx context.Context, addr netip.Addr, now time.Time, p Policy, jitter func() float64) ([]Transition, error)
}

// Observation is a report as stores see it: normalised, classified and
// stamped with its event time.
type Observation struct {
	Report
	Signal Signal
	// At is the event time: ObservedAt, or the receipt time when the
	// reporter sent none, and never later than the receipt. The state
	// machine runs on event times, so reports replayed after an outage
	// produce the state they would have produced on time.
	At time.Time
	// BatchID names the Submit call that accepted the observation, unique
	// across replicas and restarts: the unit of an Idempotency-Key claim
	// (Once), and of the buffer (a batch is never split).
	BatchID string
	// Seq orders the observations of one Batch.Origin: the buffer stamps
	// it when the observation enters, increasing. A store applies an
	// observation on its address at most once, however often a replay
	// sends it; 0 opts out (always applied).
	Seq uint64
	// Once is the batch's Idempotency-Key scoped by its reporter (see
	// onceKey), "" for none. The first BatchID to claim a Once within
	// IdempotencyWindow is applied; a store drops the observations of any
	// other BatchID with the same Once (a client's retry, through this
	// replica or another), counting them in Applied.Duplicates.
	Once string
}

// Batch is one call's worth of observations.
type Batch struct {
	// Now is the current time; Observations older than Now-Policy.VoteTTL
	// are only counted as "seen" (they could no longer vote).
	Now          time.Time
	Policy       Policy
	Observations []Observation
	// Jitter draws a number in [-1, 1) for each address that may be
	// demoted; nil means no jitter.
	Jitter func() float64
	// Origin names the sequence the observations' Seq belong to: the
	// Service instance that stamped them, unique across replicas and
	// restarts. "" applies every observation, whatever its Seq.
	Origin string
}

// Applied is the outcome of Apply.
type Applied struct {
	// Transitions lists every state change the batch caused.
	Transitions []Transition
	// BudgetExhausted reports whether new demotions were blocked by the
	// budget when the batch ran (the Redis store's value may be up to its
	// refresh interval old).
	BudgetExhausted bool
	// Unapplied holds observations to retry after an error.
	Unapplied []Observation
	// Shed counts the observations dropped because they were about new
	// addresses and the store holds Policy.MaxAddresses already.
	Shed int
	// Duplicates counts the observations dropped because their Once was
	// claimed by another batch (a retry of a batch already taken).
	Duplicates int
	// AtAddressLimit reports whether the store held Policy.MaxAddresses
	// addresses after the batch (the Redis store's count is approximate).
	AtAddressLimit bool
}

// Snapshot is the result of Sync.
type Snapshot struct {
	// NonHealthy maps each demoted or drained address to its state.
	NonHealthy map[netip.Addr]ViewEntry
	// Ended lists demotions (expired) and drains (undrained) that ran out.
	Ended           []Transition
	BudgetExhausted bool
	// AtAddressLimit: the store holds Policy.MaxAddresses addresses; new
	// ones are shed.
	AtAddressLimit bool
}

// ViewEntry is the state of one non-healthy address in a Snapshot.
type ViewEntry struct {
	State State
	Until time.Time
}

// IdempotencyWindow is how long a batch's Idempotency-Key is remembered,
// as api/openapi.yaml promises: longer than a sender's retries last, and
// as long as the budget window, so a late retry counts nowhere twice.
const IdempotencyWindow = 10 * time.Minute

// claimOnce keeps the observations whose batch may be applied: those
// without a Once, and those whose BatchID holds, or now takes, the claim on
// their Once (claimed asks the store, once per Once and BatchID). It
// returns them and the number dropped.
func claimOnce(obs []Observation, claimed func(once, batch string) bool) ([]Observation, int) {
	out := make([]Observation, 0, len(obs))
	verdict := map[[2]string]bool{}
	for _, o := range obs {
		if o.Once != "" {
			k := [2]string{o.Once, o.BatchID}
			ok, seen := verdict[k]
			if !seen {
				ok = claimed(o.Once, o.BatchID)
				verdict[k] = ok
			}
			if !ok {
				continue
			}
		}
		out = append(out, o)
	}
	return out, len(obs) - len(out)
}

// addrBatch is one address's share of a batch.
type addrBatch struct {
	addr   netip.Addr
	seen   int64         // latest event time of any observation
	events []event       // host signals still inside the window, by event time
	obs    []Observation // everything, to hand back as Unapplied
	// sequenced is the latest event time of the events with a Seq: how
	// long a store must remember its watermark (see RedisStore).
	sequenced int64
}

// groupByAddress splits a batch by address (in order of first appearance,
// so results are deterministic) and turns host signals into events sorted
// by event time; the sort is stable, so one reporter's reports keep their
// order when its clock reports equal times. withSeq keeps the events'
// Seq, for a store that applies each observation once.
func groupByAddress(b Batch, withSeq bool) []addrBatch {
	horizon := b.Now.UnixMilli() - b.Policy.VoteTTL.Milliseconds()
	idx := map[netip.Addr]int{}
	var out []addrBatch
	for _, o := range b.Observations {
		i, ok := idx[o.Address]
		if !ok {
			i = len(out)
			idx[o.Address] = i
			out = append(out, addrBatch{addr: o.Address})
		}
		g := &out[i]
		t := o.At.UnixMilli()
		g.seen = max(g.seen, t)
		g.obs = append(g.obs, o)
		if o.Signal == SignalNeutral || t <= horizon {
			continue
		}
		e := event{t: t, reporter: o.Reporter, failure: o.Signal == SignalHostFailure}
		if withSeq && b.Origin != "" && o.Seq != 0 {
			e.seq = o.Seq
			g.sequenced = max(g.sequenced, t)
		}
		if e.failure {
			e.detail = FailureDetail{
				Reporter: o.Reporter, Host: o.Host, Domain: o.Domain, Stage: o.Stage,
				SMTPCode: o.SMTPCode, EnhancedCode: o.EnhancedCode,
			}
		}
		g.events = append(g.events, e)
	}
	for i := range out {
		slices.SortStableFunc(out[i].events, func(a, b event) int {
			switch {
			case a.t < b.t:
				return -1
			case a.t > b.t:
				return 1
			}
			return 0
		})
	}
	return out
}
