package check

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// gradePTR reports missing and unconfirmed reverse DNS for every usable
// address, and fills the report's PTR entries. Private addresses are
// included: their reverse zones are often run by the same people.
func (g *grader) gradePTR() {
	var missing, failed, unchecked, uncheckedWhy, failedNames []string
	for _, a := range g.unique {
		rd, ok := g.reverse[a]
		if !ok || !rd.PTR.Outcome.definitive() {
			unchecked = append(unchecked, a.String())
			uncheckedWhy = append(uncheckedWhy, fmt.Sprintf("%s: PTR lookup %s", a, describe(rd.PTR)))
			continue
		}
		names := make([]string, 0, len(rd.Names))
		for _, n := range rd.Names {
			names = appendNew(names, normHost(n))
		}
		p := PTR{Address: a.String(), Names: names}
		switch confirmed, sure := forwardConfirmed(a, rd); {
		case len(names) == 0:
			missing = append(missing, a.String())
		case confirmed:
			p.ForwardConfirmed = true
		case sure:
			failed = append(failed, a.String())
			for _, n := range names {
				failedNames = appendNew(failedNames, n)
			}
		default:
			unchecked = append(unchecked, a.String())
			uncheckedWhy = append(uncheckedWhy, fmt.Sprintf("%s: forward lookup of %s not answered", a, strings.Join(names, ", ")))
		}
		for i := range g.mx {
			if slices.Contains(g.mx[i].Addresses, p.Address) {
				g.mx[i].PTR = append(g.mx[i].PTR, p)
			}
		}
	}
	if len(failed) > 0 {
		g.add(CodeFCrDNSFail, LevelNotice,
			fmt.Sprintf("The PTR names of %s do not resolve back to the address: receivers that check forward-confirmed reverse DNS (Postfix reject_unknown_client_hostname) distrust mail sent from these hosts.", strings.Join(failed, ", ")),
			failedNames, failed)
	}
	if len(missing) > 0 {
		g.add(CodePTRMissing, LevelNotice,
			fmt.Sprintf("No PTR record for %s: many receivers refuse or score down mail sent from an address without reverse DNS.", strings.Join(missing, ", ")),
			nil, missing)
	}
	if len(unchecked) > 0 {
		g.add(CodePTRUnchecked, LevelInfo,
			fmt.Sprintf("Reverse DNS could not be checked (%s); nothing is assumed about it.", strings.Join(uncheckedWhy, "; ")),
			nil, unchecked)
	}
}

// forwardConfirmed reports whether some PTR name of a resolves back to a,
// and whether the answer is certain: a "no" is certain only when every
// name's forward lookup was answered.
func forwardConfirmed(a netip.Addr, rd ReverseData) (confirmed, sure bool) {
	sure = true
	for _, n := range rd.Names {
		i := slices.IndexFunc(rd.Forward, func(f ForwardData) bool { return normHost(f.Name) == normHost(n) })
		if i < 0 {
			sure = false
			continue
		}
		f := rd.Forward[i]
		if slices.ContainsFunc(f.Addresses, func(b netip.Addr) bool { return b.Unmap() == a }) {
			return true, true
		}
		if !f.Lookup.Outcome.definitive() {
			sure = false
		}
	}
	return false, sure
}

