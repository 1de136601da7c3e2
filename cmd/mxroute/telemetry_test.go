package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// opsZone is an upstream zone with two MX hosts, one address each and no
// AAAA records: a cold plan for cold.test asks MX, then A and AAAA of both
// hosts, five lookups in all.
const opsZone = `
cold.test.      300 IN SOA ns.cold.test. h.cold.test. 1 3600 600 86400 60
cold.test.      300 IN MX 10 mx1.cold.test.
cold.test.      300 IN MX 20 mx2.cold.test.
mx1.cold.test.  300 IN A 192.0.2.10
mx2.cold.test.  300 IN A 192.0.2.20
other.test.     300 IN SOA ns.other.test. h.other.test. 1 3600 600 86400 60
other.test.     300 IN MX 10 mx.other.test.
mx.other.test.  300 IN A 192.0.2.30
`

// otlpReceiver is an OTLP/HTTP trace endpoint: it decodes what the
// server's exporter sends to POST /v1/traces, as a collector would.
type otlpReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	spans []*tracepb.Span
	errs  []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	fail := func(code int, format string, args ...any) {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
		r.mu.Unlock()
		http.Error(w, fmt.Sprintf(format, args...), code)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		fail(http.StatusNotFound, "%s %s: want POST /v1/traces", req.Method, req.URL.Path)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		fail(http.StatusUnsupportedMediaType, "Content-Type %q, want application/x-protobuf", ct)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		fail(http.StatusBadRequest, "read body: %v", err)
		return
	}
	var export collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &export); err != nil {
		fail(http.StatusBadRequest, "decode ExportTraceServiceRequest: %v", err)
		return
	}
	r.mu.Lock()
	for _, rs := range export.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	r.mu.Unlock()
	out, err := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	if err != nil {
		fail(http.StatusInternalServerError, "encode response: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// env is the server configuration that exports every span to r.
func (r *otlpReceiver) env() map[string]string {
	return map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": r.srv.URL,
		"OTEL_TRACES_SAMPLER":         "parentbased_always_on",
	}
}

// received returns the spans received so far, failing the test on any
// malformed export. Call it after the server stopped: shutdown flushes
// the batch span processor, so nothing depends on its schedule.
func (r *otlpReceiver) received() []*tracepb.Span {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		r.t.Errorf("OTLP receiver: %s", e)
	}
	return slices.Clone(r.spans)
}

func traceIDOf(s *tracepb.Span) string { return hex.EncodeToString(s.GetTraceId()) }
func spanIDOf(s *tracepb.Span) string  { return hex.EncodeToString(s.GetSpanId()) }

// inTrace returns the spans of one trace.
func inTrace(spans []*tracepb.Span, traceID string) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if traceIDOf(s) == traceID {
			out = append(out, s)
		}
	}
	return out
}

// named returns the spans called name.
func named(spans []*tracepb.Span, name string) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if s.GetName() == name {
			out = append(out, s)
		}
	}
	return out
}

// descendsFrom reports whether s is below ancestor in the span tree of
// their trace.
func descendsFrom(trace []*tracepb.Span, s, ancestor *tracepb.Span) bool {
	byID := map[string]*tracepb.Span{}
	for _, x := range trace {
		byID[spanIDOf(x)] = x
	}
	for hops := 0; s != nil && hops <= len(trace); hops++ {
		parent := hex.EncodeToString(s.GetParentSpanId())
		if parent == spanIDOf(ancestor) {
			return true
		}
		s = byID[parent]
	}
	return false
}

func attrOf(attrs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return nil
}

