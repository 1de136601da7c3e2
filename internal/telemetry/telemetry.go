package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name used when neither Options nor the
// environment name the service.
const DefaultServiceName = "mxroute"

// Options are the settings of Setup that come from the program rather than
// from the OTEL_* environment.
type Options struct {
	// ServiceName is the default service.name, overridden by
	// OTEL_SERVICE_NAME and by service.name in OTEL_RESOURCE_ATTRIBUTES.
	// Default: "mxroute".
	ServiceName string

	// ServiceVersion is the service.version resource attribute; when set
	// it wins over OTEL_RESOURCE_ATTRIBUTES. Default: unset.
	ServiceVersion string

	// Registry receives the Prometheus collector of the meter provider, and
	// MetricsHandler serves what it gathers. Default: a new registry per
	// Telemetry, with the Go runtime and process collectors, never the
	// default registry, so that servers in one process do not collide.
	Registry *prometheus.Registry

	// LogWriter receives the JSON logs, and the output of the "console"
	// exporters. Setup serialises writes to it. Default: io.Discard (the
	// program passes its stderr).
	LogWriter io.Writer

	// LogLevel is the minimum level logged; a *slog.LevelVar changes it
	// at run time. Default: slog.LevelInfo.
	LogLevel slog.Leveler
}

// Telemetry holds the providers, logger and metrics endpoint of one server.
// Its methods are safe for concurrent use.
type Telemetry struct {
	tracerProvider trace.TracerProvider
	meterProvider  *sdkmetric.MeterProvider
	propagator     propagation.TextMapPropagator
	logger         *slog.Logger
	metrics        http.Handler

	// shutdownTraces is nil for the no-op tracer provider.
	shutdownTraces func(context.Context) error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds the telemetry of one server from the OTEL_* variables read
// through getenv (nil reads as an empty environment) and opts. See the
// package documentation and docs/telemetry.md for the variables and their
// defaults. The caller must call Shutdown to flush the exporters.
func Setup(ctx context.Context, getenv func(string) string, opts Options) (*Telemetry, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if opts.ServiceName == "" {
		opts.ServiceName = DefaultServiceName
	}
	if opts.LogWriter == nil {
		opts.LogWriter = io.Discard
	}
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelInfo
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("register go collector: %w", err)
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("register process collector: %w", err)
		}
	}
	w := &lockedWriter{w: opts.LogWriter}
	logger := newLogger(w, opts.LogLevel)

	res, err := newResource(ctx, getenv, opts)
	if err != nil {
		return nil, err
	}
	tp, shutdownTraces, err := newTracerProvider(ctx, getenv, res, w)
	if err != nil {
		return nil, fmt.Errorf("tracer provider: %w", err)
	}
	mp, err := newMeterProvider(ctx, getenv, res, reg, w)
	if err != nil {
		if shutdownTraces != nil {
			err = errors.Join(err, shutdownTraces(ctx))
		}
		return nil, fmt.Errorf("meter provider: %w", err)
	}

	return &Telemetry{
		tracerProvider: tp,
		meterProvider:  mp,
		propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		logger:         logger,
		metrics:        newMetricsHandler(reg, logger),
		shutdownTraces: shutdownTraces,
	}, nil
}

// TracingEnabled reports whether OTEL_TRACES_EXPORTER names an exporter,
// that is whether spans go anywhere. Without one the tracer provider is a
// no-op, and instrumentation can skip starting spans altogether.
func (t *Telemetry) TracingEnabled() bool { return t.shutdownTraces != nil }

// TracerProvider returns the provider to pass to the packages that trace; a
// no-op one when OTEL_TRACES_EXPORTER names no exporter.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracerProvider }

// MeterProvider returns the provider to pass to the packages that measure.
// Its instruments always reach MetricsHandler.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meterProvider }

// MetricsHandler serves the Prometheus exposition format for GET /metrics.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Logger returns the JSON logger, which adds trace_id and span_id to
// records logged with a context that carries a span.
func (t *Telemetry) Logger() *slog.Logger { return t.logger }

// Propagator returns the W3C tracecontext and baggage propagator, for
// incoming requests and for anything this server calls over the network.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// Shutdown flushes and stops the tracer provider, then the meter provider.
// The spans go first because their batch is the larger and the one that
// would be lost, whereas cumulative metrics were mostly pushed or scraped
// already. ctx bounds both flushes: pass a fresh timeout context, not one
// that is already cancelled. Later calls return the first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if t.shutdownTraces != nil {
			if err := t.shutdownTraces(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down tracer provider: %w", err))
			}
		}
		if err := t.meterProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down meter provider: %w", err))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}
