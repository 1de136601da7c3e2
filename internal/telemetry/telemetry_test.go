package telemetry

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env returns a getenv reading from m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// setup calls Setup and shuts the result down at the end of the test.
func setup(t *testing.T, vars map[string]string, opts Options) *Telemetry {
	t.Helper()
	tel, err := Setup(t.Context(), env(vars), opts)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// scrape returns the Prometheus exposition of tel.
func scrape(t *testing.T, tel *Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// addThings records n on the test counter mxroute.test.things.
func addThings(t *testing.T, mp metric.MeterProvider, n int64) {
	t.Helper()
	c, err := mp.Meter("test").Int64Counter("mxroute.test.things", metric.WithUnit("{thing}"))
	if err != nil {
		t.Fatalf("counter: %v", err)
	}
	c.Add(t.Context(), n, metric.WithAttributes(attribute.String("color", "red")))
}

// syncBuffer is a bytes.Buffer safe for the exporters' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSetupEmptyEnvIsNoopTracingWithMetrics(t *testing.T) {
	tel := setup(t, nil, Options{})

	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "op")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("span: recording %v, valid %v; want a no-op span", span.IsRecording(), span.SpanContext().IsValid())
	}
	span.End()

	addThings(t, tel.MeterProvider(), 3)
	body := scrape(t, tel)
	for _, want := range []string{
		`mxroute_test_things_total{color="red",otel_scope_name="test",otel_scope_schema_url="",otel_scope_version=""} 3`,
		`target_info{`,
		`service_name="mxroute"`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q; got:\n%s", want, body)
		}
	}
}

func TestRegistriesArePerTelemetry(t *testing.T) {
	a := setup(t, nil, Options{ServiceName: "a"})
	b := setup(t, nil, Options{ServiceName: "b"})
	addThings(t, a.MeterProvider(), 1)

	if got := scrape(t, b); strings.Contains(got, "mxroute_test_things") {
		t.Errorf("b's /metrics shows a's counter:\n%s", got)
	}
	if got := scrape(t, a); !strings.Contains(got, "mxroute_test_things_total") || !strings.Contains(got, `service_name="a"`) {
		t.Errorf("a's /metrics lacks its counter or name:\n%s", got)
	}
}

func TestOTLPHTTPExportsOnShutdown(t *testing.T) {
	col, url := startHTTPCollector(t)
	tel, err := Setup(t.Context(), env(map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_METRICS_EXPORTER":       "otlp,prometheus",
		"OTEL_EXPORTER_OTLP_ENDPOINT": url + "/",
		"OTEL_EXPORTER_OTLP_HEADERS":  "x-token=abc%20def",
		"OTEL_SERVICE_NAME":           "mxroute-test",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=test,service.name=ignored",
	}), Options{ServiceVersion: "1.2.3"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "test.op",
		trace.WithAttributes(attribute.String("mxroute.domain", "example.com")))
	span.End()
	addThings(t, tel.MeterProvider(), 2)

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}

	spans := col.spans()
	if len(spans) != 1 {
		t.Fatalf("collector got %d spans, want 1: %+v", len(spans), spans)
	}
	s := spans[0]
	if s.Name != "test.op" || s.Attrs["mxroute.domain"] != "example.com" || s.TraceID != span.SpanContext().TraceID().String() {
		t.Errorf("span = %+v; want test.op, mxroute.domain=example.com, trace %s", s, span.SpanContext().TraceID())
	}
	for k, want := range map[string]string{
		"service.name":                "mxroute-test",
		"service.version":             "1.2.3",
		"deployment.environment.name": "test",
		"telemetry.sdk.language":      "go",
	} {
		if got := s.Resource[k]; got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	if !col.metricNames()["mxroute.test.things"] {
		t.Errorf("collector metrics %v lack mxroute.test.things", col.metricNames())
	}
	for _, h := range col.exportHeaders() {
		if h["X-Token"] != "abc def" {
			t.Errorf("export header X-Token = %q, want %q", h["X-Token"], "abc def")
		}
	}
}

func TestOTLPGRPCExportsOnShutdown(t *testing.T) {
	col, url := startGRPCCollector(t)
	tel, err := Setup(t.Context(), env(map[string]string{
		"OTEL_TRACES_EXPORTER":                "otlp",
		"OTEL_METRICS_EXPORTER":               "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL":         "grpc",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":  url,
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": url,
		"OTEL_EXPORTER_OTLP_COMPRESSION":      "gzip",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":   "x-token=t",
	}), Options{})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "test.grpc")
	span.End()
	addThings(t, tel.MeterProvider(), 1)
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans := col.spans()
	if len(spans) != 1 || spans[0].Name != "test.grpc" || spans[0].Resource["service.name"] != "mxroute" {
		t.Fatalf("collector got spans %+v, want one test.grpc from service mxroute", spans)
	}
	if !col.metricNames()["mxroute.test.things"] {
		t.Errorf("collector metrics %v lack mxroute.test.things", col.metricNames())
	}
}