// attrString renders an attribute value for comparison ("" when absent):
// strings as is, numbers and booleans as Go prints them, arrays joined by
// commas.
func attrString(attrs []*commonpb.KeyValue, key string) string {
	return anyString(attrOf(attrs, key))
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, anyString(e))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// checkAttrs compares attributes with want, rendered as attrString does.
func checkAttrs(t *testing.T, what string, attrs []*commonpb.KeyValue, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := attrString(attrs, k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// serverSpan returns the one server span of a trace named name.
func serverSpan(t *testing.T, trace []*tracepb.Span, name string) *tracepb.Span {
	t.Helper()
	var found []*tracepb.Span
	for _, s := range named(trace, name) {
		if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("trace has %d server spans %q, want 1; spans: %s", len(found), name, spanNames(trace))
	}
	return found[0]
}

func spanNames(spans []*tracepb.Span) string {
	var names []string
	for _, s := range spans {
		names = append(names, s.GetName())
	}
	return strings.Join(names, ", ")
}

// routeWithHeader asks for a plan with extra request headers.
func (s *testServer) routeWithHeader(domain string, header map[string]string) apigen.Plan {
	s.t.Helper()
	code, body, _ := s.do(http.MethodGet, "/route?domain="+domain, nil, header)
	var p apigen.Plan
	if code != http.StatusOK || json.Unmarshal(body, &p) != nil {
		s.t.Fatalf("GET /route?domain=%s: %d %s", domain, code, body)
	}
	return p
}

// TestTracesOverOTLP: a cold plan is one trace, exported over OTLP/HTTP,
// whose server span carries the plan and has the DNS queries below it;
// the route id is that trace's id, a caller's traceparent is continued,
// and a cached plan asks no DNS.
func TestTracesOverOTLP(t *testing.T) {
	d := dnstest.NewServer(t, opsZone)
	recv := newOTLPReceiver(t)
	env := recv.env()
	env["MXROUTE_DNS_SERVERS"] = d.Addr()
	env["MXROUTE_ZONE_FILES"] = "none"
	// Generous, so that a loaded machine never retries a query and adds a
	// dns.query span.
	env["MXROUTE_DNS_TIMEOUT"] = "20s"
	env["MXROUTE_DNS_BUDGET"] = "40s"
	// The counts below are of a plan's MX and address lookups alone.
	env["MXROUTE_MTA_STS"] = "false"
	s := startServer(t, env)

	cold := s.route("cold.test")
	if cold.Disposition != apigen.Deliver || addrs(cold) != "192.0.2.10,192.0.2.20" {
		t.Fatalf("cold.test: %s %s, want deliver to both hosts", cold.Disposition, addrs(cold))
	}
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	caller := s.routeWithHeader("other.test", map[string]string{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01"})
	if caller.RouteId != callerTrace {
		t.Errorf("route_id with a caller's traceparent = %q, want the caller's trace id %s", caller.RouteId, callerTrace)
	}
	cached := s.route("cold.test")
	if cached.RouteId == cold.RouteId {
		t.Errorf("two requests share route_id %s", cold.RouteId)
	}
	s.Stop()
	spans := recv.received()

	// The cold plan: the server span holds the plan, the DNS is below it.
	tr := inTrace(spans, cold.RouteId)
	if len(tr) == 0 {
		t.Fatalf("no span has the route_id %s as trace id; received: %s", cold.RouteId, spanNames(spans))
	}
	root := serverSpan(t, tr, "GET /route")
	if len(root.GetParentSpanId()) != 0 {
		t.Errorf("GET /route without traceparent has parent %x, want a root span", root.GetParentSpanId())
	}
	checkAttrs(t, "GET /route (cold)", root.GetAttributes(), map[string]string{
		"http.route":                "/route",
		"http.request.method":       "GET",
		"http.response.status_code": "200",
		"mxroute.domain":            "cold.test",
		"mxroute.disposition":       "deliver",
		"mxroute.reason":            "ok",
		"mxroute.attempts":          "2",
		"mxroute.demoted":           "0",
		"mxroute.implicit_mx":       "false",
		"mxroute.dns.cache_hits":    "0",
		"mxroute.dns.cache_misses":  "5",
		"mxroute.dns.cache_stale":   "0",
	})
	if q := attrString(root.GetAttributes(), "url.query"); strings.Contains(q, "cold.test") {
		t.Errorf("server span carries the query string %q", q)
	}
	_, port, _ := net.SplitHostPort(d.Addr())
	queries := map[string]int{}
	for _, q := range named(tr, "dns.query") {
		name, typ := attrString(q.GetAttributes(), "dns.question.name"), attrString(q.GetAttributes(), "dns.question.type")
		queries[name+" "+typ]++
		what := "dns.query " + name + " " + typ
		if q.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("%s: kind %s, want client", what, q.GetKind())
		}
		if !descendsFrom(tr, q, root) {
			t.Errorf("%s is not below the GET /route span", what)
		}
		checkAttrs(t, what, q.GetAttributes(), map[string]string{
			"server.address":    "127.0.0.1",
			"server.port":       port,
			"network.transport": "udp",
			"dns.rcode":         "NOERROR",
			"dns.truncated":     "false",
		})
		if q.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("%s: status error %q", what, q.GetStatus().GetMessage())
		}
	}
	for _, want := range []string{"cold.test. MX", "mx1.cold.test. A", "mx2.cold.test. A", "mx1.cold.test. AAAA", "mx2.cold.test. AAAA"} {
		if queries[want] != 1 {
			t.Errorf("dns.query spans for %s: %d, want 1 (all: %v)", want, queries[want], queries)
		}
	}
	if n := len(named(tr, "mxroute.dns.cache.fill")); n != 5 {
		t.Errorf("%d mxroute.dns.cache.fill spans, want one per lookup (5)", n)
	}

	// The caller's trace continues: same trace id, parent is the caller.
	ctr := inTrace(spans, callerTrace)
	croot := serverSpan(t, ctr, "GET /route")
	if got := hex.EncodeToString(croot.GetParentSpanId()); got != callerSpan {
		t.Errorf("GET /route with traceparent: parent span %s, want the caller's %s", got, callerSpan)
	}
	checkAttrs(t, "GET /route (traceparent)", croot.GetAttributes(), map[string]string{"mxroute.domain": "other.test", "mxroute.attempts": "1"})
	if n := len(named(ctr, "dns.query")); n != 3 {
		t.Errorf("traceparent request: %d dns.query spans, want 3 (MX, A, AAAA)", n)
	}

	// The cached plan: all hits, no DNS on the wire.
	htr := inTrace(spans, cached.RouteId)
	hroot := serverSpan(t, htr, "GET /route")
	checkAttrs(t, "GET /route (cached)", hroot.GetAttributes(), map[string]string{
		"mxroute.domain": "cold.test", "mxroute.attempts": "2",
		"mxroute.dns.cache_hits": "5", "mxroute.dns.cache_misses": "0",
	})
	if q := named(htr, "dns.query"); len(q) != 0 {
		t.Errorf("cached plan sent %d dns.query spans, want none", len(q))
	}
	if d.Queries("cold.test.", dns.TypeMX, "") != 1 {
		t.Errorf("upstream saw %d MX queries for cold.test, want 1", d.Queries("cold.test.", dns.TypeMX, ""))
	}
	// The cache reports each lookup as an event on the route span.
	events := 0
	for _, e := range hroot.GetEvents() {
		if e.GetName() == "mxroute.dns.cache.lookup" {
			events++
			if r := attrString(e.GetAttributes(), "mxroute.dns.cache.result"); r != "hit" {
				t.Errorf("cached plan: cache lookup event with result %q, want hit", r)
			}
		}
	}
	if events != 5 {
		t.Errorf("cached plan: %d mxroute.dns.cache.lookup events, want 5", events)
	}

	// Probes, scrapes and the readiness DNS probe are not traced: startServer
	// polled /healthz and the readiness probe queried the root's NS.
	for _, sp := range spans {
		if n := sp.GetName(); strings.Contains(n, "/healthz") || strings.Contains(n, "/readyz") || strings.Contains(n, "/metrics") {
			t.Errorf("probe traced: span %q", n)
		}
		if sp.GetName() == "dns.query" && attrString(sp.GetAttributes(), "dns.question.name") == "." {
			t.Errorf("readiness DNS probe traced")
		}
	}
}

// failureFor is a connection failure report that cites the plan it
// followed.
func failureFor(addr, routeID string) report {
	r := failure(addr)
	r["route_id"] = routeID
	return r
}

// TestTraceFeedbackLinksRoute: reports that cite a plan's route_id link
// their POST /feedback span to that plan's trace, and the report that tips
// an address into demotion adds the event naming the address and voters.
func TestTraceFeedbackLinksRoute(t *testing.T) {
	recv := newOTLPReceiver(t)
	s := startServer(t, recv.env())
	const bad = "172.16.10.1"

	plan := s.route("example.com")
	other := s.route("example.com")
	// node-a cites both plans and one id that is not a trace id.
	if code, body := s.post("node-a", batch(failureFor(bad, plan.RouteId), failureFor(bad, other.RouteId),
		failureFor(bad, plan.RouteId), failureFor(bad, "sender-local-id"))); code != http.StatusAccepted {
		t.Fatalf("POST /feedback as node-a: %d %s", code, body)
	}
	if code, body := s.post("node-b", batch(failureFor(bad, plan.RouteId), failureFor(bad, plan.RouteId), failureFor(bad, plan.RouteId))); code != http.StatusAccepted {
		t.Fatalf("POST /feedback as node-b: %d %s", code, body)
	}
	if h := s.host(bad); h.State != apigen.HostStateDemoted {
		t.Fatalf("%s is %s after two reporters' failures, want demoted", bad, h.State)
	}
	s.Stop()
	spans := recv.received()

	var posts []*tracepb.Span
	for _, sp := range named(spans, "POST /feedback") {
		if sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			posts = append(posts, sp)
		}
	}
	if len(posts) != 2 {
		t.Fatalf("%d POST /feedback server spans, want 2; received: %s", len(posts), spanNames(spans))
	}
	byReporter := map[string]*tracepb.Span{}
	for _, sp := range posts {
		byReporter[attrString(sp.GetAttributes(), "mxroute.feedback.reporter")] = sp
	}
	a, b := byReporter["node-a"], byReporter["node-b"]
	if a == nil || b == nil {
		t.Fatalf("POST /feedback spans by mxroute.feedback.reporter: %v, want node-a and node-b", byReporter)
	}
	checkAttrs(t, "node-a's POST /feedback", a.GetAttributes(), map[string]string{"http.route": "/feedback", "mxroute.feedback.host_failures": "4"})

	// Links: one per distinct plan, to its trace.
	links := func(sp *tracepb.Span) []string {
		var out []string
		for _, l := range sp.GetLinks() {
			out = append(out, hex.EncodeToString(l.GetTraceId()))
			if id := attrString(l.GetAttributes(), "mxroute.route_id"); id != hex.EncodeToString(l.GetTraceId()) {
				t.Errorf("link to %x has mxroute.route_id %q", l.GetTraceId(), id)
			}
		}
		slices.Sort(out)
		return out
	}
	wantA := []string{plan.RouteId, other.RouteId}
	slices.Sort(wantA)
	if got := links(a); !slices.Equal(got, wantA) {
		t.Errorf("node-a's POST /feedback links to traces %v, want %v (one per distinct route_id)", got, wantA)
	}
	if got := links(b); !slices.Equal(got, []string{plan.RouteId}) {
		t.Errorf("node-b's POST /feedback links to traces %v, want [%s]", got, plan.RouteId)
	}
	// The linked trace is the plan's: its server span is GET /route.
	serverSpan(t, inTrace(spans, plan.RouteId), "GET /route")

	// The demotion: an event on the store call node-b's POST made (each
	// POST came alone, so each made its own call, a child span), none in
	// node-a's trace.
	storeCall := func(post *tracepb.Span) *tracepb.Span {
		for _, sp := range named(spans, "feedback.apply") {
			if bytes.Equal(sp.GetParentSpanId(), post.GetSpanId()) {
				return sp
			}
		}
		t.Fatalf("no feedback.apply span under %s; received: %s", attrString(post.GetAttributes(), "mxroute.feedback.reporter"), spanNames(spans))
		return nil
	}
	for _, e := range append(a.GetEvents(), storeCall(a).GetEvents()...) {
		if strings.HasPrefix(e.GetName(), "mxroute.health.") {
			t.Errorf("node-a's POST /feedback has event %s; one reporter alone never demotes", e.GetName())
		}
	}
	var demoted []*tracepb.Span_Event
	for _, e := range storeCall(b).GetEvents() {
		if e.GetName() == "mxroute.health.demoted" {
			demoted = append(demoted, e)
		}
	}
	if len(demoted) != 1 {
		t.Fatalf("node-b's store call has %d mxroute.health.demoted events, want 1; events: %v", len(demoted), storeCall(b).GetEvents())
	}
	ev := demoted[0].GetAttributes()
	checkAttrs(t, "mxroute.health.demoted", ev, map[string]string{"mxroute.address": bad})
	reporters := strings.Split(attrString(ev, "mxroute.health.reporters"), ",")
	slices.Sort(reporters)
	if !slices.Equal(reporters, []string{"node-a", "node-b"}) {
		t.Errorf("mxroute.health.reporters = %v, want node-a and node-b", reporters)
	}
	if attrString(ev, "mxroute.health.until") == "" {
		t.Errorf("mxroute.health.demoted has no mxroute.health.until")
	}
}

// scrapedMetrics is one scrape of /metrics.
type scrapedMetrics map[string]*dto.MetricFamily

// scrape reads /metrics and parses the Prometheus text format.
func (s *testServer) scrape() scrapedMetrics {
	s.t.Helper()
	code, body, hdr := s.do(http.MethodGet, "/metrics", nil, nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET /metrics: %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		s.t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("GET /metrics: %v\n%.3000s", err, body)
	}
	return mf
}

// value sums the series of the family name whose labels include want:
// counter and gauge values, or histogram sample counts. ok is false when
// no series matches.
func (m scrapedMetrics) value(name string, want map[string]string) (v float64, ok bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if labels[k] != w {
				continue next
			}
		}
		ok = true
		switch {
		case s.Counter != nil:
			v += s.GetCounter().GetValue()
		case s.Gauge != nil:
			v += s.GetGauge().GetValue()
		case s.Histogram != nil:
			v += float64(s.GetHistogram().GetSampleCount())
		case s.Untyped != nil:
			v += s.GetUntyped().GetValue()
		}
	}
	return v, ok
}

