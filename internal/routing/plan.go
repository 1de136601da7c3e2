package routing

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Disposition is what the sender should do with the message.
type Disposition string

// The dispositions of a plan.
const (
	Deliver          Disposition = "deliver"
	PermanentFailure Disposition = "permanent_failure"
	TemporaryFailure Disposition = "temporary_failure"
)

// Reason explains a disposition.
type Reason string

// The reasons of a plan, with the RFC 3463 code a DSN should carry.
const (
	ReasonOK          Reason = "ok"
	ReasonNullMX      Reason = "null_mx"          // 5.1.10, RFC 7505
	ReasonNXDomain    Reason = "nxdomain"         // 5.1.2
	ReasonNoMailHosts Reason = "no_mail_hosts"    // 5.4.4
	ReasonDNSError    Reason = "dns_error"        // 4.4.3
	ReasonLoopsToSelf Reason = "mx_loops_to_self" // 5.4.6
)

// SkipReason says why an address or host is not in the attempts.
type SkipReason string

// The reasons an address or a whole host is skipped.
const (
	SkipDuplicate      SkipReason = "duplicate_address"
	SkipIgnoredNetwork SkipReason = "ignored_network"
	SkipPrivateNetwork SkipReason = "private_network"
	SkipFamily         SkipReason = "family_filtered"
	SkipMaxAttempts    SkipReason = "max_attempts"
	SkipNoAddresses    SkipReason = "no_addresses"
	SkipLookupFailed   SkipReason = "lookup_failed"
	SkipInvalidHost    SkipReason = "invalid_host"
	SkipMXToIP         SkipReason = "mx_to_ip_disallowed"
	SkipSelfLoop       SkipReason = "self_loop"
)

// WarningCode classifies something odd about the domain's DNS that did not
// stop the plan.
type WarningCode string

// The warnings a plan can carry.
const (
	WarnCNAME            WarningCode = "mx_target_cname"
	WarnMXIsIP           WarningCode = "mx_target_is_ip"
	WarnUnresolvable     WarningCode = "mx_target_unresolvable"
	WarnInvalidTarget    WarningCode = "mx_target_invalid"
	WarnNullMXWithOthers WarningCode = "null_mx_with_others"
	WarnStale            WarningCode = "stale_dns"
	WarnAddrLookupFailed WarningCode = "address_lookup_failed"
)

// Attempt is one address to try, in plan order.
type Attempt struct {
	Host       string
	Preference uint16
	Address    netip.Addr
	Family     Family
	State      State
}

// Skipped is an address, or a whole host when Address is invalid, that the
// plan leaves out, with the reason.
type Skipped struct {
	Host       string
	Preference uint16
	Address    netip.Addr
	Reason     SkipReason
}

// Warning is a finding about the domain's DNS that the plan worked around.
type Warning struct {
	Code    WarningCode
	Host    string
	Message string
}

// Plan is the delivery plan for one domain.
type Plan struct {
	Domain         string
	Disposition    Disposition
	Reason         Reason
	EnhancedStatus string // empty when Disposition is Deliver
	ImplicitMX     bool
	TTL            time.Duration
	Attempts       []Attempt
	Skipped        []Skipped
	Warnings       []Warning
}

// Demoted counts the attempts that are not healthy.
func (p Plan) Demoted() int {
	n := 0
	for _, a := range p.Attempts {
		if a.State != StateHealthy {
			n++
		}
	}
	return n
}

// Targets lists the host names whose addresses the plan for mx needs, in
// the order first seen. MX targets written as addresses and names that are
// not valid host names need no lookup; a null MX needs none at all.
func Targets(domain string, mx MXAnswer) []string {
	if mx.Status != StatusOK {
		return nil
	}
	if len(mx.Records) == 0 {
		return []string{domain}
	}
	if isNullMX(mx.Records) {
		return nil
	}
	var out []string
	for _, r := range mx.Records {
		if r.Host == "" || isIPLiteral(r.Host) || checkHostname(r.Host) != nil || slices.Contains(out, r.Host) {
			continue
		}
		out = append(out, r.Host)
	}
	return out
}

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// isNullMX reports a null MX: a single MX whose exchange is the root (RFC
// 7505), or the unspecified address, which some domains publish meaning the
// same thing and which could never be dialled anyway.
func isNullMX(rs []MX) bool {
	return len(rs) == 1 && (rs[0].Host == "" || rs[0].Host == "0.0.0.0")
}

