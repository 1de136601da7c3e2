package routing

import (
	"cmp"
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
	// ReasonSTSNoMatchingMX: MTA-STS enforce mode and no MX host matches
	// the policy (RFC 8461 section 5), 4.7.5.
	ReasonSTSNoMatchingMX Reason = "mta_sts_no_matching_mx"
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
	SkipMTASTSMismatch SkipReason = "mta_sts_mismatch"
	// SkipTLSALookupFailed: the host's zone is signed and its TLSA lookup
	// failed (RFC 7672 section 2.2).
	SkipTLSALookupFailed SkipReason = "tlsa_lookup_failed"
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
	// WarnSTSTestingMismatch names an MX host a testing-mode MTA-STS
	// policy would exclude.
	WarnSTSTestingMismatch WarningCode = "mta_sts_testing_mismatch"
	// WarnSTSFetchFailed: the TXT record announced a policy that could
	// not be fetched.
	WarnSTSFetchFailed WarningCode = "mta_sts_fetch_failed"
)

// Attempt is one address to try, in plan order.
type Attempt struct {
	// Host is the MX target the address belongs to (the domain itself for
	// an implicit MX, the literal for an MX written as an address).
	Host string
	// Preference of the host's MX record; 0 for an implicit MX.
	Preference uint16
	// Address to dial. IPv4-mapped IPv6 addresses are given as IPv4.
	Address netip.Addr
	// Family of Address.
	Family Family
	// State is the fleet's view of Address; healthy when Build had no
	// health view.
	State State
	// TLSRequired: deliver only over authenticated TLS (MTA-STS enforce,
	// or DANE).
	TLSRequired bool
	// TLSNames are the names the certificate must match when TLSRequired;
	// shared by the attempts of one host.
	TLSNames []string
	// DANE: authenticate with TLSA.
	DANE bool
	// TLSA holds the host's usable TLSA records when DANE is set.
	TLSA []TLSA
}

// Skipped is an address, or a whole host when Address is the zero Addr, that
// the plan leaves out, with the reason.
type Skipped struct {
	// Host as in Attempt; "." for a null MX record among others.
	Host string
	// Preference of the host's MX record.
	Preference uint16
	// Address left out; the zero Addr when the whole host is.
	Address netip.Addr
	// Reason it is left out.
	Reason SkipReason
}

// Warning is a finding about the domain's DNS that the plan worked around.
type Warning struct {
	// Code classifies the finding.
	Code WarningCode
	// Host it concerns; "" for the MX answer itself.
	Host string
	// Message explains it to a person.
	Message string
}

