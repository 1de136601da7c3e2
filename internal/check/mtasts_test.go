package check

import (
	"slices"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/routing"
)

func TestGradeSTS(t *testing.T) {
	mx := MXData{Lookup: Lookup{Outcome: OutcomeOK}, Records: []MXRecord{{Host: "mx1.mail.example", Preference: 10, TTL: 3600}, {Host: "backup.example", Preference: 20, TTL: 3600}}}
	policy := func(m routing.STSMode, age time.Duration, pats ...string) *mtasts.Policy {
		return &mtasts.Policy{Mode: m, MaxAge: age, MX: pats}
	}
	cases := []struct {
		name string
		sts  *STSData
		mx   MXData
		want []string
	}{
		{"not checked", nil, mx, nil},
		{"TXT lookup failed", &STSData{TXT: Lookup{Outcome: OutcomeServFail, Detail: "SERVFAIL"}}, mx, []string{"MTA_STS_UNCHECKED/info"}},
		{"no record", &STSData{TXT: Lookup{Outcome: OutcomeNXDomain}}, mx, []string{"MTA_STS_MISSING/info"}},
		{"invalid record", &STSData{TXT: Lookup{Outcome: OutcomeOK}, TXTError: "two ids"}, mx, []string{"MTA_STS_TXT_INVALID/warning"}},
		{"unfetchable", &STSData{TXT: Lookup{Outcome: OutcomeOK}, ID: "1", FetchError: "tls"}, mx, []string{"MTA_STS_POLICY_UNFETCHABLE/error"}},
		{"enforce, all match", &STSData{TXT: Lookup{Outcome: OutcomeOK}, ID: "1", Policy: policy(routing.STSEnforce, 7*24*time.Hour, "*.mail.example", "backup.example")}, mx, nil},
		{"enforce, one mismatch, short", &STSData{TXT: Lookup{Outcome: OutcomeOK}, ID: "1", Policy: policy(routing.STSEnforce, time.Hour, "*.mail.example")}, mx,
			[]string{"MTA_STS_MX_MISMATCH/error", "MTA_STS_MAX_AGE_SHORT/warning"}},
		{"testing mismatch", &STSData{TXT: Lookup{Outcome: OutcomeOK}, ID: "1", Policy: policy(routing.STSTesting, 7*24*time.Hour, "*.mail.example")}, mx, []string{"MTA_STS_MX_MISMATCH/warning"}},
		{"mode none", &STSData{TXT: Lookup{Outcome: OutcomeOK}, ID: "1", Policy: policy(routing.STSNone, time.Second)}, mx, nil},
		{"implicit MX", &STSData{TXT: Lookup{Outcome: OutcomeOK}, ID: "1", Policy: policy(routing.STSEnforce, 7*24*time.Hour, "mx.example")},
			MXData{Lookup: Lookup{Outcome: OutcomeOK}}, []string{"MTA_STS_MX_MISMATCH/error"}},
	}
	for _, c := range cases {
		g := newGrader(Data{Domain: "example", MX: c.mx, STS: c.sts})
		g.gradeSTS()
		var got []string
		for _, f := range g.findings {
			got = append(got, f.Code+"/"+string(f.Level))
		}
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", c.name, got, want)
		}
	}
}
