package routing

import (
	"slices"
)

// stateRank orders states within a tier: healthy first, then demoted
// (the fleet saw failures), then drained (an operator asked).
func stateRank(s State) int {
	switch s {
	case StateHealthy:
		return 0
	case StateDemoted:
		return 1
	default:
		return 2
	}
}

// byHealth asks health about each attempt and reorders them so that the
// fleet's failures cost senders as little as possible without dropping an
// address: within a tier healthy addresses lead, and tiers with no healthy
// address follow those with one. When nothing is healthy the RFC order
// stands: demotion then carries no information about which host to prefer.
func (p *planner) byHealth(cands []Attempt) []Attempt {
	if p.health == nil {
		return cands
	}
	healthy := 0
	for i := range cands {
		cands[i].State = p.health(cands[i].Address)
		if cands[i].State == StateHealthy {
			healthy++
		}
	}
	if healthy == 0 || healthy == len(cands) {
		return cands
	}
	out := make([]Attempt, 0, len(cands))
	for _, wantHealthy := range []bool{true, false} {
		for start := 0; start < len(cands); {
			end := start + 1
			for end < len(cands) && cands[end].Preference == cands[start].Preference {
				end++
			}
			tier := cands[start:end]
			if slices.ContainsFunc(tier, func(a Attempt) bool { return a.State == StateHealthy }) == wantHealthy {
				slices.SortStableFunc(tier, func(a, b Attempt) int { return stateRank(a.State) - stateRank(b.State) })
				out = append(out, tier...)
			}
			start = end
		}
	}
	return out
}
