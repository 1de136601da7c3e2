package routing

import (
	"net/netip"
	"strings"
	"time"
)

// The TLS rules of a plan. The planner stays pure: the domain's MTA-STS
// policy (RFC 8461) and each host's TLSA answer (RFC 7672) are inputs,
// fetched and validated elsewhere; here they only filter hosts and mark
// attempts.
//
//   - A host with DNSSEC-validated, usable TLSA records is authenticated by
//     DANE, and MTA-STS does not apply to it (RFC 8461 section 2: DANE
//     first for hosts that have TLSA).
//   - A host whose address answers were DNSSEC-validated (its zone is
//     signed) but whose TLSA lookup failed temporarily is unusable (RFC
//     7672 section 2.2): delivering without TLSA would be exactly the
//     downgrade an attacker who blocks the lookup wants.
//   - In enforce mode, a host that matches no mx pattern is skipped
//     (mta_sts_mismatch); when that leaves no host that matches, the plan
//     is a temporary failure, mta_sts_no_matching_mx, 4.7.5 (RFC 8461
//     section 5). Every attempt that remains requires TLS with a
//     certificate valid for its host name.
//   - In testing mode nothing is filtered or required; a warning names the
//     hosts that would have been.

// STSMode is an MTA-STS policy's mode.
type STSMode string

// The modes of RFC 8461 section 3.2.
const (
	STSEnforce STSMode = "enforce"
	STSTesting STSMode = "testing"
	STSNone    STSMode = "none"
)

// PolicySource says where a plan's MTA-STS policy came from.
type PolicySource string

// The sources of a policy.
const (
	// SourceFresh: fetched while building this plan.
	SourceFresh PolicySource = "fresh"
	// SourceCached: from the policy cache, current with the TXT id.
	SourceCached PolicySource = "cached"
	// SourceStale: still within max_age, but a refresh failed; RFC 8461
	// section 5.1 keeps it in force so that blocking the fetch cannot
	// downgrade the domain.
	SourceStale PolicySource = "stale"
)

// STSPolicy is a domain's MTA-STS policy as the planner needs it.
type STSPolicy struct {
	// Mode of the policy.
	Mode STSMode
	// ID is the TXT record's id the policy was fetched under.
	ID string
	// MaxAge from the policy.
	MaxAge time.Duration
	// MX holds the policy's mx patterns, lower case.
	MX []string
	// ExpiresAt is when the cached policy stops applying.
	ExpiresAt time.Time
	// Source of the policy.
	Source PolicySource
}

// Matches reports whether host matches one of the policy's mx patterns
// (RFC 8461 section 4.1): exactly, or "*.rest" matching one extra label in
// front of rest. host is lower case without the trailing dot.
func (p *STSPolicy) Matches(host string) bool {
	for _, pat := range p.MX {
		if MatchMXPattern(pat, host) {
			return true
		}
	}
	return false
}

// MatchMXPattern reports whether host matches one mx pattern; both lower
// case without trailing dots.
func MatchMXPattern(pattern, host string) bool {
	rest, wild := strings.CutPrefix(pattern, "*.")
	if !wild {
		return pattern == host
	}
	label, tail, ok := strings.Cut(host, ".")
	return ok && label != "" && tail == rest
}

// STSInput is the outcome of looking up the domain's MTA-STS policy.
type STSInput struct {
	// Policy in force; nil when the domain has none (or none could be
	// fetched and none was cached).
	Policy *STSPolicy
	// FetchFailed says why a policy the TXT record announced could not be
	// fetched; empty when nothing failed. With a Policy, the policy is
	// the cached one still in force.
	FetchFailed string
}

// TLSA is one TLSA record (RFC 6698).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	// Data is the certificate association data, lower-case hex.
	Data string
}

