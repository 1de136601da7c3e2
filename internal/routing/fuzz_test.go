package routing

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

// fuzzReader hands out the fuzzer's bytes; past the end it returns zeros, so
// every input decodes to something.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) n(k int) int { return int(r.byte()) % k }
func (r *fuzzReader) bool() bool  { return r.byte()&1 == 1 }
func (r *fuzzReader) u16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }
func (r *fuzzReader) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = r.byte()
	}
	return out
}

// fuzzHosts are MX targets worth combining: real names, the domain itself,
// the root, literals (null-MX-like, loopback, zoned, mapped), invalid names,
// a local name.
var fuzzHosts = []string{
	"", "mx1.example.com", "mx2.example.com", "mx3.example.net", "alias.example.org", "me.example.com", "example.com",
	"192.0.2.1", "2001:db8::1", "0.0.0.0", "::", "::1%lo", "::ffff:192.0.2.7", "127.0.0.1",
	"bad_host.example.com", "localhost", "a..b", "mx1.example.com.",
}

var fuzzAddrs = []netip.Addr{
	{}, // the zero Addr: no address
	netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.7"),
	netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("172.16.10.1"),
	netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("100.64.0.1"),
	netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"),
	netip.MustParseAddr("224.0.0.1"), netip.MustParseAddr("169.254.1.1"), netip.MustParseAddr("192.0.2.20"),
	netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("::ffff:127.0.0.1"),
	netip.MustParseAddr("64:ff9b::7f00:1"), netip.MustParseAddr("64:ff9b::c000:201"),
	netip.MustParseAddr("fe80::1"),
	netip.MustParseAddr("::1"), netip.MustParseAddr("::"), netip.MustParseAddr("fc00::1"),
	netip.MustParseAddr("ff02::1"), netip.MustParseAddr("fe80::1%eth0"),
}

func (r *fuzzReader) status() Status {
	switch b := r.byte(); {
	case b < 200:
		return StatusOK
	case b < 220:
		return StatusNXDomain
	case b < 250:
		return StatusTempFail
	default:
		return Status(7) // not one of ours: must be treated as a failure
	}
}

func (r *fuzzReader) ttl() time.Duration {
	b := r.byte()
	if b == 255 {
		return -time.Second
	}
	return time.Duration(b) * 10 * time.Second
}

// host picks an MX target: half the time a plain good name, so that plans
// get past the odd cases often enough to exercise ordering and health.
func (r *fuzzReader) host() string {
	if b := r.byte(); b < 128 {
		return fuzzHosts[1+int(b)%5]
	}
	if i := r.n(len(fuzzHosts) + 2); i < len(fuzzHosts) {
		return fuzzHosts[i]
	}
	return string(r.bytes(r.n(12)))
}

// addr picks an address: half the time a diallable one.
func (r *fuzzReader) addr() netip.Addr {
	if b := r.byte(); b < 128 {
		return fuzzAddrs[1+int(b)%6]
	}
	switch i := r.n(len(fuzzAddrs) + 2); {
	case i < len(fuzzAddrs):
		return fuzzAddrs[i]
	case i == len(fuzzAddrs):
		return netip.AddrFrom4([4]byte(r.bytes(4)))
	default:
		return netip.AddrFrom16([16]byte(r.bytes(16)))
	}
}

func (r *fuzzReader) addrAnswer() AddrAnswer {
	a := AddrAnswer{Status: r.status(), TTL: r.ttl(), Stale: r.byte() == 0xee}
	for range r.n(5) {
		a.Addrs = append(a.Addrs, r.addr())
	}
	if r.byte() < 32 {
		a.CNAMEs = []string{"alias.example.org"}
	}
	return a
}

// fuzzCase is one decoded fuzz input: what Build needs, with the random
// source given as a seed so the same plan can be built again.
type fuzzCase struct {
	in     Input
	opts   Options // IntN left nil; see withSeed
	seed   uint64
	health map[netip.Addr]State // nil: no health func
}

func (c fuzzCase) withSeed(o Options) Options {
	o.IntN = rand.New(rand.NewPCG(c.seed, 1)).IntN
	return o
}

func (c fuzzCase) healthFunc() Health {
	if c.health == nil {
		return nil
	}
	return func(a netip.Addr) State {
		if s, ok := c.health[a]; ok {
			return s
		}
		return StateHealthy
	}
}

