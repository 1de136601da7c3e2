package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// observed is what one instrumentation recorded for one request.
type observed struct {
	spanName    string
	spanKind    trace.SpanKind
	spanAttrs   map[attribute.Key]attribute.Value
	metricName  string
	metricUnit  string
	bounds      []float64
	metricAttrs map[attribute.Key]attribute.Value
}

// TestParityWithOtelhttp runs the same requests through Middleware and
// through otelhttp, the instrumentation it stands in for, and checks that
// every span and metric attribute Middleware records is one otelhttp
// records too, with the same value; and that the span kind, the
// histogram's name, unit and buckets are the same. A change of semantic
// conventions in either then fails here instead of in a dashboard.
func TestParityWithOtelhttp(t *testing.T) {
	for _, path := range []string{"/items/42", "/nowhere"} {
		ours := observe(t, path, func(tp trace.TracerProvider, mp *sdkmetric.MeterProvider, r chi.Router) http.Handler {
			sr := tp.(*sdktrace.TracerProvider)
			tel := &Telemetry{tracerProvider: sr, meterProvider: mp, propagator: propagation.TraceContext{}, shutdownTraces: sr.Shutdown}
			r.Use(Middleware(tel, MiddlewareOptions{}))
			return r
		})
		theirs := observe(t, path, func(tp trace.TracerProvider, mp *sdkmetric.MeterProvider, r chi.Router) http.Handler {
			return otelhttp.NewHandler(r, "server",
				otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
				otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
		})
		if ours.spanKind != theirs.spanKind {
			t.Errorf("%s: span kind %v, otelhttp's %v", path, ours.spanKind, theirs.spanKind)
		}
		// otelhttp cannot see chi's pattern: it names the span by method,
		// and Middleware adds the route once chi has matched one.
		if want := theirs.spanName; path == "/nowhere" && ours.spanName != want {
			t.Errorf("%s: span %q, otelhttp's %q", path, ours.spanName, want)
		}
		compareAttrs(t, path+" span", ours.spanAttrs, theirs.spanAttrs, semconvRoute)
		if ours.metricName != theirs.metricName || ours.metricUnit != theirs.metricUnit || !slices.Equal(ours.bounds, theirs.bounds) {
			t.Errorf("%s: histogram %s (%s) %v, otelhttp's %s (%s) %v", path,
				ours.metricName, ours.metricUnit, ours.bounds, theirs.metricName, theirs.metricUnit, theirs.bounds)
		}
		compareAttrs(t, path+" metric", ours.metricAttrs, theirs.metricAttrs, semconvRoute)
	}
}

const semconvRoute = attribute.Key("http.route")

// compareAttrs checks that every attribute in ours is in theirs with the
// same value, except except, which only Middleware can know.
func compareAttrs(t *testing.T, what string, ours, theirs map[attribute.Key]attribute.Value, except attribute.Key) {
	t.Helper()
	if len(ours) == 0 {
		t.Errorf("%s: Middleware recorded no attributes", what)
	}
	for k, v := range ours {
		if k == except {
			continue
		}
		tv, ok := theirs[k]
		if !ok {
			t.Errorf("%s: Middleware records %s=%s, otelhttp has no %s (it has %v)", what, k, v.String(), k, keys(theirs))
			continue
		}
		if k == "client.address" {
			continue // the client's port differs between the two requests
		}
		if v != tv {
			t.Errorf("%s: %s = %s, otelhttp's %s", what, k, v.String(), tv.String())
		}
	}
}

func keys(m map[attribute.Key]attribute.Value) []attribute.Key {
	var out []attribute.Key
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// observe serves one GET of path through the handler install builds around
// a chi router, and returns the server span and the duration histogram.
func observe(t *testing.T, path string, install func(trace.TracerProvider, *sdkmetric.MeterProvider, chi.Router) http.Handler) observed {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := chi.NewRouter()
	h := install(tp, mp, r)
	r.Get("/items/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "parity-test")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	srv.Close()

	var o observed
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("GET %s: %d spans, want 1", path, len(spans))
	}
	o.spanName, o.spanKind = spans[0].Name(), spans[0].SpanKind()
	o.spanAttrs = map[attribute.Key]attribute.Value{}
	for _, kv := range spans[0].Attributes() {
		o.spanAttrs[kv.Key] = kv.Value
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if m.Name != "http.server.request.duration" || !ok || len(h.DataPoints) != 1 {
				continue
			}
			o.metricName, o.metricUnit, o.bounds = m.Name, m.Unit, h.DataPoints[0].Bounds
			o.metricAttrs = map[attribute.Key]attribute.Value{}
			for _, kv := range h.DataPoints[0].Attributes.ToSlice() {
				o.metricAttrs[kv.Key] = kv.Value
			}
		}
	}
	if o.metricName == "" {
		t.Fatalf("GET %s: no http.server.request.duration data point", path)
	}
	return o
}