// expect checks that the series of name matching labels sum to want.
func (m scrapedMetrics) expect(t *testing.T, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := m.value(name, labels)
	if !ok {
		t.Errorf("no series %s%v in /metrics (families: %s)", name, labels, m.names("mxroute_"))
		return
	}
	if got != want {
		t.Errorf("%s%v = %g, want %g", name, labels, got, want)
	}
}

// atLeast checks that the series of name matching labels sum to min or
// more.
func (m scrapedMetrics) atLeast(t *testing.T, name string, labels map[string]string, min float64) {
	t.Helper()
	got, ok := m.value(name, labels)
	if !ok || got < min {
		t.Errorf("%s%v = %g (present %v), want at least %g", name, labels, got, ok, min)
	}
}

func (m scrapedMetrics) names(prefix string) string {
	var out []string
	for n := range m {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// TestMetricsAfterTraffic: after plans, reports and a demotion, /metrics
// shows each of them counted, under the documented Prometheus names.
func TestMetricsAfterTraffic(t *testing.T) {
	d := dnstest.NewServer(t, opsZone)
	s := startServer(t, map[string]string{"MXROUTE_DNS_SERVERS": d.Addr(), "MXROUTE_ZONE_FILES": "none",
		"MXROUTE_DNS_TIMEOUT": "20s", "MXROUTE_DNS_BUDGET": "40s", "MXROUTE_MTA_STS": "false"})

	before := s.scrape()
	before.expect(t, "mxroute_health_demoted", map[string]string{"state": "demoted"}, 0)
	before.expect(t, "mxroute_feedback_buffer_depth", nil, 0)
	if _, ok := before.value("mxroute_plans_total", nil); ok {
		t.Errorf("mxroute_plans_total before any plan: want no series yet")
	}

	s.route("cold.test") // five cache misses, five queries on the wire
	s.route("cold.test") // built from the kept input: no cache lookup
	if code, _, _ := s.do(http.MethodGet, "/route?domain=bad..name", nil, nil); code != http.StatusBadRequest {
		t.Fatalf("GET /route?domain=bad..name: %d, want 400", code)
	}
	const bad = "192.0.2.10"
	s.demote(bad)
	rcpt := report{"address": bad, "outcome": "failure", "stage": "rcpt", "smtp_code": 550, "enhanced_code": "5.1.1"}
	if code, body := s.post("node-c", batch(rcpt, success("192.0.2.20"))); code != http.StatusAccepted {
		t.Fatalf("POST /feedback: %d %s", code, body)
	}

	m := s.scrape()
	route := map[string]string{"http_route": "/route", "http_request_method": "GET"}
	m.expect(t, "http_server_request_duration_seconds", withLabel(route, "http_response_status_code", "200"), 2)
	m.expect(t, "http_server_request_duration_seconds", withLabel(route, "http_response_status_code", "400"), 1)
	m.expect(t, "http_server_request_duration_seconds", map[string]string{"http_route": "/feedback", "http_response_status_code": "202"}, 3)
	m.expect(t, "mxroute_plans_total", map[string]string{"disposition": "deliver", "reason": "ok"}, 2)
	m.expect(t, "mxroute_plans_total", nil, 2) // the 400 made no plan
	// Readiness probes the root through the same resolvers, so the wire
	// sees the plan's five queries and maybe a probe.
	m.atLeast(t, "mxroute_dns_queries_total", map[string]string{"rcode": "NOERROR", "server": d.Addr()}, 5)
	m.atLeast(t, "mxroute_dns_query_duration_seconds", map[string]string{"server": d.Addr()}, 5)
	m.expect(t, "mxroute_dns_cache_lookups_total", map[string]string{"result": "miss"}, 5)
	m.expect(t, "mxroute_plan_inputs_kept_total", nil, 1)
	m.expect(t, "mxroute_feedback_reports_total", map[string]string{"classification": "host_failure"}, 6)
	m.expect(t, "mxroute_feedback_reports_total", map[string]string{"classification": "neutral"}, 1)
	m.expect(t, "mxroute_feedback_reports_total", map[string]string{"classification": "host_success"}, 1)
	m.expect(t, "mxroute_health_transitions_total", map[string]string{"transition": "demoted"}, 1)
	m.expect(t, "mxroute_health_demoted", map[string]string{"state": "demoted"}, 1)
	m.expect(t, "mxroute_health_demoted", map[string]string{"state": "drained"}, 0)
	m.expect(t, "mxroute_health_budget_exhausted", nil, 0)
	m.expect(t, "mxroute_feedback_buffer_depth", nil, 0)
	m.atLeast(t, "target_info", map[string]string{"service_name": "mxroute"}, 1)
	m.atLeast(t, "go_goroutines", nil, 1)

	// The demoted address leads no plan now: the planner read the view
	// the gauge reports.
	if p := s.route("cold.test"); addrs(p) != "192.0.2.20,192.0.2.10" {
		t.Errorf("plan after demoting %s: %s, want it last", bad, addrs(p))
	}
	s.scrape().expect(t, "mxroute_plans_total", nil, 3)
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}
