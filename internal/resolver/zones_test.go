package resolver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

const localZone = `
$ORIGIN corp.example.
@              3600 IN SOA  ns.corp.example. hostmaster.corp.example. 7 3600 600 86400 120
@               300 IN MX   5 mx2.corp.example.
@               300 IN MX   5 mx1.corp.example.
@               300 IN NS   ns.corp.example.
@               300 IN TXT  "v=spf1 -all"
MX1             300 IN A    10.1.0.1
mx1             300 IN AAAA fd00::1
mx2              60 IN CNAME mx1
outside         300 IN CNAME mx.other.test.
a.deep          300 IN A    10.1.0.9
`

const reverseZone = `
10.in-addr.arpa.           3600 IN SOA ns.corp.example. hostmaster.corp.example. 1 3600 600 86400 60
1.0.1.10.in-addr.arpa.      300 IN PTR mx1.corp.example.
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLocalZones(t *testing.T) {
	zones, err := resolver.LoadZones(writeFile(t, "corp.zone", localZone), writeFile(t, "rev.zone", reverseZone))
	if err != nil {
		t.Fatalf("LoadZones: %v", err)
	}
	// Upstream is dead: any query that reached it would fail the lookup.
	c := newClient(t, resolver.Config{Servers: []string{deadAddr(t)}, Local: zones})
	tests := []struct {
		name     string
		qtype    uint16
		want     []string
		cnames   []string
		nxdomain bool
		ttl      time.Duration
	}{
		{"corp.example", dns.TypeMX, []string{"5 mx2.corp.example.", "5 mx1.corp.example."}, nil, false, 300 * time.Second},
		{"corp.example.", dns.TypeTXT, []string{`"v=spf1 -all"`}, nil, false, 300 * time.Second},
		{"corp.example.", dns.TypeNS, []string{"ns.corp.example."}, nil, false, 300 * time.Second},
		{"corp.example.", dns.TypeSOA, []string{"ns.corp.example. hostmaster.corp.example. 7 3600 600 86400 120"}, nil, false, 3600 * time.Second},
		{"mx1.corp.example.", dns.TypeA, []string{"10.1.0.1"}, nil, false, 300 * time.Second},
		{"MX1.Corp.Example.", dns.TypeAAAA, []string{"fd00::1"}, nil, false, 300 * time.Second},
		{"mx2.corp.example.", dns.TypeA, []string{"10.1.0.1"}, []string{"mx1.corp.example."}, false, 60 * time.Second},
		{"1.0.1.10.in-addr.arpa.", dns.TypePTR, []string{"mx1.corp.example."}, nil, false, 300 * time.Second},
		// Negative answers: min(SOA TTL 3600, MINIMUM 120) = 120.
		{"nosuch.corp.example.", dns.TypeMX, nil, nil, true, 120 * time.Second},
		{"mx1.corp.example.", dns.TypeMX, nil, nil, false, 120 * time.Second},
		{"deep.corp.example.", dns.TypeA, nil, nil, false, 120 * time.Second},
		{"2.0.1.10.in-addr.arpa.", dns.TypePTR, nil, nil, true, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.Type(tt.qtype).String(), func(t *testing.T) {
			ans, err := c.Lookup(context.Background(), tt.name, tt.qtype)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got := rdata(ans.Records); !slices.Equal(got, tt.want) {
				t.Errorf("records = %q, want %q", got, tt.want)
			}
			if !slices.Equal(ans.CNAMEs, tt.cnames) {
				t.Errorf("CNAMEs = %q, want %q", ans.CNAMEs, tt.cnames)
			}
			if ans.NXDomain() != tt.nxdomain {
				t.Errorf("NXDomain = %v, want %v", ans.NXDomain(), tt.nxdomain)
			}
			if ans.TTL != tt.ttl {
				t.Errorf("TTL = %v, want %v", ans.TTL, tt.ttl)
			}
			if ans.Server != resolver.ServerZone || !ans.Authoritative {
				t.Errorf("Server %q Authoritative %v, want %q true", ans.Server, ans.Authoritative, resolver.ServerZone)
			}
		})
	}
}

func TestLocalZonesOverrideUpstream(t *testing.T) {
	// Upstream has its own corp.example data, which must not be seen.
	upstream := dnstest.NewServer(t, testZone+`
