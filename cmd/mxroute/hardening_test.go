package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestContractGaps: the small gaps of issue 9 item 10, through run.
func TestContractGaps(t *testing.T) {
	s := startServer(t, nil)
	report := `{"address":"172.16.10.1","outcome":"failure","stage":"connect"}`
	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
		detail             string
	}{
		{"drain 0.0.0.0", http.MethodPost, "/hosts/0.0.0.0/drain", `{"duration_seconds":60}`, 400, "never dialled"},
		{"drain ::", http.MethodPost, "/hosts/::/drain", `{"duration_seconds":60}`, 400, "never dialled"},
		{"drain ::ffff:0.0.0.0", http.MethodPost, "/hosts/::ffff:0.0.0.0/drain", `{"duration_seconds":60}`, 400, "never dialled"},
		{"field case", http.MethodPost, "/feedback", `{"Reports":[` + report + `]}`, 400, "case-sensitive"},
		{"nested field case", http.MethodPost, "/feedback", `{"reports":[{"ADDRESS":"172.16.10.1","outcome":"failure","stage":"connect"}]}`, 400, "case-sensitive"},
		{"duplicate key", http.MethodPost, "/feedback", `{"reports":[` + report + `],"reports":[]}`, 400, "appears twice"},
		{"max_attempts=+5", http.MethodGet, "/route?domain=example.com&max_attempts=%2B5", nil, 400, "plain decimal"},
		{"max_attempts=05", http.MethodGet, "/route?domain=example.com&max_attempts=05", nil, 400, "plain decimal"},
		{"bad escape", http.MethodGet, "/route?domain=exa%zzmple.com", nil, 400, `"%zz"`},
		{"date not RFC 3339", http.MethodPost, "/feedback", `{"reports":[{"address":"172.16.10.1","outcome":"failure","stage":"connect","observed_at":"2026-01-01"}]}`, 400, "RFC 3339"},
		{"date out of range", http.MethodPost, "/feedback", `{"reports":[{"address":"172.16.10.1","outcome":"failure","stage":"connect","observed_at":"9999-99-99T00:00:00Z"}]}`, 400, "RFC 3339"},
		{"date as a number", http.MethodPost, "/feedback", `{"reports":[{"address":"172.16.10.1","outcome":"failure","stage":"connect","observed_at":12}]}`, 400, "type"},
	} {
		code, body, _ := s.do(tc.method, tc.path, tc.body, nil)
		p := problemOf(t, body)
		if code != tc.want || p.Detail == nil || !strings.Contains(*p.Detail, tc.detail) {
			t.Errorf("%s: %d %s; want %d naming %q", tc.name, code, body, tc.want, tc.detail)
		}
	}
	if h := s.host("172.16.10.1"); h.RecentFailures != 0 {
		t.Errorf("a rejected batch changed state: %+v", h)
	}

	req, _ := http.NewRequest(http.MethodHead, s.URL+"/route?domain=example.com", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD /route: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// rawRequest writes req on a fresh connection and returns the status
// line and what follows, or the read error.
func rawRequest(t *testing.T, url, req string) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestBodyNeverArrives: a body that stops short gets 408 once the read
// timeout passes, and the answer names no socket address.
func TestBodyNeverArrives(t *testing.T) {
	s := startServer(t, map[string]string{"MXROUTE_HTTP_READ_TIMEOUT": "1s"})
	out, err := rawRequest(t, s.URL, "POST /feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"reports\":")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "HTTP/1.1 408 ") || !strings.Contains(out, "application/problem+json") {
		t.Errorf("got %q, want a 408 problem", out)
	}
	if strings.Contains(out, "127.0.0.1") {
		t.Errorf("the answer names a socket address: %q", out)
	}
}

// TestHeaderLimits: a header block beyond 16 KiB gets 431 at once, and
// connections beyond MXROUTE_HTTP_MAX_CONNECTIONS are not served until one
// closes, however much unterminated header each sends.
func TestHeaderLimits(t *testing.T) {
	s := startServer(t, map[string]string{"MXROUTE_HTTP_MAX_CONNECTIONS": "4"})
	big := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	out, err := rawRequest(t, s.URL, big)
	if err != nil && out == "" {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "HTTP/1.1 431 ") {
		t.Errorf("64 KiB of headers: %.60q, want 431", out)
	}

	// Four connections each hold 12 KiB of unterminated header.
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 12<<10)); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// A fifth is accepted by the kernel but not served while they hold.
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatalf("a fifth connection was served while four were held: %q", line)
	}
	// One held connection closes; the fifth is served.
	held[0].Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		t.Errorf("after a held connection closed: %q %v", line, err)
	}
}