// usable reports whether an SMTP client may use the record (RFC 7672
// section 3.1): DANE-TA(2) or DANE-EE(3), with a known selector and
// matching type.
func (t TLSA) usable() bool {
	return (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2
}

// TLSAAnswer is the TLSA lookup of _25._tcp.<host>.
type TLSAAnswer struct {
	// Looked is set when the lookup was made (DANE is enabled).
	Looked bool
	// Status of the lookup.
	Status Status
	// Secure is set when a resolver trusted to validate set the AD bit.
	Secure bool
	// Records of the answer.
	Records []TLSA
	// TTL of the records.
	TTL time.Duration
}

// TLSKind is the plan's overall TLS policy.
type TLSKind string

// The kinds of TLS policy a plan can have.
const (
	TLSMTASTS TLSKind = "mta-sts"
	TLSDANE   TLSKind = "dane"
	TLSNone   TLSKind = "none"
)

// PlanTLS is the plan's TLS policy.
type PlanTLS struct {
	// Kind: dane when an attempt uses DANE, else mta-sts with a policy
	// in enforce or testing mode, else none.
	Kind TLSKind
	// STS is the domain's MTA-STS policy; nil without one.
	STS *STSPolicy
}

// dane returns h's usable, validated TLSA records, or nil.
func (p *planner) dane(h string) []TLSA {
	t := p.in.Hosts[h].TLSA
	if !t.Looked || !t.Secure || t.Status != StatusOK {
		return nil
	}
	var out []TLSA
	for _, r := range t.Records {
		if r.usable() {
			out = append(out, r)
		}
	}
	return out
}

// tlsaFailed reports whether h's TLSA lookup failed on a signed zone.
func (p *planner) tlsaFailed(h string) bool {
	a := p.in.Hosts[h]
	return a.TLSA.Looked && a.TLSA.Status == StatusTempFail && (a.V4.Secure || a.V6.Secure)
}

// applyTLS skips the hosts the TLS rules exclude and records each kept
// host's TLS requirements. It reports whether enforce mode left no host
// that matches the policy.
func (p *planner) applyTLS(hosts []host) (noMatch bool) {
	sts := p.in.STS.Policy
	if sts != nil && sts.Mode != STSEnforce && sts.Mode != STSTesting {
		sts = nil
	}
	switch {
	case p.in.STS.FetchFailed == "":
	case sts != nil:
		p.warn(WarnSTSFetchFailed, "", "MTA-STS policy could not be fetched (%s); the cached policy stays in force (RFC 8461 section 5.1)", p.in.STS.FetchFailed)
	default:
		p.warn(WarnSTSFetchFailed, "", "MTA-STS policy could not be fetched (%s); delivering as if the domain had none (RFC 8461 section 5.1)", p.in.STS.FetchFailed)
	}
	matched, mismatched := false, false
	for i := range hosts {
		h := &hosts[i]
		if h.skipped {
			continue
		}
		if p.tlsaFailed(h.Host) {
			p.warn(WarnAddrLookupFailed, h.Host, "TLSA lookup for _25._tcp.%s failed on a DNSSEC-signed zone; the host cannot be used securely (RFC 7672 section 2.2)", h.Host)
			p.skip(h.MX, netip.Addr{}, SkipTLSALookupFailed)
			h.skipped, h.temp = true, true
			continue
		}
		if recs := p.dane(h.Host); len(recs) > 0 {
			h.tlsa, h.tlsRequired = recs, true
			p.useTTL(p.in.Hosts[h.Host].TLSA.TTL)
			continue
		}
		if sts == nil {
			continue
		}
		if sts.Matches(h.Host) {
			matched = true
			h.tlsRequired = sts.Mode == STSEnforce
			continue
		}
		mismatched = true
		if sts.Mode == STSTesting {
			p.warn(WarnSTSTestingMismatch, h.Host, "MX host %s matches no mx pattern of the domain's MTA-STS policy (testing mode: delivery is not affected)", h.Host)
			continue
		}
		p.skip(h.MX, netip.Addr{}, SkipMTASTSMismatch)
		h.skipped = true
	}
	return sts != nil && sts.Mode == STSEnforce && mismatched && !matched
}

// planTLS fills the plan's TLS summary from its attempts.
func (p *planner) planTLS() {
	t := PlanTLS{Kind: TLSNone, STS: p.in.STS.Policy}
	if t.STS != nil && (t.STS.Mode == STSEnforce || t.STS.Mode == STSTesting) {
		t.Kind = TLSMTASTS
	}
	for _, a := range p.plan.Attempts {
		if a.DANE {
			t.Kind = TLSDANE
			break
		}
	}
	p.plan.TLS = t
}
