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
		{"zone", func(r *Report) { r.Address = netip.MustParseAddr("fe80::1%eth0") }, "address"},
		{"zone on mapped", func(r *Report) { r.Address = netip.MustParseAddr("::ffff:192.0.2.1%eth0") }, "address"},

		// Contradictions between outcome, reply code and enhanced code.
		{"success with 550", func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 550, "" }, "smtp_code"},
		{"success with 421", func(r *Report) { r.Outcome, r.Stage, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, StageEHLO, 421, "" }, "smtp_code"},
		{"success with 451 4.7.1", func(r *Report) { r.Outcome = OutcomeSuccess }, "smtp_code"},
		{"failure with 250", func(r *Report) { r.SMTPCode, r.EnhancedCode = 250, "" }, "smtp_code"},
		{"failure with 354", func(r *Report) { r.Stage, r.SMTPCode, r.EnhancedCode = StageData, 354, "" }, "smtp_code"},
		{"failure with 220", func(r *Report) { r.Stage, r.SMTPCode, r.EnhancedCode = StageGreeting, 220, "" }, "smtp_code"},
		{"550 with 4.7.1", func(r *Report) { r.SMTPCode = 550 }, "enhanced_code"},
		{"451 with 5.1.1", func(r *Report) { r.EnhancedCode = "5.1.1" }, "enhanced_code"},
		{"250 with 5.1.1", func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 250, "5.1.1" }, "enhanced_code"},
		{"354 with 2.0.0", func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 354, "2.0.0" }, "enhanced_code"},
		{"no code, success, 5.1.1", func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 0, "5.1.1" }, "enhanced_code"},
		{"no code, failure, 2.0.0", func(r *Report) { r.SMTPCode, r.EnhancedCode = 0, "2.0.0" }, "enhanced_code"},

		// Host and domain: empty or a plausible DNS name.
		{"NUL in host", func(r *Report) { r.Host = "mx\x00.example.com" }, "host"},
		{"NUL in domain", func(r *Report) { r.Domain = "example.com\x00" }, "domain"},
		{"newline in host", func(r *Report) { r.Host = "mx.example.com\nX-Injected: 1" }, "host"},
		{"DEL in host", func(r *Report) { r.Host = "mx\x7f.example.com" }, "host"},
		{"space in domain", func(r *Report) { r.Domain = "example .com" }, "domain"},
		{"markup in host", func(r *Report) { r.Host = "<script>" }, "host"},
		{"address literal in host", func(r *Report) { r.Host = "[192.0.2.1]" }, "host"},
		{"IPv6 in host", func(r *Report) { r.Host = "2001:db8::1" }, "host"},
		{"empty label", func(r *Report) { r.Domain = "example..com" }, "domain"},
		{"leading dot", func(r *Report) { r.Domain = ".example.com" }, "domain"},
		{"root only", func(r *Report) { r.Host = "." }, "host"},
		{"two trailing dots", func(r *Report) { r.Host = "mx.example.com.." }, "host"},
		{"label of 64", func(r *Report) { r.Host = strings.Repeat("a", 64) + ".example.com" }, "host"},
		{"invalid UTF-8", func(r *Report) { r.Domain = "exa\xffmple.com" }, "domain"},
		{"unicode symbol", func(r *Report) { r.Domain = "mail\u2603.example" }, "domain"},
		{"unicode space", func(r *Report) { r.Domain = "example\u00a0com" }, "domain"},
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
		func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 200, "" },
		func(r *Report) { r.SMTPCode, r.EnhancedCode = 599, "" },
		func(r *Report) { r.SMTPCode, r.EnhancedCode = 554, "5.123.999" },
		func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 250, "2.0.0" },
		func(r *Report) { r.Outcome, r.Stage, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, StageData, 354, "" },
		func(r *Report) { r.SMTPCode, r.EnhancedCode = 0, "4.4.1" }, // no reply, a class that fits the outcome
		func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 0, "2.0.0" },
		func(r *Report) { r.Outcome, r.SMTPCode, r.EnhancedCode = OutcomeSuccess, 0, "" },
		func(r *Report) { r.Outcome, r.Stage, r.SMTPCode, r.EnhancedCode = OutcomeFailure, StageConnect, 0, "" },
		func(r *Report) { r.ObservedAt = now.Add(MaxFutureSkew) },
		func(r *Report) { r.ObservedAt = time.Time{} },
		func(r *Report) { r.Address = netip.MustParseAddr("2001:db8::25") },
		func(r *Report) { r.Address = netip.MustParseAddr("fe80::1") },
		func(r *Report) { r.Host, r.Domain = "MX1.Example.COM.", "example.com" },
		func(r *Report) { r.Host, r.Domain = "_mta-sts.example.com", "EXAMPLE.com." },
		func(r *Report) { r.Host, r.Domain = "mx-1.xn--bcher-kva.de", "bücher.de" },
		func(r *Report) { r.Host, r.Domain = "192.0.2.1", "例え.テスト" },
		func(r *Report) { r.Host = strings.Repeat("a", 63) + ".example.com" },
		func(r *Report) { r.Host = strings.Repeat("abcdefghi.", 25) + "abcde" }, // 255 bytes
		func(r *Report) { r.Domain = "localhost" },
	} {
		r := valid
		ok(&r)
		if err := r.ValidateAt(now); err != nil {
			t.Errorf("%+v: unexpected %v", r, err)
		}
	}
}
