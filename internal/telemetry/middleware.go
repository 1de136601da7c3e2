package telemetry

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Middleware traces and measures every request with otelhttp, using t's
// providers and propagator (never the globals): a server span that
// continues the caller's W3C traceparent, and otelhttp's
// http.server.request.duration, http.server.request.body.size and
// http.server.response.body.size histograms.
//
// The span is named "{method} {route}" and gets http.route, with the route
// being chi's pattern (/route, not /route?domain=...): chi knows the pattern
// only after routing, so both are set once the handler returns, and the
// route is added to the metric attributes through otelhttp's Labeler.
// Requests that match no route keep the name "{method}" and no http.route,
// which keeps the metric series bounded when scanners probe random paths.
//
// Install it as the first middleware of the chi router (r.Use), or wrap the
// router with it: in the latter case it puts a chi routing context into the
// request for the router to fill in, the way a parent router does for a
// mounted one. Probes and scrapes (see untraced) get neither spans nor
// request metrics: at one probe every few seconds per pod they would
// outnumber real traffic in a quiet fleet's traces.
func Middleware(t *Telemetry) func(http.Handler) http.Handler {
	otelMiddleware := otelhttp.NewMiddleware("",
		otelhttp.WithTracerProvider(t.TracerProvider()),
		otelhttp.WithMeterProvider(t.MeterProvider()),
		otelhttp.WithPropagators(t.Propagator()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untraced(r.URL.Path) }))
	return func(next http.Handler) http.Handler {
		return otelMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			rctx := chi.RouteContext(ctx)
			if rctx == nil {
				rctx = chi.NewRouteContext()
				if routes, ok := next.(chi.Routes); ok {
					rctx.Routes = routes
				}
				r = r.WithContext(context.WithValue(ctx, chi.RouteCtxKey, rctx))
			}
			next.ServeHTTP(w, r)

			route := rctx.RoutePattern()
			if route == "" {
				return
			}
			span := trace.SpanFromContext(ctx)
			span.SetName(spanName(r.Method, route))
			span.SetAttributes(semconv.HTTPRoute(route))
			if l, ok := otelhttp.LabelerFromContext(ctx); ok {
				l.Add(semconv.HTTPRoute(route))
			}
		}))
	}
}

// untraced reports the paths Middleware leaves out: liveness, readiness
// and the metrics scrape.
func untraced(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// spanName follows the HTTP semantic conventions: "{method} {route}", with
// methods outside the standard set replaced by "HTTP" so that arbitrary
// client input cannot multiply span names.
func spanName(method, route string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
	default:
		method = "HTTP"
	}
	return method + " " + route
}
