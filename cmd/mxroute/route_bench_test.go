package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/route"
	"github.com/mxroute/mxroute/internal/telemetry"
)

// These benchmarks measure the cached /route path inside one process, so
// that `go test -cpuprofile` shows where a request's time goes. Throughput
// against a separate load generator is measured by bench/run.sh (wrk);
// docs/benchmarks.md records both.

// benchServer is one mxroute started through run for a benchmark.
// startServer in main_test.go takes a *testing.T, which a benchmark does
// not have, so this is its testing.TB twin without the contract checks.
type benchServer struct {
	URL    string
	cancel context.CancelFunc
	done   chan error
	stderr *syncBuffer
}

// startBenchServer runs mxroute with env on a free port (nothing from the
// process environment) and waits until /healthz answers. The server stops
// when the benchmark ends.
func startBenchServer(tb testing.TB, env map[string]string) *benchServer {
	tb.Helper()
	addr := benchFreePort(tb)
	full := map[string]string{"MXROUTE_LISTEN": addr, "MXROUTE_DNS_SERVERS": "127.0.0.1:1"}
	for k, v := range env {
		full[k] = v
	}
	getenv := func(k string) string { return full[k] }
	ctx, cancel := context.WithCancel(context.Background())
	s := &benchServer{URL: "http://" + addr, cancel: cancel, done: make(chan error, 1), stderr: &syncBuffer{}}
	go func() { s.done <- run(ctx, []string{"mxroute"}, getenv, io.Discard, s.stderr) }()
	tb.Cleanup(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				tb.Errorf("run returned %v\n%s", err, s.stderr)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("server did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			tb.Fatalf("server exited before serving: %v\n%s", err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server did not answer /healthz: %v\n%s", err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchFreePort is freePort for a testing.TB.
func benchFreePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// benchGet sends GET path with client and drains the body, failing the
// benchmark on a transport error or a status other than 200.
func benchGet(tb testing.TB, client *http.Client, url string) {
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
}

// BenchmarkRouteHTTP is GET /route for the demo example.com, served from
// the cache, over real loopback HTTP with keep-alive connections from
// parallel clients (the client's cost is in the figure too; see
// bench/run.sh for the server alone under wrk).
func BenchmarkRouteHTTP(b *testing.B) {
	s := startBenchServer(b, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := s.URL + "/route?domain=example.com"
	benchGet(b, client, url) // warm the cache
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchGet(b, client, url)
		}
	})
}

// BenchmarkPlanCached is route.Service.Plan for the demo example.com with
// every DNS answer in the cache: the planner's share of a cached /route,
// without HTTP. "noop" passes no-op telemetry; "sdk" passes the meter
// provider the server uses (Prometheus reader, always on), so the
// difference is the cost of the per-lookup and per-plan metrics.
func BenchmarkPlanCached(b *testing.B) {
	for _, tc := range []struct {
		name string
		sdk  bool
	}{{"noop", false}, {"sdk", true}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, _, err := parseConfig("bench", nil, func(k string) string {
				return map[string]string{"MXROUTE_DNS_SERVERS": "127.0.0.1:1"}[k]
			}, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			rc := route.Config{}
			stack, err := newDNSStack(cfg, nil, nil)
			if tc.sdk {
				tel, terr := telemetry.Setup(context.Background(), nil, telemetry.Options{})
				if terr != nil {
					b.Fatal(terr)
				}
				b.Cleanup(func() { tel.Shutdown(context.Background()) })
				stack, err = newDNSStack(cfg, tel.TracerProvider(), tel.MeterProvider())
				rc.MeterProvider = tel.MeterProvider()
			}
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { stack.cache.Close() })
			opts := planOptions(cfg)
			rc.Options = &opts
			svc, err := route.New(stack.cache, rc)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			req := route.Request{Domain: "example.com"}
			if p := svc.Plan(ctx, req); len(p.Attempts) == 0 {
				b.Fatalf("demo example.com planned no attempts: %+v", p)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				svc.Plan(ctx, req)
			}
		})
	}
}
