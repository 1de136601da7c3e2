package telemetry

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const middlewareScope = "github.com/mxroute/mxroute/internal/telemetry"

// durationBuckets are the HTTP semantic conventions' advised boundaries
// for http.server.request.duration, the ones otelhttp used.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// MiddlewareOptions configures Middleware.
type MiddlewareOptions struct {
	// Skip reports the paths that get neither spans nor request metrics:
	// the router's probes and scrape. At one probe every few seconds per
	// pod they would outnumber real traffic in a quiet fleet's traces. The
	// router owns the list; nil traces every path.
	Skip func(path string) bool
}

// Middleware traces and measures every request, using t's providers and
// propagator (never the globals): a server span that continues the
// caller's W3C traceparent, and the http.server.request.duration histogram
// (seconds) with http.request.method, http.route, http.response.status_code,
// network.protocol.name, network.protocol.version and url.scheme; the
// names and attributes otelhttp gives them (TestParityWithOtelhttp).
//
// It stands in for otelhttp, which builds its semantic-convention
// attributes, server address and port from the Host header included, on
// every request, traced or not. Here the metric's attribute sets are built
// once per (method, route, status, protocol, scheme) and kept; every part
// is bounded (unknown methods become _OTHER, route is chi's pattern or
// absent), so the set stays small whatever clients send. Span attributes
// are built only for a span that is recorded, and with tracing off
// (t.TracingEnabled) no span is started at all.
//
// The span is named "{method} {route}" and gets http.route, with the route
// being chi's pattern (/route, not /route?domain=...): chi knows the pattern
// only after routing, so both are set once the handler returns. Requests
// that match no route keep the name "{method}" and no http.route, which
// keeps the series bounded when scanners probe random paths.
//
// Install it with the chi router's Use, first: it reads the route pattern
// from the routing context chi puts into the request before its
// middlewares run.
func Middleware(t *Telemetry, opts MiddlewareOptions) func(http.Handler) http.Handler {
	// Meters fail only on an invalid instrument name or unit, constants
	// here; the SDK then still returns a working instrument, so the error
	// has nothing to add at run time.
	m, _ := newServerMetrics(t.MeterProvider())
	tracer := t.TracerProvider().Tracer(middlewareScope)
	// With tracing off there is no span to start: the no-op tracer would
	// only wrap the context once more. The caller's span context, which
	// Extract has put into the context, stays visible either way (route
	// ids echo it).
	tracing := t.TracingEnabled()
	skip := opts.Skip
	if skip == nil {
		skip = func(string) bool { return false }
	}
	startOpts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	prop := t.Propagator()
	var fields []string
	for _, f := range prop.Fields() {
		fields = append(fields, http.CanonicalHeaderKey(f))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if skip(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			start := time.Now()
			method := normalMethod(r.Method)
			ctx, changed := r.Context(), false
			if hasAny(r.Header, fields) {
				ctx, changed = prop.Extract(ctx, propagation.HeaderCarrier(r.Header)), true
			}
			span := trace.SpanFromContext(ctx)
			if tracing {
				ctx, span = tracer.Start(ctx, spanName(method, ""), startOpts...)
				changed = true
			}
			recording := span.IsRecording()
			if recording {
				span.SetAttributes(
					semconv.HTTPRequestMethodKey.String(method),
					semconv.URLPath(r.URL.Path),
					semconv.URLScheme(scheme(r)),
					semconv.NetworkProtocolVersion(protoVersion(r)),
					semconv.ClientAddress(r.RemoteAddr),
					semconv.UserAgentOriginal(r.UserAgent()),
				)
			}
			sw := &statusWriter{ResponseWriter: w}
			if changed {
				// A request copy costs an allocation: with tracing off and
				// no propagation header, it is skipped.
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(sw, r)

			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			var route string
			if rctx := chi.RouteContext(ctx); rctx != nil {
				route = rctx.RoutePattern()
			}
			if recording {
				span.SetAttributes(semconv.HTTPResponseStatusCode(status))
				if route != "" {
					span.SetName(spanName(method, route))
					span.SetAttributes(semconv.HTTPRoute(route))
				}
				if status >= 500 {
					span.SetStatus(codes.Error, "")
				}
			}
			if tracing {
				span.End()
			}
			m.duration.Record(ctx, time.Since(start).Seconds(),
				m.attrs(metricKey{method: method, route: route, status: status, proto: protoVersion(r), tls: r.TLS != nil})...)
		})
	}
}

// serverMetrics holds the request duration histogram and its attribute
// sets, built once per key so that recording allocates nothing.
type serverMetrics struct {
	duration metric.Float64Histogram
	sets     sync.Map // metricKey -> []metric.RecordOption
}

// metricKey is what the histogram's attributes are made of. Every field
// has few values, whatever the clients send.
type metricKey struct {
	method, route, proto string
	status               int
	tls                  bool
}

func newServerMetrics(mp metric.MeterProvider) (*serverMetrics, error) {
	h, err := mp.Meter(middlewareScope).Float64Histogram("http.server.request.duration",
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		err = fmt.Errorf("histogram http.server.request.duration: %w", err)
	}
	if h == nil {
		h = metricnoop.Float64Histogram{}
	}
	return &serverMetrics{duration: h}, err
}

// attrs returns the record options for k. They are whole variadic slices:
// passing one option would make Record allocate a new slice per call.
func (m *serverMetrics) attrs(k metricKey) []metric.RecordOption {
	if o, ok := m.sets.Load(k); ok {
		return o.([]metric.RecordOption)
	}
	scheme := "http"
	if k.tls {
		scheme = "https"
	}
	kv := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(k.method),
		semconv.HTTPResponseStatusCode(k.status),
		semconv.NetworkProtocolName("http"),
		semconv.NetworkProtocolVersion(k.proto),
		semconv.URLScheme(scheme),
	}
	if k.route != "" {
		kv = append(kv, semconv.HTTPRoute(k.route))
	}
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
	m.sets.Store(k, o)
	return o
}

// statusWriter remembers the status code the handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b) //nolint:wrapcheck // the caller's own writer's error
}

// Unwrap lets http.ResponseController reach the connection's writer
// (flushing, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hasAny reports whether h has any of the header fields (in canonical
// form: Get would canonicalise, and allocate, on every call): a
// propagator finds nothing to extract without them.
func hasAny(h http.Header, fields []string) bool {
	for _, f := range fields {
		if len(h[f]) > 0 {
			return true
		}
	}
	return false
}

// normalMethod maps methods outside the standard set to "_OTHER", as the
// HTTP semantic conventions ask, so that arbitrary client input cannot
// multiply span names or metric series.
func normalMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// spanName follows the HTTP semantic conventions: "{method} {route}", with
// methods outside the standard set replaced by "HTTP".
func spanName(method, route string) string {
	if method == "_OTHER" {
		method = "HTTP"
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// protoVersion is network.protocol.version: "1.1", "2", ...
func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	}
	return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
}