// host is an MX entry on its way to becoming attempts.
type host struct {
	MX
	addrs   []netip.Addr
	skipped bool
}

// planner carries the state of one Build call.
type planner struct {
	in     Input
	opts   Options
	health Health
	plan   Plan
	ttl    time.Duration
	temp   bool
}

// Build makes the plan for in. health may be nil (everything healthy). It
// never fails: DNS outcomes become dispositions.
func Build(in Input, health Health, opts Options) Plan {
	if opts.IntN == nil {
		opts.IntN = rand.IntN
	}
	if opts.Family == "" {
		opts.Family = FamilyAny
	}
	p := &planner{in: in, opts: opts, health: health, ttl: -1}
	p.plan = Plan{Domain: in.Domain, Attempts: []Attempt{}, Skipped: []Skipped{}, Warnings: []Warning{}}
	p.build()
	if p.ttl < 0 {
		p.ttl = 0
	}
	p.plan.TTL = p.ttl
	return p.plan
}

func (p *planner) fail(d Disposition, r Reason, status string) {
	p.plan.Disposition, p.plan.Reason, p.plan.EnhancedStatus = d, r, status
}

func (p *planner) warn(code WarningCode, host, format string, args ...any) {
	p.plan.Warnings = append(p.plan.Warnings, Warning{Code: code, Host: host, Message: fmt.Sprintf(format, args...)})
}

func (p *planner) skip(h MX, a netip.Addr, r SkipReason) {
	p.plan.Skipped = append(p.plan.Skipped, Skipped{Host: h.Host, Preference: h.Preference, Address: a, Reason: r})
}

func (p *planner) useTTL(d time.Duration) {
	if p.ttl < 0 || d < p.ttl {
		p.ttl = d
	}
}

func (p *planner) build() {
	mx := p.in.MX
	if mx.Stale {
		p.warn(WarnStale, "", "every DNS upstream failed; the MX answer was served from cache past its TTL (RFC 8767)")
	}
	switch mx.Status {
	case StatusTempFail:
		p.fail(TemporaryFailure, ReasonDNSError, "4.4.3")
		return
	case StatusNXDomain:
		p.useTTL(mx.TTL)
		p.fail(PermanentFailure, ReasonNXDomain, "5.1.2")
		return
	}
	p.useTTL(mx.TTL)
	if isNullMX(mx.Records) {
		p.fail(PermanentFailure, ReasonNullMX, "5.1.10")
		return
	}

	var hosts []*host
	if len(mx.Records) == 0 {
		p.plan.ImplicitMX = true
		hosts = []*host{{MX: MX{Preference: 0, Host: p.in.Domain}}}
	} else {
		for _, r := range mx.Records {
			if r.Host == "" {
				p.warn(WarnNullMXWithOthers, ".", "a null MX is published alongside other MX records (RFC 7505 MUST NOT); it is ignored")
				p.skip(MX{Preference: r.Preference, Host: "."}, netip.Addr{}, SkipInvalidHost)
				continue
			}
			hosts = append(hosts, &host{MX: r})
		}
		p.order(hosts)
	}

	for _, h := range hosts {
		p.resolve(h)
	}
	if p.selfLoop(hosts) {
		return
	}
	cands := p.candidates(hosts)
	cands = p.byHealth(cands)
	if max := p.opts.MaxAttempts; max > 0 && len(cands) > max {
		for _, c := range cands[max:] {
			p.skip(MX{Preference: c.Preference, Host: c.Host}, c.Address, SkipMaxAttempts)
		}
		cands = cands[:max]
	}
	p.plan.Attempts = cands
	if len(cands) == 0 {
		if p.temp {
			p.fail(TemporaryFailure, ReasonDNSError, "4.4.3")
		} else {
			p.fail(PermanentFailure, ReasonNoMailHosts, "5.4.4")
		}
		return
	}
	p.plan.Disposition, p.plan.Reason = Deliver, ReasonOK
}

