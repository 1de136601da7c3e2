package feedback

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidateNamesTheField(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	valid := Report{Address: netip.MustParseAddr("192.0.2.1"), Outcome: OutcomeFailure, Stage: StageRcpt,
		SMTPCode: 451, EnhancedCode: "4.7.1", LatencyMS: 12, ObservedAt: now.Add(-time.Minute)}
	if err := valid.ValidateAt(now); err != nil {
		t.Fatalf("valid report: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Report)
		field string
	}{
		{"zero address", func(r *Report) { r.Address = netip.Addr{} }, "address"},
		{"unspecified v4", func(r *Report) { r.Address = netip.IPv4Unspecified() }, "address"},
		{"unspecified v6", func(r *Report) { r.Address = netip.IPv6Unspecified() }, "address"},
		{"unspecified mapped", func(r *Report) { r.Address = netip.MustParseAddr("::ffff:0.0.0.0") }, "address"},
		{"no outcome", func(r *Report) { r.Outcome = "" }, "outcome"},
		{"bad outcome", func(r *Report) { r.Outcome = "maybe" }, "outcome"},
		{"no stage", func(r *Report) { r.Stage = "" }, "stage"},
		{"bad stage", func(r *Report) { r.Stage = "quit" }, "stage"},
		{"code 199", func(r *Report) { r.SMTPCode = 199 }, "smtp_code"},
		{"code 600", func(r *Report) { r.SMTPCode = 600 }, "smtp_code"},
		{"code -1", func(r *Report) { r.SMTPCode = -1 }, "smtp_code"},
		{"enhanced class 3", func(r *Report) { r.EnhancedCode = "3.1.1" }, "enhanced_code"},
		{"enhanced 4 digits", func(r *Report) { r.EnhancedCode = "4.1234.1" }, "enhanced_code"},
		{"enhanced two parts", func(r *Report) { r.EnhancedCode = "4.7" }, "enhanced_code"},
		{"enhanced trailing", func(r *Report) { r.EnhancedCode = "4.7.1." }, "enhanced_code"},
		{"enhanced empty part", func(r *Report) { r.EnhancedCode = "4..1" }, "enhanced_code"},
		{"negative latency", func(r *Report) { r.LatencyMS = -1 }, "latency_ms"},
		{"future", func(r *Report) { r.ObservedAt = now.Add(MaxFutureSkew + time.Second) }, "observed_at"},
		{"long host", func(r *Report) { r.Host = strings.Repeat("a", 256) }, "host"},
		{"long domain", func(r *Report) { r.Domain = strings.Repeat("a", 256) }, "domain"},
		{"long route id", func(r *Report) { r.RouteID = strings.Repeat("a", 129) }, "route_id"},
		{"long reporter", func(r *Report) { r.Reporter = strings.Repeat("a", 257) }, "reporter"},
	}
	for _, tt := range tests {
		r := valid
		tt.edit(&r)
		err := r.ValidateAt(now)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FieldError", tt.name, err)
			continue
		}
		if fe.Field != tt.field || !strings.HasPrefix(err.Error(), tt.field+": ") {
			t.Errorf("%s: got field %q (%v), want %q", tt.name, fe.Field, err, tt.field)
		}
	}
	for _, ok := range []func(*Report){
		func(r *Report) { r.SMTPCode = 0; r.EnhancedCode = "" },
		func(r *Report) { r.SMTPCode = 200 },
		func(r *Report) { r.SMTPCode = 599 },
		func(r *Report) { r.EnhancedCode = "5.123.999" },
		func(r *Report) { r.EnhancedCode = "2.0.0" },
		func(r *Report) { r.ObservedAt = now.Add(MaxFutureSkew) },
		func(r *Report) { r.ObservedAt = time.Time{} },
		func(r *Report) { r.Address = netip.MustParseAddr("2001:db8::25") },
	} {
		r := valid
		ok(&r)
		if err := r.ValidateAt(now); err != nil {
			t.Errorf("%+v: unexpected %v", r, err)
		}
	}
}
