package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
)

// One check is dozens of DNS queries (docs/check.md, "What a check
// costs"), so /check must not let clients multiply them. Guard keeps a
// check's report for a short while, runs one check per domain however
// many ask at once, and bounds the checks running at a time, turning the
// excess away with ErrBusy rather than queueing it.

// Guard defaults.
const (
	// DefaultReportTTL is how long a report is served again: short enough
	// that an operator fixing a zone sees the fix within a minute.
	DefaultReportTTL = 30 * time.Second
	// DefaultMaxRunning bounds the checks running at once on a replica;
	// each runs up to DefaultConcurrency queries in flight.
	DefaultMaxRunning = 8
	// defaultReports bounds the reports kept.
	defaultReports = 10_000
)

// ErrBusy is returned when DefaultMaxRunning (GuardOptions.MaxRunning)
// checks are already running: retry in a second.
var ErrBusy = errors.New("too many checks running; retry shortly")

// GuardOptions configures NewGuard; zero fields mean the defaults.
type GuardOptions struct {
	ReportTTL  time.Duration
	MaxRunning int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Guard runs checks through run with the bounds above.
type Guard struct {
	run     func(ctx context.Context, domain string) (Report, error)
	running chan struct{}
	flight  singleflight.Group
	reports *otter.Cache[string, Report]
}

// NewGuard wraps run (Run with the service's resolver and options).
func NewGuard(run func(ctx context.Context, domain string) (Report, error), o GuardOptions) (*Guard, error) {
	o.ReportTTL = positiveOr(o.ReportTTL, DefaultReportTTL)
	o.MaxRunning = positiveOr(o.MaxRunning, DefaultMaxRunning)
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := otter.New(&otter.Options[string, Report]{
		MaximumSize:      defaultReports,
		ExpiryCalculator: otter.ExpiryWriting[string, Report](o.ReportTTL),
		Clock:            tickless(o.Now),
	})
	if err != nil {
		return nil, fmt.Errorf("check report cache: %w", err)
	}
	return &Guard{run: run, running: make(chan struct{}, o.MaxRunning), reports: c}, nil
}

// Check returns a recent report of domain, or joins the check of it that
// is running, or starts one if fewer than MaxRunning are running, else
// fails with ErrBusy. A started check is not cancelled when the caller
// goes away, since others may be waiting on it; Run's own budget bounds it.
func (g *Guard) Check(ctx context.Context, domain string) (Report, error) {
	if r, ok := g.reports.GetIfPresent(domain); ok {
		return r, nil
	}
	v, err, _ := g.flight.Do(domain, func() (any, error) {
		select {
		case g.running <- struct{}{}:
		default:
			return Report{}, ErrBusy
		}
		defer func() { <-g.running }()
		r, err := g.run(context.WithoutCancel(ctx), domain)
		if err == nil {
			g.reports.Set(domain, r)
		}
		return r, err
	})
	return v.(Report), err
}

// tickless adapts a clock to otter without the ticks that would start its
// clean-up goroutine: entries expire when read or written.
type tickless func() time.Time

func (f tickless) NowNano() int64 { return f().UnixNano() }

func (tickless) Tick(time.Duration) <-chan time.Time { return nil }
