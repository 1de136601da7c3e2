package check

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Grade turns gathered data into a report. It is pure and total: any Data,
// however inconsistent, yields a Report whose Status and Grade follow from
// its Findings (an error: fail and F; else a warning: warn and C; else pass,
// with A for strong balancing and diverse failover and B otherwise).
func Grade(d Data) Report {
	g := newGrader(d)
	g.gradeMX()
	g.gradeConsistency()
	g.gradeSTS()
	g.gradeDANE()
	return g.report()
}

// target is one MX record to deliver to (or the domain itself for an
// implicit MX), with what grading learnt about it.
type target struct {
	host     string
	pref     uint16
	ttl      uint32
	implicit bool
	// addrs are the valid addresses it resolved to, each once, in order.
	addrs []netip.Addr
	// usable are addrs minus the unroutable ones.
	usable []netip.Addr
}

// grader holds the state of one Grade call.
type grader struct {
	d       Data
	domain  string
	hosts   map[string]HostData
	reverse map[netip.Addr]ReverseData

	nullOnly bool
	targets  []target
	// unique are the usable addresses in sender order, each once.
	unique    []netip.Addr
	balancing Balancing
	lowest    uint16

	mx       []MX
	findings []Finding
}

func newGrader(d Data) *grader {
	g := &grader{
		d:         d,
		domain:    normHost(d.Domain),
		hosts:     make(map[string]HostData, len(d.Hosts)),
		reverse:   make(map[netip.Addr]ReverseData, len(d.Reverse)),
		balancing: BalancingNone,
		mx:        []MX{},
	}
	for _, h := range d.Hosts {
		name := normHost(h.Host)
		if _, dup := g.hosts[name]; !dup {
			g.hosts[name] = h
		}
	}
	for _, r := range d.Reverse {
		a := r.Address.Unmap()
		if _, dup := g.reverse[a]; !dup {
			g.reverse[a] = r
		}
	}
	return g
}

func (g *grader) add(code string, level Level, msg string, hosts, addrs []string) {
	g.findings = append(g.findings, Finding{
		Code:      code,
		Level:     level,
		Message:   msg,
		Hosts:     nilIfEmpty(hosts),
		Addresses: nilIfEmpty(addrs),
	})
}

// gradeMX grades everything that follows from the MX answer.
func (g *grader) gradeMX() {
	switch lk := g.d.MX.Lookup; lk.Outcome {
	case OutcomeOK:
	case OutcomeNXDomain:
		g.add(CodeMXLookupFailed, LevelError,
			fmt.Sprintf("%s does not exist (NXDOMAIN): mail to it bounces.", g.domain), nil, nil)
		return
	default:
		g.add(CodeMXLookupFailed, LevelError,
			fmt.Sprintf("The MX lookup for %s failed (%s): senders defer mail until it answers.", g.domain, describe(lk)), nil, nil)
		return
	}

	var nulls, real []MXRecord
	for _, r := range g.d.MX.Records {
		r.Host = normHost(r.Host)
		if r.Host == "." {
			nulls = append(nulls, r)
		} else {
			real = append(real, r)
		}
	}
	slices.SortStableFunc(real, func(a, b MXRecord) int {
		return cmp.Or(cmp.Compare(a.Preference, b.Preference), strings.Compare(a.Host, b.Host))
	})
	g.gradeNullMX(nulls, real)
	if len(nulls) > 0 && len(real) == 0 {
		g.nullOnly = true
		return
	}

	if len(real) == 0 {
		g.targets = []target{{host: g.domain, implicit: true}}
	}
	for _, r := range real {
		g.targets = append(g.targets, target{host: r.Host, pref: r.Preference, ttl: r.TTL})
	}
	g.resolveTargets()
	g.gradeAddresses()
	g.gradeLayout()
	g.gradeDuplicates()
	g.gradeTTL()
	g.gradePTR()
}

func (g *grader) gradeNullMX(nulls, real []MXRecord) {
	if len(nulls) == 0 {
		return
	}
	for _, r := range nulls {
		g.mx = append(g.mx, MX{Host: ".", Preference: int(r.Preference), Addresses: []string{}, TTL: int(r.TTL), PTR: []PTR{}})
	}
	if len(real) > 0 {
		hosts := make([]string, 0, len(real))
		for _, r := range real {
			hosts = append(hosts, r.Host)
		}
		g.add(CodeNullMXWithOthers, LevelError,
			fmt.Sprintf("%s publishes a null MX (\"MX 0 .\", no mail accepted) next to other MX records, which RFC 7505 forbids: senders may bounce or deliver, at their choice.", g.domain),
			uniqueStrings(hosts), nil)
		return
	}
	g.add(CodeNullMX, LevelInfo,
		fmt.Sprintf("%s publishes a null MX (RFC 7505): it accepts no mail and senders bounce mail to it at once.", g.domain), nil, nil)
	for _, r := range nulls {
		if r.Preference != 0 {
			g.add(CodeNullMXNonzeroPref, LevelNotice,
				fmt.Sprintf("The null MX of %s has preference %d; RFC 7505 says it should be 0.", g.domain, r.Preference), nil, nil)
			break
		}
	}
}

