package routing

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The TTLs the fixtures use, distinct so a test can tell which one won.
const (
	mxTTL   = 1200 * time.Second
	addrTTL = 300 * time.Second
	negTTL  = 60 * time.Second
)

func ips(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// ok is a successful address lookup with the given records (NODATA when none).
func ok(ss ...string) AddrAnswer {
	a := AddrAnswer{Status: StatusOK, Addrs: ips(ss...), TTL: addrTTL}
	if len(ss) == 0 {
		a.TTL = negTTL
	}
	return a
}

func tempFail() AddrAnswer { return AddrAnswer{Status: StatusTempFail} }

// both is a host whose A lookup returned v4 and AAAA lookup v6.
func both(v4, v6 []string) HostAnswers { return HostAnswers{V4: ok(v4...), V6: ok(v6...)} }

// only4 is a host with A records and no AAAA (NODATA).
func only4(ss ...string) HostAnswers { return HostAnswers{V4: ok(ss...), V6: ok()} }

func mxOK(rs ...MX) MXAnswer {
	a := MXAnswer{Status: StatusOK, Records: rs, TTL: mxTTL}
	if len(rs) == 0 {
		a.TTL = negTTL
	}
	return a
}

// seedInput is the layout from the seed: two hosts at 10 for load sharing,
// and 20 and 30 naming the same two addresses again "for failover".
func seedInput() Input {
	return Input{
		Domain: "example.com",
		MX: mxOK(
			MX{10, "mail1.example.com"},
			MX{10, "mail2.example.com"},
			MX{20, "mail3.example.com"},
			MX{30, "mail4.example.com"},
		),
		Hosts: map[string]HostAnswers{
			"mail1.example.com": only4("172.16.10.1"),
			"mail2.example.com": only4("172.16.10.2"),
			"mail3.example.com": only4("172.16.10.1"),
			"mail4.example.com": only4("172.16.10.2"),
		},
	}
}

// seeded returns the default options with a deterministic random source.
func seeded(seed uint64) Options {
	o := DefaultOptions()
	o.IntN = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).IntN
	return o
}

// attemptsOf renders attempts as "host/pref/addr[/state]" for comparison;
// the state is shown only when it is not healthy.
func attemptsOf(p Plan) []string {
	out := make([]string, 0, len(p.Attempts))
	for _, a := range p.Attempts {
		s := fmt.Sprintf("%s/%d/%s", a.Host, a.Preference, a.Address)
		if a.State != StateHealthy {
			s += "/" + string(a.State)
		}
		out = append(out, s)
	}
	return out
}

// addrsOf lists the attempts' addresses.
func addrsOf(p Plan) []string {
	out := make([]string, 0, len(p.Attempts))
	for _, a := range p.Attempts {
		out = append(out, a.Address.String())
	}
	return out
}

// skippedOf renders skipped entries as "host/pref/addr/reason", "-" for a
// whole host, sorted: the order of skipped entries is not part of the contract.
func skippedOf(p Plan) []string {
	out := make([]string, 0, len(p.Skipped))
	for _, s := range p.Skipped {
		addr := "-"
		if s.Address.IsValid() {
			addr = s.Address.String()
		}
		out = append(out, fmt.Sprintf("%s/%d/%s/%s", s.Host, s.Preference, addr, s.Reason))
	}
	slices.Sort(out)
	return out
}

// warningsOf renders warnings as "code/host", sorted.
func warningsOf(p Plan) []string {
	out := make([]string, 0, len(p.Warnings))
	for _, w := range p.Warnings {
		out = append(out, string(w.Code)+"/"+w.Host)
	}
	slices.Sort(out)
	return out
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func join(ss []string) string { return "[" + strings.Join(ss, " ") + "]" }
