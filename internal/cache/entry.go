package cache

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// key identifies a cached lookup. The name is canonical (lower case, fully
// qualified) so that "Example.COM" and "example.com." share one entry.
type key struct {
	name  string
	qtype uint16
}

func (k key) String() string { return k.name + " " + typeString(k.qtype) }

func typeString(qtype uint16) string {
	if s, ok := dns.TypeToString[qtype]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", qtype)
}

// entry is what the cache stores for a key. It is immutable once stored:
// a new answer or a failure replaces the whole entry, so readers never
// need a lock. An entry may hold an answer, a remembered failure, or both
// (a stale answer kept while the upstream keeps failing).
//
// It is laid out for size, since a cache holds hundreds of thousands: the
// answer in compact form (resolver.Answer.Compact) without the name and
// type the key already holds, times as Unix nanoseconds, and what few
// entries have (whole records, a CNAME chain, a failure) behind one
// pointer.
type entry struct {
	mx     []resolver.MX
	addrs  []netip.Addr
	server string
	rare   *rare
	// freshUntil ends the answer's (clamped) TTL; staleUntil ends the
	// window in which it may still be served when the upstream fails.
	freshUntil, staleUntil int64
	rcode                  uint8
	authoritative          bool
	// secure is resolver.Answer.Secure: DANE must see it on a cached
	// TLSA answer exactly as on a fresh one.
	secure    bool
	hasAnswer bool
}

// rare holds the parts of an entry that most entries lack.
type rare struct {
	records []dns.RR
	cnames  []string
	// failErr is the upstream's last error, remembered until failUntil.
	failErr   error
	failUntil int64
}

// newEntry stores ans received at now, with its TTL clamped per cfg, in
// its compact form. The slices are clipped so that a caller appending to
// the slices it is given reallocates instead of writing into the cached
// array.
func newEntry(ans resolver.Answer, now time.Time, cfg *Config) *entry {
	ttl := clampTTL(ans, cfg)
	ans = ans.Compact()
	fresh := now.Add(ttl)
	e := &entry{
		mx:            slices.Clip(ans.MX),
		addrs:         slices.Clip(ans.Addrs),
		server:        ans.Server,
		rcode:         uint8(ans.Rcode),
		authoritative: ans.Authoritative,
		secure:        ans.Secure,
		hasAnswer:     true,
		freshUntil:    fresh.UnixNano(),
		staleUntil:    fresh.Add(cfg.StaleFor).UnixNano(),
	}
	if len(ans.Records) > 0 || len(ans.CNAMEs) > 0 {
		e.rare = &rare{records: slices.Clip(ans.Records), cnames: slices.Clip(ans.CNAMEs)}
	}
	return e
}

// clampTTL bounds an answer's TTL: negative answers (NXDOMAIN, NODATA) by
// [MinTTL, NegativeMaxTTL], positive ones by [MinTTL, MaxTTL].
func clampTTL(ans resolver.Answer, cfg *Config) time.Duration {
	upper := cfg.MaxTTL
	if ans.NXDomain() || ans.NoData() {
		upper = cfg.NegativeMaxTTL
	}
	return min(max(ans.TTL, cfg.MinTTL), upper)
}

// withFailure returns a copy of e (which may be nil) that also remembers
// err until now+ttl, keeping any answer for stale serving.
func (e *entry) withFailure(err error, now time.Time, ttl time.Duration) *entry {
	var n entry
	var r rare
	if e != nil {
		n = *e
		if e.rare != nil {
			r = *e.rare
		}
	}
	r.failErr = err
	r.failUntil = now.Add(ttl).UnixNano()
	n.rare = &r
	return &n
}

// fresh reports whether the answer may be returned as a hit at now.
func (e *entry) fresh(now time.Time) bool { return e.hasAnswer && now.UnixNano() < e.freshUntil }

// failing reports whether a remembered failure stands in for the upstream.
func (e *entry) failing(now time.Time) bool {
	return e.rare != nil && e.rare.failErr != nil && now.UnixNano() < e.rare.failUntil
}

// failErr is the remembered failure, if any.
func (e *entry) failErr() error {
	if e.rare == nil {
		return nil
	}
	return e.rare.failErr
}

// answer rebuilds the answer for k with the given TTL.
func (e *entry) answer(k key, ttl time.Duration) resolver.Answer {
	a := resolver.Answer{
		Name: k.name, Qtype: k.qtype, Rcode: int(e.rcode),
		MX: e.mx, Addrs: e.addrs, TTL: ttl,
		Server: e.server, Authoritative: e.authoritative, Secure: e.secure,
	}
	if e.rare != nil {
		a.Records, a.CNAMEs = e.rare.records, e.rare.cnames
	}
	return a
}

// answerAt returns the answer with its remaining TTL, so that whoever
// passes it on (the route plan's ttl) does not promise more than the cache
// itself will keep it.
func (e *entry) answerAt(k key, now time.Time) resolver.Answer {
	return e.answer(k, time.Duration(e.freshUntil-now.UnixNano()))
}

// stale returns the expired answer with TTL staleTTL if it is still within
// its stale window at now (RFC 8767).
func (e *entry) stale(k key, now time.Time, staleTTL time.Duration) (resolver.Answer, bool) {
	if e == nil || !e.hasAnswer || now.UnixNano() >= e.staleUntil {
		return resolver.Answer{}, false
	}
	return e.answer(k, staleTTL), true
}

// keepUntil is when the entry is of no more use: its stale window and any
// remembered failure are both over. Otter drops it then.
func (e *entry) keepUntil() time.Time {
	until := e.staleUntil
	if e.rare != nil && e.rare.failUntil > until {
		until = e.rare.failUntil
	}
	return time.Unix(0, until)
}