// resolveTargets attaches addresses to the targets, reporting IP literals,
// aliases and names without addresses.
func (g *grader) resolveTargets() {
	var ips, cnames, canonical, unresolvable, reasons []string
	resolved := 0
	for i := range g.targets {
		t := &g.targets[i]
		entry := MX{Host: t.host, Preference: int(t.pref), Addresses: []string{}, TTL: int(t.ttl), PTR: []PTR{}}
		if t.implicit {
			entry.TTL = 0
		}
		if isIPLiteral(t.host) {
			ips = append(ips, t.host)
			g.mx = append(g.mx, entry)
			continue
		}
		hd, found := g.hosts[t.host]
		for _, a := range hd.Addresses {
			a = a.Unmap()
			if a.IsValid() && !slices.Contains(t.addrs, a) {
				t.addrs = append(t.addrs, a)
				entry.Addresses = append(entry.Addresses, a.String())
			}
		}
		for _, a := range t.addrs {
			if classify(a) != classUnroutable {
				t.usable = append(t.usable, a)
			}
		}
		if len(hd.CNAMEs) > 0 && !t.implicit && !slices.Contains(cnames, t.host) {
			cnames = append(cnames, t.host)
			canonical = append(canonical, normHost(hd.CNAMEs[len(hd.CNAMEs)-1]))
		}
		if len(t.addrs) > 0 {
			resolved++
		} else if !slices.Contains(unresolvable, t.host) {
			unresolvable = append(unresolvable, t.host)
			reasons = append(reasons, fmt.Sprintf("%s (%s)", t.host, hostFailure(hd, found)))
		}
		g.mx = append(g.mx, entry)
	}

	if len(ips) > 0 {
		g.add(CodeMXTargetIsIP, LevelError,
			fmt.Sprintf("MX targets must be host names (RFC 5321 section 5.1), not addresses: %s. Senders treat them as names that do not resolve.", strings.Join(ips, ", ")),
			uniqueStrings(ips), nil)
	}
	if len(cnames) > 0 {
		pairs := make([]string, len(cnames))
		for i := range cnames {
			pairs[i] = cnames[i] + " -> " + canonical[i]
		}
		g.add(CodeTargetCNAME, LevelWarning,
			fmt.Sprintf("MX targets are aliases, which RFC 2181 section 10.3 forbids; some senders refuse them: %s.", strings.Join(pairs, ", ")),
			cnames, nil)
	}
	switch {
	case resolved == 0 && len(g.targets) == 1 && g.targets[0].implicit:
		g.add(CodeNoUsableMX, LevelError,
			fmt.Sprintf("%s has no MX records and no A/AAAA records to fall back to (%s): mail to it cannot be delivered.", g.domain, hostFailure(g.hosts[g.domain], g.looked(g.domain))),
			[]string{g.domain}, nil)
	case resolved == 0:
		msg := fmt.Sprintf("No MX target of %s resolves to an address: mail to it cannot be delivered.", g.domain)
		if len(reasons) > 0 {
			msg = fmt.Sprintf("No MX target of %s resolves to an address (%s): mail to it cannot be delivered.", g.domain, strings.Join(reasons, ", "))
		}
		g.add(CodeNoUsableMX, LevelError, msg, uniqueStrings(append(append([]string(nil), ips...), unresolvable...)), nil)
	case len(unresolvable) > 0:
		g.add(CodeTargetUnresolvable, LevelWarning,
			fmt.Sprintf("Some MX targets have no address: %s. Senders skip them, losing that capacity or failover.", strings.Join(reasons, ", ")),
			unresolvable, nil)
	}
	if g.targets[0].implicit && resolved > 0 {
		g.add(CodeNoMXImplicit, LevelNotice,
			fmt.Sprintf("%s has no MX records, so senders deliver to its own A/AAAA addresses (RFC 5321 section 5.1). If it takes no mail, publish a null MX instead (RFC 7505).", g.domain),
			[]string{g.domain}, nil)
	}
}

// looked reports whether Data holds the address lookup of name.
func (g *grader) looked(name string) bool {
	_, ok := g.hosts[name]
	return ok
}