// order sorts hosts by ascending preference with ties in a uniformly random
// order: a Fisher-Yates shuffle followed by a stable sort, as the standard
// library's net.byPref does. Every request gets a fresh order because the
// planner runs on every request; the cache only holds DNS answers.
func (p *planner) order(hosts []*host) {
	for i := len(hosts) - 1; i > 0; i-- {
		j := p.opts.IntN(i + 1)
		hosts[i], hosts[j] = hosts[j], hosts[i]
	}
	slices.SortStableFunc(hosts, func(a, b *host) int { return int(a.Preference) - int(b.Preference) })
}

// resolve fills h.addrs from the address lookups, or marks h skipped.
func (p *planner) resolve(h *host) {
	if ip, err := netip.ParseAddr(h.Host); err == nil {
		if !p.opts.AllowMXToIP {
			p.warn(WarnMXIsIP, h.Host, "MX target %s is an address, not a host name (RFC 5321 5.1); skipped by configuration", h.Host)
			p.skip(h.MX, netip.Addr{}, SkipMXToIP)
			h.skipped = true
			return
		}
		p.warn(WarnMXIsIP, h.Host, "MX target %s is an address, not a host name (RFC 5321 5.1); used as that address", h.Host)
		h.addrs = []netip.Addr{ip}
		return
	}
	if err := checkHostname(h.Host); err != nil {
		p.warn(WarnInvalidTarget, h.Host, "MX target %q is not a valid host name: %v", h.Host, err)
		p.skip(h.MX, netip.Addr{}, SkipInvalidHost)
		h.skipped = true
		return
	}
	ans, ok := p.in.Hosts[h.Host]
	if !ok {
		// The caller did not look this host up; treat it like a failed
		// lookup rather than inventing a permanent answer.
		ans = HostAnswers{V4: AddrAnswer{Status: StatusTempFail}, V6: AddrAnswer{Status: StatusTempFail}}
	}
	v4, v6 := p.opts.Family.Lookups()
	var temp bool
	var cnames []string
	for _, use := range []struct {
		want bool
		a    AddrAnswer
	}{{v4, ans.V4}, {v6, ans.V6}} {
		if !use.want {
			continue
		}
		switch use.a.Status {
		case StatusTempFail:
			temp = true
			continue
		}
		p.useTTL(use.a.TTL)
		if use.a.Stale {
			p.warn(WarnStale, h.Host, "address lookup for %s served from cache past its TTL (RFC 8767)", h.Host)
		}
		h.addrs = append(h.addrs, use.a.Addrs...)
		if len(cnames) == 0 {
			cnames = use.a.CNAMEs
		}
	}
	if len(cnames) > 0 && !p.plan.ImplicitMX {
		p.warn(WarnCNAME, h.Host, "MX target %s is an alias for %s (RFC 2181 10.3); followed", h.Host, cnames[len(cnames)-1])
	}
	switch {
	case len(h.addrs) == 0 && temp:
		p.temp = true
		p.warn(WarnAddrLookupFailed, h.Host, "address lookup for %s failed temporarily", h.Host)
		p.skip(h.MX, netip.Addr{}, SkipLookupFailed)
		h.skipped = true
	case len(h.addrs) == 0:
		if !p.plan.ImplicitMX {
			p.warn(WarnUnresolvable, h.Host, "MX target %s has no address records", h.Host)
		}
		p.skip(h.MX, netip.Addr{}, SkipNoAddresses)
		h.skipped = true
	case temp:
		p.warn(WarnAddrLookupFailed, h.Host, "one address lookup for %s failed temporarily; using the addresses that resolved", h.Host)
	}
	if p.opts.AddressOrder == OrderRandom {
		for i := len(h.addrs) - 1; i > 0; i-- {
			j := p.opts.IntN(i + 1)
			h.addrs[i], h.addrs[j] = h.addrs[j], h.addrs[i]
		}
	}
}

