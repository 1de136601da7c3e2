package charttest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrafanaDashboardsAndRules: the chart's copies of deploy/grafana are
// identical to it; with the values on, each dashboard is a ConfigMap with
// the sidecar's label holding the dashboard, and the PrometheusRule carries
// every alert; with the defaults, neither is rendered.
func TestGrafanaDashboardsAndRules(t *testing.T) {
	src, _ := filepath.Glob("../../grafana/*")
	if len(src) < 3 {
		t.Fatalf("deploy/grafana holds %d files", len(src))
	}
	for _, f := range src {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join("../mxroute/files", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("deploy/helm/mxroute/files/%s differs from deploy/grafana (cp deploy/grafana/* deploy/helm/mxroute/files/): %v", filepath.Base(f), err)
		}
	}

	m := renderCase(t, chartCase{valuesFile: "full-values.yaml"})
	dashboards := 0
	for name, cm := range m.configMaps {
		if !strings.HasSuffix(name, "-dashboard") {
			continue
		}
		dashboards++
		if cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "mxroute" {
			t.Errorf("%s: labels %v annotations %v", name, cm.Labels, cm.Annotations)
		}
		for key, body := range cm.Data {
			want, _ := os.ReadFile(filepath.Join("../../grafana", key))
			if body != strings.TrimRight(string(want), "\n") {
				t.Errorf("%s: data %s is not deploy/grafana/%s", name, key, key)
			}
		}
	}
	if dashboards != 2 {
		t.Errorf("got %d dashboard ConfigMaps, want 2", dashboards)
	}
	if len(m.prometheusRules) != 1 {
		t.Fatalf("got %d PrometheusRules, want 1", len(m.prometheusRules))
	}
	for _, pr := range m.prometheusRules {
		if len(pr.Spec.Groups) != 1 || len(pr.Spec.Groups[0].Rules) < 6 || pr.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("PrometheusRule = %+v", pr.Spec)
		}
		for _, r := range pr.Spec.Groups[0].Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["runbook"] == "" {
				t.Errorf("rule %+v lacks alert, expr or runbook", r)
			}
		}
	}
	def := renderCase(t, chartCase{})
	if len(def.prometheusRules) != 0 {
		t.Error("a PrometheusRule rendered with the defaults")
	}
	for name := range def.configMaps {
		if strings.HasSuffix(name, "-dashboard") {
			t.Errorf("dashboard ConfigMap %s rendered with the defaults", name)
		}
	}
}

func renderCase(t *testing.T, tc chartCase) *manifests {
	t.Helper()
	m, err := render(chartDir, caseValues(t, tc))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
