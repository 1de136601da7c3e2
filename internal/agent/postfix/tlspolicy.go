package postfix

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// The TLS policy table (smtp_tls_policy_maps) served beside the transport
// table. smtp(8) looks a next-hop up by its verbatim text from the
// transport answer (smtp_connect.c and smtp_tls_policy.c: one lookup, no
// parent domains, for "[address]:port"), so the agent answers "[a]:P"
// from the attempt that put address a into a plan's next-hop list.
//
// What Postfix can do with an address next-hop decides the answers:
//   - an MTA-STS attempt (tls_required): "secure match=n1:n2", the
//     plan's tls_names. The certificate must chain to a trusted CA and
//     carry one of the names; "nexthop" matching would compare with the
//     address, so the names are given literally.
//   - a DANE attempt: Postfix's "dane" level needs a DNSSEC-validated
//     host name to find TLSA records, and an address next-hop has none:
//     Postfix would silently fall back to "may". The agent therefore
//     pins the plan's own validated TLSA records: when all of them are
//     DANE-EE (usage 3) with SHA-256 or full data, "fingerprint
//     match=d1|d2" (Postfix compares certificate and public-key digests;
//     smtp_tls_fingerprint_digest must be sha256, the default from
//     compatibility_level 3.6). Otherwise (DANE-TA, SHA-512) it requires
//     encryption only: "encrypt".
//   - any other attempt: NOTFOUND, so Postfix's own
//     smtp_tls_security_level applies (usually "may"); answering "may"
//     would lower an operator's stricter default.
//
// One address can be in plans of several domains (shared MX hosts), and
// the policy lookup does not say which recipient domain it is for. Plans
// recorded within tlsMergeFor of each other are merged, the strictest
// requirement winning (names are unioned: they all name the same host);
// an older entry is replaced, so a dropped policy stops applying.

// DefaultTLSMapName is the map name of the TLS policy table.
const DefaultTLSMapName = "mxroute-tls"

// tlsMergeFor is how long an address's recorded policy is merged with, not
// replaced by, another plan's policy for the same address.
const tlsMergeFor = 10 * time.Minute

// tlsPolicy is what the plans recently said about one address.
type tlsPolicy struct {
	required     bool     // MTA-STS enforce
	names        []string // certificate names for required
	dane         bool     // DNSSEC-validated TLSA records
	fingerprints []string // DANE-EE SHA-256 digests, colon-separated hex; nil when not all records map
	at           time.Time
}

// attemptTLS is the policy of one plan attempt.
func attemptTLS(a apigen.Attempt, at time.Time) tlsPolicy {
	p := tlsPolicy{required: a.TlsRequired, at: at}
	if a.TlsNames != nil {
		for _, n := range *a.TlsNames {
			if validMatchName(n) {
				p.names = append(p.names, strings.ToLower(strings.TrimSuffix(n, ".")))
			}
		}
	}
	if a.Dane != nil && *a.Dane {
		p.dane = true
		if a.Tlsa != nil {
			p.fingerprints = eeDigests(*a.Tlsa)
		}
	}
	return p
}

// merge combines two plans' policies for one address; the stricter wins.
func (p tlsPolicy) merge(q tlsPolicy) tlsPolicy {
	out := tlsPolicy{required: p.required || q.required, dane: p.dane || q.dane}
	if p.at.Before(q.at) {
		out.at = q.at
	} else {
		out.at = p.at
	}
	out.names = union(p.names, q.names)
	switch {
	case p.dane && q.dane && p.fingerprints != nil && q.fingerprints != nil:
		out.fingerprints = union(p.fingerprints, q.fingerprints)
	case p.dane && !q.dane:
		out.fingerprints = p.fingerprints
	case q.dane && !p.dane:
		out.fingerprints = q.fingerprints
	}
	return out
}

// answer is the policy table's reply for the policy.
func (p tlsPolicy) answer() string {
	switch {
	case p.dane && len(p.fingerprints) > 0:
		return "OK fingerprint match=" + strings.Join(p.fingerprints, "|")
	case p.dane:
		return "OK encrypt"
	case p.required && len(p.names) > 0:
		return "OK secure match=" + strings.Join(p.names, ":")
	case p.required:
		return "OK encrypt"
	}
	return "NOTFOUND "
}

// eeDigests maps TLSA records onto Postfix fingerprints: DANE-EE (3) with
// SHA-256 (1) as given, with full data (0) hashed here. Nil unless every
// record maps: pinning a subset could refuse a server that a DANE-TA or
// SHA-512 record authenticates.
func eeDigests(rs []apigen.TLSA) []string {
	var out []string
	for _, r := range rs {
		b, err := hex.DecodeString(r.Data)
		if r.Usage != 3 || (r.Selector != 0 && r.Selector != 1) || err != nil || len(b) == 0 {
			return nil
		}
		switch r.MatchingType {
		case 0:
			d := sha256.Sum256(b)
			b = d[:]
		case 1:
			if len(b) != sha256.Size {
				return nil
			}
		default:
			return nil
		}
		out = append(out, colonHex(b))
	}
	return union(nil, out)
}

func colonHex(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return s.String()
}

// validMatchName keeps names Postfix's match list can carry: a dotted
// host name without the list's separators (the undotted words hostname,
// nexthop and dot-nexthop are Postfix keywords, never a plan's names).
func validMatchName(n string) bool {
	n = strings.TrimSuffix(n, ".")
	if n == "" || len(n) > 253 || !strings.Contains(n, ".") {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f || c == ':' || c == ',' || c == '|' || c == '=' {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// nextHopAddr is the address of a policy lookup key "[a]:port" or "[a]"
// (IPv6 as "[ipv6:a]"), when the port is the one the agent answers with.
func nextHopAddr(key string, port int) (string, bool) {
	rest, ok := strings.CutPrefix(key, "[")
	if !ok {
		return "", false
	}
	host, tail, ok := strings.Cut(rest, "]")
	if !ok || (tail != "" && tail != ":"+strconv.Itoa(port)) {
		return "", false
	}
	host = strings.TrimPrefix(strings.ToLower(host), "ipv6:")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	return ip.Unmap().String(), true
}

// recordTLS keeps the policies of a plan's attempts; the caller holds m.mu.
func (m *Map) recordTLS(plan apigen.Plan, now time.Time) {
	if len(m.tls) >= maxMemo {
		clear(m.tls)
	}
	for _, a := range plan.Attempts {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		addr := ip.Unmap().String()
		p := attemptTLS(a, now)
		if old, ok := m.tls[addr]; ok && now.Sub(old.at) < tlsMergeFor {
			p = old.merge(p)
		}
		m.tls[addr] = p
	}
}

// answerTLS answers a policy table lookup. Keys that are not an address
// next-hop of the agent's answers (a recipient domain when Postfix routes
// by itself, a relayhost) are NOTFOUND: Postfix's own settings apply.
func (m *Map) answerTLS(key string) string {
	addr, ok := nextHopAddr(key, m.cfg.Port)
	if !ok {
		return "NOTFOUND "
	}
	m.mu.Lock()
	p, ok := m.tls[addr]
	m.mu.Unlock()
	if !ok {
		return "NOTFOUND "
	}
	return p.answer()
}
