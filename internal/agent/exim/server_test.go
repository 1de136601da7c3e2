package exim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/apigen"
)

// planRouter answers from a table; errs maps domains to errors.
type planRouter struct {
	mu    sync.Mutex
	plans map[string]apigen.Plan
	errs  map[string]error
	asked []string
	block chan struct{}
}

func (r *planRouter) Route(ctx context.Context, domain string) (apigen.Plan, error) {
	r.mu.Lock()
	r.asked = append(r.asked, domain)
	p, err := r.plans[domain], r.errs[domain]
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return apigen.Plan{}, &mxclient.Error{Op: "GET /route", Kind: mxclient.Unavailable, Err: ctx.Err()}
		}
	}
	return p, err
}

func startServer(t *testing.T, cfg ServerConfig, r Router, plans *Plans) (string, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exim.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(cfg, r, plans, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path, s
}

// ask does what Exim's readsocket does: connect, write, shut down the
// write side, read to EOF.
func ask(t *testing.T, path, request string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServerAnswers(t *testing.T) {
	r := &planRouter{
		plans: map[string]apigen.Plan{
			"example.com": {Domain: "example.com", Disposition: apigen.Deliver, RouteId: "rid", Attempts: []apigen.Attempt{
				{Host: "mx1.example.com", Address: "192.0.2.1"}, {Host: "mx2.example.com", Address: "2001:db8::2"}}},
		},
		errs: map[string]error{
			"down.example": &mxclient.Error{Op: "GET /route", Kind: mxclient.Unavailable, Err: errors.New("connection refused")},
			"bad..example": &mxclient.Error{Op: "GET /route", Kind: mxclient.Rejected, Status: 400, Err: errors.New("invalid domain")},
		},
	}
	plans := NewPlans(0, 0, nil)
	open, _ := startServer(t, ServerConfig{Port: 2525}, r, plans)
	closed, _ := startServer(t, ServerConfig{FailClosed: true}, r, nil)
	for _, tc := range []struct{ path, req, want string }{
		{open, "example.com\n", "<;[192.0.2.1]:2525;[2001:db8::2]:2525\n"},
		{open, "example.com", "<;[192.0.2.1]:2525;[2001:db8::2]:2525\n"}, // EOF ends the request too
		{open, "down.example\n", "pass\n"},
		{closed, "down.example\n", ":defer: 4.4.3 mxroute unavailable\n"},
		{closed, "bad..example\n", "pass\n"}, // rejected: Exim's own routing decides
		{open, "\n", "pass\n"},
		{open, "two words\n", "pass\n"},
		{open, strings.Repeat("a", 2000) + "\n", "pass\n"},
	} {
		if got := ask(t, tc.path, tc.req); got != tc.want {
			t.Errorf("ask %.40q: got %q, want %q", tc.req, got, tc.want)
		}
	}
	if h, id, ok := plans.Lookup("example.com", "2001:db8::2"); !ok || h != "mx2.example.com" || id != "rid" {
		t.Errorf("served plan not remembered: %q %q %v", h, id, ok)
	}
}

func TestServerBudgetAndOverload(t *testing.T) {
	r := &planRouter{block: make(chan struct{})}
	defer close(r.block)
	path, s := startServer(t, ServerConfig{Budget: 200 * time.Millisecond, MaxConns: 1, FailClosed: true}, r, nil)
	start := time.Now()
	var wg sync.WaitGroup
	answers := make([]string, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = ask(t, path, "slow.example\n")
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answers took %v with a 200ms budget", d)
	}
	for _, a := range answers {
		if a != ":defer: 4.4.3 mxroute unavailable\n" {
			t.Errorf("answer %q", a)
		}
	}
	if st := s.Stats(); st.Overloaded+st.Unavailable != 2 {
		t.Errorf("stats %+v", st)
	}
}
