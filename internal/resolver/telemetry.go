package resolver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Metric names and the rcode values recorded for queries that got no reply.
const (
	metricQueries  = "mxroute.dns.queries"
	metricDuration = "mxroute.dns.query.duration"

	rcodeLabelTimeout = "TIMEOUT"
	rcodeLabelError   = "ERROR"

	// serverLabelAuthoritative is the server attribute of every query sent
	// by Exchange (see there why not the address).
	serverLabelAuthoritative = "authoritative"
)

// durationBuckets suit DNS round trips: tens of microseconds on loopback,
// tens of milliseconds to a remote resolver, seconds only when timing out.
// The SDK default buckets are meant for milliseconds and would put nearly
// every query, measured in seconds, into the first one.
func durationBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
}

// telemetry holds the instruments; it is built once per Client so that no
// provider is looked up globally.
type telemetry struct {
	tracer   trace.Tracer
	queries  metric.Int64Counter
	duration metric.Float64Histogram
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (telemetry, error) {
	meter := mp.Meter(instrumentationName)
	queries, err := meter.Int64Counter(metricQueries,
		metric.WithDescription("DNS queries sent on the wire, by rcode (or TIMEOUT/ERROR when no reply came) and server (an upstream's address, or authoritative for direct queries)."),
		metric.WithUnit("{query}"))
	if err != nil {
		return telemetry{}, fmt.Errorf("counter %s: %w", metricQueries, err)
	}
	duration, err := meter.Float64Histogram(metricDuration,
		metric.WithDescription("Duration of DNS queries sent on the wire, until reply or failure."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets()...))
	if err != nil {
		return telemetry{}, fmt.Errorf("histogram %s: %w", metricDuration, err)
	}
	return telemetry{tracer: tp.Tracer(instrumentationName), queries: queries, duration: duration}, nil
}

// startQuery opens the span of one query on the wire.
func (t telemetry) startQuery(ctx context.Context, server, transport string, q dns.Question) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("dns.question.name", q.Name),
		attribute.String("dns.question.type", dns.Type(q.Qtype).String()),
		attribute.String("network.transport", transport),
	}
	// OpenTelemetry semantic conventions split host and port.
	if host, port, err := net.SplitHostPort(server); err == nil {
		attrs = append(attrs, attribute.String("server.address", host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("server.port", p))
		}
	} else {
		attrs = append(attrs, attribute.String("server.address", server))
	}
	return t.tracer.Start(ctx, "dns.query", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endQuery records the outcome of one query on the wire: either a reply r
// or the error err (already classified, see wireError). label is the
// metrics' server attribute: a configured upstream's address or
// serverLabelAuthoritative.
func (t telemetry) endQuery(ctx context.Context, span trace.Span, label string, start time.Time, r *dns.Msg, err error) {
	rcode := rcodeLabelError
	switch {
	case err == nil && r != nil:
		rcode = rcodeName(r.Rcode)
		span.SetAttributes(
			attribute.String("dns.rcode", rcode),
			attribute.Bool("dns.truncated", r.Truncated))
	case isTimeout(err):
		rcode = rcodeLabelTimeout
	}
	if err != nil {
		span.SetAttributes(attribute.String("error.type", rcode))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()

	// A fresh context keeps the measurement even when ctx is cancelled;
	// the SDK reads exemplars' span from it, so keep the span.
	mctx := trace.ContextWithSpan(context.WithoutCancel(ctx), span)
	set := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("rcode", rcode),
		attribute.String("server", label)))
	t.queries.Add(mctx, 1, set)
	t.duration.Record(mctx, time.Since(start).Seconds(), set)
}