// Plan is the delivery plan for one domain.
type Plan struct {
	// Domain the plan is for, as given in Input.
	Domain string
	// Disposition says whether to deliver, bounce or retry later.
	Disposition Disposition
	// Reason explains Disposition.
	Reason Reason
	// EnhancedStatus is the RFC 3463 code for a DSN; empty when
	// Disposition is Deliver.
	EnhancedStatus string
	// ImplicitMX is set when the domain has no MX records and its own
	// addresses are used (RFC 5321 5.1).
	ImplicitMX bool
	// TTL is how long the plan's DNS data stays valid: the smallest TTL of
	// the records it was built from. A negative answer (NODATA, NXDOMAIN)
	// counts only where it decided something: the MX lookup, or a host left
	// with no address at all. An IPv4-only host's empty AAAA answer does
	// not cut the plan's TTL to the SOA minimum. 0 for a temporary failure,
	// which must not be cached.
	TTL time.Duration
	// Attempts in the order to try them. Never nil.
	Attempts []Attempt
	// Skipped addresses and hosts. Never nil.
	Skipped []Skipped
	// Warnings about the domain's DNS. Never nil.
	Warnings []Warning
	// TLS is the domain's TLS policy as the plan applies it.
	TLS PlanTLS
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

// host is an MX entry on its way to becoming attempts. Its addresses live
// in the planner's shared buffer: buf[start:mid] came from the lookups the
// family wants, in plan order; buf[mid:end] from the one it does not, kept
// only to be reported as filtered and to recognise the local host.
type host struct {
	MX
	start, mid, end int
	// temp is set when a lookup the plan needs failed temporarily, so a
	// plan without attempts must not be reported as permanent.
	temp     bool
	skipped  bool
	selfLoop bool
	// tlsRequired and tlsa are the host's TLS requirements (see applyTLS).
	tlsRequired bool
	tlsa        []TLSA
}

// planner carries the state of one Build call.
type planner struct {
	in     Input
	opts   Options
	health Health
	plan   Plan
	ttl    time.Duration
	ttlSet bool
	buf    []netip.Addr
}

// Build makes the plan for in. health may be nil (everything healthy). It
// never fails: DNS outcomes become dispositions. It does not modify in, so
// callers may pass cached answers shared between requests.
func Build(in Input, health Health, opts Options) Plan {
	if opts.IntN == nil {
		opts.IntN = rand.IntN
	}
	if opts.Family == "" {
		opts.Family = FamilyAny
	}
	p := &planner{in: in, opts: opts, health: health}
	p.plan = Plan{Domain: in.Domain, Attempts: []Attempt{}, Skipped: []Skipped{}, Warnings: []Warning{}}
	p.build()
	p.planTLS()
	if p.plan.Disposition != TemporaryFailure {
		// A temporary failure says nothing lasting: the sender should ask
		// again on its next retry, not cache the failure.
		p.plan.TTL = p.ttl
	}
	return p.plan
}

func (p *planner) fail(d Disposition, r Reason, status string) {
	p.plan.Disposition, p.plan.Reason, p.plan.EnhancedStatus = d, r, status
}

// warn records a finding once per code and host: a host listed at two
// preferences, or stale in both families, is one finding.
func (p *planner) warn(code WarningCode, host, format string, args ...any) {
	for _, w := range p.plan.Warnings {
		if w.Code == code && w.Host == host {
			return
		}
	}
	p.plan.Warnings = append(p.plan.Warnings, Warning{Code: code, Host: host, Message: fmt.Sprintf(format, args...)})
}

func (p *planner) skip(h MX, a netip.Addr, r SkipReason) {
	p.plan.Skipped = append(p.plan.Skipped, Skipped{Host: h.Host, Preference: h.Preference, Address: a, Reason: r})
}

// useTTL lowers the plan's TTL to d. Negative durations can only come from a
// broken caller; they count as 0 (do not cache) rather than as a sentinel.
func (p *planner) useTTL(d time.Duration) {
	d = max(d, 0)
	if !p.ttlSet || d < p.ttl {
		p.ttl, p.ttlSet = d, true
	}
}

func (p *planner) build() {
	hosts, ok := p.mxHosts()
	if !ok {
		return
	}
	p.buf = make([]netip.Addr, 0, p.addrCount(hosts))
	for i := range hosts {
		p.resolve(&hosts[i])
	}
	backup, loops := p.selfLoop(hosts)
	if loops {
		p.fail(PermanentFailure, ReasonLoopsToSelf, "5.4.6")
		return
	}
	noMatch := p.applyTLS(hosts)
	cands := p.limit(p.candidates(hosts))
	if len(cands) == 0 {
		p.nothingUsable(hosts, noMatch, backup)
		return
	}
	p.plan.Attempts = p.byHealth(cands)
	p.plan.Disposition, p.plan.Reason = Deliver, ReasonOK
}

// mxHosts reads the MX answer into the hosts to resolve, in RFC order,
// or fails the plan (ok false) when the answer leaves none to try.
func (p *planner) mxHosts() (hosts []host, ok bool) {
	mx := p.in.MX
	if mx.Stale {
		p.warn(WarnStale, "", "every DNS upstream failed; the MX answer was served from cache past its TTL (RFC 8767)")
	}
	switch mx.Status {
	case StatusOK:
	case StatusNXDomain:
		p.useTTL(mx.TTL)
		p.fail(PermanentFailure, ReasonNXDomain, "5.1.2")
		return nil, false
	default:
		p.fail(TemporaryFailure, ReasonDNSError, "4.4.3")
		return nil, false
	}
	p.useTTL(mx.TTL)
	if isNullMX(mx.Records) {
		p.fail(PermanentFailure, ReasonNullMX, "5.1.10")
		return nil, false
	}
	if len(mx.Records) == 0 {
		// RFC 5321 5.1: no MX records means an implicit MX of preference 0
		// pointing at the domain itself.
		p.plan.ImplicitMX = true
		return []host{{MX: MX{Preference: 0, Host: p.in.Domain}}}, true
	}
	hosts = make([]host, 0, len(mx.Records))
	for _, r := range mx.Records {
		if r.Host == "" {
			p.warn(WarnNullMXWithOthers, ".", "a null MX is published alongside other MX records (RFC 7505 MUST NOT); it is ignored")
			p.skip(MX{Preference: r.Preference, Host: "."}, netip.Addr{}, SkipInvalidHost)
			continue
		}
		hosts = append(hosts, host{MX: r})
	}
	p.order(hosts)
	return hosts, true
}

// limit applies MaxAttempts to the candidates. The limit is applied in
// preference order, so which tiers make the plan never depends on health:
// a fleet-wide outage of the primary MX must not drop it from plans
// (RFC 1123 5.3.4 requires trying the lowest-preference MX). Within the
// tier the limit cuts through, hosts are interchangeable (their order is
// left to chance), so the healthy ones are kept.
func (p *planner) limit(cands []Attempt) []Attempt {
	p.assess(cands[:throughCutTier(cands, p.opts.MaxAttempts)])
	limit := p.opts.MaxAttempts
	if limit <= 0 || len(cands) <= limit {
		return cands
	}
	healthiestAtCut(cands, limit)
	for _, c := range cands[limit:] {
		p.skip(MX{Preference: c.Preference, Host: c.Host}, c.Address, SkipMaxAttempts)
	}
	return cands[:limit]
}

// nothingUsable fails a plan left with no attempt, with the reason that
// explains why.
func (p *planner) nothingUsable(hosts []host, noMatch, backup bool) {
	temp := false
	for _, h := range hosts {
		temp = temp || h.temp && !h.selfLoop
	}
	switch {
	case noMatch:
		p.fail(TemporaryFailure, ReasonSTSNoMatchingMX, "4.7.5")
	case temp:
		p.fail(TemporaryFailure, ReasonDNSError, "4.4.3")
	case backup:
		// We are a backup MX and every better host is unusable. As
		// Postfix does ("unable to find primary relay", 4.4.4), hold the
		// mail: the primary's DNS or addresses may be fixed.
		p.fail(TemporaryFailure, ReasonNoMailHosts, "4.4.4")
	default:
		p.fail(PermanentFailure, ReasonNoMailHosts, "5.4.4")
	}
}

// order sorts hosts by ascending preference with ties in a uniformly random
// order: a Fisher-Yates shuffle followed by a stable sort, as the standard
// library's net.byPref does. Every request gets a fresh order because the
// planner runs on every request; the cache only holds DNS answers.
func (p *planner) order(hosts []host) {
	for i := len(hosts) - 1; i > 0; i-- {
		j := p.opts.IntN(i + 1)
		hosts[i], hosts[j] = hosts[j], hosts[i]
	}
	slices.SortStableFunc(hosts, func(a, b host) int { return cmp.Compare(a.Preference, b.Preference) })
}

// addrCount bounds the number of addresses the hosts can contribute, so
// that one buffer holds them all (one for each literal).
func (p *planner) addrCount(hosts []host) int {
	n := 0
	for _, h := range hosts {
		ans := p.in.Hosts[h.Host]
		n += 1 + len(ans.V4.Addrs) + len(ans.V6.Addrs)
	}
	return n
}

// addrs returns the addresses of h the plan may use, in plan order.
func (p *planner) addrs(h *host) []netip.Addr { return p.buf[h.start:h.mid] }

// filtered returns the addresses of h from the lookup the family excludes.
func (p *planner) filtered(h *host) []netip.Addr { return p.buf[h.mid:h.end] }

// lookup is one address lookup of a host, and whether the family wants it.
type lookup struct {
	want bool
	ans  *AddrAnswer
}

// resolve fills h's addresses from the address lookups, or marks h skipped.
func (p *planner) resolve(h *host) {
	h.start = len(p.buf)
	if p.literal(h) || p.invalid(h) {
		return
	}
	ans, ok := p.in.Hosts[h.Host]
	if !ok {
		// The caller did not look this host up; treat it like a failed
		// lookup rather than inventing a permanent answer.
		ans = HostAnswers{V4: AddrAnswer{Status: StatusTempFail}, V6: AddrAnswer{Status: StatusTempFail}}
	}
	v4, v6 := p.opts.Family.Lookups()
	lookups := [2]lookup{{v4, &ans.V4}, {v6, &ans.V6}}
	cname, neg := p.collect(h, lookups)
	h.mid = len(p.buf)
	p.shuffleAddrs(h)
	for _, l := range lookups {
		if !l.want && l.ans.Status == StatusOK {
			p.appendAddrs(l.ans.Addrs)
		}
	}
	h.end = len(p.buf)
	if cname != "" && !p.plan.ImplicitMX {
		p.warn(WarnCNAME, h.Host, "MX target %s is an alias for %s (RFC 2181 10.3); followed", h.Host, cname)
	}
	p.judge(h, neg)
}

// literal handles an MX target written as an address, and reports
// whether the target was one. It is kept even when disallowed: if it is
// our own address, the self-loop rule must still discard the hosts after
// it.
func (p *planner) literal(h *host) bool {
	ip, ok := ipLiteral(h.Host)
	if !ok {
		return false
	}
	p.buf = append(p.buf, ip)
	h.mid, h.end = len(p.buf), len(p.buf)
	if p.opts.AllowMXToIP {
		p.warn(WarnMXIsIP, h.Host, "MX target %s is an address, not a host name (RFC 5321 5.1); used as that address", h.Host)
	} else {
		p.warn(WarnMXIsIP, h.Host, "MX target %s is an address, not a host name (RFC 5321 5.1); skipped by configuration", h.Host)
		p.skip(h.MX, netip.Addr{}, SkipMXToIP)
		h.skipped = true
	}
	return true
}

// invalid skips a target that is no host name, and reports whether it
// was skipped.
func (p *planner) invalid(h *host) bool {
	err := checkHostname(h.Host)
	if err == nil {
		return false
	}
	p.warn(WarnInvalidTarget, h.Host, "MX target %q is not a valid host name: %v", h.Host, err)
	p.skip(h.MX, netip.Addr{}, SkipInvalidHost)
	h.skipped = true
	h.mid, h.end = h.start, h.start
	return true
}

// collect appends the addresses of the lookups the family asks for, and
// returns the alias the target led to (if any) and the smallest negative
// TTL of its lookups (-1 when none was negative).
func (p *planner) collect(h *host, lookups [2]lookup) (cname string, neg time.Duration) {
	neg = -1
	for _, l := range lookups {
		if !l.want {
			continue
		}
		switch l.ans.Status {
		case StatusOK:
			p.appendAddrs(l.ans.Addrs)
		case StatusNXDomain:
			// The target does not exist: no addresses, and a negative TTL.
		default:
			// Nothing is known; whatever addresses came with it are noise.
			h.temp = true
			continue
		}
		if len(l.ans.Addrs) > 0 {
			p.useTTL(l.ans.TTL)
		} else if neg < 0 || l.ans.TTL < neg {
			neg = l.ans.TTL
		}
		if l.ans.Stale {
			p.warn(WarnStale, h.Host, "address lookup for %s served from cache past its TTL (RFC 8767)", h.Host)
		}
		if cname == "" && len(l.ans.CNAMEs) > 0 {
			cname = l.ans.CNAMEs[len(l.ans.CNAMEs)-1]
		}
	}
	return cname, neg
}

// shuffleAddrs shuffles one host's usable addresses when the address
// order is random.
func (p *planner) shuffleAddrs(h *host) {
	if p.opts.AddressOrder != OrderRandom {
		return
	}
	a := p.addrs(h)
	for i := len(a) - 1; i > 0; i-- {
		j := p.opts.IntN(i + 1)
		a[i], a[j] = a[j], a[i]
	}
}

// judge skips a host left with no address, and warns about a partial
// answer.
func (p *planner) judge(h *host, neg time.Duration) {
	switch {
	case h.mid == h.start && h.temp:
		p.warn(WarnAddrLookupFailed, h.Host, "address lookup for %s failed temporarily", h.Host)
		p.skip(h.MX, netip.Addr{}, SkipLookupFailed)
		h.skipped = true
	case h.end == h.start:
		if neg >= 0 {
			p.useTTL(neg)
		}
		if !p.plan.ImplicitMX {
			p.warn(WarnUnresolvable, h.Host, "MX target %s has no address records", h.Host)
		}
		p.skip(h.MX, netip.Addr{}, SkipNoAddresses)
		h.skipped = true
	case h.temp:
		p.warn(WarnAddrLookupFailed, h.Host, "one address lookup for %s failed temporarily; using the addresses that resolved", h.Host)
	}
}

// appendAddrs adds addresses to the buffer in the form plans use: an
// IPv4-mapped IPv6 address is the IPv4 address it maps (a dual-stack socket
// would dial that, and it must not escape de-duplication); the zero Addr is
// no address at all and is dropped.
func (p *planner) appendAddrs(as []netip.Addr) {
	for _, a := range as {
		if a.IsValid() {
			p.buf = append(p.buf, a.Unmap())
		}
	}
}

// selfLoop applies RFC 5321 5.1: when this mail system is itself one of the
// MX hosts, only hosts more preferred than it may be used. backup reports
// that hosts were discarded and better ones remain; loops that the local
// host is the most preferred, so the message would come back to us.
func (p *planner) selfLoop(hosts []host) (backup, loops bool) {
	if len(p.opts.LocalNames) == 0 && len(p.opts.LocalAddrs) == 0 {
		return false, false
	}
	cutoff := -1
	for i := range hosts {
		h := &hosts[i]
		local := p.opts.LocalNames[h.Host]
		for _, a := range p.buf[h.start:h.end] {
			local = local || p.opts.LocalAddrs[a]
		}
		if local && (cutoff < 0 || int(h.Preference) < cutoff) {
			cutoff = int(h.Preference)
		}
	}
	if cutoff < 0 {
		return false, false
	}
	better := false
	for i := range hosts {
		h := &hosts[i]
		if int(h.Preference) < cutoff {
			better = true
			continue
		}
		h.selfLoop = true
		if !h.skipped {
			p.skip(h.MX, netip.Addr{}, SkipSelfLoop)
			h.skipped = true
		}
	}
	return better, !better
}

// candidates flattens hosts into attempts, dropping addresses that must
// not be dialled and later copies of an address already in the plan.
func (p *planner) candidates(hosts []host) []Attempt {
	out := make([]Attempt, 0, len(p.buf))
	var seen dedup
	for i := range hosts {
		h := &hosts[i]
		if h.skipped {
			continue
		}
		var names []string
		if h.tlsRequired {
			names = []string{h.Host}
		}
		for _, a := range p.addrs(h) {
			switch {
			case a.Zone() != "" || inAny(a, p.opts.IgnoreNetworks):
				// A zone makes Prefix.Contains false; no mail host is
				// reached through a link-local scope.
				p.skip(h.MX, a, SkipIgnoredNetwork)
			case p.opts.BlockPrivate && inAny(a, PrivateNetworks):
				p.skip(h.MX, a, SkipPrivateNetwork)
			case !p.opts.Family.Wants(a):
				p.skip(h.MX, a, SkipFamily)
			case seen.has(out, a):
				p.skip(h.MX, a, SkipDuplicate)
			default:
				out = append(out, Attempt{Host: h.Host, Preference: h.Preference, Address: a, Family: familyOf(a), State: StateHealthy,
					TLSRequired: h.tlsRequired, TLSNames: names, DANE: len(h.tlsa) > 0, TLSA: h.tlsa})
				seen.add(out, a)
			}
		}
		for _, a := range p.filtered(h) {
			p.skip(h.MX, a, SkipFamily)
		}
	}
	return out
}

// dedupScan is the plan size up to which dedup scans the plan instead of
// keeping a set: typical plans hold a handful of addresses, where a map
// would cost more than it saves.
const dedupScan = 16

// dedup tells whether an address is already in the plan. It scans small
// plans and switches to a set for large ones, so a domain whose hosts
// return thousands of addresses costs linear, not quadratic, time.
type dedup struct {
	set map[netip.Addr]bool
}

func (d *dedup) has(plan []Attempt, a netip.Addr) bool {
	if d.set != nil {
		return d.set[a]
	}
	for i := range plan {
		if plan[i].Address == a {
			return true
		}
	}
	return false
}

// add records a, just appended to plan.
func (d *dedup) add(plan []Attempt, a netip.Addr) {
	switch {
	case d.set != nil:
		d.set[a] = true
	case len(plan) > dedupScan:
		d.set = make(map[netip.Addr]bool, 2*len(plan))
		for i := range plan {
			d.set[plan[i].Address] = true
		}
	}
}
