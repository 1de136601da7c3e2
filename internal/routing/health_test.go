package routing

import (
	"net/netip"
	"testing"
)

// Rule 13: health reorders and never drops.
func TestBuildHealth(t *testing.T) {
	// Four hosts, no ties except the first tier, so the order is fixed
	// apart from the tie, which is pinned by IntN returning 0.
	in := dom(mxOK(MX{10, "a.example.com"}, MX{10, "b.example.com"}, MX{20, "c.example.com"}, MX{30, "d.example.com"}), map[string]HostAnswers{
		"a.example.com": only4("192.0.2.1", "192.0.2.11"),
		"b.example.com": only4("192.0.2.2"),
		"c.example.com": only4("192.0.2.3"),
		"d.example.com": only4("192.0.2.4"),
	})
	// With IntN always 0 the Fisher-Yates pass over [a b c d] rotates to
	// [b c d a]; the stable sort then gives b before a at preference 10.
	pinned := func(o *Options) { o.IntN = func(int) int { return 0 } }
	base := []string{"b.example.com/10/192.0.2.2", "a.example.com/10/192.0.2.1", "a.example.com/10/192.0.2.11", "c.example.com/20/192.0.2.3", "d.example.com/30/192.0.2.4"}
	runPlanCases(t, []planCase{{
		name: "all healthy: RFC order", in: in, opts: pinned,
		disp: Deliver, reason: ReasonOK,
		attempts: base,
	}, {
		name: "within a tier healthy before demoted before drained", in: in, opts: pinned,
		health: map[string]State{"192.0.2.2": StateDrained, "192.0.2.1": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.11", "a.example.com/10/192.0.2.1/demoted", "b.example.com/10/192.0.2.2/drained", "c.example.com/20/192.0.2.3", "d.example.com/30/192.0.2.4"},
	}, {
		name: "a tier with no healthy address moves behind the tiers with one", in: in, opts: pinned,
		health: map[string]State{"192.0.2.2": StateDrained, "192.0.2.1": StateDemoted, "192.0.2.11": StateDemoted, "192.0.2.3": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"d.example.com/30/192.0.2.4", "a.example.com/10/192.0.2.1/demoted", "a.example.com/10/192.0.2.11/demoted", "b.example.com/10/192.0.2.2/drained", "c.example.com/20/192.0.2.3/demoted"},
	}, {
		name: "nothing healthy: plain RFC order", in: in, opts: pinned,
		health: map[string]State{"192.0.2.2": StateDrained, "192.0.2.1": StateDemoted, "192.0.2.11": StateDrained, "192.0.2.3": StateDemoted, "192.0.2.4": StateDrained},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/10/192.0.2.2/drained", "a.example.com/10/192.0.2.1/demoted", "a.example.com/10/192.0.2.11/drained", "c.example.com/20/192.0.2.3/demoted", "d.example.com/30/192.0.2.4/drained"},
	}, {
		// The limit picks the tiers in RFC order, so a fleet-wide outage of
		// the primary never drops it from plans (RFC 974/1123: the lowest MX
		// must be tried); within the tier it cuts, the healthy are kept.
		name: "the limit keeps the healthy addresses of the tier it cuts", in: in,
		opts:   func(o *Options) { pinned(o); o.MaxAttempts = 2 },
		health: map[string]State{"192.0.2.2": StateDemoted, "192.0.2.1": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.11", "b.example.com/10/192.0.2.2/demoted"},
		skipped:  []string{"a.example.com/10/192.0.2.1/max_attempts", "c.example.com/20/192.0.2.3/max_attempts", "d.example.com/30/192.0.2.4/max_attempts"},
	}, {
		name: "health never brings in a less preferred tier", in: in,
		opts:   func(o *Options) { pinned(o); o.MaxAttempts = 3 },
		health: map[string]State{"192.0.2.2": StateDemoted, "192.0.2.1": StateDemoted, "192.0.2.11": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/10/192.0.2.2/demoted", "a.example.com/10/192.0.2.1/demoted", "a.example.com/10/192.0.2.11/demoted"},
		skipped:  []string{"c.example.com/20/192.0.2.3/max_attempts", "d.example.com/30/192.0.2.4/max_attempts"},
	}})

	t.Run("health is asked only about the plan's tiers", func(t *testing.T) {
		var asked []string
		o := seeded(1)
		o.MaxAttempts = 2
		Build(in, func(a netip.Addr) State { asked = append(asked, a.String()); return StateHealthy }, o)
		if len(asked) != 3 {
			t.Errorf("health asked about %v, want the 3 addresses of preference 10", asked)
		}
	})
	t.Run("Demoted counts unhealthy attempts", func(t *testing.T) {
		p := Build(in, func(a netip.Addr) State {
			switch a.String() {
			case "192.0.2.1":
				return StateDemoted
			case "192.0.2.4":
				return StateDrained
			}
			return StateHealthy
		}, seeded(1))
		if got := p.Demoted(); got != 2 {
			t.Errorf("Demoted() = %d, want 2 (%v)", got, attemptsOf(p))
		}
		if got := Build(in, nil, seeded(1)).Demoted(); got != 0 {
			t.Errorf("Demoted() without health = %d, want 0", got)
		}
	})
}
