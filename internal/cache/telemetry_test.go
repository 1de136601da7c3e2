package cache

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	up, clock := newUpstream(), newClock()
	up.set(mxAnswer("example.com.", time.Minute, "mx.example.com."))
	c := newCache(t, up, clock, Config{TracerProvider: tp, MeterProvider: mp})

	ctx, route := tp.Tracer("test").Start(context.Background(), "route")
	for range 3 { // miss, hit, hit
		if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(time.Minute)
	up.fail(errUpstream)
	if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil { // stale
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, "down.example.", dns.TypeA); err == nil { // error
		t.Fatal("Lookup of a failing name: nil error")
	}
	route.End()
	settle(c) // a refresh slower than StaleAnswerAfter ends its span later

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	var entries int64 = -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case metricLookups:
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					v, _ := dp.Attributes.Value("result")
					counts[v.AsString()] += dp.Value
				}
			case metricEntries:
				entries = m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
			}
		}
	}
	want := map[string]int64{"miss": 1, "hit": 2, "stale": 1, "error": 1}
	for r, n := range want {
		if counts[r] != n {
			t.Errorf("%s{result=%s} = %d, want %d (all: %v)", metricLookups, r, counts[r], n, counts)
		}
	}
	if entries != 2 {
		t.Errorf("%s = %d, want 2", metricEntries, entries)
	}

	var events []string
	fills := 0
	for _, s := range spans.Ended() {
		switch s.Name() {
		case "route":
			for _, e := range s.Events() {
				if e.Name == EventLookup {
					events = append(events, attr(e.Attributes, AttrResult)+" "+attr(e.Attributes, "dns.question.name")+" "+attr(e.Attributes, "dns.question.type"))
				}
			}
		case spanFill:
			fills++
			if s.Parent().SpanID() != route.SpanContext().SpanID() {
				t.Errorf("fill span parent = %v, want the route span", s.Parent().SpanID())
			}
		}
	}
	wantEvents := []string{"miss example.com. MX", "hit example.com. MX", "hit example.com. MX", "stale example.com. MX", "error down.example. A"}
	if len(events) != len(wantEvents) {
		t.Fatalf("route span events = %q, want %q", events, wantEvents)
	}
	for i := range events {
		if events[i] != wantEvents[i] {
			t.Errorf("route span event %d = %q, want %q", i, events[i], wantEvents[i])
		}
	}
	if fills != 3 {
		t.Errorf("fill spans = %d, want 3 (one per upstream lookup, none per hit)", fills)
	}
}

func attr(kvs []attribute.KeyValue, k string) string {
	for _, kv := range kvs {
		if string(kv.Key) == k {
			return kv.Value.String()
		}
	}
	return ""
}

func TestResultString(t *testing.T) {
	for r, want := range map[Result]string{ResultMiss: "miss", ResultHit: "hit", ResultStale: "stale", ResultError: "error", 9: "Result(9)"} {
		if got := r.String(); got != want {
			t.Errorf("Result(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}