// gradeAddresses reports unroutable and private addresses.
func (g *grader) gradeAddresses() {
	var badHosts, badAddrs, privHosts, privAddrs []string
	total, bad := 0, 0
	for _, t := range g.targets {
		for _, a := range t.addrs {
			total++
			switch classify(a) {
			case classUnroutable:
				bad++
				badHosts = appendNew(badHosts, t.host)
				badAddrs = appendNew(badAddrs, a.String())
			case classPrivate:
				privHosts = appendNew(privHosts, t.host)
				privAddrs = appendNew(privAddrs, a.String())
			}
		}
	}
	switch {
	case bad > 0 && bad == total:
		g.add(CodeUnroutableAddress, LevelError,
			fmt.Sprintf("Every MX address of %s is one no sender may dial (loopback, unspecified, link-local, multicast or reserved): %s.", g.domain, strings.Join(badAddrs, ", ")),
			badHosts, badAddrs)
	case bad > 0:
		g.add(CodeUnroutableAddress, LevelWarning,
			fmt.Sprintf("Some MX addresses of %s are ones no sender may dial (loopback, unspecified, link-local, multicast or reserved): %s. Senders waste attempts on them.", g.domain, strings.Join(badAddrs, ", ")),
			badHosts, badAddrs)
	}
	if len(privAddrs) > 0 {
		g.add(CodePrivateAddress, LevelNotice,
			fmt.Sprintf("Private addresses (RFC 1918, RFC 6598 or IPv6 unique local) are unreachable from the Internet; only senders inside that network can use them: %s.", strings.Join(privAddrs, ", ")),
			privHosts, privAddrs)
	}
}

// gradeLayout computes load balancing and failover.
func (g *grader) gradeLayout() {
	for _, t := range g.targets {
		for _, a := range t.usable {
			if !slices.Contains(g.unique, a) {
				g.unique = append(g.unique, a)
			}
		}
	}
	g.balancing = g.classifyBalancing()

	switch prefixes := g.prefixes(); {
	case len(g.unique) == 1:
		g.add(CodeSingleAddress, LevelWarning,
			fmt.Sprintf("All mail for %s depends on one address, %s: when it is down, senders can only queue and retry.", g.domain, g.unique[0]),
			g.hostsOf(g.unique[0]), []string{g.unique[0].String()})
	case len(g.unique) > 1 && prefixes == 1:
		g.add(CodeSamePrefix, LevelNotice,
			fmt.Sprintf("Every MX address of %s is in %s: failover is only local, and one network outage stops all mail.", g.domain, sitePrefix(g.unique[0])),
			nil, addrStrings(g.unique))
	}
}

// classifyBalancing looks at the lowest preference that has a usable
// address, since senders pass over targets they cannot resolve.
func (g *grader) classifyBalancing() Balancing {
	var sets [][]netip.Addr
	found := false
	for _, t := range g.targets {
		if len(t.usable) == 0 {
			continue
		}
		if !found {
			g.lowest, found = t.pref, true
		}
		if t.pref == g.lowest {
			sets = append(sets, t.usable)
		}
	}
	var union []netip.Addr
	for _, s := range sets {
		for _, a := range s {
			union = appendNew(union, a)
		}
	}
	if len(union) < 2 {
		return BalancingNone
	}
	for i := range sets {
		for j := i + 1; j < len(sets); j++ {
			if disjoint(sets[i], sets[j]) {
				return BalancingStrong
			}
		}
	}
	return BalancingWeak
}

// prefixes counts the distinct site prefixes of the unique addresses.
func (g *grader) prefixes() int {
	var ps []netip.Prefix
	for _, a := range g.unique {
		ps = appendNew(ps, sitePrefix(a))
	}
	return len(ps)
}

// hostsOf lists the targets that resolve to a.
func (g *grader) hostsOf(a netip.Addr) []string {
	var hosts []string
	for _, t := range g.targets {
		if slices.Contains(t.addrs, a) {
			hosts = appendNew(hosts, t.host)
		}
	}
	return hosts
}

