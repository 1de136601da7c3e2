//go:build prometheus

// The dashboards test runs Debian's prometheus against run (with a real
// Redis) under a little traffic and evaluates every PromQL expression of
// deploy/grafana's dashboards and alert rules through the query API: each
// must parse, and every dashboard panel must return data, so a renamed
// metric breaks this test rather than the dashboard. It is behind the
// "prometheus" build tag; `make dashboards-test` (part of `make test`)
// installs prometheus and runs it inside a loopback-only network namespace.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// panelExpr is one PromQL expression of a dashboard panel.
type panelExpr struct {
	Dashboard, Panel, Expr string
}

func dashboardExprs(t *testing.T) []panelExpr {
	t.Helper()
	files, _ := filepath.Glob("../../deploy/grafana/*.json")
	var out []panelExpr
	for _, f := range files {
		var d struct {
			Title  string
			Panels []struct {
				Title   string
				Targets []struct {
					Expr       string `json:"expr"`
					Datasource struct{ Type string }
				}
			}
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.Type == "prometheus" {
					out = append(out, panelExpr{d.Title, p.Title, tg.Expr})
				}
			}
		}
	}
	if len(out) < 15 {
		t.Fatalf("found %d PromQL expressions in deploy/grafana, want the overview's", len(out))
	}
	return out
}

// alertExprs reads the rule file's expressions (one per `expr:` line or
// folded block).
func alertExprs(t *testing.T) []string {
	b, err := os.ReadFile("../../deploy/grafana/mxroute-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		e, ok := strings.CutPrefix(l, "expr:")
		if !ok {
			continue
		}
		e = strings.TrimSpace(e)
		if e == ">-" {
			e = ""
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "          ") {
				i++
				e += " " + strings.TrimSpace(lines[i])
			}
		}
		out = append(out, strings.TrimSpace(e))
	}
	if len(out) < 5 {
		t.Fatalf("found %d alert expressions", len(out))
	}
	return out
}

func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (make dashboards-test installs it): %v", err)
	}
	dir := t.TempDir()
	rules, _ := filepath.Abs("../../deploy/grafana/mxroute-alerts.yaml")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [%q]\nscrape_configs:\n  - job_name: mxroute\n    static_configs:\n      - targets: [%q]\n", rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The rule file must have loaded: a rule that fails to parse would
	// have stopped prometheus from starting.
	var rulesResp struct {
		Data struct{ Groups []struct{ Rules []any } }
	}
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&rulesResp); err != nil || len(rulesResp.Data.Groups) != 1 || len(rulesResp.Data.Groups[0].Rules) < 5 {
		t.Fatalf("rules loaded: %+v %v\n%s", rulesResp, err, logs.String())
	}
	return base
}

// query evaluates expr now; ok is false when Prometheus rejects it.
func query(t *testing.T, base, expr string) (series int, errText string) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct{ Result []any }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		return 0, r.Error
	}
	return len(r.Data.Result), ""
}

// grafanaVars turns Grafana's variables into what Prometheus accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m")

func TestDashboardsQueries(t *testing.T) {
	r := redistest.StartServer(t)
	s := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr()})
	base := startPrometheus(t, strings.TrimPrefix(s.URL, "http://"))

	// A little traffic: plans (cached and failing on DNS), reports that
	// demote an address, a drain.
	traffic := func() {
		for _, d := range []string{"example.com", "equal.example", "nxdomain.invalid", "implicit.example"} {
			s.route(d)
		}
	}
	for _, rep := range []string{"node-a", "node-b"} {
		if code, body := s.post(rep, batch(failure("172.16.10.1"), failure("172.16.10.1"), failure("172.16.10.1"), success("172.16.10.2"))); code != http.StatusAccepted {
			t.Fatalf("POST /feedback: %d %s", code, body)
		}
	}
	if code, body, _ := s.do(http.MethodPost, "/hosts/172.16.20.2/drain", map[string]any{"duration_seconds": 600}, nil); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	exprs := dashboardExprs(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		traffic()
		var missing []string
		for _, e := range exprs {
			n, errText := query(t, base, grafanaVars.Replace(e.Expr))
			if errText != "" {
				t.Fatalf("%s / %s: %s\n%s", e.Dashboard, e.Panel, errText, e.Expr)
			}
			if n == 0 {
				missing = append(missing, e.Panel+": "+e.Expr)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("panels without data after a minute of traffic:\n%s", strings.Join(missing, "\n"))
		}
		time.Sleep(time.Second)
	}
	for _, e := range alertExprs(t) {
		if _, errText := query(t, base, e); errText != "" {
			t.Fatalf("alert %q: %s", e, errText)
		}
	}
	t.Logf("%d panel expressions returned data; %d alert expressions parsed", len(exprs), len(alertExprs(t)))
}
