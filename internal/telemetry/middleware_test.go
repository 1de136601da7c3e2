package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func TestMiddlewareNamesSpanAfterChiRoute(t *testing.T) {
	const (
		callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan  = "00f067aa0ba902b7"
	)
	col, url := startHTTPCollector(t)
	tel, err := Setup(t.Context(), env(map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": url,
	}), Options{})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}

	r := chi.NewRouter()
	r.Use(Middleware(tel, MiddlewareOptions{Skip: func(p string) bool { return p == "/probe" }}))
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }
	r.Get("/items/{id}", ok)
	r.Route("/v1", func(r chi.Router) {
		r.Get("/things/{id}", ok)
	})
	r.Get("/probe", ok)
	srv := httptest.NewServer(r)
	defer srv.Close()

	get := func(path, traceparent string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	get("/items/42", "00-"+callerTrace+"-"+callerSpan+"-01")
	get("/v1/things/7", "")
	get("/nowhere", "")
	get("/probe", "")

	metrics := scrape(t, tel)
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	srv.Close()

	byPath := map[string]gotSpan{}
	for _, s := range col.spans() {
		byPath[s.Attrs["url.path"]] = s
	}
	tests := []struct {
		path, wantName, wantRoute, wantStatus string
	}{
		{"/items/42", "GET /items/{id}", "/items/{id}", "200"},
		{"/v1/things/7", "GET /v1/things/{id}", "/v1/things/{id}", "200"},
		{"/nowhere", "GET", "", "404"},
	}
	for _, tt := range tests {
		s, found := byPath[tt.path]
		if !found {
			t.Errorf("no span for %s among %+v", tt.path, col.spans())
			continue
		}
		if s.Name != tt.wantName || s.Attrs["http.route"] != tt.wantRoute || s.Attrs["http.response.status_code"] != tt.wantStatus || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("span for %s = %q route %q status %q kind %v; want %q route %q status %s, server",
				tt.path, s.Name, s.Attrs["http.route"], s.Attrs["http.response.status_code"], s.Kind, tt.wantName, tt.wantRoute, tt.wantStatus)
		}
	}
	if s := byPath["/items/42"]; s.TraceID != callerTrace || s.ParentSpanID != callerSpan {
		t.Errorf("span for /items/42 in trace %s under %s; want the caller's trace %s under %s", s.TraceID, s.ParentSpanID, callerTrace, callerSpan)
	}
	if s := byPath["/v1/things/7"]; s.TraceID == callerTrace || s.ParentSpanID != "" {
		t.Errorf("span for /v1/things/7 in trace %s under %q; want a new root", s.TraceID, s.ParentSpanID)
	}

	if _, found := byPath["/probe"]; found {
		t.Errorf("a span for /probe, which Skip leaves out")
	}
	if strings.Contains(metrics, `http_route="/probe"`) {
		t.Errorf("/metrics has /probe, which Skip leaves out:\n%s", grepLines(metrics, "/probe"))
	}
	for _, want := range []string{
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/items/{id}",`,
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/v1/things/{id}",`,
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",network_protocol_name="http",`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s; got:\n%s", want, grepLines(metrics, "http_server_request_duration_seconds_count"))
		}
	}
	if strings.Contains(metrics, "body_size") {
		t.Errorf("/metrics has the dropped body size histograms:\n%s", grepLines(metrics, "body_size"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
