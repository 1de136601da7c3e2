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
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/auth"
	"github.com/mxroute/mxroute/internal/events"
)

// Deps are what the HTTP surface needs.
type Deps struct {
	Planner   Planner
	Reports   ReportSink
	Hosts     HostRegistry
	Checker   Checker
	Readiness Readiness
	// Events feeds GET /events and GET /transitions; nil means an empty
	// feed.
	Events interface {
		EventStreams
		TransitionLog
	}
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
	eventHandlers
}

var _ apigen.StrictServerInterface = server{}

// NewServer builds the whole HTTP surface; routes.go of the Mat Ryer
// layout, in one function.
func NewServer(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.FeedbackRate <= 0 {
		d.FeedbackRate = 50
	}
	if d.Events == nil {
		d.Events = events.New(events.Options{})
	}
	s := server{
		routeHandlers:    routeHandlers{planner: d.Planner},
		feedbackHandlers: feedbackHandlers{sink: d.Reports},
		hostHandlers:     hostHandlers{hosts: d.Hosts},
		checkHandlers:    checkHandlers{checker: d.Checker},
		opsHandlers:      opsHandlers{ready: d.Readiness, spec: apigen.SpecYAML},
		eventHandlers:    eventHandlers{streams: d.Events, log: d.Events},
	}
	r := chi.NewRouter()
	r.Use(d.Middleware...)
	r.Use(recoverer(d.Logger))
	r.Use(authenticate(d.Tokens))
	r.Use(noStore)
	r.Use(jsonBody)
	r.Use(feedbackLimiter(d.FeedbackRate))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem(http.StatusNotFound, "not-found", "Not found", r.URL.Path+" is not part of the API; see /openapi.yaml"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// chi leaves Allow to a custom handler; RFC 9110 15.5.6 requires it.
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", req.Method+" is not allowed on "+req.URL.Path))
	})
	if d.Metrics != nil {
		r.Method(http.MethodGet, pathMetrics, d.Metrics)
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
			// Without tokens, reads need no identity (it names reporters and
			// drainers), and skipping it spares the hot GET /route a context
			// and a request copy.
			if public(r.URL.Path) || !tokens.Enabled() && r.Method == http.MethodGet {
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

// noStore keeps caches out: plans are shuffled per request and health
// changes by the second.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// jsonBody checks a request body before the generated decoder sees it: at
// most MaxBody bytes (the feedback contract's 1 MiB), declared as JSON, and
// one JSON value with nothing after it. The generated decoder would accept
// trailing data and any media type.
func jsonBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The POST operations are the only ones with a body; anything else
		// goes on to routing (and a 405 where the method is wrong).
		if r.Method != http.MethodPost || r.URL.Path != "/feedback" && !strings.HasSuffix(r.URL.Path, "/drain") {
			next.ServeHTTP(w, r)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeProblem(w, problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"the body must be application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			requestError(w, r, err)
			return
		}
		if !json.Valid(body) {
			writeProblem(w, problem(http.StatusBadRequest, "invalid-body", "Invalid JSON body", "the body is not a single JSON value"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// feedbackLimiter rate-limits POST /feedback per reporter, so one runaway
// sender cannot flood the health store for everyone.
func feedbackLimiter(perSecond int) func(http.Handler) http.Handler {
	limit := httprate.LimitBy(perSecond, time.Second,
		func(r *http.Request) (string, error) {
			id, _ := auth.FromContext(r.Context())
			return id.Name, nil
		},
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
