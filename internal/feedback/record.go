package feedback

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// This file is the per-address state machine. The memory store runs it as
// is; the Redis store runs its twin, apply.lua, inside Redis. Both keep the
// same fields in integer milliseconds and evaluate the same expressions in
// the same order (including the float64 jitter and veto arithmetic), and the
// conformance suite runs one behaviour table against both. A change here
// must be made there too.

// record is everything stored about one address.
type record struct {
	demotedAt    int64 // start of the current or last demotion; votes before it are used up
	demotedUntil int64 // end of the current or last demotion (set to the end time when it ends early)
	mult         int   // backoff multiplier of the last demotion
	multAt       int64 // start of the quiet period the multiplier decays from
	drainedAt    int64
	drainUntil   int64
	drainReason  string
	drainBy      string
	lastT        int64 // latest event time applied: events never move the clock back
	lastFailure  *FailureDetail
	// The reporters and counters are small slices searched linearly, not
	// maps: most addresses have one or a few reporters and at most six
	// live counters, and a map costs several hundred bytes even for one
	// entry, which is most of an address's footprint (Policy.MaxAddresses
	// of them). An address with many reporters costs a scan per event,
	// no more than maybeDemote's loop over them does already.
	reporters []namedReporter // in order of first signal
	buckets   []bucketCounts  // in order of first use
}

// reporterState is one reporter's view of one address.
type reporterState struct {
	fails      int   // consecutive host failures
	lastFail   int64 // time of the last host failure
	lastSucc   int64 // time of the last host success
	lastSignal int64 // time of the last host signal of either kind
}

type namedReporter struct {
	name string
	reporterState
}

// bucketCounts holds the host signals of one bucket of time: index is the
// time divided by params.bucket.
type bucketCounts struct {
	index               int64
	failures, successes int
}

// event is a host signal as the state machine consumes it.
type event struct {
	t        int64
	reporter string
	failure  bool
	detail   FailureDetail // set for failures
	seq      uint64        // Observation.Seq; 0: always applied
}

func newRecord() *record { return &record{} }

// reporter returns name's state, and its index (-1 when absent).
func (r *record) reporter(name string) (reporterState, int) {
	for i := range r.reporters {
		if r.reporters[i].name == name {
			return r.reporters[i].reporterState, i
		}
	}
	return reporterState{}, -1
}

// setReporter stores name's state at index i, as reporter returned it.
func (r *record) setReporter(name string, i int, rs reporterState) {
	if i < 0 {
		r.reporters = append(r.reporters, namedReporter{name: name, reporterState: rs})
		return
	}
	r.reporters[i].reporterState = rs
}

// bucket returns the counters of bucket index b, adding them.
func (r *record) bucket(b int64) *bucketCounts {
	for i := range r.buckets {
		if r.buckets[i].index == b {
			return &r.buckets[i]
		}
	}
	r.buckets = append(r.buckets, bucketCounts{index: b})
	return &r.buckets[len(r.buckets)-1]
}

// signalled counts the reporters that sent host signals within the window
// at now (HostStatus.Reporters).
func (r *record) signalled(now int64, p params) int {
	n := 0
	for _, rs := range r.reporters {
		if now-rs.lastSignal < p.voteTTL {
			n++
		}
	}
	return n
}

// stateAt is the effective state at now: demotions and drains end by the
// clock, with no write needed.
func (r *record) stateAt(now int64) (State, int64) {
	switch {
	case r.drainUntil > now:
		return StateDrained, r.drainUntil
	case r.demotedUntil > now:
		return StateDemoted, r.demotedUntil
	}
	return StateHealthy, 0
}

// observe applies one host signal. canDemote is consulted only when a
// demotion is about to happen (the budget); u in [-1, 1) is the jitter draw.
func (r *record) observe(e event, p params, canDemote func() bool, u float64) []Transition {
	t := max(e.t, r.lastT)
	r.lastT = t
	rs, i := r.reporter(e.reporter)
	if rs.lastSignal != 0 && t-rs.lastSignal >= p.voteTTL {
		rs = reporterState{} // a reporter silent for a window starts over
	}
	c := r.bucket(t / p.bucket)
	if e.failure {
		rs.fails++
		rs.lastFail = t
		c.failures++
		if r.lastFailure == nil {
			r.lastFailure = new(FailureDetail)
		}
		*r.lastFailure = e.detail
		r.lastFailure.At = time.UnixMilli(t)
	} else {
		rs.fails = 0
		rs.lastSucc = t
		c.successes++
	}
	rs.lastSignal = t
	r.setReporter(e.reporter, i, rs)

	switch {
	case r.drainUntil > t:
		// Drained: the operator decides; signals only accumulate.
		return nil
	case r.demotedUntil > t:
		if !e.failure {
			return r.maybeRecover(t, p)
		}
		return nil
	case e.failure:
		return r.maybeDemote(t, p, canDemote, u)
	}
	return nil
}

// maybeRecover ends a demotion early once enough distinct reporters saw the
// host serve since it began.
func (r *record) maybeRecover(t int64, p params) []Transition {
	var seen []string
	for _, rs := range r.reporters {
		if rs.lastSucc >= r.demotedAt && rs.lastSucc > 0 {
			seen = append(seen, rs.name)
		}
	}
	if len(seen) < p.recovery {
		return nil
	}
	r.demotedUntil = t
	r.multAt = t
	slices.Sort(seen)
	return []Transition{{Kind: TransitionRecovered, From: StateDemoted, To: StateHealthy, At: time.UnixMilli(t), Reporters: seen}}
}

