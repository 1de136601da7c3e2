package check

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names the tracer and meter of this package.
const instrumentationName = "github.com/mxroute/mxroute/internal/check"

// Metric names.
const (
	metricReports  = "mxroute.check.reports"
	metricDuration = "mxroute.check.duration"
)

// telemetry holds the instruments of one Run. Building them per Run costs a
// few map lookups (the SDK hands back the instrument it already has) and
// keeps Run a plain function; checks are rare next to routing.
type telemetry struct {
	tracer   trace.Tracer
	reports  metric.Int64Counter
	duration metric.Float64Histogram
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (telemetry, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	reports, err := meter.Int64Counter(metricReports,
		metric.WithDescription("MX layout checks completed, by status and grade."),
		metric.WithUnit("{report}"))
	if err != nil {
		return telemetry{}, fmt.Errorf("counter %s: %w", metricReports, err)
	}
	duration, err := meter.Float64Histogram(metricDuration,
		metric.WithDescription("Duration of MX layout checks, DNS included."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8))
	if err != nil {
		return telemetry{}, fmt.Errorf("histogram %s: %w", metricDuration, err)
	}
	return telemetry{tracer: tp.Tracer(instrumentationName), reports: reports, duration: duration}, nil
}

func (t telemetry) start(ctx context.Context, domain string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "check", trace.WithAttributes(attribute.String("mxroute.domain", domain)))
}

func (t telemetry) fail(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

func (t telemetry) done(ctx context.Context, span trace.Span, r Report, elapsed time.Duration) {
	attrs := []attribute.KeyValue{
		attribute.String("mxroute.check.status", string(r.Status)),
		attribute.String("mxroute.check.grade", string(r.Grade)),
	}
	span.SetAttributes(append(attrs, attribute.Int("mxroute.check.findings", len(r.Findings)))...)
	t.reports.Add(ctx, 1, metric.WithAttributes(attrs...))
	t.duration.Record(ctx, elapsed.Seconds(), metric.WithAttributes(attrs...))
}