// selfLoop applies RFC 5321 5.1: when this mail system is itself one of the
// MX hosts, only hosts more preferred than it may be used. If it is the most
// preferred, the plan is a permanent failure (the message loops).
func (p *planner) selfLoop(hosts []*host) bool {
	if len(p.opts.LocalNames) == 0 && len(p.opts.LocalAddrs) == 0 {
		return false
	}
	cutoff := -1
	for _, h := range hosts {
		local := p.opts.LocalNames[h.Host]
		for _, a := range h.addrs {
			local = local || p.opts.LocalAddrs[a] || p.opts.LocalAddrs[a.Unmap()]
		}
		if local && (cutoff < 0 || int(h.Preference) < cutoff) {
			cutoff = int(h.Preference)
		}
	}
	if cutoff < 0 {
		return false
	}
	better := false
	for _, h := range hosts {
		if int(h.Preference) < cutoff {
			better = true
		} else if !h.skipped {
			p.skip(h.MX, netip.Addr{}, SkipSelfLoop)
			h.skipped = true
		}
	}
	if !better {
		p.fail(PermanentFailure, ReasonLoopsToSelf, "5.4.6")
		return true
	}
	return false
}

// candidates flattens hosts into attempts, dropping addresses that must
// not be dialled and later copies of an address already in the plan.
func (p *planner) candidates(hosts []*host) []Attempt {
	seen := make(map[netip.Addr]bool)
	var out []Attempt
	for _, h := range hosts {
		if h.skipped {
			continue
		}
		for _, a := range h.addrs {
			switch {
			case inAny(a, p.opts.IgnoreNetworks):
				p.skip(h.MX, a, SkipIgnoredNetwork)
			case p.opts.BlockPrivate && inAny(a, PrivateNetworks):
				p.skip(h.MX, a, SkipPrivateNetwork)
			case !p.opts.Family.Wants(a):
				p.skip(h.MX, a, SkipFamily)
			case seen[a]:
				p.skip(h.MX, a, SkipDuplicate)
			default:
				seen[a] = true
				st := StateHealthy
				if p.health != nil {
					st = p.health(a)
				}
				out = append(out, Attempt{Host: h.Host, Preference: h.Preference, Address: a, Family: familyOf(a), State: st})
			}
		}
	}
	return out
}

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

// byHealth reorders attempts so that the fleet's failures cost senders as
// little as possible without ever dropping an address: within a tier healthy
// addresses lead, and tiers with no healthy address follow those with one.
// When nothing is healthy the RFC order stands: demotion then carries no
// information about which host to prefer.
func (p *planner) byHealth(cands []Attempt) []Attempt {
	anyHealthy := false
	for _, c := range cands {
		if c.State == StateHealthy {
			anyHealthy = true
			break
		}
	}
	if !anyHealthy {
		return cands
	}
	type tier struct {
		items   []Attempt
		healthy bool
	}
	var tiers []tier
	for _, c := range cands {
		if len(tiers) == 0 || tiers[len(tiers)-1].items[0].Preference != c.Preference {
			tiers = append(tiers, tier{})
		}
		t := &tiers[len(tiers)-1]
		t.items = append(t.items, c)
		t.healthy = t.healthy || c.State == StateHealthy
	}
	out := cands[:0:0]
	for _, want := range []bool{true, false} {
		for _, t := range tiers {
			if t.healthy != want {
				continue
			}
			slices.SortStableFunc(t.items, func(a, b Attempt) int { return stateRank(a.State) - stateRank(b.State) })
			out = append(out, t.items...)
		}
	}
	return out
}
