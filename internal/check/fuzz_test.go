package check

import (
	"net/netip"
	"testing"
)

// fuzzBytes hands out the fuzzer's bytes; zeros once they run out, so any
// input decodes to some Data.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) next() byte {
	if len(f.b) == 0 {
		return 0
	}
	v := f.b[0]
	f.b = f.b[1:]
	return v
}

func (f *fuzzBytes) n(limit int) int { return int(f.next()) % limit }

func (f *fuzzBytes) name() string {
	pool := []string{".", "", "mail1.example.com", "mail2.example.com", "MAIL1.Example.COM.",
		"example.com", "alias.example.com", "192.0.2.1", "[2001:db8::1]", "ipv6:::1", "ns1.example.com", "x"}
	return pool[f.n(len(pool))]
}

func (f *fuzzBytes) addr() netip.Addr {
	pool := []string{"127.0.0.1", "::ffff:10.1.2.3", "fe80::1", "255.255.255.255", "0.0.0.0", "::",
		"172.16.10.1", "172.16.10.2", "192.0.2.1", "198.51.100.7", "2001:db8::1", "2001:db8:1::1", "fd12::1", "100.64.1.1"}
	switch f.n(4) {
	case 0:
		return netip.Addr{}
	case 1:
		return netip.AddrFrom4([4]byte{f.next(), f.next(), f.next(), f.next()})
	case 2:
		var b [16]byte
		for i := range b {
			b[i] = f.next()
		}
		return netip.AddrFrom16(b)
	default:
		return netip.MustParseAddr(pool[f.n(len(pool))])
	}
}

func (f *fuzzBytes) addrs() []netip.Addr {
	out := make([]netip.Addr, f.n(4))
	for i := range out {
		out[i] = f.addr()
	}
	return out
}

// lookup includes outcomes beyond the defined ones, which Grade must
// treat as "no answer".
func (f *fuzzBytes) lookup() Lookup {
	return Lookup{Outcome: Outcome(f.n(8)), Detail: []string{"", "boom"}[f.n(2)]}
}

func (f *fuzzBytes) records() []MXRecord {
	out := make([]MXRecord, f.n(6))
	for i := range out {
		out[i] = MXRecord{Host: f.name(), Preference: uint16(f.n(4) * 10), TTL: []uint32{0, 300, 3600, 700000}[f.n(4)]}
	}
	return out
}

func (f *fuzzBytes) strings() []string {
	out := make([]string, f.n(3))
	for i := range out {
		out[i] = f.name()
	}
	return out
}

// decodeData builds arbitrary, often inconsistent, Data from bytes.
func decodeData(b []byte) Data {
	f := &fuzzBytes{b: b}
	d := Data{Domain: f.name()}
	d.MX = MXData{Lookup: f.lookup(), Records: f.records(), Authoritative: f.n(2) == 0}
	for range f.n(6) {
		d.Hosts = append(d.Hosts, HostData{Host: f.name(), CNAMEs: f.strings(), A: f.lookup(), AAAA: f.lookup(), Addresses: f.addrs()})
	}
	for range f.n(6) {
		rd := ReverseData{Address: f.addr(), PTR: f.lookup(), Names: f.strings()}
		for range f.n(3) {
			rd.Forward = append(rd.Forward, ForwardData{Name: f.name(), Lookup: f.lookup(), Addresses: f.addrs()})
		}
		d.Reverse = append(d.Reverse, rd)
	}
	d.Consistency = ConsistencyData{Zone: f.name(), Lookup: f.lookup()}
	for range f.n(4) {
		d.Consistency.Servers = append(d.Consistency.Servers, ServerData{Host: f.name(), Address: f.addr(), Lookup: f.lookup(), Records: f.records()})
	}
	return d
}

// FuzzGrade feeds Grade arbitrary data: it must not panic, and the report
// must satisfy checkInvariants (status and grade follow the findings,
// failover numbers agree, no nil slices, JSON and text render).
func FuzzGrade(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 1, 0, 2, 2, 0, 1, 1, 3, 1, 1, 1, 3, 3, 1, 1, 2, 6, 3, 6, 7})
	f.Add([]byte{3, 1, 0, 4, 1, 0, 1, 0, 0, 3, 0, 1, 0, 2, 1, 1, 1, 0, 0, 3, 1, 6, 2, 1, 3, 7, 2})
	f.Add([]byte("\x05\x01\x00\x03\x02\x01\x03\x01\x02\x03\x02\x02\x01\x01\x05\x01\x01\x01\x03\x06\x03\x01\x01\x02\x01\x00\x03\x07"))
	f.Add([]byte("the quick brown fox jumps over the lazy dog, 0123456789 times"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkInvariants(t, Grade(decodeData(b)))
	})
}
