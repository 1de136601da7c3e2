package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "reports-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestSpoolKeepsReportsAcrossRestart: with Redis down, reports are posted
// (more than the buffer holds, so the full buffer spools too); SIGTERM
// ends the process within its grace, saying what it kept; the next start,
// with Redis up, applies every report exactly once, and a start after that
// applies nothing again.
func TestSpoolKeepsReportsAcrossRestart(t *testing.T) {
	rs := redistest.StartServer(t)
	dir := t.TempDir()
	env := map[string]string{
		"MXROUTE_REDIS_URL": "redis://" + rs.Addr(), "MXROUTE_SPOOL_DIR": dir,
		"MXROUTE_FEEDBACK_BUFFER": "4", "MXROUTE_SHUTDOWN_GRACE": "5s",
		"MXROUTE_FEEDBACK_OUTAGE_AFTER": "1ms", // Redis down is an outage at once: the whole buffer, then the spool
	}
	const bad = "172.16.10.1"
	s := startServer(t, env)
	rs.Stop()
	for _, r := range []string{"node-a", "node-b"} {
		if code, body := s.post(r, batch(failure(bad), failure(bad), failure(bad))); code != http.StatusAccepted {
			t.Fatalf("POST as %s with Redis down: %d %s", r, code, body)
		}
	}
	if len(spoolFiles(t, dir)) == 0 {
		t.Errorf("the full buffer (4 of 6 reports) spooled nothing")
	}
	start := time.Now()
	s.Stop()
	// Exit within the grace period; the slack is for a loaded machine's
	// scheduling, not for the shutdown's own work.
	if d := time.Since(start); d > 5*time.Second+3*time.Second {
		t.Errorf("shutdown took %s, well past the 5 s grace", d)
	}
	if log := s.Stderr.String(); !strings.Contains(log, "kept in the spool") || !strings.Contains(log, `"reports_lost":0`) {
		t.Errorf("shutdown log does not say what was kept and lost:\n%s", lastLines(log, 8))
	}

	rs.Restart()
	s2 := startServer(t, env)
	eventually(t, "spooled reports applied", func() bool {
		h := s2.host(bad)
		return h.RecentFailures == 6 && h.State == apigen.HostStateDemoted
	})
	if n := len(spoolFiles(t, dir)); n != 0 {
		t.Errorf("%d spool files left after replay", n)
	}
	for _, r := range []string{"node-a", "node-b"} {
		if n := reporterFails(t, rs.Addr(), bad, r); n != 3 {
			t.Errorf("%s's failures in Redis = %d, want 3 (each report once)", r, n)
		}
	}
	s2.Stop()
	s3 := startServer(t, env)
	time.Sleep(300 * time.Millisecond) // a replay would run at once
	if h := s3.host(bad); h.RecentFailures != 6 {
		t.Errorf("after another restart: %+v, want still 6 failures", h)
	}
}

// TestSecondSignalEndsShutdown: a second SIGTERM during a shutdown that
// waits (a hung request) ends it at once; the buffered reports go to the
// spool.
func TestSecondSignalEndsShutdown(t *testing.T) {
	rs := redistest.StartServer(t)
	dir := t.TempDir()
	s := startServer(t, map[string]string{
		"MXROUTE_REDIS_URL": "redis://" + rs.Addr(), "MXROUTE_SPOOL_DIR": dir, "MXROUTE_SHUTDOWN_GRACE": "30s",
		"MXROUTE_HTTP_READ_TIMEOUT": "60s",
	})
	rs.Pause()
	if code, body := s.post("node-a", batch(failure("172.16.10.1"))); code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", code, body)
	}
	// A request whose body is still arriving holds the HTTP shutdown up
	// for the whole grace.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server reads the headers: the connection is active
	start := time.Now()
	s.cancel() // the first SIGTERM; Stop would call run's error a test failure
	s.cancel = nil
	waitUntil(t, "the listener closes after SIGTERM", func() bool { return !s.listening() })
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		// Cut short on purpose: the held request was abandoned; no
		// report was lost.
		if err != nil && strings.Contains(err.Error(), "flush reports") {
			t.Errorf("run: %v, want no reports lost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("a second SIGTERM did not end the shutdown within 5 s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s after the second signal", d)
	}
	rs.Resume()
	if len(spoolFiles(t, dir)) != 1 {
		t.Errorf("spool files %v, want the buffered report kept", spoolFiles(t, dir))
	}
}

// TestSecondSignalDuringDelay: a second SIGTERM while /readyz still
// answers 503 before the listener closes (MXROUTE_SHUTDOWN_DELAY) ends
// the shutdown at once instead of waiting the delay out.
func TestSecondSignalDuringDelay(t *testing.T) {
	// Keep SIGTERM from killing the test binary when mxroute does not
	// listen for it.
	sink := make(chan os.Signal, 1)
	signal.Notify(sink, syscall.SIGTERM)
	defer signal.Stop(sink)
	s := startServer(t, map[string]string{"MXROUTE_SHUTDOWN_DELAY": "60s", "MXROUTE_SHUTDOWN_GRACE": "90s"})
	s.cancel() // the first SIGTERM
	s.cancel = nil
	waitUntil(t, "/readyz answers 503 during the delay", func() bool {
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("a second SIGTERM during the 60 s drain delay did not end the shutdown")
	}
}