func decodeFuzz(data []byte) fuzzCase {
	r := &fuzzReader{b: data}
	c := fuzzCase{in: Input{Domain: "example.com"}}
	c.in.MX = MXAnswer{Status: r.status(), TTL: r.ttl(), Stale: r.byte() == 0xee}
	names := map[string]bool{"example.com": true}
	for range r.n(9) {
		pref := uint16(r.n(4)) * 10
		if r.byte() == 0xff {
			pref = r.u16()
		}
		h := r.host()
		c.in.MX.Records = append(c.in.MX.Records, MX{Preference: pref, Host: h})
		names[h] = true
	}
	c.in.Hosts = map[string]HostAnswers{}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if r.n(8) == 0 {
			continue // not looked up
		}
		c.in.Hosts[name] = HostAnswers{V4: r.addrAnswer(), V6: r.addrAnswer()}
	}
	o := Options{
		MaxAttempts:  r.n(7) - 1,
		Family:       []Family{FamilyAny, FamilyIPv4, FamilyIPv6, ""}[r.n(4)],
		AddressOrder: []AddressOrder{OrderPresented, OrderRandom, ""}[r.n(3)],
		AllowMXToIP:  r.bool(),
		BlockPrivate: r.byte() < 64,
	}
	switch r.n(4) {
	case 0, 1:
		o.IgnoreNetworks = DefaultIgnoreNetworks
	case 2:
		o.IgnoreNetworks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	}
	if r.byte() < 64 {
		o.LocalNames = map[string]bool{"me.example.com": true}
	}
	if r.byte() < 64 {
		o.LocalAddrs = map[netip.Addr]bool{netip.MustParseAddr("192.0.2.20"): true}
	}
	c.opts = o
	c.seed = uint64(r.u16())
	if r.bool() {
		c.health = map[netip.Addr]State{}
		for _, a := range fuzzAddrs {
			c.health[a.Unmap()] = []State{StateHealthy, StateHealthy, StateDemoted, StateDrained}[r.n(4)]
		}
	}
	return c
}

// cloneInput deep-copies in, so a test can tell whether Build modified it.
func cloneInput(in Input) Input {
	out := in
	out.MX.Records = slices.Clone(in.MX.Records)
	out.Hosts = make(map[string]HostAnswers, len(in.Hosts))
	for k, h := range in.Hosts {
		h.V4.Addrs, h.V6.Addrs = slices.Clone(h.V4.Addrs), slices.Clone(h.V6.Addrs)
		out.Hosts[k] = h
	}
	return out
}

