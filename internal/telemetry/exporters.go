package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// exporterKind holds one signal's exporter constructors (spans or metrics),
// so that reading the OTLP settings, choosing the protocol and cleaning up
// after a failed start are written once for both signals.
type exporterKind[E shutdowner] struct {
	// signal names the OTEL_EXPORTER_OTLP_<SIGNAL>_* variables ("TRACES").
	signal string
	// path is the signal's OTLP/HTTP path ("/v1/traces").
	path string
	// what names the exporter in errors ("span", "metric").
	what    string
	console func(io.Writer) (E, error)
	grpc    func(context.Context, otlpSettings) (E, error)
	http    func(context.Context, otlpSettings) (E, error)
}

type shutdowner interface {
	Shutdown(context.Context) error
}

// build makes the exporter called name ("otlp" or "console"), passing every
// setting read through getenv as an option so that the exporter's own
// reading of the process environment is overridden.
func (k exporterKind[E]) build(ctx context.Context, getenv func(string) string, name string, console io.Writer) (E, error) {
	var zero E
	if name == exporterConsole {
		exp, err := k.console(console)
		if err != nil {
			return zero, fmt.Errorf("console %s exporter: %w", k.what, err)
		}
		return exp, nil
	}
	s, err := otlpFromEnv(getenv, k.signal, k.path)
	if err != nil {
		return zero, err
	}
	newExp := k.http
	if s.protocol == protocolGRPC {
		newExp = k.grpc
	}
	exp, err := newExp(ctx, s)
	if err != nil {
		return zero, fmt.Errorf("otlp %s exporter (%s %s): %w", k.what, s.protocol, s.endpoint, err)
	}
	return exp, nil
}

// buildAll makes one exporter per name, skipping the names in skip; if one
// fails, those already made are shut down.
func (k exporterKind[E]) buildAll(ctx context.Context, getenv func(string) string, names []string, console io.Writer, skip ...string) ([]E, error) {
	var out []E
	for _, name := range names {
		if contains(skip, name) {
			continue
		}
		exp, err := k.build(ctx, getenv, name, console)
		if err != nil {
			return nil, errors.Join(err, shutdownAll(ctx, out))
		}
		out = append(out, exp)
	}
	return out, nil
}

// shutdownAll shuts every exporter down, for the error paths of a start.
func shutdownAll[E shutdowner](ctx context.Context, exps []E) error {
	var err error
	for _, e := range exps {
		err = errors.Join(err, e.Shutdown(ctx))
	}
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
