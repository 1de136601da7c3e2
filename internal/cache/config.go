package cache

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config. The TTL bounds keep the cache honest with the zone
// owners (a MaxTTL of an hour lets a changed MX take effect within the hour)
// without letting TTL 0 records turn every route request into a DNS query.
const (
	// DefaultMaxBytes holds about 525,000 domains of one MX host each
	// (their MX, A and empty AAAA answers: about 960 bytes a domain by the
	// weigher's estimate, some weighed twice by the recent tier), well
	// above the 200,000 recipient domains a large sender sees in a day;
	// docs/benchmarks.md has the measurement.
	DefaultMaxBytes       int64 = 512 << 20
	DefaultMinTTL               = 5 * time.Second
	DefaultMaxTTL               = time.Hour
	DefaultNegativeMaxTTL       = 15 * time.Minute
	DefaultStaleFor             = time.Hour
	DefaultStaleTTL             = 30 * time.Second
	// DefaultStaleAnswerAfter is lower than RFC 8767's 1.8s: that value
	// fits a stub that gives one query 2s, but a sender such as the
	// Haraka plugin gives a whole route request 2s. A plan shares one
	// timer across its rounds of lookups (WithStaleBudget), so 500ms
	// leaves most of that for HTTP and planning. A healthy recursive
	// resolver answers well within 500ms, so a working upstream still
	// gets the last word.
	DefaultStaleAnswerAfter = 500 * time.Millisecond
	// DefaultFailureTTL is RFC 8767's suggested failure recheck timer. It
	// turns a resolver outage into one refresh per name per 30s instead
	// of one per request, and lets at most one request per name in 30s
	// wait StaleAnswerAfter. The price: after an upstream recovers, names
	// with a stale answer stay stale up to 30s longer, and a name with
	// nothing stale is a temporary failure for 30s, which a sender queues
	// and retries after its own back-off (minutes).
	DefaultFailureTTL      = 30 * time.Second
	DefaultUpstreamTimeout = 10 * time.Second
)

// Config tunes a Cache. The zero value is valid: every zero field takes its
// documented default.
type Config struct {
	// MaxBytes bounds the memory the cached answers take, stale ones
	// included, as estimated per entry (see weight.go); the least
	// valuable entries are evicted first (otter's W-TinyLFU policy: a name
	// looked up twice within the sketch's memory wins over one looked up
	// once). Default DefaultMaxBytes.
	MaxBytes int64
	// MinTTL is the shortest time an answer stays fresh, whatever its TTL
	// says, so that TTL 0 records are not queried on every request.
	// Default 5s; a negative value means no floor.
	MinTTL time.Duration
	// MaxTTL is the longest time a positive answer stays fresh. Default 1h.
	MaxTTL time.Duration
	// NegativeMaxTTL is the longest time an NXDOMAIN or NODATA answer stays
	// fresh; its TTL (the SOA minimum) is clamped to [MinTTL,
	// NegativeMaxTTL]. RFC 2308 section 5 suggests at most 3 hours; a
	// missing MX that gets added should show up sooner. Default 15m.
	NegativeMaxTTL time.Duration
	// StaleFor is how long past its expiry an answer is kept and served
	// when the upstream fails (RFC 8767 serve-stale). RFC 8767 suggests 1
	// to 3 days; mail routing on day-old data is worse than a temporary
	// failure the sender retries, so the bound is lower. Default 1h; a
	// negative value disables serving stale answers.
	StaleFor time.Duration
	// StaleTTL is the TTL reported with a stale answer, 30s per RFC 8767
	// section 4, so callers come back soon for a fresh one. Default 30s.
	StaleTTL time.Duration
	// StaleAnswerAfter is RFC 8767's client response timer: when an
	// expired answer within StaleFor exists and the refresh from the
	// upstream has not answered this long after it started, callers get
	// the stale answer while the refresh goes on in the background and
	// updates the cache when it lands. It runs from the start of the
	// refresh, not of each caller, so a caller arriving while a refresh
	// has been out longer gets the stale answer at once. Names with
	// nothing stale to serve still wait for the upstream. It is measured
	// by the runtime's timers, not Config.Now, which cannot wake anyone.
	// Lookups made under one WithStaleBudget context share one timer.
	// Default 500ms (see DefaultStaleAnswerAfter); a negative value makes
	// callers wait for the upstream's verdict, as without serve-stale.
	StaleAnswerAfter time.Duration
	// FailureTTL is how long an upstream failure (SERVFAIL, timeout, ...)
	// of a name and type is remembered: RFC 8767's failure recheck timer.
	// Meanwhile lookups of it send no query: they get the stale answer at
	// once, or the remembered error when there is none. After it, the
	// next lookup starts one refresh (see StaleAnswerAfter). RFC 2308
	// section 7.1 allows up to 5 minutes. Default 30s; a negative value
	// disables it.
	FailureTTL time.Duration
	// UpstreamTimeout bounds one shared upstream lookup. The lookup runs
	// on behalf of every caller waiting for the same name and type, so no
	// single caller's context may cancel it; the upstream's own per-query
	// timeouts should end it well before this outer bound. Default 10s.
	UpstreamTimeout time.Duration
	// Now is the clock; tests set it to control expiry. Default time.Now.
	Now func() time.Time
	// TracerProvider traces shared upstream lookups. Default: no-op.
	TracerProvider trace.TracerProvider
	// MeterProvider receives the cache metrics. Default: no-op.
	MeterProvider metric.MeterProvider
}

// withDefaults returns cfg with zero fields set to their defaults and the
// "negative means off" fields set to zero, or an error for nonsense values.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.MaxBytes < 0 {
		return cfg, fmt.Errorf("MaxBytes %d is negative", cfg.MaxBytes)
	}
	if cfg.MaxTTL < 0 || cfg.NegativeMaxTTL < 0 || cfg.StaleTTL < 0 || cfg.UpstreamTimeout < 0 {
		return cfg, errors.New("MaxTTL, NegativeMaxTTL, StaleTTL and UpstreamTimeout must not be negative")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	cfg.MinTTL = orDefault(cfg.MinTTL, DefaultMinTTL)
	cfg.MaxTTL = orDefault(cfg.MaxTTL, DefaultMaxTTL)
	cfg.NegativeMaxTTL = orDefault(cfg.NegativeMaxTTL, DefaultNegativeMaxTTL)
	cfg.StaleFor = orDefault(cfg.StaleFor, DefaultStaleFor)
	cfg.StaleTTL = orDefault(cfg.StaleTTL, DefaultStaleTTL)
	cfg.StaleAnswerAfter = orDefault(cfg.StaleAnswerAfter, DefaultStaleAnswerAfter)
	cfg.FailureTTL = orDefault(cfg.FailureTTL, DefaultFailureTTL)
	cfg.UpstreamTimeout = orDefault(cfg.UpstreamTimeout, DefaultUpstreamTimeout)
	if cfg.MinTTL > cfg.MaxTTL || cfg.MinTTL > cfg.NegativeMaxTTL {
		return cfg, fmt.Errorf("MinTTL %v exceeds MaxTTL %v or NegativeMaxTTL %v", cfg.MinTTL, cfg.MaxTTL, cfg.NegativeMaxTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// orDefault maps zero to def and negative values ("off") to zero.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
