package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// get fetches a console page with optional Authorization.
func getPage(t *testing.T, url, authz string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestConsoleWithoutJavaScript: with tokens, a console page without
// credentials is the sign-in page (401); ?login=basic asks the browser
// for Basic credentials, whose password is forwarded as the bearer token,
// so pages read without JavaScript; the API itself does not take those
// Basic credentials, so they cannot drain. Pages carry a strict CSP.
func TestConsoleWithoutJavaScript(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("admin-token-0123456789 ops admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"MXROUTE_AUTH_TOKENS_FILE": tokens})
	if code, body, _ := s.do(http.MethodPost, "/hosts/172.16.10.1/drain", map[string]any{"duration_seconds": 60}, map[string]string{"Authorization": "Bearer admin-token-0123456789"}); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}

	resp, body := getPage(t, s.URL+"/ui/", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-page="login"`) || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("/ui/ without a token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	resp, _ = getPage(t, s.URL+"/ui/?login=basic", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("?login=basic: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	basic := func(pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth("anyone", pass)
		return req.Header.Get("Authorization")
	}
	resp, body = getPage(t, s.URL+"/ui/?state=drained", basic("admin-token-0123456789"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-address="172.16.10.1" data-state="drained"`) {
		t.Fatalf("fleet page with Basic credentials: %d\n%s", resp.StatusCode, body)
	}
	for _, q := range []string{"172.16.10.0/24", "172.16.10.1"} {
		if _, body = getPage(t, s.URL+"/ui/?q="+q, basic("admin-token-0123456789")); !strings.Contains(body, `data-address="172.16.10.1"`) {
			t.Fatalf("search %s does not list 172.16.10.1", q)
		}
	}
	if _, body = getPage(t, s.URL+"/ui/?q=192.0.2.0/24", basic("admin-token-0123456789")); strings.Contains(body, `data-address="172.16.10.1"`) {
		t.Fatal("search 192.0.2.0/24 lists 172.16.10.1")
	}
	resp, _ = getPage(t, s.URL+"/ui/", basic("wrong-token-0123456789"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL+"/hosts/172.16.10.1/drain", nil)
	req.Header.Set("Authorization", basic("admin-token-0123456789"))
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized {
		t.Fatalf("undrain with Basic credentials: %d, want 401 (actions take bearer tokens only)", r2.StatusCode)
	}

	// Bad input on a page is the API's 400, shown on the page.
	resp, body = getPage(t, s.URL+"/ui/route?domain=bad..domain", "Bearer admin-token-0123456789")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="problem"`) {
		t.Fatalf("bad domain: %d", resp.StatusCode)
	}
	resp, _ = getPage(t, s.URL+"/ui/static/console.js", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("console.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = getPage(t, s.URL+"/ui/nope", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/ui/nope: %d", resp.StatusCode)
	}
}
