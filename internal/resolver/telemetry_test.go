package resolver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSpanPerQuery(t *testing.T) {
	bad := dnstest.NewServer(t, testZone)
	bad.SetRcode(dnstest.Any, dns.RcodeServerFailure)
	good := dnstest.NewServer(t, testZone)
	good.SetTruncate("example.com.", true)
	zones, err := resolver.ParseZones("corp.zone", strings.NewReader(localZone))
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	c := newClient(t, resolver.Config{Servers: []string{bad.Addr(), good.Addr()}, Local: zones, TracerProvider: tp})

	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	if _, err := c.Lookup(ctx, "Example.com", dns.TypeMX); err != nil {
		t.Fatal(err)
	}
	// Local answers send nothing on the wire, so make no span.
	if _, err := c.Lookup(ctx, "corp.example.", dns.TypeMX); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var queries []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "dns.query" {
			queries = append(queries, s)
		}
	}
	// SERVFAIL over UDP from bad; truncated over UDP, then TCP, from good.
	want := []struct {
		port      string
		transport string
		rcode     string
		truncated bool
	}{
		{portOf(bad.Addr()), "udp", "SERVFAIL", false},
		{portOf(good.Addr()), "udp", "NOERROR", true},
		{portOf(good.Addr()), "tcp", "NOERROR", false},
	}
	if len(queries) != len(want) {
		t.Fatalf("got %d dns.query spans, want %d", len(queries), len(want))
	}
	for i, s := range queries {
		a := spanAttrs(s)
		w := want[i]
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: parent %s, want %s", i, s.Parent().SpanID(), parent.SpanContext().SpanID())
		}
		got := []string{
			a["dns.question.name"].AsString(), a["dns.question.type"].AsString(),
			a["server.address"].AsString(), a["server.port"].String(), a["network.transport"].AsString(),
			a["dns.rcode"].AsString(), a["dns.truncated"].String(),
		}
		wantAttrs := []string{"example.com.", "MX", "127.0.0.1", w.port, w.transport, w.rcode, boolString(w.truncated)}
		if strings.Join(got, " ") != strings.Join(wantAttrs, " ") {
			t.Errorf("span %d attributes = %q, want %q", i, got, wantAttrs)
		}
	}
}

func TestSpanForTimeout(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.SetDelay(dnstest.Any, time.Hour)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Timeout: 50 * time.Millisecond, TracerProvider: tp})
	if _, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX); err == nil {
		t.Fatal("Lookup succeeded, want a timeout")
	}
	spans := exp.GetSpans().Snapshots()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	if s := spans[0]; s.Status().Code != codes.Error || spanAttrs(s)["error.type"].AsString() != "TIMEOUT" {
		t.Errorf("status %v error.type %q, want Error TIMEOUT", s.Status(), spanAttrs(s)["error.type"].AsString())
	}
}

func TestQueryMetrics(t *testing.T) {
	bad := dnstest.NewServer(t, testZone)
	bad.SetRcode(dnstest.Any, dns.RcodeServerFailure)
	good := dnstest.NewServer(t, testZone)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	c := newClient(t, resolver.Config{Servers: []string{bad.Addr(), good.Addr()}, MeterProvider: mp})

	for _, name := range []string{"example.com.", "nosuch.example.com."} {
		if _, err := c.Lookup(context.Background(), name, dns.TypeMX); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	var histCount uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "mxroute.dns.queries":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					rcode, _ := dp.Attributes.Value("rcode")
					server, _ := dp.Attributes.Value("server")
					counts[rcode.AsString()+" "+server.AsString()] += dp.Value
				}
			case "mxroute.dns.query.duration":
				if m.Unit != "s" {
					t.Errorf("duration unit %q, want s", m.Unit)
				}
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					histCount += dp.Count
				}
			}
		}
	}
	want := map[string]int64{
		"SERVFAIL " + bad.Addr():  2,
		"NOERROR " + good.Addr():  1,
		"NXDOMAIN " + good.Addr(): 1,
	}
	if len(counts) != len(want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("count[%s] = %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	if histCount != 4 {
		t.Errorf("duration histogram holds %d queries, want 4", histCount)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestExchangeMetricsLabel checks that direct queries share one server
// label, so that checking domains with arbitrary name servers cannot grow
// the metric series, while upstreams keep their address and spans keep
// the real one.
func TestExchangeMetricsLabel(t *testing.T) {
	upstream := dnstest.NewServer(t, testZone)
	auths := []*dnstest.Server{dnstest.NewServer(t, testZone), dnstest.NewServer(t, testZone)}
	auths[1].SetTruncate(dnstest.Any, true) // a UDP and a TCP query
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	c := newClient(t, resolver.Config{Servers: []string{upstream.Addr()}, MeterProvider: mp, TracerProvider: tp})

	for _, s := range auths {
		m := new(dns.Msg)
		m.SetQuestion("example.com.", dns.TypeMX)
		if _, err := c.Exchange(context.Background(), s.Addr(), m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX); err != nil {
		t.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	hist := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "mxroute.dns.queries":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					server, _ := dp.Attributes.Value("server")
					counts[server.AsString()] += dp.Value
				}
			case "mxroute.dns.query.duration":
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					server, _ := dp.Attributes.Value("server")
					hist[server.AsString()] += dp.Count
				}
			}
		}
	}
	want := map[string]int64{"authoritative": 3, upstream.Addr(): 1}
	if len(counts) != len(want) || counts["authoritative"] != 3 || counts[upstream.Addr()] != 1 {
		t.Errorf("queries by server = %v, want %v", counts, want)
	}
	if len(hist) != len(want) || hist["authoritative"] != 3 || hist[upstream.Addr()] != 1 {
		t.Errorf("durations by server = %v, want %v", hist, want)
	}

	ports := map[string]int{}
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "dns.query" {
			a := spanAttrs(s)
			if a["server.address"].AsString() != "127.0.0.1" {
				t.Errorf("span server.address = %q, want 127.0.0.1", a["server.address"].AsString())
			}
			ports[a["server.port"].String()]++
		}
	}
	wantPorts := map[string]int{portOf(auths[0].Addr()): 1, portOf(auths[1].Addr()): 2, portOf(upstream.Addr()): 1}
	if len(ports) != len(wantPorts) {
		t.Errorf("span ports = %v, want %v", ports, wantPorts)
	}
	for p, n := range wantPorts {
		if ports[p] != n {
			t.Errorf("spans to port %s = %d, want %d (all: %v)", p, ports[p], n, ports)
		}
	}
}