// usable lists, in canonical form, the addresses a plan may take from host:
// the literal itself, or those of the successful lookups the family wants.
func usable(in Input, opts Options, host string) []netip.Addr {
	if ip, ok := ipLiteral(host); ok {
		return []netip.Addr{ip}
	}
	var out []netip.Addr
	v4, v6 := opts.Family.Lookups()
	ans := in.Hosts[host]
	for _, l := range []struct {
		want bool
		a    AddrAnswer
	}{{v4, ans.V4}, {v6, ans.V6}} {
		if l.want && l.a.Status == StatusOK {
			for _, a := range l.a.Addrs {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

var statusOf = map[Reason][]string{
	ReasonOK:          {""},
	ReasonNullMX:      {"5.1.10"},
	ReasonNXDomain:    {"5.1.2"},
	ReasonNoMailHosts: {"5.4.4", "4.4.4"},
	ReasonDNSError:    {"4.4.3"},
	ReasonLoopsToSelf: {"5.4.6"},
}

// checkPlan asserts the invariants every plan must satisfy, whatever DNS said.
func checkPlan(c fuzzCase, p Plan) error {
	in, opts := c.in, c.opts
	deliver := p.Disposition == Deliver
	if deliver != (len(p.Attempts) > 0) || deliver != (p.Reason == ReasonOK) || deliver != (p.EnhancedStatus == "") {
		return fmt.Errorf("inconsistent: %s/%s/%q with %d attempts", p.Disposition, p.Reason, p.EnhancedStatus, len(p.Attempts))
	}
	if !slices.Contains(statusOf[p.Reason], p.EnhancedStatus) {
		return fmt.Errorf("reason %q with status %q", p.Reason, p.EnhancedStatus)
	}
	switch p.Disposition {
	case Deliver:
	case PermanentFailure:
		if p.EnhancedStatus[0] != '5' {
			return fmt.Errorf("permanent failure with status %q", p.EnhancedStatus)
		}
	case TemporaryFailure:
		if p.EnhancedStatus[0] != '4' || p.TTL != 0 {
			return fmt.Errorf("temporary failure with status %q, TTL %v", p.EnhancedStatus, p.TTL)
		}
	default:
		return fmt.Errorf("disposition %q", p.Disposition)
	}
	if p.TTL < 0 {
		return fmt.Errorf("TTL %v", p.TTL)
	}
	if p.Attempts == nil || p.Skipped == nil || p.Warnings == nil {
		return fmt.Errorf("nil slice")
	}
	if implicit := in.MX.Status == StatusOK && len(in.MX.Records) == 0; p.ImplicitMX != implicit {
		return fmt.Errorf("ImplicitMX %v with %d MX records", p.ImplicitMX, len(in.MX.Records))
	}
	if opts.MaxAttempts > 0 && len(p.Attempts) > opts.MaxAttempts {
		return fmt.Errorf("%d attempts, limit %d", len(p.Attempts), opts.MaxAttempts)
	}

	seen := map[netip.Addr]bool{}
	healthy := 0
	for i, a := range p.Attempts {
		if seen[a.Address] {
			return fmt.Errorf("address %s twice", a.Address)
		}
		seen[a.Address] = true
		if !a.Address.IsValid() || a.Address.Zone() != "" || a.Address.Is4In6() {
			return fmt.Errorf("attempt address %q not in canonical form", a.Address)
		}
		if a.Family != familyOf(a.Address) || !opts.Family.Wants(a.Address) ||
			opts.Family == FamilyIPv4 && a.Family != FamilyIPv4 || opts.Family == FamilyIPv6 && a.Family != FamilyIPv6 {
			return fmt.Errorf("attempt %s family %s under filter %q", a.Address, a.Family, opts.Family)
		}
		if a.State == StateHealthy {
			healthy++
		}
		if c.health == nil && a.State != StateHealthy {
			return fmt.Errorf("state %s without health", a.State)
		}
		if c.health == nil && i > 0 && a.Preference < p.Attempts[i-1].Preference {
			return fmt.Errorf("preference %d after %d", a.Preference, p.Attempts[i-1].Preference)
		}
		if e := embedded(a.Address); slices.Equal(opts.IgnoreNetworks, DefaultIgnoreNetworks) &&
			(e.IsLoopback() || e.IsUnspecified() || e.IsMulticast() || e.IsLinkLocalUnicast() || e == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
			return fmt.Errorf("attempt %s is never to be dialled", a.Address)
		}
		if opts.BlockPrivate && embedded(a.Address).IsPrivate() {
			return fmt.Errorf("attempt %s is private", a.Address)
		}
		if opts.LocalNames[a.Host] || opts.LocalAddrs[a.Address] {
			return fmt.Errorf("attempt %s/%s is the local host", a.Host, a.Address)
		}
		if !slices.Contains(in.MX.Records, MX{a.Preference, a.Host}) && !(p.ImplicitMX && a.Host == in.Domain && a.Preference == 0) {
			return fmt.Errorf("attempt %s/%d is not an MX record", a.Host, a.Preference)
		}
		if !slices.Contains(usable(in, opts, a.Host), a.Address) {
			return fmt.Errorf("attempt %s/%s: not an address DNS gave for that host", a.Host, a.Address)
		}
	}
	if c.health != nil && healthy > 0 && healthy < len(p.Attempts) {
		for i := 1; i < len(p.Attempts); i++ {
			a, b := p.Attempts[i-1], p.Attempts[i]
			if a.Preference == b.Preference && stateRank(a.State) > stateRank(b.State) {
				return fmt.Errorf("%s %s before %s %s in one tier", a.Address, a.State, b.Address, b.State)
			}
		}
	}

	// Every address DNS gave for a host the plan considered is accounted for.
	if in.MX.Status == StatusOK && !isNullMX(in.MX.Records) {
		where := map[string]bool{} // "host addr", "host -" for a whole host
		for _, a := range p.Attempts {
			where[a.Host+" "+a.Address.String()] = true
		}
		for _, s := range p.Skipped {
			k := s.Host + " -"
			if s.Address.IsValid() {
				k = s.Host + " " + s.Address.String()
			}
			where[k] = true
		}
		hosts := []string{in.Domain}
		if len(in.MX.Records) > 0 {
			hosts = hosts[:0]
			for _, r := range in.MX.Records {
				if r.Host != "" {
					hosts = append(hosts, r.Host)
				}
			}
		}
		for _, h := range hosts {
			if where[h+" -"] {
				continue
			}
			var addrs []netip.Addr
			if ip, ok := ipLiteral(h); ok {
				addrs = append(addrs, ip)
			} else {
				ans := in.Hosts[h]
				for _, l := range []AddrAnswer{ans.V4, ans.V6} {
					if l.Status == StatusOK {
						addrs = append(addrs, l.Addrs...)
					}
				}
			}
			for _, a := range addrs {
				if a.IsValid() && !where[h+" "+a.Unmap().String()] {
					return fmt.Errorf("address %s of %s neither attempted nor skipped", a, h)
				}
			}
		}
	}
	return nil
}

// FuzzBuild throws arbitrary DNS answers and options at the planner. Its
// seed corpus (the generated seeds below and testdata/fuzz/FuzzBuild) runs
// in every go test.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 10, 0, 4, 1, 0, 1, 0, 2, 0, 3, 0, 4})
	src := rand.New(rand.NewPCG(2, 3))
	for range 128 {
		b := make([]byte, 200+src.IntN(400))
		for i := range b {
			b[i] = byte(src.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decodeFuzz(data)
		orig := cloneInput(c.in)
		p := Build(c.in, c.healthFunc(), c.withSeed(c.opts))
		if err := checkPlan(c, p); err != nil {
			t.Fatalf("%v\ninput %+v\nopts %+v\nplan %+v", err, c.in, c.opts, p)
		}
		if !reflect.DeepEqual(c.in, orig) {
			t.Fatalf("Build modified its input:\n got %+v\nwant %+v", c.in, orig)
		}
		// Pure: the same input and seed give the same plan.
		if again := Build(c.in, c.healthFunc(), c.withSeed(c.opts)); !reflect.DeepEqual(again, p) {
			t.Fatalf("not deterministic:\n%+v\n%+v", p, again)
		}
		// Build consults only the hosts Targets names.
		only := cloneInput(c.in)
		only.Hosts = map[string]HostAnswers{}
		for _, h := range Targets(c.in.Domain, c.in.MX) {
			if ans, ok := c.in.Hosts[h]; ok {
				only.Hosts[h] = ans
			}
		}
		if q := Build(only, c.healthFunc(), c.withSeed(c.opts)); !reflect.DeepEqual(q, p) {
			t.Fatalf("plan depends on hosts Targets did not name (%v):\n%+v\n%+v", Targets(c.in.Domain, c.in.MX), p, q)
		}
		// Health reorders, and where the limit cuts a tier it picks within
		// that tier; it never changes which preferences are planned, nor
		// the addresses of the other tiers.
		plain := Build(c.in, nil, c.withSeed(c.opts))
		if got, want := sorted(prefsOf(p)), sorted(prefsOf(plain)); !slices.Equal(got, want) {
			t.Fatalf("health changed the planned preferences: %v, without health %v", got, want)
		}
		cut := -1
		if n := len(plain.Attempts); n > 0 && n == c.opts.MaxAttempts {
			cut = int(plain.Attempts[n-1].Preference)
		}
		if got, want := sorted(addrsOutside(p, cut)), sorted(addrsOutside(plain, cut)); !slices.Equal(got, want) {
			t.Fatalf("health changed the planned addresses outside the cut tier %d: %v, without health %v", cut, got, want)
		}
		// All or none healthy: the RFC order, unless the limit cut a tier
		// and kept its healthy addresses.
		if healthy := len(p.Attempts) - p.Demoted(); cut < 0 && (healthy == 0 || healthy == len(p.Attempts)) {
			if got, want := addrsOf(p), addrsOf(plain); !slices.Equal(got, want) {
				t.Fatalf("%d of %d healthy, yet health reordered: %v, RFC order %v", healthy, len(p.Attempts), got, want)
			}
		}
		// The limit cuts the unlimited plan's tail and nothing else.
		if c.opts.MaxAttempts > 0 {
			unl := c.opts
			unl.MaxAttempts = 0
			full := Build(c.in, nil, c.withSeed(unl))
			want := attemptsOf(full)[:min(len(full.Attempts), c.opts.MaxAttempts)]
			if got := attemptsOf(plain); !slices.Equal(got, want) {
				t.Fatalf("limit %d: attempts %v, want the head of %v", c.opts.MaxAttempts, got, attemptsOf(full))
			}
		}
		for i, h := range Targets(c.in.Domain, c.in.MX) {
			if !needsLookup(h) || slices.Contains(Targets(c.in.Domain, c.in.MX)[:i], h) {
				t.Fatalf("Targets %q: %q needs no lookup or is repeated", Targets(c.in.Domain, c.in.MX), h)
			}
		}
	})
}

func prefsOf(p Plan) []string {
	out := make([]string, len(p.Attempts))
	for i, a := range p.Attempts {
		out[i] = fmt.Sprint(a.Preference)
	}
	return out
}

// addrsOutside lists the attempts' addresses whose preference is not cut.
func addrsOutside(p Plan, cut int) []string {
	var out []string
	for _, a := range p.Attempts {
		if int(a.Preference) != cut {
			out = append(out, a.Address.String())
		}
	}
	return out
}
