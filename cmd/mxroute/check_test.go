package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// TestCheckEndpoint grades the demo zone's layouts through HTTP; do()
// validates each body against the contract.
func TestCheckEndpoint(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct {
		domain string
		grade  apigen.CheckReportGrade
		lb     apigen.CheckReportLoadBalancing
		code   string
	}{
		{"equal.example", "A", apigen.CheckReportLoadBalancingStrong, ""},
		{"onename.example", "B", apigen.CheckReportLoadBalancingWeak, "SAME_PREFIX"},
		{"example.com", "B", apigen.CheckReportLoadBalancingStrong, "DUPLICATE_ADDRESS"},
		{"nullmx.example", "B", apigen.CheckReportLoadBalancingNone, "NULL_MX"},
		{"nosuch.example.com", "F", apigen.CheckReportLoadBalancingNone, "MX_LOOKUP_FAILED"},
	} {
		var r apigen.CheckReport
		if code := s.getJSON("/check?domain="+tc.domain, &r); code != http.StatusOK {
			t.Fatalf("%s: status %d", tc.domain, code)
		}
		if r.Grade != tc.grade || r.LoadBalancing != tc.lb {
			t.Errorf("%s: grade %s, balancing %s; want %s, %s", tc.domain, r.Grade, r.LoadBalancing, tc.grade, tc.lb)
		}
		if tc.code != "" {
			var codes []string
			for _, f := range r.Findings {
				codes = append(codes, f.Code)
			}
			if !strings.Contains(strings.Join(codes, ","), tc.code) {
				t.Errorf("%s: findings %v lack %s", tc.domain, codes, tc.code)
			}
		}
	}
	if code, body, _ := s.do(http.MethodGet, "/check?domain=not..valid", nil, nil); code != http.StatusBadRequest {
		t.Errorf("invalid domain: %d %s", code, body)
	}
}

func TestCheckCommand(t *testing.T) {
	out, _, err := runCLI(t, nil, "check", "equal.example")
	if err != nil || !strings.Contains(out, "PASS, grade A") || !strings.Contains(out, "Load balancing: strong") {
		t.Errorf("check equal.example: %v\n%s", err, out)
	}
}

// TestCheckDialsOnlyWhatPlansWould: a zone whose name servers sit on
// loopback and link-local addresses (chosen by whoever owns the zone) is
// checked without asking them, and no finding or detail names a socket
// address. Upstream DNS is a real server; the package's TestMain fails the
// run if anything is dialled outside loopback.
func TestCheckDialsOnlyWhatPlansWould(t *testing.T) {
	zone := `
probe.test.     300 IN SOA ns1.probe.test. h.probe.test. 1 3600 600 86400 60
probe.test.     300 IN NS  ns1.probe.test.
probe.test.     300 IN NS  ns2.probe.test.
ns1.probe.test. 300 IN A   127.0.0.1
ns2.probe.test. 300 IN A   169.254.0.53
probe.test.     300 IN MX  10 mx.probe.test.
mx.probe.test.  300 IN A   192.0.2.25
broken.test.    300 IN SOA ns.broken.test. h.broken.test. 1 3600 600 86400 60
broken.test.    300 IN MX  10 mx.broken.test.
`
	d := dnstest.NewServer(t, zone)
	d.SetRcode("broken.test.", dns.RcodeServerFailure)
	s := startServer(t, map[string]string{"MXROUTE_DNS_SERVERS": d.Addr(), "MXROUTE_ZONE_FILES": "none"})

	code, body, _ := s.do(http.MethodGet, "/check?domain=probe.test", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("check: %d %s", code, body)
	}
	if n := strings.Count(string(body), "an address no plan dials, so it was not asked"); n != 2 {
		t.Errorf("the not-asked detail appears %d times, want once per server: %s", n, body)
	}
	if !strings.Contains(string(body), "ns1.probe.test (127.0.0.1)") || !strings.Contains(string(body), "ns2.probe.test (169.254.0.53)") {
		t.Errorf("both name servers should be listed as not asked: %s", body)
	}
	for _, domain := range []string{"probe.test", "broken.test", "nosuch.test"} {
		_, body, _ := s.do(http.MethodGet, "/check?domain="+domain, nil, nil)
		if strings.Contains(string(body), d.Addr()) || strings.Contains(string(body), "127.0.0.1:") {
			t.Errorf("%s: the report names a socket address: %s", domain, body)
		}
	}
}

// TestCheckAmplification: concurrent and repeated checks of one domain
// cost the DNS of one check; checks beyond MXROUTE_CHECK_MAX_RUNNING and
// beyond a client's MXROUTE_CHECK_RATE get 429 with Retry-After.
func TestCheckAmplification(t *testing.T) {
	zone := `
multi.test.    300 IN SOA ns.multi.test. h.multi.test. 1 3600 600 86400 60
multi.test.    300 IN MX  10 mx.multi.test.
mx.multi.test. 300 IN A   192.0.2.25
slow.test.     300 IN SOA ns.slow.test. h.slow.test. 1 3600 600 86400 60
slow.test.     300 IN MX  10 mx.slow.test.
other.test.    300 IN SOA ns.other.test. h.other.test. 1 3600 600 86400 60
other.test.    300 IN MX  10 mx.other.test.
`
	d := dnstest.NewServer(t, zone)
	d.SetDelay("slow.test.", 2*time.Second)
	// A long attempt timeout: on a loaded machine a retried attempt would
	// count as a second query, which is not amplification (seen once in CI).
	s := startServer(t, map[string]string{"MXROUTE_DNS_SERVERS": d.Addr(), "MXROUTE_ZONE_FILES": "none",
		"MXROUTE_CHECK_MAX_RUNNING": "1", "MXROUTE_CHECK_RATE": "20", "MXROUTE_DNS_TIMEOUT": "5s"})

	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if code, body, _ := s.do(http.MethodGet, "/check?domain=multi.test", nil, nil); code != http.StatusOK {
				t.Errorf("concurrent check: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	for range 4 {
		s.do(http.MethodGet, "/check?domain=multi.test", nil, nil)
	}
	if n := d.Queries("multi.test.", dns.TypeMX, ""); n != 1 {
		t.Errorf("10 checks of multi.test sent %d MX queries upstream, want 1", n)
	}

	// One slow check holds the only slot; another domain is turned away.
	slow := make(chan int, 1)
	go func() { code, _, _ := s.do(http.MethodGet, "/check?domain=slow.test", nil, nil); slow <- code }()
	waitUntil(t, "the slow check reaches DNS", func() bool { return d.Queries("slow.test.", dns.TypeMX, "") > 0 })
	code, body, hdr := s.do(http.MethodGet, "/check?domain=other.test", nil, nil)
	if p := problemOf(t, body); code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || p.Status != 429 {
		t.Errorf("check while the slot is taken: %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}
	<-slow

	// The client has now made 12 checks of its 20 a minute.
	var limited bool
	for range 10 {
		code, body, hdr := s.do(http.MethodGet, "/check?domain=multi.test", nil, nil)
		if code == http.StatusTooManyRequests {
			limited = hdr.Get("Retry-After") != "" && problemOf(t, body).Status == 429
			break
		}
	}
	if !limited {
		t.Errorf("22 checks in a minute at MXROUTE_CHECK_RATE=20 were never limited with Retry-After")
	}
}
