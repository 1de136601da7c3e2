package telemetry

import (
	"context"
	"io"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// newTracerProvider builds the provider OTEL_TRACES_EXPORTER asks for: a
// no-op one when it names no exporter, so that unconfigured servers pay
// nothing for their spans, else an SDK provider batching to each exporter.
// The returned shutdown is nil for the no-op provider.
func newTracerProvider(ctx context.Context, getenv func(string) string, res *resource.Resource, console io.Writer) (trace.TracerProvider, func(context.Context) error, error) {
	names, err := exporterNames(getenv, "OTEL_TRACES_EXPORTER", exporterOTLP, exporterConsole)
	if err != nil {
		return nil, nil, err
	}
	// Checked even when tracing is off, so that a typo shows on the first
	// deployment rather than the day tracing is turned on.
	sampler, err := samplerFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		return noop.NewTracerProvider(), nil, nil
	}

	exporters, err := spanExporters.buildAll(ctx, getenv, names, console)
	if err != nil {
		return nil, nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	for _, exp := range exporters {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// spanExporters builds the span exporters OTEL_TRACES_EXPORTER names.
var spanExporters = exporterKind[sdktrace.SpanExporter]{
	signal: "TRACES", path: "/v1/traces", what: "span",
	console: func(w io.Writer) (sdktrace.SpanExporter, error) {
		return stdouttrace.New(stdouttrace.WithWriter(w))
	},
	grpc: func(ctx context.Context, s otlpSettings) (sdktrace.SpanExporter, error) {
		return otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpointURL(s.endpoint),
			otlptracegrpc.WithHeaders(s.headers),
			otlptracegrpc.WithTimeout(s.timeout),
			otlptracegrpc.WithCompressor(s.compression))
	},
	http: func(ctx context.Context, s otlpSettings) (sdktrace.SpanExporter, error) {
		compression := otlptracehttp.NoCompression
		if s.compression == "gzip" {
			compression = otlptracehttp.GzipCompression
		}
		return otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(s.endpoint),
			otlptracehttp.WithHeaders(s.headers),
			otlptracehttp.WithTimeout(s.timeout),
			otlptracehttp.WithCompression(compression))
	},
}
