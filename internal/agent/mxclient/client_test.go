package mxclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

func TestRouteSendsIdentityAndDecodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/route" || r.URL.Query().Get("domain") != "example.com" {
			t.Errorf("request %s", r.URL)
		}
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Mxroute-Reporter") != "node-1" {
			t.Errorf("headers %v", r.Header)
		}
		json.NewEncoder(w).Encode(apigen.Plan{Domain: "example.com", Disposition: apigen.Deliver,
			Attempts: []apigen.Attempt{{Address: "192.0.2.1"}}})
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, Token: "tok", Reporter: "node-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Route(context.Background(), "example.com")
	if err != nil || len(p.Attempts) != 1 || p.Attempts[0].Address != "192.0.2.1" {
		t.Fatalf("plan %+v, err %v", p, err)
	}
}

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		want       Kind
		wantAfter  time.Duration
	}{
		{http.StatusBadRequest, "", Rejected, 0},
		{http.StatusUnauthorized, "", Rejected, 0},
		{http.StatusTooManyRequests, "3", Unavailable, 3 * time.Second},
		{http.StatusServiceUnavailable, "", Unavailable, 0},
		{http.StatusInternalServerError, "", Unavailable, 0},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(tc.status)
			w.Write([]byte(`{"type":"about:blank","title":"nope","status":0}`))
		}))
		c, _ := New(Config{URL: srv.URL}, nil)
		err := c.PostFeedback(context.Background(), "k", []apigen.Report{{Address: "192.0.2.1"}})
		var e *Error
		if !errors.As(err, &e) || e.Kind != tc.want || e.Status != tc.status || e.RetryAfter != tc.wantAfter {
			t.Errorf("status %d: got %#v, want kind %v", tc.status, err, tc.want)
		}
		srv.Close()
	}
}

func TestUnreachableAndSlowAreUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, RouteTimeout: 50 * time.Millisecond}, nil)
	if _, err := c.Route(context.Background(), "example.com"); KindOf(err) != Unavailable {
		t.Errorf("slow: %v, want unavailable", err)
	}
	c, _ = New(Config{URL: "http://127.0.0.1:1/"}, nil)
	if _, err := c.Route(context.Background(), "example.com"); KindOf(err) != Unavailable {
		t.Errorf("refused: %v, want unavailable", err)
	}
}

func TestIdempotencyKeyHeader(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Idempotency-Key")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"accepted":1}`))
	}))
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL}, nil)
	if err := c.PostFeedback(context.Background(), "abc", []apigen.Report{{Address: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	if k := <-got; k != "abc" {
		t.Errorf("key %q", k)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/", "localhost:8080"} {
		if _, err := New(Config{URL: u}, nil); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}