// gradeDuplicates reports addresses reachable through several MX records.
func (g *grader) gradeDuplicates() {
	type use struct {
		addr  netip.Addr
		where []string
	}
	var uses []use
	for _, t := range g.targets {
		label := fmt.Sprintf("%s (%d)", t.host, t.pref)
		for _, a := range t.addrs {
			i := slices.IndexFunc(uses, func(u use) bool { return u.addr == a })
			if i < 0 {
				uses = append(uses, use{addr: a})
				i = len(uses) - 1
			}
			uses[i].where = appendNew(uses[i].where, label)
		}
	}
	var hosts, addrs, parts []string
	for _, u := range uses {
		if len(u.where) < 2 {
			continue
		}
		addrs = append(addrs, u.addr.String())
		parts = append(parts, fmt.Sprintf("%s behind %s", u.addr, strings.Join(u.where, ", ")))
		for _, t := range g.targets {
			if slices.Contains(t.addrs, u.addr) {
				hosts = appendNew(hosts, t.host)
			}
		}
	}
	if len(addrs) == 0 {
		return
	}
	g.add(CodeDuplicateAddress, LevelNotice,
		fmt.Sprintf("Addresses appear under several MX names or preferences (%s): a sender retrying them after a failure reaches the same server again, so these records add no failover.", strings.Join(parts, "; ")),
		hosts, addrs)
}

// gradeTTL reports MX TTLs outside [TTLLow, TTLHigh]. A TTL seen through a
// caching resolver counts down, so it may look low while the zone's is not:
// only an authoritative TTL can be called low. A high one is high anyway.
func (g *grader) gradeTTL() {
	var low, high []string
	var lowTTL, highTTL uint32
	for _, t := range g.targets {
		if t.implicit {
			continue
		}
		ttl, auth := g.authoritativeTTL(t)
		g.mxEntry(t.host, t.pref).TTL = int(ttl)
		if auth && ttl < TTLLow {
			low = appendNew(low, t.host)
			lowTTL = ttl
		}
		if ttl > TTLHigh {
			high = appendNew(high, t.host)
			highTTL = ttl
		}
	}
	if len(low) > 0 {
		g.add(CodeTTLLow, LevelNotice,
			fmt.Sprintf("The MX TTL of %s is %d s, below %d s: caches re-fetch it so often that a short DNS outage already stops mail.", g.domain, lowTTL, TTLLow),
			low, nil)
	}
	if len(high) > 0 {
		g.add(CodeTTLHigh, LevelNotice,
			fmt.Sprintf("The MX TTL of %s is %d s, above %d s (a week): a mistaken or moved MX lingers in caches for that long.", g.domain, highTTL, TTLHigh),
			high, nil)
	}
}

// authoritativeTTL returns the TTL of t's record from an authoritative
// answer when there is one, and whether it is.
func (g *grader) authoritativeTTL(t target) (uint32, bool) {
	if g.d.MX.Authoritative {
		return t.ttl, true
	}
	for _, s := range g.d.Consistency.Servers {
		if s.Lookup.Outcome != OutcomeOK {
			continue
		}
		for _, r := range s.Records {
			if normHost(r.Host) == t.host && r.Preference == t.pref {
				return r.TTL, true
			}
		}
	}
	return t.ttl, false
}

// mxEntry returns the report entry of a target; targets and entries are
// built together, so it always exists.
func (g *grader) mxEntry(host string, pref uint16) *MX {
	for i := range g.mx {
		if g.mx[i].Host == host && g.mx[i].Preference == int(pref) {
			return &g.mx[i]
		}
	}
	return &MX{}
}

// report assembles the report from the findings.
func (g *grader) report() Report {
	slices.SortStableFunc(g.findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Level.rank(), b.Level.rank()), cmp.Compare(codeRank(a.Code), codeRank(b.Code)))
	})
	r := Report{
		Domain:        g.d.Domain,
		LoadBalancing: g.balancing,
		Failover:      g.failover(),
		MX:            g.mx,
		Findings:      g.findings,
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	r.Status, r.Grade = StatusPass, GradeB
	switch worst := worstLevel(r.Findings); {
	case worst == LevelError:
		r.Status, r.Grade = StatusFail, GradeF
	case worst == LevelWarning:
		r.Status, r.Grade = StatusWarn, GradeC
	case r.LoadBalancing == BalancingStrong && r.Failover.Class == FailoverDiverse:
		r.Grade = GradeA
	}
	r.Recommendation = g.recommend(r)
	return r
}

func (g *grader) failover() Failover {
	f := Failover{
		Class:           FailoverNone,
		UniqueAddresses: addrStrings(g.unique),
		UniquePrefixes:  g.prefixes(),
		EffectiveDepth:  min(len(g.unique), MaxSenderAddresses),
	}
	switch {
	case len(g.unique) < 2:
	case f.UniquePrefixes < 2:
		f.Class = FailoverLocal
	default:
		f.Class = FailoverDiverse
	}
	return f
}

func worstLevel(fs []Finding) Level {
	worst := LevelInfo
	for _, f := range fs {
		if f.Level.rank() < worst.rank() {
			worst = f.Level
		}
	}
	return worst
}

func codeRank(code string) int {
	if r, ok := codeOrder[code]; ok {
		return r
	}
	return len(codeOrder)
}
