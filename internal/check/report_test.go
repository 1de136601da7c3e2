package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mxroute/mxroute/internal/apigen"
)

// TestReportMatchesAPI: the report's JSON decodes into the generated
// apigen.CheckReport and encodes back to the same JSON, so the handler can
// convert it field for field and no field is lost or renamed.
func TestReportMatchesAPI(t *testing.T) {
	for name, d := range seedLayouts() {
		t.Run(name, func(t *testing.T) {
			d.Reverse[0].PTR = Lookup{Outcome: OutcomeTimeout} // a finding with addresses and no hosts
			r := Grade(d)
			ours, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(ours))
			dec.DisallowUnknownFields()
			var api apigen.CheckReport
			if err := dec.Decode(&api); err != nil {
				t.Fatalf("decode into apigen.CheckReport: %v\n%s", err, ours)
			}
			theirs, err := json.Marshal(api)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := errors.Join(json.Unmarshal(ours, &a), json.Unmarshal(theirs, &b)); err != nil {
				t.Fatal(err)
			}
			as, _ := json.Marshal(a) // maps marshal with sorted keys
			bs, _ := json.Marshal(b)
			if !bytes.Equal(as, bs) {
				t.Errorf("round trip through apigen changed the JSON:\n got %s\nwant %s", bs, as)
			}
			if !api.Grade.Valid() || !api.Status.Valid() || !api.LoadBalancing.Valid() || !api.Failover.Class.Valid() {
				t.Errorf("enum outside the API: %+v", api)
			}
			for _, f := range api.Findings {
				if !f.Level.Valid() {
					t.Errorf("level %q outside the API", f.Level)
				}
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	r := Grade(seedLayouts()["seed4 10/10/20/30"])
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"MX check for example.com: PASS, grade B",
		"Load balancing: strong",
		"Failover:       local (2 unique addresses in 1 prefix; a sender tries up to 2)",
		"20    mail3.example.com  3600  172.16.10.1  mail1.example.com (confirmed)",
		"notice  DUPLICATE_ADDRESS",
		"Recommendation:",
		"mail3.example.com (20), mail4.example.com (30) only repeat",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 100 {
			t.Errorf("line longer than 100 columns: %q", line)
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestWriteTextError(t *testing.T) {
	r := Grade(seedLayouts()["seed1 two names own addresses"])
	for n := range 4 {
		if err := r.WriteText(&failWriter{n: n}); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("after %d writes: error %v, want disk full", n, err)
		}
	}
}

func TestRunMetrics(t *testing.T) {
	reader := metric.NewManualReader()
	e := newEnv(t, seedZone("seed1"))
	e.opts.MeterProvider = metric.NewMeterProvider(metric.WithReader(reader))
	e.run(t, "example.com")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != metricReports {
				continue
			}
			sum, _ := m.Data.(metricdata.Sum[int64])
			for _, dp := range sum.DataPoints {
				grade, _ := dp.Attributes.Value("mxroute.check.grade")
				if grade.AsString() == "B" && dp.Value == 1 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("no %s data point for grade B in %+v", metricReports, rm)
	}
}
