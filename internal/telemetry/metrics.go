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

	var exporters []sdkmetric.Exporter
	for _, name := range names {
		if name == exporterPrometheus {
			continue
		}
		exp, err := newMetricExporter(ctx, getenv, name, console)
		if err != nil {
			for _, e := range exporters {
				err = errors.Join(err, e.Shutdown(ctx))
			}
			return nil, err
		}
		exporters = append(exporters, exp)
	}

	// The classic underscore names (mxroute_dns_queries_total) are chosen
	// explicitly: the exporter's default follows a process-wide setting of
	// prometheus/common and would otherwise emit dotted UTF-8 names that
	// need quoting in PromQL.
	promReader, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		for _, e := range exporters {
			err = errors.Join(err, e.Shutdown(ctx))
		}
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}

	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promReader)}
	for _, exp := range exporters {
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp,
			sdkmetric.WithInterval(interval), sdkmetric.WithTimeout(timeout))))
	}
	return sdkmetric.NewMeterProvider(opts...), nil
}

// newMetricExporter builds one push exporter, passing every setting read
// through getenv as an option, as newSpanExporter does.
func newMetricExporter(ctx context.Context, getenv func(string) string, name string, console io.Writer) (sdkmetric.Exporter, error) {
	if name == exporterConsole {
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(console))
		if err != nil {
			return nil, fmt.Errorf("console metric exporter: %w", err)
		}
		return exp, nil
	}

	s, err := otlpFromEnv(getenv, "METRICS", "/v1/metrics")
	if err != nil {
		return nil, err
	}
	var exp sdkmetric.Exporter
	if s.protocol == protocolGRPC {
		exp, err = otlpmetricgrpc.New(ctx,
			otlpmetricgrpc.WithEndpointURL(s.endpoint),
			otlpmetricgrpc.WithHeaders(s.headers),
			otlpmetricgrpc.WithTimeout(s.timeout),
			otlpmetricgrpc.WithCompressor(s.compression))
	} else {
		compression := otlpmetrichttp.NoCompression
		if s.compression == "gzip" {
			compression = otlpmetrichttp.GzipCompression
		}
		exp, err = otlpmetrichttp.New(ctx,
			otlpmetrichttp.WithEndpointURL(s.endpoint),
			otlpmetrichttp.WithHeaders(s.headers),
			otlpmetrichttp.WithTimeout(s.timeout),
			otlpmetrichttp.WithCompression(compression))
	}
	if err != nil {
		return nil, fmt.Errorf("otlp metric exporter (%s %s): %w", s.protocol, s.endpoint, err)
	}
	return exp, nil
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
