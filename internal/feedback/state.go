package feedback

import (
	"net/netip"
	"time"

	"github.com/mxroute/mxroute/internal/routing"
)

// State is the health state of an address: the planner's type
// (routing.State), which plans are ordered by, so that StateOf serves as
// the planner's routing.Health without a conversion.
type State = routing.State

// The states an address can be in. A healthy address is the absence of any
// other state: stores keep nothing for addresses nobody reported on.
const (
	StateHealthy = routing.StateHealthy
	// StateDemoted: enough of the fleet failed to reach the host; plans put
	// it after the healthy addresses of its preference tier until Until.
	StateDemoted = routing.StateDemoted
	// StateDrained: an operator took the address out until Until; plans
	// treat it like a demoted one. A drain wins over a demotion.
	StateDrained = routing.StateDrained
)

func validState(s State) bool {
	return s == StateHealthy || s == StateDemoted || s == StateDrained
}

// HostStatus is what the fleet knows about one address.
type HostStatus struct {
	Address netip.Addr
	State   State
	// Until is when the demotion or drain ends; zero when healthy.
	Until time.Time
	// Votes lists the reporters currently voting the address down, sorted.
	Votes []string
	// Reporters counts the distinct reporters that sent host signals about
	// the address within the window (Policy.VoteTTL).
	Reporters int
	// RecentFailures and RecentSuccesses count host failures and successes
	// within the window (to the granularity of a fifth of it).
	RecentFailures, RecentSuccesses int
	// Demotions is the current backoff multiplier: the next demotion lasts
	// Demotions+1 times Policy.BaseDemotion (capped).
	Demotions int
	// DrainReason and DrainedBy are the operator's reason and identity
	// while drained.
	DrainReason string
	DrainedBy   string
	// LastFailure is the most recent host failure reported, if the store
	// still remembers one.
	LastFailure *FailureDetail
}

// FailureDetail describes one host failure report.
type FailureDetail struct {
	Reporter     string
	Host, Domain string
	Stage        Stage
	SMTPCode     int
	EnhancedCode string
	At           time.Time
}

// TransitionKind names a change of an address's state.
type TransitionKind string

// The transitions an address goes through.
const (
	// TransitionDemoted: healthy -> demoted by quorum of votes.
	TransitionDemoted TransitionKind = "demoted"
	// TransitionRecovered: demoted -> healthy early, by reporters' successes.
	TransitionRecovered TransitionKind = "recovered"
	// TransitionExpired: demoted -> healthy because the demotion ran out.
	TransitionExpired TransitionKind = "expired"
	// TransitionDrained: any -> drained by an operator (also a re-drain
	// that changes Until).
	TransitionDrained TransitionKind = "drained"
	// TransitionUndrained: drained -> healthy, by an operator or because
	// the drain ran out.
	TransitionUndrained TransitionKind = "undrained"
)

// Transition is one state change, as a store reports it for a batch.
type Transition struct {
	Address  netip.Addr
	Kind     TransitionKind
	From, To State
	// At is when it happened (for a demotion: the event time of the report
	// that completed the quorum).
	At time.Time
	// Until is the end of the new demotion or drain; zero when To is healthy.
	Until time.Time
	// Reporters are the voters of a demotion or the reporters whose
	// successes ended it, sorted; the operator for a drain.
	Reporters []string
	// Reason is the operator's reason of a drain.
	Reason string
}