// maybeDemote demotes the address when a quorum of live, unused votes
// exists, the healthy veto does not hold and the budget allows it.
func (r *record) maybeDemote(t int64, p params, canDemote func() bool, u float64) []Transition {
	var voters []string
	window, healthy := 0, 0
	for _, rs := range r.reporters {
		if rs.fails >= p.voteFailures && t-rs.lastFail < p.voteTTL && rs.lastFail > r.demotedAt {
			voters = append(voters, rs.name)
		}
		if t-rs.lastSignal < p.voteTTL {
			window++
			if rs.lastSucc > rs.lastFail {
				healthy++
			}
		}
	}
	if len(voters) < p.quorum {
		return nil
	}
	if window > 0 && float64(healthy) > p.veto*float64(window) {
		return nil
	}
	if !canDemote() {
		return nil
	}
	m := r.multiplierAt(t, p) + 1
	if limit := int((p.max + p.base - 1) / p.base); m > limit {
		m = limit
	}
	d := min(p.base*int64(m), p.max)
	d = int64(math.Floor(float64(d) + float64(d)*p.jitter*u))
	d = max(min(d, p.max), 1)
	r.demotedAt = t
	r.demotedUntil = t + d
	r.mult = m
	r.multAt = t + d
	slices.Sort(voters)
	return []Transition{{Kind: TransitionDemoted, From: StateHealthy, To: StateDemoted, At: time.UnixMilli(t), Until: time.UnixMilli(t + d), Reporters: voters}}
}

// multiplierAt is the backoff multiplier after decay: it drops by one per
// DecayAfter of quiet since the last demotion ended.
func (r *record) multiplierAt(t int64, p params) int {
	if r.mult == 0 || t < r.multAt {
		return r.mult
	}
	return max(r.mult-int((t-r.multAt)/p.decay), 0)
}

// drain puts the address in the drained state until until. A drain
// replaces a running demotion (it ends now, and starts the quiet period).
func (r *record) drain(now, until int64, reason, by string) []Transition {
	from, _ := r.stateAt(now)
	if r.demotedUntil > now {
		r.demotedUntil = now
		r.multAt = now
	}
	r.lastT = max(r.lastT, now)
	r.drainedAt = now
	r.drainUntil = until
	r.drainReason = reason
	r.drainBy = by
	return []Transition{{Kind: TransitionDrained, From: from, To: StateDrained, At: time.UnixMilli(now), Until: time.UnixMilli(until), Reporters: []string{by}, Reason: reason}}
}

// undrain ends a drain now; live votes may demote the address at once.
func (r *record) undrain(now int64, p params, canDemote func() bool, u float64) []Transition {
	if r.drainUntil <= now {
		return nil
	}
	r.drainUntil = now
	r.lastT = max(r.lastT, now)
	out := []Transition{{Kind: TransitionUndrained, From: StateDrained, To: StateHealthy, At: time.UnixMilli(now)}}
	return append(out, r.maybeDemote(r.lastT, p, canDemote, u)...)
}

// prune forgets reporters silent for a window and counters older than it.
func (r *record) prune(now int64, p params) {
	r.reporters = slices.DeleteFunc(r.reporters, func(rs namedReporter) bool { return now-rs.lastSignal >= p.voteTTL })
	oldest := (now - p.voteTTL) / p.bucket
	r.buckets = slices.DeleteFunc(r.buckets, func(c bucketCounts) bool { return c.index < oldest })
}

// expiresAt is when nothing in the record can matter any more: votes and
// counters are out of the window, demotion and drain are over, and the
// multiplier has decayed to zero.
func (r *record) expiresAt(now int64, p params) int64 {
	end := max(now+p.voteTTL, r.demotedUntil, r.drainUntil)
	if r.mult > 0 {
		end = max(end, r.multAt+int64(r.mult)*p.decay)
	}
	return end + p.margin
}

// status derives the public view of the record at now.
func (r *record) status(addr netip.Addr, now int64, p params) HostStatus {
	st := HostStatus{Address: addr, State: StateHealthy, Demotions: r.multiplierAt(now, p)}
	state, until := r.stateAt(now)
	st.State = state
	if until != 0 {
		st.Until = time.UnixMilli(until)
	}
	if state == StateDrained {
		st.DrainReason, st.DrainedBy = r.drainReason, r.drainBy
	}
	st.Reporters = r.signalled(now, p)
	for _, rs := range r.reporters {
		if rs.fails >= p.voteFailures && now-rs.lastFail < p.voteTTL {
			st.Votes = append(st.Votes, rs.name)
		}
	}
	slices.Sort(st.Votes)
	oldest := (now - p.voteTTL) / p.bucket
	for _, c := range r.buckets {
		if c.index >= oldest {
			st.RecentFailures += c.failures
			st.RecentSuccesses += c.successes
		}
	}
	if r.lastFailure != nil {
		d := *r.lastFailure
		st.LastFailure = &d
	}
	return st
}