func TestSamplers(t *testing.T) {
	sampledParent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	unsampledParent := sampledParent.WithTraceFlags(0)

	tests := []struct {
		sampler, arg string
		parent       trace.SpanContext
		want         bool // recorded and exported
	}{
		{"", "", trace.SpanContext{}, true},
		{"always_on", "", trace.SpanContext{}, true},
		{"always_off", "", sampledParent, false},
		{"traceidratio", "0", trace.SpanContext{}, false},
		{"traceidratio", "0", sampledParent, false},
		{"traceidratio", "1", trace.SpanContext{}, true},
		{"traceidratio", "", trace.SpanContext{}, true},
		{"parentbased_traceidratio", "0", trace.SpanContext{}, false},
		{"parentbased_traceidratio", "0", sampledParent, true},
		{"parentbased_always_on", "", unsampledParent, false},
		{"parentbased_always_on", "", trace.SpanContext{}, true},
		{"parentbased_always_off", "", trace.SpanContext{}, false},
		{"parentbased_always_off", "", sampledParent, true},
	}
	for _, tt := range tests {
		name := tt.sampler + "/" + tt.arg
		if tt.parent.IsValid() {
			name += "/sampled=" + tt.parent.TraceFlags().String()
		}
		t.Run(name, func(t *testing.T) {
			out := &syncBuffer{}
			tel, err := Setup(t.Context(), env(map[string]string{
				"OTEL_TRACES_EXPORTER":    "console",
				"OTEL_TRACES_SAMPLER":     tt.sampler,
				"OTEL_TRACES_SAMPLER_ARG": tt.arg,
			}), Options{LogWriter: out})
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			ctx := t.Context()
			if tt.parent.IsValid() {
				ctx = trace.ContextWithRemoteSpanContext(ctx, tt.parent)
			}
			_, span := tel.TracerProvider().Tracer("test").Start(ctx, "sampled.op")
			recording := span.IsRecording()
			span.End()
			if err := tel.Shutdown(t.Context()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			exported := strings.Contains(out.String(), `"Name":"sampled.op"`)
			if recording != tt.want || span.SpanContext().IsSampled() != tt.want || exported != tt.want {
				t.Errorf("span recording %v, sampled %v, exported %v; want %v",
					recording, span.SpanContext().IsSampled(), exported, tt.want)
			}
			if tt.parent.IsValid() && span.SpanContext().TraceID() != tt.parent.TraceID() {
				t.Errorf("trace id %s, want the parent's %s", span.SpanContext().TraceID(), tt.parent.TraceID())
			}
		})
	}
}

func TestPropagatorIsTraceContextAndBaggage(t *testing.T) {
	tel := setup(t, nil, Options{})
	got := tel.Propagator().Fields()
	for _, want := range []string{"traceparent", "tracestate", "baggage"} {
		found := false
		for _, f := range got {
			found = found || f == want
		}
		if !found {
			t.Errorf("Propagator().Fields() = %v, lacks %s", got, want)
		}
	}
	carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	sc := trace.SpanContextFromContext(tel.Propagator().Extract(t.Context(), carrier))
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() {
		t.Errorf("extracted %v, want trace 4bf92f3577b34da6a3ce929d0e0e4736 sampled", sc)
	}
}

func TestSetupRejectsBadConfig(t *testing.T) {
	tests := []struct {
		vars    map[string]string
		wantErr string
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "prometheus"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_METRICS_EXPORTER": "otlp,statsd"}, "OTEL_METRICS_EXPORTER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=1,b"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x/"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "5s"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"},
		{map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION"},
		{map[string]string{"OTEL_METRICS_EXPORTER": "console", "OTEL_METRIC_EXPORT_INTERVAL": "0"}, "OTEL_METRIC_EXPORT_INTERVAL"},
		// The trace exporter is built before the metric one fails: Setup
		// must shut it down again (goleak checks).
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "bogus"}, "OTEL_METRICS_EXPORTER"},
	}
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			tel, err := Setup(t.Context(), env(tt.vars), Options{})
			if err == nil {
				_ = tel.Shutdown(t.Context())
				t.Fatalf("Setup(%v) = nil error, want one naming %s", tt.vars, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr+" ") && !strings.Contains(err.Error(), tt.wantErr+":") {
				t.Errorf("Setup(%v) = %v, want an error naming %s", tt.vars, err, tt.wantErr)
			}
		})
	}
}

func TestOTLPEndpointResolution(t *testing.T) {
	tests := []struct {
		vars         map[string]string
		signal, path string
		wantProtocol string
		wantEndpoint string
	}{
		{nil, "TRACES", "/v1/traces", "http/protobuf", "http://localhost:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "TRACES", "/v1/traces", "grpc", "http://localhost:4317"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example:4318/base/"}, "METRICS", "/v1/metrics", "http/protobuf", "https://otel.example:4318/base/v1/metrics"},
		{map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://generic:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
		}, "TRACES", "/v1/traces", "http/protobuf", "http://traces:9999/custom"},
		{map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL":         "grpc",
			"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://generic:4318",
		}, "METRICS", "/v1/metrics", "http/protobuf", "http://generic:4318/v1/metrics"},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317"}, "TRACES", "/v1/traces", "grpc", "https://collector:4317"},
	}
	for _, tt := range tests {
		s, err := otlpFromEnv(env(tt.vars), tt.signal, tt.path)
		if err != nil {
			t.Errorf("otlpFromEnv(%v, %s): %v", tt.vars, tt.signal, err)
			continue
		}
		if s.protocol != tt.wantProtocol || s.endpoint != tt.wantEndpoint {
			t.Errorf("otlpFromEnv(%v, %s) = %s %s, want %s %s", tt.vars, tt.signal, s.protocol, s.endpoint, tt.wantProtocol, tt.wantEndpoint)
		}
	}
}

func TestConsoleMetricsExporter(t *testing.T) {
	out := &syncBuffer{}
	tel, err := Setup(t.Context(), env(map[string]string{"OTEL_METRICS_EXPORTER": "console"}), Options{LogWriter: out})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	addThings(t, tel.MeterProvider(), 5)
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !strings.Contains(out.String(), `"Name":"mxroute.test.things"`) {
		t.Errorf("console output lacks mxroute.test.things:\n%s", out)
	}
}