corp.example. 300 IN MX 10 public.corp.example.
public.corp.example. 300 IN A 192.0.2.99
`)
	zones, err := resolver.ParseZones("corp.zone", strings.NewReader(localZone))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, resolver.Config{Servers: []string{upstream.Addr()}, Local: zones})
	ans, err := c.Lookup(context.Background(), "public.corp.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if !ans.NXDomain() || ans.Server != resolver.ServerZone {
		t.Errorf("NXDomain %v Server %q, want true %q", ans.NXDomain(), ans.Server, resolver.ServerZone)
	}
	if n := upstream.TotalQueries(); n != 0 {
		t.Errorf("upstream got %d queries, want 0", n)
	}
}

func TestLocalCNAMELeavesLocalData(t *testing.T) {
	upstream := dnstest.NewServer(t, testZone)
	zones, err := resolver.ParseZones("corp.zone", strings.NewReader(localZone))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, resolver.Config{Servers: []string{upstream.Addr()}, Local: zones})
	ans, err := c.Lookup(context.Background(), "outside.corp.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := rdata(ans.Records); !slices.Equal(got, []string{"198.51.100.1"}) {
		t.Errorf("records = %q, want [198.51.100.1]", got)
	}
	// 50: mx.other.test's A record, below the local CNAME's 300.
	if ans.Server != upstream.Addr() || ans.TTL != 50*time.Second {
		t.Errorf("Server %q TTL %v, want %q 50s", ans.Server, ans.TTL, upstream.Addr())
	}
	if a, all := upstream.Queries("mx.other.test.", dns.TypeA, ""), upstream.TotalQueries(); a != 1 || all != 1 {
		t.Errorf("upstream got %d queries for the target and %d in all, want 1 and 1", a, all)
	}
}

func TestZonesContains(t *testing.T) {
	zones, err := resolver.ParseZones("corp.zone", strings.NewReader(localZone))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"corp.example": true, "X.Y.CORP.EXAMPLE.": true, "example.": false, "notcorp.example.": false,
	} {
		if got := zones.Contains(name); got != want {
			t.Errorf("Contains(%q) = %v, want %v", name, got, want)
		}
	}
	var none *resolver.Zones
	if none.Contains("corp.example.") {
		t.Error("nil Zones contains a name")
	}
}

func TestZoneErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"syntax", map[string]string{"bad.zone": "corp.example. 300 IN SOA ns. h. 1 1 1 1 1\n\ncorp.example. 300 IN A 10.0.0.300\n"},
			[]string{"bad.zone", "line: 3"}},
		{"outside any zone", map[string]string{"orphan.zone": "corp.example. 300 IN SOA ns. h. 1 1 1 1 1\nmail.elsewhere. 300 IN A 10.0.0.1\n"},
			[]string{"orphan.zone", "mail.elsewhere.", "no SOA"}},
		{"same zone twice", map[string]string{"a.zone": localZone, "b.zone": localZone},
			[]string{"corp.example.", "twice"}},
		{"include refused", map[string]string{"inc.zone": "$INCLUDE /etc/passwd\n"},
			[]string{"inc.zone", "line: 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var paths []string
			for name, text := range tt.files {
				paths = append(paths, writeFile(t, name, text))
			}
			_, err := resolver.LoadZones(paths...)
			if err == nil {
				t.Fatal("LoadZones succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to mention %q", err, want)
				}
			}
		})
	}
	if _, err := resolver.LoadZones(filepath.Join(t.TempDir(), "missing.zone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want os.ErrNotExist", err)
	}
}
