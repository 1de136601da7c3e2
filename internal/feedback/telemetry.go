package feedback

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

const instrumentationName = "github.com/mxroute/mxroute/internal/feedback"

// Span attribute keys.
const (
	attrReporter      = attribute.Key("mxroute.feedback.reporter")
	attrHostFailures  = attribute.Key("mxroute.feedback.host_failures")
	attrHostSuccesses = attribute.Key("mxroute.feedback.host_successes")
	attrNeutral       = attribute.Key("mxroute.feedback.neutral")
	attrBuffered      = attribute.Key("mxroute.feedback.buffered")
	attrAddress       = attribute.Key("mxroute.address")
	attrReporters     = attribute.Key("mxroute.health.reporters")
	attrUntil         = attribute.Key("mxroute.health.until")
	attrReason        = attribute.Key("mxroute.health.reason")
)

// telemetry holds the package's instruments.
type telemetry struct {
	tracer      trace.Tracer
	reports     metric.Int64Counter
	transitions metric.Int64Counter
	dropped     metric.Int64Counter
	shed        metric.Int64Counter
	storeErrors metric.Int64Counter
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, s *Service) (*telemetry, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	t := &telemetry{tracer: tp.Tracer(instrumentationName)}
	var err error
	if t.reports, err = m.Int64Counter("mxroute.feedback.reports",
		metric.WithDescription("Feedback reports accepted, by classification.")); err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	if t.transitions, err = m.Int64Counter("mxroute.health.transitions",
		metric.WithDescription("Address state transitions decided by this replica, by transition.")); err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	if t.dropped, err = m.Int64Counter("mxroute.feedback.buffer.dropped",
		metric.WithDescription("Buffered reports dropped because the buffer was full.")); err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	if t.shed, err = m.Int64Counter("mxroute.feedback.reports.shed",
		metric.WithDescription("Reports dropped because they were about new addresses and the health store holds Policy.MaxAddresses.")); err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	if t.storeErrors, err = m.Int64Counter("mxroute.redis.errors",
		metric.WithDescription("Failed health store calls, by operation.")); err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	demoted, err := m.Int64ObservableGauge("mxroute.health.demoted",
		metric.WithDescription("Non-healthy addresses in this replica's view, by state."))
	if err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	depth, err := m.Int64ObservableGauge("mxroute.feedback.buffer.depth",
		metric.WithDescription("Reports buffered while the health store is unreachable."))
	if err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	budget, err := m.Int64ObservableGauge("mxroute.health.budget_exhausted",
		metric.WithDescription("1 while the demotion budget blocks new demotions."))
	if err != nil {
		return nil, fmt.Errorf("create metric: %w", err)
	}
	stateDemoted := metric.WithAttributes(attribute.String("state", string(StateDemoted)))
	stateDrained := metric.WithAttributes(attribute.String("state", string(StateDrained)))
	// The registration lives as long as the Service: a Service is built
	// once per process, next to the MeterProvider it reports to.
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		nd, nr := s.view.load().counts(s.now())
		o.ObserveInt64(demoted, int64(nd), stateDemoted)
		o.ObserveInt64(demoted, int64(nr), stateDrained)
		o.ObserveInt64(depth, int64(s.buf.Len()))
		var b int64
		if s.budget.Load() {
			b = 1
		}
		o.ObserveInt64(budget, b)
		return nil
	}, demoted, depth, budget)
	if err != nil {
		return nil, fmt.Errorf("register metric callback: %w", err)
	}
	return t, nil
}

// recordTransitions counts transitions and adds them as events to the span
// in ctx (the caller's request span for Submit, Drain and Undrain).
func (t *telemetry) recordTransitions(ctx context.Context, trans []Transition) {
	span := trace.SpanFromContext(ctx)
	for _, tr := range trans {
		t.transitions.Add(ctx, 1, metric.WithAttributes(attribute.String("transition", string(tr.Kind))))
		if !span.IsRecording() {
			continue
		}
		attrs := []attribute.KeyValue{attrAddress.String(tr.Address.String())}
		if len(tr.Reporters) > 0 {
			attrs = append(attrs, attrReporters.StringSlice(tr.Reporters))
		}
		if !tr.Until.IsZero() {
			attrs = append(attrs, attrUntil.String(tr.Until.UTC().Format("2006-01-02T15:04:05.000Z07:00")))
		}
		if tr.Reason != "" {
			attrs = append(attrs, attrReason.String(tr.Reason))
		}
		span.AddEvent("mxroute.health."+string(tr.Kind), trace.WithAttributes(attrs...))
	}
}
