//go:build browser

// The console's browser test drives Debian's headless Chromium through the
// DevTools protocol (chromedp) against run with a real Redis. It is behind
// the "browser" build tag so that `go test ./...` does not need Chromium;
// `make console-e2e` (part of `make test`) installs it and runs this test
// inside a network namespace with only loopback.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// browser starts a fresh headless Chromium with everything that would
// reach beyond loopback turned off.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (make console-e2e installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// The first call starts the browser, which lives as long as that
	// call's context: no timeout on it, only on what follows.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return tctx
}

// shots is where screenshots go: $MXROUTE_TEST_OUTPUT/console, else a
// temporary directory. With MXROUTE_DOCS_SCREENSHOTS=1 the small phone
// and desktop views are also written to docs/console/.
func shots(t *testing.T) string {
	dir := os.Getenv("MXROUTE_TEST_OUTPUT")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// docsShots are the screenshots README and docs/console.md show.
var docsShots = map[string]bool{"fleet": true, "route": true, "fleet-phone": true}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MXROUTE_DOCS_SCREENSHOTS") == "1" && docsShots[name] {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "console", name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	return get(t, ctx, sel+" "+name, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, sel, chromedp.Text(chromedp.CSS(sel)))
}

// login signs in through the console's form.
func login(t *testing.T, ctx context.Context, base, token string) {
	do(t, ctx, "sign in",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`main[data-page="login"] #token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-page="fleet"]`)),
	)
}

func TestConsoleBrowser(t *testing.T) {
	r := redistest.StartServer(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("admin-token-0123456789 ops admin\nsender-token-0123456789 viewer sender\nmta1-token-0123456789 mta-1 sender\nmta2-token-0123456789 mta-2 sender\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{
		"MXROUTE_REDIS_URL": "redis://" + r.Addr(), "MXROUTE_AUTH_TOKENS_FILE": tokens,
		"MXROUTE_TRACE_UI_URL": "http://127.0.0.1:9/trace/{trace_id}",
	})
	ctx := browser(t)
	dir := shots(t)
	// bad is example.com's mail2, demoted by reports; drained is
	// equal.example's mx2, drained from the UI. Each domain keeps a healthy
	// address, so plans reorder (with none healthy, the RFC order stands).
	const bad, drained, healthy = "172.16.10.2", "172.16.20.2", "172.16.10.1"

	// Log in with an admin token: the fleet is healthy.
	login(t, ctx, s.URL, "admin-token-0123456789")
	do(t, ctx, "fleet page", chromedp.WaitVisible(chromedp.CSS(`#all-healthy`)), chromedp.WaitVisible(chromedp.CSS(`#live:not(.off)`)))

	// Two reporters fail on bad; the page shows the demotion without a
	// reload (a marker set on the window survives), within a second.
	get(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__noReload = 1`))
	start := time.Now()
	for _, tok := range []string{"mta1-token-0123456789", "mta2-token-0123456789"} {
		code, body, _ := s.do(http.MethodPost, "/feedback", map[string]any{"reports": []map[string]any{
			{"address": bad, "host": "mail2.example.com", "domain": "example.com", "outcome": "failure", "stage": "rcpt", "smtp_code": 421, "enhanced_code": "4.7.0"},
			{"address": bad, "host": "mail2.example.com", "outcome": "failure", "stage": "connect"},
			{"address": bad, "host": "mail2.example.com", "outcome": "failure", "stage": "connect"},
		}}, map[string]string{"Authorization": "Bearer " + tok})
		if code != http.StatusAccepted {
			t.Fatalf("POST /feedback: %d %s", code, body)
		}
	}
	do(t, ctx, "live demotion", chromedp.WaitVisible(chromedp.CSS(`tr[data-address="`+bad+`"][data-state="demoted"]`)))
	live := time.Since(start)
	marker := get(t, ctx, "marker", chromedp.Evaluate[int](`window.__noReload || 0`))
	voters := text(t, ctx, `tr[data-address="`+bad+`"] td[data-label="Voted down by"]`)
	if marker != 1 {
		t.Fatal("the page was reloaded; the demotion should arrive live")
	}
	if !strings.Contains(voters, "mta-1, mta-2") {
		t.Fatalf("voters = %q, want mta-1 and mta-2", voters)
	}
	t.Logf("demotion shown %s after the second report", live.Round(time.Millisecond))
	if live > time.Second {
		t.Errorf("demotion shown after %s, want within 1 s", live)
	}
	screenshot(t, ctx, dir, "fleet")

	// Drain from the host's page; /route then puts it last.
	do(t, ctx, "drain from the UI",
		chromedp.SendKeys(chromedp.CSS(`input[name="address"]`), drained),
		chromedp.Click(chromedp.CSS(`form[action="/ui/host"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-page="host"] #drain`)),
		chromedp.SetValue(chromedp.CSS(`#drain input[name="amount"]`), "10"),
		chromedp.SendKeys(chromedp.CSS(`#drain input[name="reason"]`), "disk swap"),
		chromedp.Click(chromedp.CSS(`#drain button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#host-state.drained`)),
	)
	screenshot(t, ctx, dir, "host")
	var plan apigen.Plan
	code, body, _ := s.do(http.MethodGet, "/route?domain=equal.example", nil, map[string]string{"Authorization": "Bearer sender-token-0123456789"})
	if code != http.StatusOK || json.Unmarshal(body, &plan) != nil {
		t.Fatalf("GET /route: %d %s", code, body)
	}
	if n := len(plan.Attempts); n != 2 || plan.Attempts[n-1].Address != drained || plan.Attempts[n-1].State != apigen.HostStateDrained {
		t.Fatalf("plan after the drain: %s, want %s last and drained", addrs(plan), drained)
	}

	// Look up a plan in the route explorer.
	do(t, ctx, "route explorer",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/route"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#route-form`)),
		chromedp.SendKeys(chromedp.CSS(`#route-form input[name="domain"]`), "example.com"),
		chromedp.Click(chromedp.CSS(`#route-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#attempts`)),
	)
	first := attr(t, ctx, `#attempts tbody tr:first-child`, "data-address")
	last := attr(t, ctx, `#attempts tbody tr:last-child`, "data-address")
	routeID := text(t, ctx, `#route-id`)
	traceHref := attr(t, ctx, `#trace-link`, "href")
	if first != healthy || last != bad {
		t.Fatalf("explorer shows %s first and %s last, want healthy %s then demoted %s", first, last, healthy, bad)
	}
	if len(routeID) != 32 || traceHref != "http://127.0.0.1:9/trace/"+routeID {
		t.Fatalf("route_id %q, trace link %q", routeID, traceHref)
	}
	screenshot(t, ctx, dir, "route")

	// Open a check report.
	do(t, ctx, "check report",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/check"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#check-form`)),
		chromedp.SendKeys(chromedp.CSS(`#check-form input[name="domain"]`), "equal.example"),
		chromedp.Click(chromedp.CSS(`#check-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#grade`)),
	)
	grade, lb := text(t, ctx, `#grade`), text(t, ctx, `#lb`)
	if grade != "A" || lb != "strong" {
		t.Fatalf("check of equal.example: grade %q, load balancing %q; want A, strong", grade, lb)
	}
	screenshot(t, ctx, dir, "check")

	// A phone-sized screen: the fleet table turns into cards.
	do(t, ctx, "phone view",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile),
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-address="`+bad+`"]`)),
	)
	headDisplay := get(t, ctx, "phone layout", chromedp.Evaluate[string](`getComputedStyle(document.querySelector('table.fleet thead')).display`))
	if headDisplay != "none" {
		t.Errorf("on a phone the table header is %q, want hidden (rows as cards)", headDisplay)
	}
	screenshot(t, ctx, dir, "fleet-phone")
	do(t, ctx, "desktop again", chromedp.EmulateReset())

	// A sender token reads but cannot drain.
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`#signout`)), chromedp.WaitVisible(chromedp.CSS(`main[data-page="login"]`)))
	login(t, ctx, s.URL, "sender-token-0123456789")
	do(t, ctx, "sender tries to drain",
		chromedp.Navigate(s.URL+"/ui/hosts/"+bad),
		chromedp.WaitVisible(chromedp.CSS(`main[data-page="host"] #drain`)),
		chromedp.Click(chromedp.CSS(`#drain button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-result.bad`)),
	)
	result := text(t, ctx, `#action-result`)
	if !strings.Contains(result, "admin") {
		t.Fatalf("sender's drain: %q, want the 403 saying admin is needed", result)
	}
	if h := hostAs(t, s, bad, "sender-token-0123456789"); h.State != apigen.HostStateDemoted {
		t.Fatalf("%s after the sender's attempt: %s, want still demoted", bad, h.State)
	}
	screenshot(t, ctx, dir, "sender-forbidden")
}

