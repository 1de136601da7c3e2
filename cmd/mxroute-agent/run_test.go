package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"mxroute-agent", "postfix", "--help"}, env(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	own, _ := postfixSide().settings()
	for _, s := range append(commonSettings(&common{}), own...) {
		if !strings.Contains(out.String(), "-"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("--help lacks -%s / %s", s.flag, s.env)
		}
		if !strings.HasPrefix(s.env, "MXROUTE_AGENT_") {
			t.Errorf("%s is not an MXROUTE_AGENT_ variable", s.env)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"sendmail"}, nil},
		{[]string{"postfix"}, map[string]string{"MXROUTE_AGENT_ORDER": "random"}},
		{[]string{"postfix"}, map[string]string{"MXROUTE_AGENT_PORT": "0"}},
		{[]string{"postfix"}, map[string]string{"MXROUTE_AGENT_FAIL_OPEN": "maybe"}},
		{[]string{"postfix"}, map[string]string{"MXROUTE_AGENT_URL": "localhost:8080"}},
		{[]string{"postfix"}, map[string]string{"MXROUTE_AGENT_ROUTE_TIMEOUT": "5s", "MXROUTE_AGENT_REPLY_BUDGET": "3s"}},
		{[]string{"postfix", "-token-file", "/nonexistent"}, nil},
		{[]string{"postfix", "extra"}, nil},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"mxroute-agent"}, tc.args...), env(tc.env), &out, &out)
		if err == nil {
			t.Errorf("%v %v accepted", tc.args, tc.env)
		}
	}
}

// feedbackSink is an HTTP endpoint recording /feedback batches.
type feedbackSink struct {
	mu      sync.Mutex
	reports []apigen.Report
	keys    map[string]bool
}

func (s *feedbackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b apigen.FeedbackBatch
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || r.Header.Get("X-Mxroute-Reporter") != "node-a" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.reports = append(s.reports, b.Reports...)
	s.keys[r.Header.Get("Idempotency-Key")] = true
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d}`, len(b.Reports))
}

func (s *feedbackSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.reports) }

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRestartReportsEachLineOnce runs the agent, stops it, appends to the
// log while it is down and starts it again: every attempt line reaches
// /feedback exactly once.
func TestRestartReportsEachLineOnce(t *testing.T) {
	sink := &feedbackSink{keys: map[string]bool{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	dir := t.TempDir()
	maillog := filepath.Join(dir, "maillog")
	line := func(i int) string {
		return fmt.Sprintf("Dec  6 11:23:%02d node-a postfix/smtp[1]: connect to mx[127.0.0.%d]:25: Connection refused\n", i%60, 2+i%200)
	}
	write := func(from, to int) {
		f, _ := os.OpenFile(maillog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		for i := from; i < to; i++ {
			f.WriteString(line(i))
			f.WriteString("Dec  6 11:23:00 node-a postfix/qmgr[2]: ABCDE12345: removed\n")
		}
		f.Close()
	}
	vars := map[string]string{
		"MXROUTE_AGENT_URL": srv.URL, "MXROUTE_AGENT_REPORTER": "node-a", "MXROUTE_AGENT_MAILLOG": maillog,
		"MXROUTE_AGENT_LISTEN": freePort(t), "MXROUTE_AGENT_BATCH_INTERVAL": "20ms", "MXROUTE_AGENT_FROM_START": "true",
	}
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var out bytes.Buffer
		go func() { done <- run(ctx, []string{"mxroute-agent", "postfix"}, env(vars), &out, &out) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(30 * time.Second) // generous: a loaded CI machine
		for sink.count() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if got := sink.count(); got != n {
			t.Fatalf("reports %d, want %d", got, n)
		}
	}
	write(0, 50)
	stop := start()
	waitFor(50)
	write(50, 80)
	waitFor(80)
	stop()
	write(80, 100) // while the agent is down
	stop = start()
	waitFor(100)
	stop()
	seen := map[string]int{}
	for _, r := range sink.reports {
		seen[r.Address+r.ObservedAt.String()]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s reported %d times", k, n)
		}
	}
}

// TestUnixSocketmap serves the socketmap on a unix socket (the
// socketmap:unix:PATH:mxroute form) and fails open while mxroute is down.
func TestUnixSocketmap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "socketmap")
	vars := map[string]string{"MXROUTE_AGENT_URL": "http://127.0.0.1:1/", "MXROUTE_AGENT_LISTEN": "unix:" + path,
		"MXROUTE_AGENT_ROUTE_TIMEOUT": "100ms", "MXROUTE_AGENT_REPLY_BUDGET": "500ms"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, []string{"mxroute-agent", "postfix"}, env(vars), &out, &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var c net.Conn
	var err error
	for range 100 {
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, %v: trivial-rewrite runs as another user", fi.Mode(), err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "mxroute user@example.com"
	fmt.Fprintf(c, "%d:%s,", len(req), req)
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); got != "9:NOTFOUND ," {
		t.Errorf("got %q, want NOTFOUND (fail open)", got)
	}
}
