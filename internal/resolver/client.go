package resolver

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultTimeout bounds one query attempt (one UDP or one TCP exchange
	// with one server). 1.5 s leaves room to try a second and a third
	// server within DefaultBudget when the first one is dead.
	DefaultTimeout = 1500 * time.Millisecond
	// DefaultBudget bounds one whole Lookup: every server, TCP retry and
	// CNAME hop. A mail sender waits for the route behind it, so a lookup
	// that cannot finish in 5 s is better reported as failed.
	DefaultBudget = 5 * time.Second
	// DefaultUDPSize is the EDNS0 buffer size advertised, the value of DNS
	// Flag Day 2020: it avoids IP fragmentation on common paths, and larger
	// answers are fetched over TCP.
	DefaultUDPSize = 1232
	// DefaultMaxCNAME bounds the CNAME chain length (the number of CNAME
	// records followed), like the 8 that common resolvers allow.
	DefaultMaxCNAME = 8
	// DefaultNegativeTTL is the cache lifetime of a negative answer that
	// came without an SOA record to take it from.
	DefaultNegativeTTL = 60 * time.Second
	// DefaultMaxFails is the number of consecutive failures after which an
	// upstream server is failing, CoreDNS forward's max_fails: one lost
	// UDP packet does not demote a server, a second failure in a row does.
	DefaultMaxFails = 2
	// DefaultCooldown is how long a failing server stays behind the others
	// before one lookup tries it in its configured place again: at most
	// one Timeout is spent on a dead server per cool-down, and a recovered
	// one is back first within that time.
	DefaultCooldown = 10 * time.Second
	// DefaultValidating is Config.Validating's default: an upstream's AD
	// bit is believed only when the operator says so, since anyone on
	// the path to an unvalidating or remote resolver can set it.
	DefaultValidating = false
)

// instrumentationName names the tracer and meter of this package.
const instrumentationName = "github.com/mxroute/mxroute/internal/resolver"

// Config configures a Client. Only Servers is required.
type Config struct {
	// Servers are the upstream recursive resolvers as host:port (IPv6 in
	// brackets), tried in this order for every query, except that failing
	// ones (see MaxFails) come after the others. Required.
	Servers []string
	// Timeout bounds one query attempt on the wire. Default DefaultTimeout
	// (1.5 s).
	Timeout time.Duration
	// Budget bounds one Lookup including every retry, server and CNAME hop:
	// the effective deadline is the earlier of the context's deadline and
	// now+Budget. Default DefaultBudget (5 s).
	Budget time.Duration
	// UDPSize is the EDNS0 UDP buffer size advertised in queries. Default
	// DefaultUDPSize (1232); values below 512 are an error.
	UDPSize uint16
	// MaxCNAME bounds the number of CNAME records a Lookup follows.
	// Default DefaultMaxCNAME (8).
	MaxCNAME int
	// Local holds zones answered locally and authoritatively: a name at or
	// below one of their apexes never reaches Servers (unless a CNAME
	// there points outside the local data). Optional; nil means none.
	Local *Zones
	// TracerProvider receives one "dns.query" span per query sent on the
	// wire. Nil means no tracing.
	TracerProvider trace.TracerProvider
	// MeterProvider receives the mxroute.dns.queries counter and the
	// mxroute.dns.query.duration histogram. Nil means no metrics.
	MeterProvider metric.MeterProvider
	// MaxFails is the number of consecutive failures (timeout, network
	// error, SERVFAIL, REFUSED, unusable reply) after which a server is
	// failing and tried after the healthy ones. A NOERROR or NXDOMAIN
	// reply resets the count. Default DefaultMaxFails (2).
	MaxFails int
	// Cooldown is how long a failing server is kept behind the others
	// after its latest failure; then one lookup tries it in its configured
	// place, and a success restores it. Default DefaultCooldown (10 s).
	Cooldown time.Duration
	// Now is the clock of the health tracking, for tests. Default
	// time.Now. Query timeouts always use the real clock.
	Now func() time.Time
	// Validating says the upstream servers validate DNSSEC and the path
	// to them is trusted (loopback, IPsec): queries then set the AD bit
	// (RFC 6840 section 5.7) and an answer whose replies carried it is
	// Secure. Without it every Answer is insecure, whatever the replies
	// said: AD from an unvalidating resolver, or across a network, is a
	// bit anyone can set (RFC 4035 section 4.9.3). Default
	// DefaultValidating (false).
	Validating bool
}

// Client resolves names over the wire with github.com/miekg/dns. It is safe
// for concurrent use. It keeps a few idle connections to each configured
// upstream for reuse (see conns.go); Close closes them.
type Client struct {
	ups      []*upstream // in configured order
	health   health
	timeout  time.Duration
	budget   time.Duration
	udpSize  uint16
	maxCNAME int
	local    *Zones
	// validating is Config.Validating.
	validating bool

	udp *dns.Client
	tcp *dns.Client

	tel telemetry
}

// New validates cfg, applies the defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("resolver config: %w", ErrNoServers)
	}
	ups := make([]*upstream, len(cfg.Servers))
	for i, s := range cfg.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("resolver config: server %q: %w", s, err)
		}
		ups[i] = &upstream{addr: s}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		ups: ups,
		health: health{
			maxFails: int64(orDefault(cfg.MaxFails, DefaultMaxFails)),
			cooldown: orDefault(cfg.Cooldown, DefaultCooldown),
			now:      now,
		},
		timeout:  orDefault(cfg.Timeout, DefaultTimeout),
		budget:   orDefault(cfg.Budget, DefaultBudget),
		udpSize:  orDefault(cfg.UDPSize, DefaultUDPSize),
		maxCNAME: orDefault(cfg.MaxCNAME, DefaultMaxCNAME),
		local:    cfg.Local,

		validating: cfg.Validating,
	}
	switch {
	case c.timeout < 0:
		return nil, errors.New("resolver config: negative Timeout")
	case c.budget < 0:
		return nil, errors.New("resolver config: negative Budget")
	case c.maxCNAME < 0:
		return nil, errors.New("resolver config: negative MaxCNAME")
	case c.health.maxFails < 0:
		return nil, errors.New("resolver config: negative MaxFails")
	case c.health.cooldown < 0:
		return nil, errors.New("resolver config: negative Cooldown")
	case c.udpSize < dns.MinMsgSize:
		return nil, fmt.Errorf("resolver config: UDPSize %d below %d", c.udpSize, dns.MinMsgSize)
	}
	// The dns.Client timeout only backs up the per-attempt context
	// deadline, which is always set and always the earlier one.
	c.udp = &dns.Client{Net: "udp", UDPSize: c.udpSize, Timeout: c.timeout, Dialer: newDialer()}
	c.tcp = &dns.Client{Net: "tcp", Timeout: c.timeout, Dialer: newDialer()}

	tp := cfg.TracerProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	tel, err := newTelemetry(tp, mp)
	if err != nil {
		return nil, fmt.Errorf("resolver config: %w", err)
	}
	c.tel = tel
	return c, nil
}

// Close closes the idle connections to the upstreams. Queries still in
// flight finish, and close their connections instead of keeping them;
// later queries dial afresh and do not keep theirs either.
func (c *Client) Close() error {
	for _, u := range c.ups {
		u.conns.close()
	}
	return nil
}

// Servers returns a copy of the configured upstream servers, in order.
func (c *Client) Servers() []string {
	out := make([]string, len(c.ups))
	for i, u := range c.ups {
		out[i] = u.addr
	}
	return out
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
