package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/routing"
)

// MTA-STS findings (RFC 8461). They are gathered only when Options.STS is
// set, and graded against the MX set the rest of the check uses.
const (
	// CodeSTSPolicyUnfetchable (error): the _mta-sts TXT record announces
	// a policy that cannot be fetched or parsed; senders that cached an
	// earlier policy keep enforcing it, new ones deliver without.
	CodeSTSPolicyUnfetchable = "MTA_STS_POLICY_UNFETCHABLE"
	// CodeSTSMXMismatch (error in enforce mode, warning in testing mode):
	// MX hosts that match no mx pattern of the policy; in enforce mode
	// senders will not deliver to them.
	CodeSTSMXMismatch = "MTA_STS_MX_MISMATCH"
	// CodeSTSTXTInvalid (warning): a v=STSv1 TXT record that does not
	// parse, or more than one; senders treat the domain as having none.
	CodeSTSTXTInvalid = "MTA_STS_TXT_INVALID"
	// CodeSTSMaxAgeShort (warning): max_age below STSMaxAgeShort, so an
	// attacker who blocks the policy fetch soon strips the protection.
	CodeSTSMaxAgeShort = "MTA_STS_MAX_AGE_SHORT"
	// CodeSTSMissing (info): the domain publishes no MTA-STS policy.
	CodeSTSMissing = "MTA_STS_MISSING"
	// CodeSTSUnchecked (info): the TXT lookup failed, so MTA-STS could not
	// be checked.
	CodeSTSUnchecked = "MTA_STS_UNCHECKED"
)

// STSMaxAgeShort is the max_age below which MTA_STS_MAX_AGE_SHORT is
// reported: one day. RFC 8461 section 3.2 suggests weeks or more.
const STSMaxAgeShort = 24 * time.Hour

// PolicyFetcher fetches a domain's MTA-STS policy; *mtasts.Fetcher
// satisfies it.
type PolicyFetcher interface {
	Fetch(ctx context.Context, domain string) (mtasts.Policy, error)
}

// STSData is what the check learnt about the domain's MTA-STS.
type STSData struct {
	// TXT is how the _mta-sts TXT lookup ended.
	TXT Lookup
	// ID of the v=STSv1 record; empty without one.
	ID string
	// TXTError says why the v=STSv1 record was rejected.
	TXTError string
	// Policy fetched; nil when none was (no record, or FetchError).
	Policy *mtasts.Policy
	// FetchError says why the policy could not be fetched: the class of
	// failure only (mtasts.Outcome), so a report never names a socket or
	// tells a refused connection from an unreachable network.
	FetchError string
}

// gatherSTS looks up the TXT record and, when it names a policy, fetches it.
func (g *gatherer) gatherSTS(ctx context.Context, domain string) *STSData {
	if g.opts.STS == nil {
		return nil
	}
	d := &STSData{}
	ans, err := g.q.lookup(ctx, "_mta-sts."+domain+".", dns.TypeTXT)
	d.TXT = outcome(ans, err)
	if d.TXT.Outcome != OutcomeOK {
		return d
	}
	var recs []string
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TXT); ok {
			recs = append(recs, strings.Join(t.Txt, ""))
		}
	}
	id, err := mtasts.ParseTXT(recs)
	switch {
	case errors.Is(err, mtasts.ErrNoRecord):
		return d
	case err != nil:
		d.TXTError = err.Error()
		return d
	}
	d.ID = id
	p, err := g.opts.STS.Fetch(ctx, domain)
	if err != nil {
		d.FetchError = mtasts.Outcome(err)
		return d
	}
	d.Policy = &p
	return d
}

// gradeSTS adds the MTA-STS findings.
func (g *grader) gradeSTS() {
	s := g.d.STS
	switch {
	case s == nil:
		return
	case s.TXT.Outcome == OutcomeNXDomain || s.TXT.Outcome == OutcomeOK && s.ID == "" && s.TXTError == "":
		g.add(CodeSTSMissing, LevelInfo, "no MTA-STS policy (_mta-sts."+g.domain+" has no v=STSv1 TXT record)", nil, nil)
		return
	case s.TXT.Outcome != OutcomeOK:
		g.add(CodeSTSUnchecked, LevelInfo, "MTA-STS not checked: the _mta-sts TXT lookup failed ("+s.TXT.Detail+")", nil, nil)
		return
	case s.TXTError != "":
		g.add(CodeSTSTXTInvalid, LevelWarning, "the _mta-sts TXT record is invalid, so senders ignore MTA-STS: "+s.TXTError, nil, nil)
		return
	case s.Policy == nil:
		g.add(CodeSTSPolicyUnfetchable, LevelError, fmt.Sprintf("the TXT record announces policy id %s but %s cannot be used: %s", s.ID, mtasts.URL(g.domain), s.FetchError), nil, nil)
		return
	}
	p := s.Policy
	if p.Mode != routing.STSNone && p.MaxAge < STSMaxAgeShort {
		g.add(CodeSTSMaxAgeShort, LevelWarning, fmt.Sprintf("policy max_age is %d s; below a day, blocking the policy fetch soon disables it (RFC 8461 section 3.2 suggests weeks)", int64(p.MaxAge.Seconds())), nil, nil)
	}
	if p.Mode == routing.STSNone {
		return
	}
	sts := routing.STSPolicy{Mode: p.Mode, MX: p.MX}
	var bad []string
	for _, r := range g.d.MX.Records {
		if r.Host != "." && !sts.Matches(r.Host) {
			bad = append(bad, r.Host)
		}
	}
	if len(g.d.MX.Records) == 0 && g.d.MX.Lookup.Outcome == OutcomeOK && !sts.Matches(g.domain) {
		bad = append(bad, g.domain)
	}
	if len(bad) == 0 {
		return
	}
	if p.Mode == routing.STSEnforce {
		g.add(CodeSTSMXMismatch, LevelError, "MX hosts match no mx pattern of the enforce-mode MTA-STS policy; senders will not deliver to them: "+strings.Join(bad, ", "), bad, nil)
		return
	}
	g.add(CodeSTSMXMismatch, LevelWarning, "MX hosts match no mx pattern of the testing-mode MTA-STS policy; in enforce mode senders would not deliver to them: "+strings.Join(bad, ", "), bad, nil)
}
