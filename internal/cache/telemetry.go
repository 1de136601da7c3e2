package cache

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Result says how the cache answered one lookup.
type Result uint8

// The outcomes of a lookup. Every lookup has exactly one.
const (
	// ResultMiss: the answer came from the upstream, asked by this lookup
	// or by a concurrent identical one it joined.
	ResultMiss Result = iota
	// ResultHit: a fresh cached answer, positive or negative.
	ResultHit
	// ResultStale: an expired answer within StaleFor was served instead
	// of the upstream's (RFC 8767), because the upstream failed (now or
	// within FailureTTL) or had not answered StaleAnswerAfter into the
	// refresh, which then goes on in the background.
	ResultStale
	// ResultError: the lookup returned an error: the upstream failed with
	// nothing stale to serve, a remembered failure stood in for it, the
	// caller's context ended while waiting, or the cache was closed.
	ResultError
	numResults
)

var resultNames = [numResults]string{"miss", "hit", "stale", "error"}

// String returns the value of the result attribute: "miss", "hit",
// "stale" or "error".
func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

const instrumentation = "github.com/mxroute/mxroute/internal/cache"

// Telemetry names. The span event goes on the caller's span rather than a
// span of its own, so a route with a few cached lookups costs no spans.
const (
	metricLookups = "mxroute.dns.cache.lookups"
	metricEntries = "mxroute.dns.cache.entries"
	// metricStaleTimeouts counts serve-stale timers that fired: one per
	// plan whose stale answers came back at StaleAnswerAfter.
	metricStaleTimeouts = "mxroute.dns.cache.stale_timeouts"
	// EventLookup is the name of the span event added to the span in the
	// lookup's context, with attributes AttrResult, dns.question.name and
	// dns.question.type.
	EventLookup = "mxroute.dns.cache.lookup"
	// AttrResult is the attribute key of the Result, on the lookups metric
	// (as "result") and on the span event.
	AttrResult = "mxroute.dns.cache.result"
	spanFill   = "mxroute.dns.cache.fill"
)

// telemetry holds the instruments, built once so that recording a hit
// allocates nothing.
type telemetry struct {
	tracer  trace.Tracer
	lookups metric.Int64Counter
	// stale counts serve-stale timers that fired (metricStaleTimeouts).
	stale metric.Int64Counter
	// resultAttrs are whole variadic slices: passing one option would
	// make Add allocate a new slice per call.
	resultAttrs [numResults][]metric.AddOption
	entries     metric.Registration
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, size func() int64) (*telemetry, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	t := &telemetry{tracer: tp.Tracer(instrumentation)}
	meter := mp.Meter(instrumentation)
	var err error
	t.lookups, err = meter.Int64Counter(metricLookups,
		metric.WithDescription("DNS lookups answered by the cache, by result (hit, miss, stale, error)."),
		metric.WithUnit("{lookup}"))
	if err != nil {
		return nil, fmt.Errorf("counter %s: %w", metricLookups, err)
	}
	t.stale, err = meter.Int64Counter(metricStaleTimeouts,
		metric.WithDescription("Serve-stale timers (StaleAnswerAfter) that fired before the refresh landed: one per plan that fell back on stale answers."),
		metric.WithUnit("{timer}"))
	if err != nil {
		return nil, fmt.Errorf("counter %s: %w", metricStaleTimeouts, err)
	}
	for r := range numResults {
		t.resultAttrs[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r.String())))}
	}
	entries, err := meter.Int64ObservableGauge(metricEntries,
		metric.WithDescription("Entries held by the DNS cache, stale ones included (an estimate)."),
		metric.WithUnit("{entry}"))
	if err != nil {
		return nil, fmt.Errorf("gauge %s: %w", metricEntries, err)
	}
	t.entries, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(entries, size())
		return nil
	}, entries)
	if err != nil {
		return nil, fmt.Errorf("gauge %s callback: %w", metricEntries, err)
	}
	return t, nil
}

// record counts the lookup and notes it on the caller's span, if that span
// is recorded (building the event's attributes would allocate otherwise).
func (t *telemetry) record(ctx context.Context, k key, r Result) {
	t.lookups.Add(ctx, 1, t.resultAttrs[r]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(EventLookup, trace.WithAttributes(
			attribute.String(AttrResult, r.String()),
			attribute.String("dns.question.name", k.name),
			attribute.String("dns.question.type", typeString(k.qtype)),
		))
	}
}

func (t *telemetry) close() error {
	if err := t.entries.Unregister(); err != nil {
		return fmt.Errorf("unregister %s callback: %w", metricEntries, err)
	}
	return nil
}

// staleTimeout counts a serve-stale timer that fired. It runs on the
// timer's goroutine, outside any request.
func (t *telemetry) staleTimeout() { t.stale.Add(context.Background(), 1) }
