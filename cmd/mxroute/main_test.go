package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/mxroute/mxroute/internal/apigen"
)

// syncBuffer collects a server's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is one mxroute started through run, as main would.
type testServer struct {
	t      testing.TB
	URL    string
	Stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs mxroute with env (nothing from the process environment)
// and waits until /healthz answers.
func startServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	addr := freePort(t)
	full := map[string]string{"MXROUTE_LISTEN": addr, "MXROUTE_DNS_SERVERS": "127.0.0.1:1", "MXROUTE_SHUTDOWN_DELAY": "0s"}
	for k, v := range env {
		full[k] = v
	}
	getenv := func(k string) string { return full[k] }
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{t: t, URL: "http://" + addr, Stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"mxroute"}, getenv, io.Discard, s.Stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited before serving: %v\n%s", err, s.Stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer /healthz: %v\n%s", err, s.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop shuts the server down as SIGTERM would and checks it exits cleanly.
func (s *testServer) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("run returned %v\n%s", err, s.Stderr)
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("server did not stop")
	}
}

// contract validates responses against api/openapi.yaml.
var contract = sync.OnceValues(func() (routers.Router, error) {
	spec, err := apigen.GetSpec()
	if err != nil {
		return nil, err
	}
	spec.Servers = nil
	return legacy.NewRouter(spec)
})

// do sends a request and checks the response against the contract; it
// returns the status and body.
func (s *testServer) do(method, path string, body any, header map[string]string) (int, []byte, http.Header) {
	s.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		switch b := body.(type) {
		case string:
			raw = []byte(b)
		default:
			var err error
			if raw, err = json.Marshal(b); err != nil {
				s.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	s.validate(req, raw, resp, got)
	return resp.StatusCode, got, resp.Header
}

// validate checks a response against the contract when the contract
// describes the path; 4xx bodies must always be problem+json.
func (s *testServer) validate(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	s.t.Helper()
	if resp.StatusCode >= 500 {
		s.t.Errorf("%s %s: status %d (5xx never expected): %s", req.Method, req.URL, resp.StatusCode, body)
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		s.t.Errorf("%s %s: status %d with Content-Type %q, want application/problem+json", req.Method, req.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	router, err := contract()
	if err != nil {
		s.t.Fatal(err)
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		return // not in the contract (e.g. /metrics, unknown paths)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		s.t.Errorf("%s %s: response breaks the contract: %v\nbody: %s", req.Method, req.URL, err, body)
	}
}

func (s *testServer) getJSON(path string, v any) int {
	s.t.Helper()
	code, body, _ := s.do(http.MethodGet, path, nil, nil)
	if v != nil && code == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			s.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return code
}

func (s *testServer) route(domain string) apigen.Plan {
	s.t.Helper()
	var p apigen.Plan
	if code := s.getJSON("/route?domain="+domain, &p); code != http.StatusOK {
		s.t.Fatalf("GET /route?domain=%s: status %d", domain, code)
	}
	return p
}

func addrs(p apigen.Plan) string {
	var out []string
	for _, a := range p.Attempts {
		out = append(out, a.Address)
	}
	return strings.Join(out, ",")
}

func problemOf(t *testing.T, body []byte) apigen.Problem {
	t.Helper()
	var p apigen.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, body)
	}
	return p
}