func hostAs(t *testing.T, s *testServer, addr, token string) apigen.HostStatus {
	t.Helper()
	var h apigen.HostStatus
	code, body, _ := s.do(http.MethodGet, "/hosts/"+addr, nil, map[string]string{"Authorization": "Bearer " + token})
	if code != http.StatusOK {
		t.Fatalf("GET /hosts/%s: %d %s", addr, code, body)
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(fmt.Errorf("host: %w", err))
	}
	return h
}

// TestConsoleReconnects: the fleet page keeps showing transitions live
// across the ends of its stream. A page beyond its client's stream bound
// (one here; without tokens the client is the address, shared with this
// test's own stream) waits the 429's Retry-After and goes live once a
// place is free; the server ends each stream at its lifetime, and a
// transition made while the page reconnects still reaches it, without a
// reload.
func TestConsoleReconnects(t *testing.T) {
	const drained = "172.16.20.2"
	s := startServer(t, map[string]string{"MXROUTE_EVENT_STREAM_LIFETIME": "3s", "MXROUTE_EVENT_STREAMS_PER_CLIENT": "1"})
	held := openEvents(t, s, nil)
	ctx := browser(t)
	do(t, ctx, "fleet page, its stream refused", chromedp.Navigate(s.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`#live.off`)))
	get(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__noReload = 1`))
	held.resp.Body.Close()
	do(t, ctx, "live once a place is free", chromedp.WaitVisible(chromedp.CSS(`#live:not(.off)`)))
	do(t, ctx, "stream ended at its lifetime", chromedp.WaitVisible(chromedp.CSS(`#live.off`)))
	if code, body, _ := s.do(http.MethodPost, "/hosts/"+drained+"/drain", map[string]any{"duration_seconds": 60, "reason": "while reconnecting"}, nil); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	do(t, ctx, "drain shown after the reconnect", chromedp.WaitVisible(chromedp.CSS(`tr[data-address="`+drained+`"][data-state="drained"]`)))
	if marker := get(t, ctx, "marker", chromedp.Evaluate[int](`window.__noReload || 0`)); marker != 1 {
		t.Fatal("the page was reloaded; the drain should arrive on the resumed stream")
	}
}