// gradeConsistency compares the MX sets the authoritative servers serve.
// Servers are compared address by address (one NS name may front several
// machines), but an NS name counts as unchecked only when none of its
// addresses answered: hosts without IPv6 connectivity would otherwise
// report every AAAA of every NS.
func (g *grader) gradeConsistency() {
	c := g.d.Consistency
	if c.Local {
		g.add(CodeConsistencyUnchecked, LevelInfo,
			fmt.Sprintf("%s is served from mxroute's own zone data (MXROUTE_ZONE_FILES): mxroute is its authority, so no name server was asked.", c.Zone),
			nil, nil)
		return
	}
	if c.Lookup.Outcome != OutcomeOK {
		zone := c.Zone
		if zone == "" {
			zone = "the zone of " + g.domain
		}
		g.add(CodeConsistencyUnchecked, LevelInfo,
			fmt.Sprintf("The authoritative servers of %s could not be found (%s), so their MX sets were not compared.", zone, describe(c.Lookup)),
			nil, nil)
		return
	}
	if len(c.Servers) == 0 {
		g.add(CodeConsistencyUnchecked, LevelInfo,
			fmt.Sprintf("No authoritative server of %s could be found, so their MX sets were not compared.", c.Zone), nil, nil)
		return
	}

	type view struct {
		key     string
		servers []string
		hosts   []string
		addrs   []string
	}
	var views []view
	var answeredHosts []string
	for _, s := range c.Servers {
		host := normHost(s.Host)
		if !answered(s) {
			continue
		}
		answeredHosts = appendNew(answeredHosts, host)
		key := mxSetKey(s)
		i := slices.IndexFunc(views, func(v view) bool { return v.key == key })
		if i < 0 {
			views = append(views, view{key: key})
			i = len(views) - 1
		}
		views[i].servers = append(views[i].servers, fmt.Sprintf("%s (%s)", host, s.Address))
		views[i].hosts = appendNew(views[i].hosts, host)
		views[i].addrs = appendNew(views[i].addrs, s.Address.String())
	}
	if len(views) > 1 {
		var hosts, addrs, parts []string
		for _, v := range views {
			parts = append(parts, fmt.Sprintf("%s serve%s %s", strings.Join(v.servers, ", "), plural(len(v.servers) == 1, "s", ""), v.key))
			for _, h := range v.hosts {
				hosts = appendNew(hosts, h)
			}
			addrs = append(addrs, v.addrs...)
		}
		g.add(CodeMXInconsistent, LevelWarning,
			fmt.Sprintf("The authoritative servers of %s disagree about the MX set of %s: %s. Which one a sender sees depends on the server its resolver asked.", c.Zone, g.domain, strings.Join(parts, "; ")),
			hosts, addrs)
	}

	var silentHosts, silentAddrs, why []string
	for _, s := range c.Servers {
		host := normHost(s.Host)
		if slices.Contains(answeredHosts, host) || answered(s) {
			continue
		}
		silentHosts = appendNew(silentHosts, host)
		if s.Address.IsValid() {
			silentAddrs = appendNew(silentAddrs, s.Address.String())
			why = append(why, fmt.Sprintf("%s (%s): %s", host, s.Address, describe(s.Lookup)))
		} else {
			why = append(why, fmt.Sprintf("%s: %s", host, describe(s.Lookup)))
		}
	}
	if len(silentHosts) > 0 {
		g.add(CodeConsistencyUnchecked, LevelInfo,
			fmt.Sprintf("Some authoritative servers of %s could not be asked for the MX set (%s); their view is unknown.", c.Zone, strings.Join(why, "; ")),
			silentHosts, silentAddrs)
	}
}

// answered reports whether a server gave its view of the MX set; a server
// without an address was never asked, whatever its Lookup says.
func answered(s ServerData) bool { return s.Address.IsValid() && s.Lookup.Outcome.definitive() }

// mxSetKey renders a server's MX set canonically, for comparing and for
// messages.
func mxSetKey(s ServerData) string {
	if s.Lookup.Outcome == OutcomeNXDomain {
		return "NXDOMAIN"
	}
	recs := make([]MXRecord, len(s.Records))
	for i, r := range s.Records {
		recs[i] = MXRecord{Host: normHost(r.Host), Preference: r.Preference}
	}
	slices.SortFunc(recs, func(a, b MXRecord) int {
		return cmp.Or(cmp.Compare(a.Preference, b.Preference), strings.Compare(a.Host, b.Host))
	})
	var parts []string
	for _, r := range recs {
		parts = appendNew(parts, fmt.Sprintf("%d %s", r.Preference, r.Host))
	}
	if len(parts) == 0 {
		return "no MX records"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
