package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// recommendTTL is the TTL written into proposed records.
const recommendTTL = 3600

// recommend returns a short concrete fix for the worst problem: the worst
// error or warning; else weak or absent load balancing, which has no
// finding of its own; else the worst notice. Proposed records use the
// domain's own names and addresses, in the layout the seed document
// recommends: one MX name per address at the lowest preference, backups in
// another network at higher preferences.
func (g *grader) recommend(r Report) string {
	for _, f := range r.Findings {
		if f.Level == LevelError || f.Level == LevelWarning {
			return g.fix(f)
		}
	}
	if !g.nullOnly && len(g.unique) > 0 && g.balancing != BalancingStrong {
		return g.fixBalancing()
	}
	for _, f := range r.Findings {
		if f.Level == LevelNotice {
			return g.fix(f)
		}
	}
	if g.nullOnly {
		return fmt.Sprintf("None: %s accepts no mail, as its null MX says. Remove the null MX if that is wrong.", g.domain)
	}
	if r.Failover.Class != FailoverDiverse {
		return g.fixSamePrefix()
	}
	return "No change needed: load is spread over several MX names and failover spans several networks."
}

// fix returns the recommendation for one finding.
func (g *grader) fix(f Finding) string {
	hosts := strings.Join(f.Hosts, ", ")
	addrs := strings.Join(f.Addresses, ", ")
	switch f.Code {
	case CodeMXLookupFailed:
		if g.d.MX.Lookup.Outcome == OutcomeNXDomain {
			return fmt.Sprintf("Check the spelling: %s does not exist. If it should receive mail, publish its zone with MX records.", g.domain)
		}
		return fmt.Sprintf("Make the authoritative servers of %s answer MX queries (check that they are up, that the delegation points at them and that DNSSEC validates); until then senders defer mail.", g.domain)
	case CodeNullMXWithOthers:
		return fmt.Sprintf("Publish either the null MX or the other MX records, not both: if %s takes mail, delete %q; if not, delete the other MX records.", g.domain, mxLine(g.domain, 0, "."))
	case CodeNoUsableMX:
		if len(g.targets) == 1 && g.targets[0].implicit {
			return joinLines(fmt.Sprintf("If %s takes no mail, publish a null MX (RFC 7505); otherwise publish an MX record for a host with an address:", g.domain),
				mxLine(g.domain, 0, "."), "or", mxLine(g.domain, 10, g.newNames(1)[0]), addrLine(g.newNames(1)[0], netip.Addr{}, "the mail server's address"))
		}
		return fmt.Sprintf("Give every MX target an A or AAAA record (%s), or delete the MX records that point nowhere; if %s takes no mail, replace them all with %q.", hosts, g.domain, mxLine(g.domain, 0, "."))
	case CodeMXTargetIsIP:
		var lines []string
		names := g.newNames(len(f.Hosts))
		for i, h := range f.Hosts {
			a, _ := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h, "["), "ipv6:"), "]"))
			lines = append(lines, mxLine(g.domain, g.prefOf(h), names[i]), addrLine(names[i], a, ""))
		}
		return joinLines("Give each address a name and point the MX at the name:", lines...)
	case CodeUnroutableAddress:
		return fmt.Sprintf("Replace the unroutable addresses (%s) of %s with the mail servers' public addresses.", addrs, hosts)
	case CodeMXInconsistent:
		return fmt.Sprintf("Bring every authoritative server (%s) to the same version of the zone: compare their SOA serials and check zone transfers and NOTIFY.", hosts)
	case CodeTargetUnresolvable:
		return fmt.Sprintf("Add A or AAAA records for %s, or delete the MX records that point at them.", hosts)
	case CodeSingleAddress:
		return g.fixSingle()
	case CodeTargetCNAME:
		var lines []string
		for _, t := range g.targets {
			if hd := g.hosts[t.host]; slices.Contains(f.Hosts, t.host) && len(hd.CNAMEs) > 0 {
				lines = append(lines, mxLine(g.domain, t.pref, normHost(hd.CNAMEs[len(hd.CNAMEs)-1])))
			}
		}
		return joinLines("Point the MX records at the canonical names (RFC 2181 section 10.3):", lines...)
	case CodePrivateAddress:
		return fmt.Sprintf("Publish the public addresses of %s; keep private addresses (%s) for internal DNS views only.", hosts, addrs)
	case CodeSamePrefix:
		return g.fixSamePrefix()
	case CodeDuplicateAddress:
		return g.fixDuplicates()
	case CodeNoMXImplicit:
		return joinLines(fmt.Sprintf("Publish an explicit MX record, or a null MX if %s takes no mail:", g.domain),
			mxLine(g.domain, 10, g.domain), "or", mxLine(g.domain, 0, "."))
	case CodeFCrDNSFail:
		return fmt.Sprintf("Make the PTR names (%s) resolve back to their addresses (%s) with A or AAAA records, or point the PTR records at names that do.", hosts, addrs)
	case CodePTRMissing:
		var lines []string
		for _, s := range f.Addresses {
			a, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			if hs := g.hostsOf(a); len(hs) > 0 {
				lines = append(lines, ptrLine(a, hs[0]))
			}
		}
		return joinLines("Ask whoever runs the address blocks to publish PTR records naming the MX hosts:", lines...)
	case CodeTTLLow:
		return fmt.Sprintf("Raise the MX TTL to at least %d s, e.g. %q.", TTLLow, mxLine(g.domain, g.targets[0].pref, g.targets[0].host))
	case CodeTTLHigh:
		return "Lower the MX TTL to a day (86400 s) or less, so that a change reaches senders in time."
	case CodeNullMXNonzeroPref:
		return fmt.Sprintf("Publish the null MX with preference 0: %q.", mxLine(g.domain, 0, "."))
	default:
		return "See the findings."
	}
}

