package cache

import (
	"fmt"
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
type entry struct {
	// answer is valid when hasAnswer; its TTL field is meaningless, the
	// TTL returned is computed from freshUntil at read time.
	answer    resolver.Answer
	hasAnswer bool
	// freshUntil ends the answer's (clamped) TTL; staleUntil ends the
	// window in which it may still be served when the upstream fails.
	freshUntil time.Time
	staleUntil time.Time
	// failErr is the upstream's last error, remembered until failUntil.
	failErr   error
	failUntil time.Time
}

// newEntry stores ans received at now, with its TTL clamped per cfg, in
// its compact form (resolver.Answer.Compact). The slices are clipped so that a caller appending to the slices
// it is given reallocates instead of writing into the cached array.
func newEntry(ans resolver.Answer, now time.Time, cfg *Config) *entry {
	ttl := clampTTL(ans, cfg)
	ans = ans.Compact()
	ans.Records = slices.Clip(ans.Records)
	ans.MX = slices.Clip(ans.MX)
	ans.Addrs = slices.Clip(ans.Addrs)
	ans.CNAMEs = slices.Clip(ans.CNAMEs)
	fresh := now.Add(ttl)
	return &entry{
		answer:     ans,
		hasAnswer:  true,
		freshUntil: fresh,
		staleUntil: fresh.Add(cfg.StaleFor),
	}
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
	if e != nil {
		n = *e
	}
	n.failErr = err
	n.failUntil = now.Add(ttl)
	return &n
}

// fresh reports whether the answer may be returned as a hit at now.
func (e *entry) fresh(now time.Time) bool { return e.hasAnswer && now.Before(e.freshUntil) }

// failing reports whether a remembered failure stands in for the upstream.
func (e *entry) failing(now time.Time) bool { return e.failErr != nil && now.Before(e.failUntil) }

// answerAt returns the answer with its remaining TTL, so that whoever
// passes it on (the route plan's ttl) does not promise more than the cache
// itself will keep it.
func (e *entry) answerAt(now time.Time) resolver.Answer {
	a := e.answer
	a.TTL = e.freshUntil.Sub(now)
	return a
}

// stale returns the expired answer with TTL staleTTL if it is still within
// its stale window at now (RFC 8767).
func (e *entry) stale(now time.Time, staleTTL time.Duration) (resolver.Answer, bool) {
	if e == nil || !e.hasAnswer || !now.Before(e.staleUntil) {
		return resolver.Answer{}, false
	}
	a := e.answer
	a.TTL = staleTTL
	return a, true
}

// keepUntil is when the entry is of no more use: its stale window and any
// remembered failure are both over. Otter drops it then.
func (e *entry) keepUntil() time.Time {
	if e.failUntil.After(e.staleUntil) {
		return e.failUntil
	}
	return e.staleUntil
}
