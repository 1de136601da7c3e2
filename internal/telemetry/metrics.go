package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// newMeterProvider builds an SDK meter provider whose Prometheus reader,
// registered on reg, is always present, plus one periodic push reader per
// exporter that OTEL_METRICS_EXPORTER names besides "prometheus".
func newMeterProvider(ctx context.Context, getenv func(string) string, res *resource.Resource, reg prometheus.Registerer, console io.Writer) (*sdkmetric.MeterProvider, error) {
	names, err := exporterNames(getenv, "OTEL_METRICS_EXPORTER", exporterOTLP, exporterPrometheus, exporterConsole)
	if err != nil {
		return nil, err
	}
	interval, err := millisFromEnv(getenv, "OTEL_METRIC_EXPORT_INTERVAL", defaultExportInterval)
	if err != nil {
		return nil, err
	}
	timeout, err := millisFromEnv(getenv, "OTEL_METRIC_EXPORT_TIMEOUT", defaultExportTimeout)
	if err != nil {
		return nil, err
	}

	exporters, err := metricExporters.buildAll(ctx, getenv, names, console, exporterPrometheus)
	if err != nil {
		return nil, err
	}

	// The classic underscore names (mxroute_dns_queries_total) are chosen
	// explicitly: the exporter's default follows a process-wide setting of
	// prometheus/common and would otherwise emit dotted UTF-8 names that
	// need quoting in PromQL.
	promReader, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("prometheus exporter: %w", err), shutdownAll(ctx, exporters))
	}

	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promReader)}
	for _, exp := range exporters {
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp,
			sdkmetric.WithInterval(interval), sdkmetric.WithTimeout(timeout))))
	}
	return sdkmetric.NewMeterProvider(opts...), nil
}

// metricExporters builds the push exporters OTEL_METRICS_EXPORTER names.
var metricExporters = exporterKind[sdkmetric.Exporter]{
	signal: "METRICS", path: "/v1/metrics", what: "metric",
	console: func(w io.Writer) (sdkmetric.Exporter, error) {
		return stdoutmetric.New(stdoutmetric.WithWriter(w))
	},
	grpc: func(ctx context.Context, s otlpSettings) (sdkmetric.Exporter, error) {
		return otlpmetricgrpc.New(ctx,
			otlpmetricgrpc.WithEndpointURL(s.endpoint),
			otlpmetricgrpc.WithHeaders(s.headers),
			otlpmetricgrpc.WithTimeout(s.timeout),
			otlpmetricgrpc.WithCompressor(s.compression))
	},
	http: func(ctx context.Context, s otlpSettings) (sdkmetric.Exporter, error) {
		compression := otlpmetrichttp.NoCompression
		if s.compression == "gzip" {
			compression = otlpmetrichttp.GzipCompression
		}
		return otlpmetrichttp.New(ctx,
			otlpmetrichttp.WithEndpointURL(s.endpoint),
			otlpmetrichttp.WithHeaders(s.headers),
			otlpmetrichttp.WithTimeout(s.timeout),
			otlpmetrichttp.WithCompression(compression))
	},
}

// newMetricsHandler serves the Prometheus exposition of g. A collector that
// fails is logged and left out rather than failing the whole scrape, so that
// one broken collector does not hide every other metric.
func newMetricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      promLogger{logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// promLogger adapts slog to the Println logger promhttp reports errors to.
type promLogger struct{ logger *slog.Logger }

// Println logs the scrape error promhttp reports.
func (l promLogger) Println(v ...any) {
	l.logger.Error("metrics scrape", "error", fmt.Sprint(v...))
}
