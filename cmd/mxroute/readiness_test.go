package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// TestReadinessTellsTheTruth (issue 9 item 8, and item 7's /readyz):
// Redis is not "ok" before it has answered; the public answer names
// components without details or addresses, details go to admins only;
// /metrics names no Redis address; on SIGTERM /readyz answers 503
// "shutting_down" while the listener still serves.
func TestReadinessTellsTheTruth(t *testing.T) {
	rs := redistest.StartServer(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("s3nder-token-0123456 node-a sender\nadm1n-token-01234567 ops admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs.Pause()
	s := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + rs.Addr(), "MXROUTE_AUTH_TOKENS_FILE": tokens,
		"MXROUTE_SHUTDOWN_DELAY": "2s"})
	admin := map[string]string{"Authorization": "Bearer adm1n-token-01234567"}

	var ready apigen.Readiness
	code, body, _ := s.do(http.MethodGet, "/readyz", nil, nil)
	if err := json.Unmarshal(body, &ready); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if c := findCheck(ready, "redis"); c == nil || c.Status == apigen.ReadinessCheckStatusOk {
		t.Errorf("redis check before Redis ever answered: %+v, want degraded", c)
	}
	if strings.Contains(string(body), `"detail"`) || strings.Contains(string(body), rs.Addr()) {
		t.Errorf("public /readyz carries details: %s", body)
	}
	for _, tc := range []struct {
		hdr  map[string]string
		want int
	}{{nil, http.StatusUnauthorized}, {map[string]string{"Authorization": "Bearer s3nder-token-0123456"}, http.StatusForbidden}, {admin, http.StatusOK}} {
		if code, body, _ := s.do(http.MethodGet, "/readyz?verbose=true", nil, tc.hdr); code != tc.want {
			t.Errorf("verbose /readyz with %v: %d %s, want %d", tc.hdr, code, body, tc.want)
		}
	}
	_, body, _ = s.do(http.MethodGet, "/readyz?verbose=true", nil, admin)
	if !strings.Contains(string(body), `"detail"`) {
		t.Errorf("verbose /readyz for an admin has no detail: %s", body)
	}

	rs.Resume()
	waitUntil(t, "redis reported ok once it answers", func() bool {
		var r apigen.Readiness
		s.getJSON("/readyz", &r)
		c := findCheck(r, "redis")
		return c != nil && c.Status == apigen.ReadinessCheckStatusOk
	})
	if _, body, _ := s.do(http.MethodGet, "/metrics", nil, nil); strings.Contains(string(body), rs.Addr()) {
		t.Errorf("/metrics names the Redis address %s", rs.Addr())
	}

	stopped := s.stopAsync()
	waitUntil(t, "/readyz says shutting down", func() bool {
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var r apigen.Readiness
		json.NewDecoder(resp.Body).Decode(&r)
		c := findCheck(r, "shutting_down")
		return resp.StatusCode == http.StatusServiceUnavailable && r.Status == apigen.ReadinessStatusNotReady && c != nil
	})
	select {
	case <-stopped:
		t.Fatal("run returned before the shutdown delay passed")
	case <-time.After(100 * time.Millisecond):
	}
	<-stopped
}
