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

// assess asks health about each candidate; nil health leaves them healthy.
func (p *planner) assess(cands []Attempt) {
	if p.health == nil {
		return
	}
	for i := range cands {
		cands[i].State = p.health(cands[i].Address)
	}
}

// throughCutTier returns how many candidates health must be asked about:
// those within the limit, and the rest of the tier the limit cuts through.
func throughCutTier(cands []Attempt, limit int) int {
	if limit <= 0 || limit >= len(cands) {
		return len(cands)
	}
	end := limit
	for end < len(cands) && cands[end].Preference == cands[limit-1].Preference {
		end++
	}
	return end
}

func byRank(a, b Attempt) int { return stateRank(a.State) - stateRank(b.State) }

// healthiestAtCut orders the tier that straddles position limit by health,
// so that cutting the plan at limit keeps the tier's healthy addresses.
func healthiestAtCut(cands []Attempt, limit int) {
	pref := cands[limit].Preference
	if cands[limit-1].Preference != pref {
		return
	}
	start, end := limit-1, limit
	for start > 0 && cands[start-1].Preference == pref {
		start--
	}
	for end < len(cands) && cands[end].Preference == pref {
		end++
	}
	slices.SortStableFunc(cands[start:end], byRank)
}

// byHealth reorders attempts so that the fleet's failures cost senders as
// little as possible without dropping an address: within a tier healthy
// addresses lead, and tiers with no healthy address follow those with one.
// When nothing is healthy the RFC order stands: demotion then carries no
// information about which host to prefer.
func (p *planner) byHealth(cands []Attempt) []Attempt {
	healthy := 0
	for i := range cands {
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
				slices.SortStableFunc(tier, byRank)
				out = append(out, tier...)
			}
			start = end
		}
	}
	return out
}
