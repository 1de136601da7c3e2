package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

// Resolver is the DNS access the check needs. *resolver.Client implements
// it (and so does anything caching in front of it).
type Resolver interface {
	// Lookup resolves name and qtype through the recursive servers,
	// following CNAMEs.
	Lookup(ctx context.Context, name string, qtype uint16) (resolver.Answer, error)
	// Exchange sends m to one server (host:port) and returns its reply,
	// whatever the rcode.
	Exchange(ctx context.Context, server string, m *dns.Msg) (*dns.Msg, error)
}

// Defaults applied to zero Options fields.
const (
	// DefaultBudget bounds a whole Run. A check answers a person or a
	// script waiting on it; 4 s is long enough for a cold resolver to walk
	// a few delegations and short enough not to look hung.
	DefaultBudget = 4 * time.Second
	// DefaultReverseBudget bounds the reverse lookups and their forward
	// confirmation, which start once the MX targets are resolved. Reverse
	// zones are often served badly; they must not eat the whole budget.
	DefaultReverseBudget = 2 * time.Second
	// DefaultConsistencyBudget bounds finding the zone's servers and
	// asking each for the MX set; it runs alongside everything else.
	DefaultConsistencyBudget = 2 * time.Second
	// DefaultConcurrency bounds the DNS queries in flight for one Run.
	DefaultConcurrency = 16
)

// Limits on the work one Run does, so that a hostile zone (hundreds of MX
// records or NS names) cannot turn a check into a flood. What is beyond
// them is reported as not checked.
const (
	// maxReverseAddresses is how many addresses get a PTR lookup.
	maxReverseAddresses = 32
	// maxPTRNames is how many PTR names of one address are confirmed.
	maxPTRNames = 4
	// maxNSServers is how many NS addresses are asked for the MX set.
	maxNSServers = 16
)

// Options configures Run. The zero value is ready to use; zero or negative
// budgets and concurrency mean the default.
type Options struct {
	// Budget bounds the whole Run, on top of ctx. Default DefaultBudget
	// (4 s).
	Budget time.Duration
	// ReverseBudget bounds the PTR lookups and forward confirmation.
	// Default DefaultReverseBudget (2 s).
	ReverseBudget time.Duration
	// ConsistencyBudget bounds the comparison of the authoritative
	// servers. Default DefaultConsistencyBudget (2 s).
	ConsistencyBudget time.Duration
	// Concurrency bounds the DNS queries in flight. Default
	// DefaultConcurrency (16).
	Concurrency int
	// NSAddr returns the host:port to send the direct MX query to, for the
	// authoritative server named host at addr. Default: addr on port 53.
	// Tests set it to reach in-process servers on other ports: the NS
	// records of a test zone point at 127.0.0.1, and NSAddr maps each NS
	// name to its own server's port.
	NSAddr func(host string, addr netip.Addr) string
	// NeverDial reports the name-server addresses the consistency check
	// must not ask. It is the planner's filter (routing.Options
	// NeverDials), so a check never sends a packet where a plan would
	// never send mail: a zone's NS records are the zone owner's to choose,
	// and loopback or link-local ones would turn the check into a probe of
	// mxroute's own network. Default routing.NeverDial; tests that serve
	// zones on 127.0.0.1 allow loopback.
	NeverDial func(netip.Addr) bool
	// Local reports whether a name is served from mxroute's local zone
	// data (MXROUTE_ZONE_FILES). mxroute is the authority for such a
	// name, so its name servers are never asked. Default: none is.
	Local func(name string) bool
	// STS fetches MTA-STS policies for the MTA_STS_* findings. Nil: MTA-STS
	// is not checked.
	STS PolicyFetcher
	// DANE looks up TLSA _25._tcp.<host> of every MX host for the DANE_*
	// findings. Set it only when the resolver's AD bit is trusted
	// (resolver.Config.Validating): otherwise every TLSA record would be
	// reported as unvalidated.
	DANE bool
	// TracerProvider receives one "check" span per Run. Nil means no
	// tracing.
	TracerProvider trace.TracerProvider
	// MeterProvider receives mxroute.check.reports (by status and grade)
	// and mxroute.check.duration. Nil means no metrics.
	MeterProvider metric.MeterProvider
}

func (o Options) withDefaults() Options {
	o.Budget = positiveOr(o.Budget, DefaultBudget)
	o.ReverseBudget = positiveOr(o.ReverseBudget, DefaultReverseBudget)
	o.ConsistencyBudget = positiveOr(o.ConsistencyBudget, DefaultConsistencyBudget)
	o.Concurrency = positiveOr(o.Concurrency, DefaultConcurrency)
	if o.NeverDial == nil {
		o.NeverDial = routing.NeverDial
	}
	if o.Local == nil {
		o.Local = func(string) bool { return false }
	}
	if o.NSAddr == nil {
		o.NSAddr = func(_ string, addr netip.Addr) string { return net.JoinHostPort(addr.String(), "53") }
	}
	return o
}

// ErrInvalidDomain reports a domain Run cannot check: empty, the root, or
// not a syntactically valid name.
var ErrInvalidDomain = errors.New("invalid domain")

// Run checks the MX layout of domain: it gathers the DNS data within the
// budgets (see Gather) and grades it (see Grade). DNS failures are
// findings, not errors: Run fails only for an invalid domain, a nil
// resolver or a cancelled ctx. domain is expected normalised (A-labels,
// lower case, no trailing dot); it is lower-cased and stripped again.
func Run(ctx context.Context, r Resolver, domain string, opts Options) (Report, error) {
	opts = opts.withDefaults()
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider)
	if err != nil {
		return Report{}, fmt.Errorf("check %s: %w", domain, err)
	}
	start := time.Now()
	ctx, span := tel.start(ctx, domain)
	defer span.End()

	d, err := Gather(ctx, r, domain, opts)
	if err != nil {
		tel.fail(span, err)
		return Report{}, err
	}
	rep := Grade(d)
	tel.done(ctx, span, rep, time.Since(start))
	return rep, nil
}

// Gather collects what Grade needs, within opts' budgets: the MX set, the
// addresses of every target, reverse DNS of every address with forward
// confirmation, and the MX set as each authoritative server of the zone
// serves it. Lookups run in parallel (at most opts.Concurrency at once);
// what does not finish in time is recorded as a timeout, never guessed.
// It returns an error only for an invalid domain, a nil resolver or a
// cancelled ctx.
func Gather(ctx context.Context, r Resolver, domain string, opts Options) (Data, error) {
	if r == nil {
		return Data{}, fmt.Errorf("check %s: nil resolver", domain)
	}
	name := normHost(domain)
	if _, ok := dns.IsDomainName(name); !ok || name == "." || strings.ContainsAny(name, " \t\\") {
		return Data{}, fmt.Errorf("check %q: %w", domain, ErrInvalidDomain)
	}
	opts = opts.withDefaults()
	g := &gatherer{opts: opts, q: newQuerier(r, opts.Concurrency)}
	bctx, cancel := context.WithTimeout(ctx, opts.Budget)
	defer cancel()
	d := g.gather(bctx, name)
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return Data{}, fmt.Errorf("check %s: %w", name, err)
	}
	return d, nil
}

// positiveOr returns v, or def when v is zero or negative.
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
