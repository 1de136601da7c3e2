package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
)

// BenchmarkMiddleware measures what Middleware adds to a chi route, with
// tracing off (the default), with an SDK provider that samples nothing,
// and with one that samples and exports everything (console exporter to
// io.Discard, so the batch encoding runs on another goroutine).
func BenchmarkMiddleware(b *testing.B) {
	for _, bc := range []struct {
		name string
		vars map[string]string // nil: no middleware at all
	}{
		{"bare", nil},
		{"noop", map[string]string{}},
		{"always_off", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_off"}},
		{"always_on", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_on"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := chi.NewRouter()
			if bc.vars != nil {
				tel, err := Setup(b.Context(), env(bc.vars), Options{LogWriter: io.Discard})
				if err != nil {
					b.Fatalf("Setup: %v", err)
				}
				defer func() { _ = tel.Shutdown(context.Background()) }()
				r.Use(Middleware(tel, MiddlewareOptions{}))
			}
			r.Get("/route", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
			req := httptest.NewRequest(http.MethodGet, "/route?domain=example.com", nil)
			b.ReportAllocs()
			for b.Loop() {
				r.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkLogger measures the trace handler's cost on a log line written
// inside a recording span, against the bare JSON handler.
func BenchmarkLogger(b *testing.B) {
	tel, err := Setup(b.Context(), env(map[string]string{"OTEL_TRACES_EXPORTER": "console"}), Options{LogWriter: io.Discard})
	if err != nil {
		b.Fatalf("Setup: %v", err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	ctx, span := tel.TracerProvider().Tracer("bench").Start(b.Context(), "op")
	defer span.End()

	b.Run("in_span", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tel.Logger().InfoContext(ctx, "planned", "domain", "example.com")
		}
	})
	b.Run("no_span", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tel.Logger().InfoContext(b.Context(), "planned", "domain", "example.com")
		}
	})
}
