package dnssectest

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// signed is a zone ready to serve: its master-file text with DNSKEY, NSEC
// and RRSIG records, and the DNSKEY a validator trusts it by.
type signed struct {
	apex   string
	text   string
	anchor string
}

// rrsetKey names one RRset.
type rrsetKey struct {
	name  string
	rtype uint16
}

// parse reads a zone's records and finds its apex, the owner of its SOA.
func parse(text string) (apex string, rrs []dns.RR, err error) {
	zp := dns.NewZoneParser(strings.NewReader(text), "", "dnssectest")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		if _, isSOA := rr.(*dns.SOA); isSOA {
			if apex != "" {
				return "", nil, fmt.Errorf("two SOA records (%s, %s): one zone per Zone", apex, rr.Header().Name)
			}
			apex = rr.Header().Name
		}
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return "", nil, err
	}
	if apex == "" {
		return "", nil, fmt.Errorf("no SOA record")
	}
	return apex, rrs, nil
}

// sign adds a DNSKEY (one ECDSA P-256 key, flags 257, signing everything),
// an NSEC chain and an RRSIG for every RRset, valid from an hour ago for a
// month. The RRsets named in bogus get a signature with one bit flipped,
// which a validator rejects (SERVFAIL).
func sign(apex string, rrs []dns.RR, bogus []string) (signed, error) {
	soa := soaOf(rrs)
	key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: soa.Hdr.Ttl},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := key.Generate(256)
	if err != nil {
		return signed{}, fmt.Errorf("generate key: %w", err)
	}
	rrs = append(slices.Clone(rrs), key)
	rrs = append(rrs, nsecChain(rrs, soa.Minttl)...)
	sets, order := rrsets(rrs)
	bad, err := bogusSet(bogus)
	if err != nil {
		return signed{}, err
	}
	now := time.Now()
	var b strings.Builder
	for _, k := range order {
		set := sets[k]
		sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: k.name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: set[0].Header().Ttl},
			Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(30 * 24 * time.Hour).Unix()),
			KeyTag: key.KeyTag(), SignerName: apex, Algorithm: key.Algorithm}
		if err := sig.Sign(priv.(crypto.Signer), set); err != nil {
			return signed{}, fmt.Errorf("sign %s %s: %w", k.name, dns.Type(k.rtype), err)
		}
		if bad[k] {
			sig.Signature = corrupt(sig.Signature)
			delete(bad, k)
		}
		for _, rr := range set {
			b.WriteString(rr.String() + "\n")
		}
		b.WriteString(sig.String() + "\n")
	}
	for k := range bad {
		return signed{}, fmt.Errorf("bogus RRset %s %s is not in the zone", k.name, dns.Type(k.rtype))
	}
	return signed{apex: apex, text: b.String(), anchor: strings.Join(strings.Fields(key.String()), " ")}, nil
}

// bogusSet parses "owner TYPE" strings.
func bogusSet(bogus []string) (map[rrsetKey]bool, error) {
	out := map[rrsetKey]bool{}
	for _, s := range bogus {
		f := strings.Fields(s)
		if len(f) != 2 {
			return nil, fmt.Errorf("bogus %q: want \"owner TYPE\"", s)
		}
		t, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return nil, fmt.Errorf("bogus %q: unknown type", s)
		}
		out[rrsetKey{dns.CanonicalName(f[0]), t}] = true
	}
	return out, nil
}

// corrupt flips one bit of a base64 signature.
func corrupt(sig string) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) == 0 {
		return sig
	}
	raw[len(raw)/2] ^= 1
	return base64.StdEncoding.EncodeToString(raw)
}

func soaOf(rrs []dns.RR) *dns.SOA {
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

// rrsets groups records by owner and type, in canonical order.
func rrsets(rrs []dns.RR) (map[rrsetKey][]dns.RR, []rrsetKey) {
	sets := map[rrsetKey][]dns.RR{}
	var order []rrsetKey
	for _, rr := range rrs {
		k := rrsetKey{rr.Header().Name, rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr)
	}
	slices.SortFunc(order, func(a, b rrsetKey) int {
		if c := canonicalCompare(a.name, b.name); c != 0 {
			return c
		}
		return int(a.rtype) - int(b.rtype)
	})
	return sets, order
}

// nsecChain links every owner name to the next in canonical order (RFC
// 4034 section 4), so that a validator can check denials of existence.
func nsecChain(rrs []dns.RR, ttl uint32) []dns.RR {
	types := map[string][]uint16{}
	for _, rr := range rrs {
		h := rr.Header()
		if !slices.Contains(types[h.Name], h.Rrtype) {
			types[h.Name] = append(types[h.Name], h.Rrtype)
		}
	}
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.SortFunc(names, canonicalCompare)
	out := make([]dns.RR, len(names))
	for i, n := range names {
		bitmap := append(types[n], dns.TypeNSEC, dns.TypeRRSIG)
		slices.Sort(bitmap)
		out[i] = &dns.NSEC{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: names[(i+1)%len(names)], TypeBitMap: bitmap}
	}
	return out
}

// canonicalCompare orders names as RFC 4034 section 6.1 does: label by
// label from the right, each compared as lower-case octets.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 || j >= 0; i, j = i-1, j-1 {
		switch {
		case i < 0:
			return -1
		case j < 0:
			return 1
		}
		if c := strings.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return 0
}
