package routing

import (
	"slices"
	"testing"
)

// Targets names exactly the lookups Build will consult.
func TestTargets(t *testing.T) {
	cases := []struct {
		name string
		mx   MXAnswer
		want []string
	}{
		{"NODATA: the domain itself", mxOK(), []string{"example.com"}},
		{"NXDOMAIN: nothing", MXAnswer{Status: StatusNXDomain}, nil},
		{"temporary failure: nothing", MXAnswer{Status: StatusTempFail}, nil},
		{"null MX: nothing", mxOK(MX{0, ""}), nil},
		{"null MX twice: nothing", mxOK(MX{0, ""}, MX{5, ""}), nil},
		{"0.0.0.0 null MX: nothing", mxOK(MX{0, "0.0.0.0"}), nil},
		{"records in presented order, deduplicated, without literals and invalid names", mxOK(
			MX{20, "b.example.com"}, MX{10, "a.example.com"}, MX{30, "b.example.com"}, MX{0, ""},
			MX{5, "192.0.2.1"}, MX{5, "2001:db8::1"}, MX{5, "bad_name.example.com"}, MX{5, "::1%lo"}, MX{40, "c.example.net"},
		), []string{"b.example.com", "a.example.com", "c.example.net"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Targets("example.com", tc.mx); !slices.Equal(got, tc.want) {
				t.Errorf("Targets = %q, want %q", got, tc.want)
			}
		})
	}
}
