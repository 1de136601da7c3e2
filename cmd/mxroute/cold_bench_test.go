package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// coldZone roots the benchmark's names; the handlers below answer every
// name under it, so each iteration can ask about a domain never asked
// before and miss the cache at every step.
const coldZone = "cold.test."

// coldHandlers makes srv answer any dK.cold.test with four MX (10 mx1,
// 10 mx2, 20 mx3, 30 mx4, each under the domain), each target with one
// A record and no AAAA (NODATA), like the demo example.com without the
// shared addresses; and each target one TLSA record. A and TLSA answers
// carry AD (ignored unless MXROUTE_DNSSEC_VALIDATING is set).
func coldHandlers(srv *dnstest.Server) {
	soa := func() dns.RR {
		rr, err := dns.NewRR(coldZone + " 60 IN SOA ns." + coldZone + " hostmaster." + coldZone + " 1 3600 600 86400 60")
		if err != nil {
			panic(err) // a constant record
		}
		return rr
	}
	srv.Handle(dnstest.Any, dns.TypeMX, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(req)
		m.Authoritative = true
		q := req.Question[0].Name
		for i, pref := range []uint16{10, 10, 20, 30} {
			m.Answer = append(m.Answer, &dns.MX{
				Hdr:        dns.RR_Header{Name: q, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300},
				Preference: pref, Mx: fmt.Sprintf("mx%d.%s", i+1, q),
			})
		}
		return m
	})
	srv.Handle(dnstest.Any, dns.TypeA, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(req)
		m.Authoritative = true
		// AD, as from a validating resolver: DANE applies to the hosts.
		m.AuthenticatedData = true
		// mxN.dK.cold.test has 172.16.20.N: distinct within a plan, so
		// none is dropped as a duplicate.
		var n byte
		fmt.Sscanf(req.Question[0].Name, "mx%d.", &n)
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.IPv4(172, 16, 20, n),
		})
		return m
	})
	srv.Handle(dnstest.Any, dns.TypeTLSA, func(req *dns.Msg) *dns.Msg {
		// As a validating resolver answers for a signed zone: AD set.
		m := new(dns.Msg).SetReply(req)
		m.AuthenticatedData = true
		m.Answer = append(m.Answer, &dns.TLSA{
			Hdr:   dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 300},
			Usage: 3, Selector: 1, MatchingType: 1, Certificate: "00ff",
		})
		return m
	})
	srv.Handle(dnstest.Any, dns.TypeAAAA, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(req)
		m.Authoritative = true
		m.Ns = append(m.Ns, soa())
		return m
	})
}

// BenchmarkColdPlan is GET /route for a 4-MX domain that nothing has
// asked about yet, through HTTP, the cache and the resolver to a real DNS
// server on loopback that holds every reply for the sub-benchmark's delay.
// A cold plan should cost two round trips (the MX query, then every
// address query at once), so ms/op should be about 2 × delay, not the
// 9 × delay of asking one query after another. It reports queries/op
// (one MX, four A, four AAAA) and round-trips/op (ms/op over the delay).
// With dane=on (MXROUTE_DNSSEC_VALIDATING=true) every MX host's TLSA
// record is asked too, in the second round: four more queries, and
// still two round trips.
func BenchmarkColdPlan(b *testing.B) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		for _, dane := range []bool{false, true} {
			b.Run(fmt.Sprintf("delay=%v/dane=%v", delay, dane), func(b *testing.B) { coldPlan(b, delay, dane) })
		}
	}
}

func coldPlan(b *testing.B, delay time.Duration, dane bool) {
	srv := dnstest.NewServer(b, coldZone+" 60 IN SOA ns."+coldZone+" hostmaster."+coldZone+" 1 3600 600 86400 60\n")
	coldHandlers(srv)
	srv.SetDelay(dnstest.Any, delay)
	s := startServer(b, map[string]string{
		"MXROUTE_DNS_SERVERS":       srv.Addr(),
		"MXROUTE_ZONE_FILES":        "none",
		"MXROUTE_DNSSEC_VALIDATING": strconv.FormatBool(dane),
	})
	client := &http.Client{}
	checkColdPlan(b, client, s.URL+"/route?domain=check."+strings.TrimSuffix(coldZone, "."), dane)
	srv.ResetCounts()

	lat := make([]time.Duration, 0, 64)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		start := time.Now()
		benchGet(b, client, fmt.Sprintf("%s/route?domain=d%d.%s", s.URL, i, strings.TrimSuffix(coldZone, ".")))
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(srv.TotalQueries())/float64(i), "queries/op")
	b.ReportMetric(float64(srv.Queries(dnstest.Any, 0, dnstest.TCP))/float64(i), "tcp-queries/op")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	if delay > 0 {
		b.ReportMetric(float64(lat[len(lat)/2])/float64(delay), "round-trips-p50")
	}
}

// checkColdPlan fails the benchmark unless one cold plan lists the four
// MX hosts, each with DANE when dane is set, so a broken setup cannot pass
// for a fast one.
func checkColdPlan(tb testing.TB, client *http.Client, url string, dane bool) {
	tb.Helper()
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var p apigen.Plan
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: status %d, %v: %s", url, resp.StatusCode, err, body)
	}
	if len(p.Attempts) != 4 {
		tb.Fatalf("GET %s: %d attempts, want 4 (one per MX): %s", url, len(p.Attempts), body)
	}
	if dane && (p.Attempts[0].Dane == nil || !*p.Attempts[0].Dane) {
		tb.Fatalf("GET %s: no DANE: %s", url, body)
	}
}

// BenchmarkWarmDANE is GET /route for one 4-MX domain of coldHandlers'
// zone once its plan is warm, over loopback HTTP with parallel clients
// like BenchmarkRouteHTTP: with dane=true (MXROUTE_DNSSEC_VALIDATING)
// every attempt carries its TLSA record, with dane=false none does. The
// issue 14 target is that a cached plan keeps its throughput; run the
// two alternately (docs/benchmarks.md has the command).
func BenchmarkWarmDANE(b *testing.B) {
	for _, dane := range []bool{false, true} {
		b.Run(fmt.Sprintf("dane=%v", dane), func(b *testing.B) {
			srv := dnstest.NewServer(b, coldZone+" 60 IN SOA ns."+coldZone+" hostmaster."+coldZone+" 1 3600 600 86400 60\n")
			coldHandlers(srv)
			s := startServer(b, map[string]string{
				"MXROUTE_DNS_SERVERS":       srv.Addr(),
				"MXROUTE_ZONE_FILES":        "none",
				"MXROUTE_DNSSEC_VALIDATING": strconv.FormatBool(dane),
			})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			url := s.URL + "/route?domain=warm." + strings.TrimSuffix(coldZone, ".")
			checkColdPlan(b, client, url, dane) // warms the plan too
			srv.ResetCounts()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchGet(b, client, url)
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(srv.TotalQueries())/float64(b.N), "queries/op")
		})
	}
}