// fixSingle proposes a second server next to the only address.
func (g *grader) fixSingle() string {
	existing := g.firstHostWith(g.unique[0])
	name := g.newNames(1)[0]
	return joinLines("Add a second mail server with its own name and address at the same preference, ideally in another network, so senders can fail over and share the load:",
		mxLine(g.domain, g.lowest, existing), mxLine(g.domain, g.lowest, name),
		addrLine(existing, g.unique[0], ""), addrLine(name, netip.Addr{}, "a second address"))
}

// fixBalancing proposes one MX name per lowest-preference address.
func (g *grader) fixBalancing() string {
	var addrs []netip.Addr
	for _, t := range g.targets {
		if t.pref == g.lowest {
			for _, a := range t.usable {
				addrs = appendNew(addrs, a)
			}
		}
	}
	if len(addrs) < 2 {
		// One address at the lowest preference: move a backup up to it.
		for _, a := range g.unique {
			addrs = appendNew(addrs, a)
			if len(addrs) == 2 {
				break
			}
		}
	}
	if len(addrs) < 2 {
		return g.fixSingle()
	}
	names := g.namesFor(addrs)
	head := fmt.Sprintf("Replace the MX records at preference %d with one MX name per server, so senders spread the load as RFC 5321 requires instead of relying on address order:", g.lowest)
	pref := g.lowest
	if g.targets[0].implicit {
		head = "Publish MX records with one name per server, so senders spread the load as RFC 5321 requires instead of relying on address order:"
		pref = 10
	}
	var mx, a []string
	for i, addr := range addrs {
		mx = append(mx, mxLine(g.domain, pref, names[i]))
		a = append(a, addrLine(names[i], addr, ""))
	}
	return joinLines(head, append(mx, a...)...)
}

// fixSamePrefix proposes a backup in another network.
func (g *grader) fixSamePrefix() string {
	maxPref := uint16(0)
	for _, t := range g.targets {
		maxPref = max(maxPref, t.pref)
	}
	name := g.newNames(1)[0]
	size := "/24"
	if len(g.unique) > 0 {
		size = sitePrefixName(g.unique[0])
	}
	return joinLines(fmt.Sprintf("Add an MX host in another network (outside the current %s) so one network outage does not stop mail:", size),
		mxLine(g.domain, min(maxPref, 65525)+10, name), addrLine(name, netip.Addr{}, "address in another network"))
}

