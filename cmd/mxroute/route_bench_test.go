package main

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/telemetry"
)

// These benchmarks measure the cached /route path inside one process, so
// that `go test -cpuprofile` shows where a request's time goes. Throughput
// against a separate load generator is measured by bench/run.sh (wrk);
// docs/benchmarks.md records both.

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
	s := startServer(b, nil)
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

// BenchmarkPlanCached is gather.Service.Plan for the demo example.com with
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
			rc := gather.Config{}
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
			svc, err := gather.New(stack.cache, rc)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			req := gather.Request{Domain: "example.com"}
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
