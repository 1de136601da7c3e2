// Command otlpsink is the cheapest OTLP/HTTP receiver that still tells
// how much arrived: it accepts POST /v1/traces and /v1/metrics, answers
// 200 with an empty body (a valid, empty Export*ServiceResponse), and
// counts requests, bytes and, for traces, spans. It exists so the tracing
// benchmark measures what exporting costs mxroute, not what a collector
// costs: it shares the machine's two cores with mxroute and wrk.
//
// Spans are counted by walking the protobuf wire format with protowire
// (ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.scope_spans
// = 2, ScopeSpans.spans = 2) rather than unmarshalling into the generated
// types, which would allocate every attribute of every span only to count
// them. GET /stats returns the counters as JSON; they are also printed on
// exit.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otlpsink:", err)
		os.Exit(1)
	}
}

// counters is what the sink has received since it started.
type counters struct {
	TraceRequests  atomic.Int64
	Spans          atomic.Int64
	TraceBytes     atomic.Int64
	MetricRequests atomic.Int64
	MetricBytes    atomic.Int64
	BadRequests    atomic.Int64
}

// snapshot is counters as JSON.
type snapshot struct {
	TraceRequests  int64 `json:"trace_requests"`
	Spans          int64 `json:"spans"`
	TraceBytes     int64 `json:"trace_bytes"`
	MetricRequests int64 `json:"metric_requests"`
	MetricBytes    int64 `json:"metric_bytes"`
	BadRequests    int64 `json:"bad_requests"`
}

func (c *counters) snapshot() snapshot {
	return snapshot{
		TraceRequests: c.TraceRequests.Load(), Spans: c.Spans.Load(), TraceBytes: c.TraceBytes.Load(),
		MetricRequests: c.MetricRequests.Load(), MetricBytes: c.MetricBytes.Load(), BadRequests: c.BadRequests.Load(),
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4318", "HTTP listen address")
	countSpans := fs.Bool("count-spans", true, "walk each trace export to count its spans")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c := &counters{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			c.BadRequests.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.TraceRequests.Add(1)
		c.TraceBytes.Add(int64(len(body)))
		if *countSpans {
			n, err := spansIn(body)
			if err != nil {
				c.BadRequests.Add(1)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			c.Spans.Add(int64(n))
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			c.BadRequests.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.MetricRequests.Add(1)
		c.MetricBytes.Add(int64(len(body)))
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c.snapshot())
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	fmt.Fprintf(stdout, "otlpsink listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	out, _ := json.Marshal(c.snapshot())
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}

// readBody returns the request body, gunzipped when the exporter
// compressed it (OTEL_EXPORTER_OTLP_COMPRESSION=gzip).
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return out, nil
}

// spansIn counts the spans of an ExportTraceServiceRequest.
func spansIn(b []byte) (int, error) {
	n := 0
	err := eachField(b, 1, func(resourceSpans []byte) error {
		return eachField(resourceSpans, 2, func(scopeSpans []byte) error {
			return eachField(scopeSpans, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// eachField calls fn with the payload of every length-delimited field
// numbered num in the message b, skipping the other fields.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		f, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if f == num && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("bad field %d: %w", f, protowire.ParseError(n))
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(f, typ, b)
		if n < 0 {
			return fmt.Errorf("bad field %d: %w", f, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}