// fixDuplicates names the records that only repeat addresses already
// reachable at a lower (or equal, earlier) preference, and rewrites them
// with addresses of their own.
func (g *grader) fixDuplicates() string {
	var seen []netip.Addr
	var redundant, lines []string
	for _, t := range g.targets {
		if len(t.addrs) > 0 && !slices.ContainsFunc(t.addrs, func(a netip.Addr) bool { return !slices.Contains(seen, a) }) {
			redundant = appendNew(redundant, fmt.Sprintf("%s (%d)", t.host, t.pref))
			lines = append(lines, mxLine(g.domain, t.pref, t.host), addrLine(t.host, netip.Addr{}, "own address, ideally in another network"))
		}
		seen = append(seen, t.addrs...)
	}
	if len(redundant) == 0 {
		return "Give each server one MX name, so that a retry after a failure reaches another server."
	}
	return joinLines(fmt.Sprintf("%s only repeat%s addresses tried before, so a retry reaches the same server: give the backup preferences servers of their own, or delete them:",
		strings.Join(redundant, ", "), plural(len(redundant) == 1, "s", "")), lines...)
}

// namesFor picks one MX name per address: an existing target whose only
// address it is; else, when the lowest preference has a name for every
// address, one of those names that holds it; else a new mailN name.
func (g *grader) namesFor(addrs []netip.Addr) []string {
	names := make([]string, len(addrs))
	var taken, lowest []string
	for _, t := range g.targets {
		if t.pref == g.lowest && len(t.usable) > 0 {
			lowest = appendNew(lowest, t.host)
		}
	}
	pick := func(ok func(t target, a netip.Addr) bool) {
		for i, a := range addrs {
			for _, t := range g.targets {
				if names[i] == "" && ok(t, a) && !slices.Contains(taken, t.host) {
					names[i] = t.host
					taken = append(taken, t.host)
				}
			}
		}
	}
	pick(func(t target, a netip.Addr) bool { return len(t.usable) == 1 && t.usable[0] == a })
	if len(lowest) >= len(addrs) {
		pick(func(t target, a netip.Addr) bool { return t.pref == g.lowest && slices.Contains(t.usable, a) })
	}
	missing := 0
	for _, n := range names {
		if n == "" {
			missing++
		}
	}
	fresh := g.newNames(missing)
	for i := range names {
		if names[i] == "" {
			names[i], fresh = fresh[0], fresh[1:]
		}
	}
	return names
}

// newNames returns n names mailK.<domain> that no target uses.
func (g *grader) newNames(n int) []string {
	var out []string
	for k := 1; len(out) < n; k++ {
		name := fmt.Sprintf("mail%d.%s", k, g.domain)
		if !slices.ContainsFunc(g.targets, func(t target) bool { return t.host == name }) {
			out = append(out, name)
		}
	}
	return out
}

func (g *grader) firstHostWith(a netip.Addr) string {
	if hs := g.hostsOf(a); len(hs) > 0 {
		return hs[0]
	}
	return g.newNames(1)[0]
}

func (g *grader) prefOf(host string) uint16 {
	for _, t := range g.targets {
		if t.host == host {
			return t.pref
		}
	}
	return 10
}

func mxLine(domain string, pref uint16, host string) string {
	return fmt.Sprintf("%s %d IN MX %d %s", fqdn(domain), recommendTTL, pref, fqdn(host))
}

// addrLine writes an A or AAAA record; an invalid address stands for one
// the operator has to choose, described by placeholder.
func addrLine(host string, a netip.Addr, placeholder string) string {
	switch {
	case !a.IsValid():
		return fmt.Sprintf("%s %d IN A <%s>", fqdn(host), recommendTTL, placeholder)
	case a.Is4():
		return fmt.Sprintf("%s %d IN A %s", fqdn(host), recommendTTL, a)
	default:
		return fmt.Sprintf("%s %d IN AAAA %s", fqdn(host), recommendTTL, a)
	}
}

func ptrLine(a netip.Addr, host string) string {
	rev, err := dns.ReverseAddr(a.String())
	if err != nil {
		return fmt.Sprintf("%s -> %s", a, fqdn(host))
	}
	return fmt.Sprintf("%s %d IN PTR %s", rev, recommendTTL, fqdn(host))
}
