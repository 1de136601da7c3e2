// Package handlers is the HTTP glue of mxroute: it decodes requests into
// calls on the routing, feedback and check services and encodes their
// answers, as the OpenAPI contract (api/openapi.yaml) says. It never does
// DNS or Redis itself.
//
// The strict server interface generated from the contract wants one type
// with every operation as a method. Rather than a god object holding every
// dependency, Server is assembled from small handler types, one per area,
// each holding only what it uses.
package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/auth"
)

// Deps are what the HTTP surface needs.
type Deps struct {
	Planner   Planner
	Reports   ReportSink
	Hosts     HostRegistry
	Checker   Checker
	Readiness Readiness
	// Tokens enables authentication when non-nil and loaded.
	Tokens *auth.Tokens
	// Metrics serves GET /metrics; nil leaves it out.
	Metrics http.Handler
	// Middleware wraps every request first, outermost first; telemetry
	// goes here so that it sees the chi route pattern.
	Middleware []func(http.Handler) http.Handler
	// FeedbackRate is the number of POST /feedback requests one reporter
	// may make per second. Default 50.
	FeedbackRate int
	// Logger receives panics and faults. Default slog.Default().
	Logger *slog.Logger
}

// server implements the generated strict interface by composition.
type server struct {
	routeHandlers
	feedbackHandlers
	hostHandlers
	checkHandlers
	opsHandlers
}

var _ apigen.StrictServerInterface = server{}

// public paths never need a token: probes and scrapers carry none.
var public = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/openapi.yaml": true}

// NewServer builds the whole HTTP surface; routes.go of the Mat Ryer
// layout, in one function.
func NewServer(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.FeedbackRate <= 0 {
		d.FeedbackRate = 50
	}
	s := server{
		routeHandlers:    routeHandlers{planner: d.Planner},
		feedbackHandlers: feedbackHandlers{sink: d.Reports},
		hostHandlers:     hostHandlers{hosts: d.Hosts},
		checkHandlers:    checkHandlers{checker: d.Checker},
		opsHandlers:      opsHandlers{ready: d.Readiness, spec: apigen.SpecYAML},
	}
	r := chi.NewRouter()
	r.Use(d.Middleware...)
	r.Use(recoverer(d.Logger))
	r.Use(authenticate(d.Tokens))
	r.Use(limitBody)
	r.Use(feedbackLimiter(d.FeedbackRate))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem(http.StatusNotFound, "not-found", "Not found", r.URL.Path+" is not part of the API; see /openapi.yaml"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", r.Method+" is not allowed on "+r.URL.Path))
	})
	if d.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", d.Metrics)
	}
	strict := apigen.NewStrictHandlerWithOptions(s, nil, apigen.StrictHTTPServerOptions{
		RequestErrorHandlerFunc:  requestError,
		ResponseErrorHandlerFunc: responseError,
	})
	return apigen.HandlerWithOptions(strict, apigen.ChiServerOptions{
		BaseRouter:       r,
		ErrorHandlerFunc: requestError,
	})
}

// authenticate puts the caller's identity in the context, and with tokens
// configured turns away requests without a valid one.
func authenticate(tokens *auth.Tokens) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if public[r.URL.Path] {
				next.ServeHTTP(w, r)
				return
			}
			id, err := tokens.Identify(r)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mxroute"`)
				writeProblem(w, problem(http.StatusUnauthorized, "unauthorized", "Unauthorized", err.Error()))
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
		})
	}
}

// limitBody caps request bodies; the feedback contract allows 1 MiB.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// feedbackLimiter rate-limits POST /feedback per reporter, so one runaway
// sender cannot flood the health store for everyone.
func feedbackLimiter(perSecond int) func(http.Handler) http.Handler {
	limit := httprate.Limit(perSecond, time.Second,
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
			id, _ := auth.FromContext(r.Context())
			return id.Name, nil
		}),
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", retryAfter(1))
			writeProblem(w, problem(http.StatusTooManyRequests, "rate-limited", "Too many requests",
				fmt.Sprintf("at most %d feedback requests per second per reporter", perSecond)))
		}),
	)
	return func(next http.Handler) http.Handler {
		limited := limit(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/feedback" {
				limited.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// recoverer turns a panic into a logged 500 problem instead of a dropped
// connection. No handler should panic; this is the last line.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					writeProblem(w, problem(http.StatusInternalServerError, "internal", "Internal error", ""))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
