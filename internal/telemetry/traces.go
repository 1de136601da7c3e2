package telemetry

import (
	"context"
	"errors"
	"fmt"
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

	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	var exporters []sdktrace.SpanExporter
	for _, name := range names {
		exp, err := newSpanExporter(ctx, getenv, name, console)
		if err != nil {
			for _, e := range exporters {
				err = errors.Join(err, e.Shutdown(ctx))
			}
			return nil, nil, err
		}
		exporters = append(exporters, exp)
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// newSpanExporter builds one span exporter, passing every setting read
// through getenv as an option so that the exporter's own reading of the
// process environment is overridden.
func newSpanExporter(ctx context.Context, getenv func(string) string, name string, console io.Writer) (sdktrace.SpanExporter, error) {
	if name == exporterConsole {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(console))
		if err != nil {
			return nil, fmt.Errorf("console span exporter: %w", err)
		}
		return exp, nil
	}

	s, err := otlpFromEnv(getenv, "TRACES", "/v1/traces")
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if s.protocol == protocolGRPC {
		exp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpointURL(s.endpoint),
			otlptracegrpc.WithHeaders(s.headers),
			otlptracegrpc.WithTimeout(s.timeout),
			otlptracegrpc.WithCompressor(s.compression))
	} else {
		compression := otlptracehttp.NoCompression
		if s.compression == "gzip" {
			compression = otlptracehttp.GzipCompression
		}
		exp, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(s.endpoint),
			otlptracehttp.WithHeaders(s.headers),
			otlptracehttp.WithTimeout(s.timeout),
			otlptracehttp.WithCompression(compression))
	}
	if err != nil {
		return nil, fmt.Errorf("otlp span exporter (%s %s): %w", s.protocol, s.endpoint, err)
	}
	return exp, nil
}
