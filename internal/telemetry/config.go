package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Exporter names accepted in OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER.
const (
	exporterOTLP       = "otlp"
	exporterConsole    = "console"
	exporterPrometheus = "prometheus"
	exporterNone       = "none"
)

// OTLP protocols accepted in OTEL_EXPORTER_OTLP_PROTOCOL. http/json is not
// offered because the Go exporters do not implement it.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// Defaults from the OpenTelemetry specification.
const (
	defaultHTTPEndpoint   = "http://localhost:4318"
	defaultGRPCEndpoint   = "http://localhost:4317"
	defaultOTLPTimeout    = 10 * time.Second
	defaultExportInterval = 60 * time.Second
	defaultExportTimeout  = 30 * time.Second
)

// exporterNames parses a comma-separated exporter list such as
// OTEL_TRACES_EXPORTER, rejecting names not in allowed. "none" contributes
// nothing, so "none" and "" both give an empty list.
func exporterNames(getenv func(string) string, key string, allowed ...string) ([]string, error) {
	var names []string
	for name := range strings.SplitSeq(getenv(key), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "" || name == exporterNone:
		case !slices.Contains(allowed, name):
			return nil, fmt.Errorf("%s: unsupported exporter %q (want one of %s, %s)", key, name, strings.Join(allowed, ", "), exporterNone)
		case !slices.Contains(names, name):
			names = append(names, name)
		}
	}
	return names, nil
}

// samplerFromEnv builds the sampler named by OTEL_TRACES_SAMPLER with its
// OTEL_TRACES_SAMPLER_ARG, by hand, because the SDK's own parser reads
// os.Getenv. Unset means parentbased_always_on, as in the specification.
func samplerFromEnv(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: want a ratio between 0 and 1", arg)
		}
		return f, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(r), nil
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: unsupported sampler %q", name)
	}
}

// parseKeyValues parses the "k1=v1,k2=v2" lists of OTEL_RESOURCE_ATTRIBUTES
// and OTEL_EXPORTER_OTLP_HEADERS, whose values are percent-encoded.
func parseKeyValues(key, s string) (map[string]string, error) {
	kv := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: entry %q is not key=value", key, item)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: value of %q: %w", key, k, err)
		}
		kv[k] = dv
	}
	return kv, nil
}

// newResource describes this process. service.name is, by decreasing
// precedence, OTEL_SERVICE_NAME, service.name in OTEL_RESOURCE_ATTRIBUTES,
// Options.ServiceName: the name belongs to the deployment. service.version
// is Options.ServiceVersion when set, since the build knows its version
// better than the environment does.
func newResource(ctx context.Context, getenv func(string) string, opts Options) (*resource.Resource, error) {
	kv, err := parseKeyValues("OTEL_RESOURCE_ATTRIBUTES", getenv("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return nil, err
	}
	if name := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); name != "" {
		kv[string(semconv.ServiceNameKey)] = name
	}
	if kv[string(semconv.ServiceNameKey)] == "" {
		kv[string(semconv.ServiceNameKey)] = opts.ServiceName
	}
	if opts.ServiceVersion != "" {
		kv[string(semconv.ServiceVersionKey)] = opts.ServiceVersion
	}
	attrs := make([]attribute.KeyValue, 0, len(kv))
	for k, v := range kv {
		attrs = append(attrs, attribute.String(k, v))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(attrs...))
	// A partial resource means a detector failed (say, no hostname); the
	// attributes set above are all there and worth more than no telemetry.
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("resource: %w", err)
	}
	return res, nil
}

// otlpSettings are the OTLP exporter settings for one signal, resolved from
// the generic OTEL_EXPORTER_OTLP_* variables and their per-signal overrides.
type otlpSettings struct {
	protocol string
	// endpoint is a full URL; for HTTP it includes the signal's path.
	endpoint    string
	headers     map[string]string
	timeout     time.Duration
	compression string // "gzip" or "none"
}

// otlpFromEnv resolves the OTLP settings of one signal ("TRACES" or
// "METRICS", whose default HTTP path is urlPath). The per-signal endpoint is
// used as is; the generic one is a base to which urlPath is appended, as the
// specification says.
func otlpFromEnv(getenv func(string) string, signal, urlPath string) (otlpSettings, error) {
	get := func(name string) (string, string) {
		key := "OTEL_EXPORTER_OTLP_" + signal + "_" + name
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return key, v
		}
		key = "OTEL_EXPORTER_OTLP_" + name
		return key, strings.TrimSpace(getenv(key))
	}
	s := otlpSettings{protocol: protocolHTTP, timeout: defaultOTLPTimeout, compression: "none"}

	if key, v := get("PROTOCOL"); v != "" {
		if v != protocolHTTP && v != protocolGRPC {
			return otlpSettings{}, fmt.Errorf("%s: unsupported protocol %q (want %s or %s)", key, v, protocolHTTP, protocolGRPC)
		}
		s.protocol = v
	}

	key := "OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT"
	s.endpoint = strings.TrimSpace(getenv(key))
	if s.endpoint == "" {
		key = "OTEL_EXPORTER_OTLP_ENDPOINT"
		base := strings.TrimSpace(getenv(key))
		switch {
		case base == "" && s.protocol == protocolGRPC:
			base = defaultGRPCEndpoint
		case base == "":
			base = defaultHTTPEndpoint
		}
		s.endpoint = base
		// gRPC ignores paths: the service name routes the call.
		if s.protocol == protocolHTTP {
			s.endpoint = strings.TrimSuffix(base, "/") + urlPath
		}
	}
	u, err := url.Parse(s.endpoint)
	if err != nil {
		return otlpSettings{}, fmt.Errorf("%s: %w", key, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return otlpSettings{}, fmt.Errorf("%s %q: want an http:// or https:// URL with a host", key, getenv(key))
	}

	key, v := get("HEADERS")
	if s.headers, err = parseKeyValues(key, v); err != nil {
		return otlpSettings{}, err
	}

	if key, v := get("TIMEOUT"); v != "" {
		if s.timeout, err = parseMillis(key, v); err != nil {
			return otlpSettings{}, err
		}
	}

	if key, v := get("COMPRESSION"); v != "" {
		if v != "gzip" && v != "none" {
			return otlpSettings{}, fmt.Errorf("%s: unsupported compression %q (want gzip or none)", key, v)
		}
		s.compression = v
	}
	return s, nil
}

// millisFromEnv reads a duration given in milliseconds, such as
// OTEL_METRIC_EXPORT_INTERVAL, or returns def when unset.
func millisFromEnv(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return def, nil
	}
	return parseMillis(key, v)
}

// parseMillis parses the value v of the variable key as a positive number
// of milliseconds.
func parseMillis(key, v string) (time.Duration, error) {
	ms, err := strconv.ParseUint(v, 10, 32)
	if err != nil || ms == 0 {
		return 0, fmt.Errorf("%s %q: want a positive number of milliseconds", key, v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
