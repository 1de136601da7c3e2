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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/auth"
	"github.com/mxroute/mxroute/internal/events"
	"github.com/mxroute/mxroute/internal/routing"
)

// DefaultFeedbackRate is Deps.FeedbackRate's default: POST /feedback
// requests per second per reporter, far above what a sender batching its
// reports needs.
const DefaultFeedbackRate = 50

// DefaultCheckRate is Deps.CheckRate's default: GET /check requests per
// minute per client. A check costs dozens of DNS queries; a person or a
// monitoring script needs a few a minute.
const DefaultCheckRate = 30

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
	// may make per second. Default DefaultFeedbackRate.
	FeedbackRate int
	// CheckRate is the number of GET /check requests one client (token
	// name, else address) may make per minute. Default DefaultCheckRate.
	CheckRate int
	// NeverDials is the planner's address filter (routing.Options
	// NeverDials with the configured networks); drains of such addresses
	// are refused. Default routing.NeverDial.
	NeverDials func(netip.Addr) bool
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
		d.FeedbackRate = DefaultFeedbackRate
	}
	if d.CheckRate <= 0 {
		d.CheckRate = DefaultCheckRate
	}
	if d.Events == nil {
		d.Events = events.New(events.Options{})
	}
	if d.NeverDials == nil {
		d.NeverDials = routing.NeverDial
	}
	bounds := ContractBounds()
	s := server{
		routeHandlers:    routeHandlers{planner: d.Planner, bounds: &bounds},
		feedbackHandlers: feedbackHandlers{sink: d.Reports, bounds: &bounds},
		hostHandlers:     hostHandlers{hosts: d.Hosts, bounds: &bounds, neverDials: d.NeverDials},
		checkHandlers:    checkHandlers{checker: d.Checker},
		opsHandlers:      opsHandlers{ready: d.Readiness, spec: apigen.SpecYAML},
		eventHandlers:    eventHandlers{streams: d.Events, log: d.Events},
	}
	r := chi.NewRouter()
	r.Use(d.Middleware...)
	r.Use(recoverer(d.Logger))
	r.Use(authenticate(d.Tokens, bounds.Reporter))
	r.Use(noStore)
	r.Use(strictQuery(integerParams()))
	r.Use(headAsGet(r))
	r.Use(jsonBody)
	r.Use(feedbackLimiter(d.FeedbackRate))
	r.Use(checkLimiter(d.CheckRate))
	r.Use(eventsClient)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem(http.StatusNotFound, "not-found", "Not found", r.URL.Path+" is not part of the API; see /openapi.yaml"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// chi leaves Allow to a custom handler; RFC 9110 15.5.6 requires it.
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allowed = append(allowed, m)
				if m == http.MethodGet {
					allowed = append(allowed, http.MethodHead)
				}
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
// configured turns away requests without a valid one. A POST (the
// operations that take the reporter header) with a reporter header over
// maxReporter bytes is a 400 whether or not the header is used: the
// contract bounds it, and a sender learns of it before it matters.
func authenticate(tokens *auth.Tokens, maxReporter int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				if n := len(r.Header.Get(auth.ReporterHeader)); n > maxReporter {
					writeError(w, &ParamError{Name: auth.ReporterHeader, Reason: fmt.Sprintf("%d bytes; at most %d", n, maxReporter)})
					return
				}
			}
			// Without tokens, reads need no identity (it names reporters and
			// drainers), and skipping it spares the hot GET /route a context
			// and a request copy.
			// Verbose readiness names addresses: for admins only.
			verbose := r.URL.Path == pathReadyz && r.URL.Query().Has("verbose")
			if public(r.URL.Path) && !verbose || !tokens.Enabled() && r.Method == http.MethodGet {
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

// bodyTypes are the request bodies the contract defines, by the path
// suffix of the POST operation that takes them.
var bodyTypes = map[string]reflect.Type{
	"/feedback": reflect.TypeFor[apigen.PostFeedbackJSONRequestBody](),
	"/drain":    reflect.TypeFor[apigen.DrainHostJSONRequestBody](),
}

func bodyType(path string) reflect.Type {
	for suffix, t := range bodyTypes {
		if strings.HasSuffix(path, suffix) {
			return t
		}
	}
	return nil
}

// jsonBody checks a request body before the generated decoder sees it: at
// most MaxBody bytes, declared as JSON, one JSON value with nothing after
// it, no key twice and no key in the wrong case (checkStrictJSON). The
// generated decoder would accept trailing data, any media type, duplicate
// keys and case-folded names.
func jsonBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The POST operations are the only ones with a body; anything else
		// goes on to routing (and a 405 where the method is wrong).
		t := bodyType(r.URL.Path)
		if r.Method != http.MethodPost || t == nil {
			next.ServeHTTP(w, r)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeProblem(w, problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"the body must be application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		switch {
		case err != nil && !errors.As(err, new(*http.MaxBytesError)) && !errors.Is(err, os.ErrDeadlineExceeded):
			// The client went away or broke the framing; the cause names
			// socket addresses, so it stays out of the answer.
			err = &BodyError{Reason: "the body could not be read"}
		case err == nil && !json.Valid(body):
			err = &BodyError{Reason: "not a single JSON value"}
		case err == nil:
			err = checkStrictJSON(body, t)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// integerParams lists the contract's integer query parameters, read from
// the spec so that a new one is covered without a change here.
func integerParams() map[string]bool {
	spec, err := apigen.GetSpec()
	if err != nil {
		panic(fmt.Sprintf("contract: %v", err))
	}
	out := make(map[string]bool)
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p.Value != nil && p.Value.In == "query" && p.Value.Schema != nil && p.Value.Schema.Value.Type.Is("integer") {
					out[p.Value.Name] = true
				}
			}
		}
	}
	return out
}

// strictQuery refuses a query string the generated binder would misread:
// a bad percent-escape (url.Query drops the pair silently, and the
// parameter then looks missing), and an integer written other than as a
// plain decimal ("+5", "05": strconv accepts both, the contract does not).
func strictQuery(integers map[string]bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery == "" {
				next.ServeHTTP(w, r)
				return
			}
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				if !errors.As(err, new(url.EscapeError)) {
					// A semicolon separator, the only other refusal.
					err = &ParamError{Name: "query", Reason: err.Error()}
				}
				writeError(w, err)
				return
			}
			for name := range integers {
				for _, v := range q[name] {
					if !plainDecimal(v) {
						writeError(w, &ParamError{Name: name, Reason: fmt.Sprintf("%q is not a plain decimal integer (no sign, no leading zero)", v)})
						return
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func plainDecimal(v string) bool {
	if v == "" || len(v) > 1 && v[0] == '0' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// headAsGet answers HEAD on every GET operation as GET would, without the
// body (RFC 9110 9.3.2). chi matches methods exactly, so HEAD would
// otherwise be a 405.
func headAsGet(router chi.Router) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodHead || !router.Match(chi.NewRouteContext(), http.MethodGet, r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			next.ServeHTTP(headWriter{w}, get)
		})
	}
}

// headWriter drops the body: net/http would refuse it for HEAD with an
// error, which the strict server would report as a failed response.
type headWriter struct{ http.ResponseWriter }

func (h headWriter) Write(p []byte) (int, error) { return len(p), nil }

// feedbackLimiter rate-limits POST /feedback per reporter, so one runaway
// sender cannot flood the health store for everyone.
func feedbackLimiter(perSecond int) func(http.Handler) http.Handler {
	limit := httprate.LimitBy(perSecond, time.Second,
		func(r *http.Request) (string, error) {
			id, _ := auth.FromContext(r.Context())
			return id.Name, nil
		},
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, &LimitError{RetryAfter: 1,
				Detail: fmt.Sprintf("at most %d feedback requests per second per reporter", perSecond)})
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

// checkLimiter rate-limits GET /check per client: the token's name, or
// without tokens the peer address, so one client cannot spend the
// resolvers' capacity on checks.
func checkLimiter(perMinute int) func(http.Handler) http.Handler {
	limit := httprate.LimitBy(perMinute, time.Minute,
		func(r *http.Request) (string, error) { return clientKey(r), nil },
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, &LimitError{RetryAfter: 60,
				Detail: fmt.Sprintf("at most %d checks per minute per client", perMinute)})
		}),
	)
	return func(next http.Handler) http.Handler {
		limited := limit(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.TrimSuffix(r.URL.Path, "/") == "/check" {
				limited.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientKey names the client of r for the bounds that are per client
// (GET /check's rate, GET /events's streams): the token's name when the
// request was authenticated, else the peer address (without tokens a GET
// carries no identity, and the reporter header names nobody reliably).
func clientKey(r *http.Request) string {
	if id, ok := auth.FromContext(r.Context()); ok && id.Name != "" {
		return "token:" + id.Name
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

type clientCtxKey struct{}

// eventsClient gives GET /events the clientKey, for the streams' bound
// per client; the generated handler sees only the context. Other paths
// are left alone, sparing them the context.
func eventsClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSuffix(r.URL.Path, "/") == "/events" {
			r = r.WithContext(context.WithValue(r.Context(), clientCtxKey{}, clientKey(r)))
		}
		next.ServeHTTP(w, r)
	})
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
