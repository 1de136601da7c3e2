package feedback

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestRunStopsWithContext(t *testing.T) {
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{ResyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	if _, err := svc.Submit(ctx, []Report{{Address: ip("192.0.2.1"), Outcome: OutcomeSuccess, Stage: StageConnect}}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if err := svc.Flush(context.Background()); err != nil {
		t.Fatalf("Flush with nothing buffered = %v", err)
	}
	if st := svc.Status(); st.Store != "memory" || st.Degraded || st.ViewAge != 0 {
		t.Fatalf("status = %+v", st)
	}
}

func TestTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	clock := newFakeClock()
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{
		Policy: testPolicy(), Now: clock.Now, Rand: rand.NewPCG(1, 1), MeterProvider: mp, TracerProvider: tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := ip("192.0.2.7")
	for _, r := range []string{"r1", "r2"} {
		ctx, span := tp.Tracer("test").Start(context.Background(), "POST /feedback")
		var batch []Report
		for range 3 {
			batch = append(batch, Report{Address: addr, Outcome: OutcomeFailure, Stage: StageTLS, Reporter: r})
		}
		batch = append(batch, Report{Address: addr, Outcome: OutcomeFailure, Stage: StageRcpt, SMTPCode: 550, Reporter: r})
		if _, err := svc.Submit(ctx, batch); err != nil {
			t.Fatal(err)
		}
		span.End()
	}

	ended := spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want 2", len(ended))
	}
	last := ended[1]
	attrs := attribute.NewSet(last.Attributes()...)
	if v, _ := attrs.Value(attrReporter); v.AsString() != "r2" {
		t.Errorf("reporter attribute = %q", v.AsString())
	}
	if v, _ := attrs.Value(attrHostFailures); v.AsInt64() != 3 {
		t.Errorf("host_failures attribute = %d", v.AsInt64())
	}
	if v, _ := attrs.Value(attrNeutral); v.AsInt64() != 1 {
		t.Errorf("neutral attribute = %d", v.AsInt64())
	}
	var found bool
	for _, e := range last.Events() {
		if e.Name == "mxroute.health.demoted" {
			found = true
			set := attribute.NewSet(e.Attributes...)
			if v, _ := set.Value(attrAddress); v.AsString() != addr.String() {
				t.Errorf("event address = %q", v.AsString())
			}
			if v, _ := set.Value(attrReporters); len(v.AsStringSlice()) != 2 {
				t.Errorf("event reporters = %v", v.AsStringSlice())
			}
		}
	}
	if !found {
		t.Errorf("no mxroute.health.demoted event in %+v", last.Events())
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name+pointAttrs(p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					got[m.Name+pointAttrs(p.Attributes)] = p.Value
				}
			}
		}
	}
	for name, want := range map[string]int64{
		"mxroute.feedback.reports{classification=host_failure}": 6,
		"mxroute.feedback.reports{classification=neutral}":      2,
		"mxroute.health.transitions{transition=demoted}":        1,
		"mxroute.health.demoted{state=demoted}":                 1,
		"mxroute.health.demoted{state=drained}":                 0,
		"mxroute.feedback.buffer.depth":                         0,
		"mxroute.health.budget_exhausted":                       0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %d (present %v), want %d; all: %v", name, v, ok, want, got)
		}
	}
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func pointAttrs(s attribute.Set) string {
	if s.Len() == 0 {
		return ""
	}
	out := "{"
	for i, kv := range s.ToSlice() {
		if i > 0 {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.Emit()
	}
	return out + "}"
}
