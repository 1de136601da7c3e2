package feedback

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
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

	// Each POST /feedback, sent alone, makes its own store call: a child
	// span, which carries the transitions that call caused.
	ended := spans.Ended()
	if len(ended) != 4 {
		t.Fatalf("%d spans, want 4", len(ended))
	}
	post, last := ended[3], ended[2]
	if post.Name() != "POST /feedback" || last.Name() != "feedback.apply" || last.Parent().SpanID() != post.SpanContext().SpanID() {
		t.Fatalf("spans %s, %s: want feedback.apply, child of POST /feedback", last.Name(), post.Name())
	}
	attrs := attribute.NewSet(post.Attributes()...)
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
		out += string(kv.Key) + "=" + kv.Value.String()
	}
	return out + "}"
}

// TestShedTelemetry: reports shed at the address bound are counted in
// mxroute.feedback.reports.shed and logged once when the bound is reached.
func TestShedTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var logs strings.Builder
	p := testPolicy()
	p.MaxAddresses = 2
	p.ReporterNewAddresses = 0 // the bound as such: new addresses shed
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{
		Policy: p, Now: newFakeClock().Now, MeterProvider: mp,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		batch := []Report{
			connectFailure("192.0.2.1", "r1"),
			connectFailure(fmt.Sprintf("192.0.2.%d", 10+i), "r1"),
			connectFailure(fmt.Sprintf("192.0.2.%d", 10+i), "r1"),
		}
		if n, err := svc.Submit(context.Background(), batch); n != 3 || err != nil {
			t.Fatalf("Submit = %d, %v; want all 3 accepted", n, err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var shed int64 = -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "mxroute.feedback.reports.shed" {
				shed = d.DataPoints[0].Value
			}
		}
	}
	if shed != 4 || svc.Status().Shed != 4 {
		t.Errorf("shed metric %d, Status.Shed %d; want 4 (two batches' reports about a third and fourth address)", shed, svc.Status().Shed)
	}
	if n := strings.Count(logs.String(), "address limit"); n != 1 {
		t.Errorf("logged the limit %d times, want once:\n%s", n, logs.String())
	}
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
