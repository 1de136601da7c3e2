// Package telemetry sets up OpenTelemetry tracing and metrics, the
// Prometheus /metrics exposition and the structured logger for one mxroute
// server, and instruments its HTTP handlers.
//
// # Configuration through getenv, not the process environment
//
// Setup is configured by the standard OTEL_* variables, but it reads them
// through the getenv function it is given, never os.Getenv, so that a test
// can run two servers with different settings in one process. This rules out
// go.opentelemetry.io/contrib/exporters/autoexport: its NewSpanExporter and
// NewMetricReader read os.Getenv themselves and their extension points
// (RegisterSpanExporter, ...) are package-level registries. Instead the
// exporters are built here explicitly (otlptracehttp, otlptracegrpc,
// otlpmetrichttp, otlpmetricgrpc, stdouttrace, stdoutmetric) with every
// setting that has an OTEL_* variable passed as an option, since an explicit
// option beats what the exporter would read from the process environment.
// The sampler and the resource are built by hand for the same reason.
//
// What still reaches the process environment: settings this package does
// not read (batch span processor OTEL_BSP_*, span limits OTEL_SPAN_*,
// OTEL_METRICS_EXEMPLAR_FILTER, OTLP client certificates), and the SDK merges
// the process's OTEL_RESOURCE_ATTRIBUTES underneath the resource built here
// (ours wins on every key both set). In production getenv is os.Getenv, so
// the two views agree; in tests the leftovers are defaults.
//
// # Defaults that differ from the OpenTelemetry specification
//
// OTEL_TRACES_EXPORTER defaults to "none" (the specification says "otlp"):
// a server started without configuration, a developer's laptop or a test,
// then gets a no-op TracerProvider whose spans cost an allocation-free
// non-recording span, and tries to reach no collector. The Prometheus reader
// is always on, whatever OTEL_METRICS_EXPORTER says, because GET /metrics is
// part of the service; OTEL_METRICS_EXPORTER only adds push exporters.
// Malformed values (an unknown exporter or sampler, a sampler argument
// outside [0, 1], an endpoint without scheme) make Setup fail instead of
// being ignored with a warning as the specification allows: a typo in a
// deployment should stop the rollout, not silently lose the traces.
//
// # Per-instance state
//
// Nothing here touches the OpenTelemetry globals (otel.SetTracerProvider and
// friends) or the default Prometheus registry: each Telemetry owns its
// providers and its own registry, and callers pass the providers down
// explicitly. Export errors still go to OpenTelemetry's process-wide error
// handler, which only the program's main may replace.
package telemetry
