package resolver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// BenchmarkLookupUDP measures one uncached MX lookup over loopback UDP,
// server time included.
func BenchmarkLookupUDP(b *testing.B) {
	srv := dnstest.NewServer(b, testZone)
	c, err := resolver.New(resolver.Config{Servers: []string{srv.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupTCPRetry measures a lookup whose UDP reply is truncated.
func BenchmarkLookupTCPRetry(b *testing.B) {
	srv := dnstest.NewServer(b, testZone)
	srv.SetTruncate(dnstest.Any, true)
	c, err := resolver.New(resolver.Config{Servers: []string{srv.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupLocalZone measures an answer from Config.Local.
func BenchmarkLookupLocalZone(b *testing.B) {
	zones, err := resolver.ParseZones("corp.zone", strings.NewReader(localZone))
	if err != nil {
		b.Fatal(err)
	}
	c, err := resolver.New(resolver.Config{Servers: []string{"127.0.0.1:1"}, Local: zones})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Lookup(ctx, "mx2.corp.example.", dns.TypeA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupFirstServerDead measures lookups while the first of two
// servers never answers: after MaxFails timeouts, spent before the timed
// loop, it goes last, so the steady state costs what a lookup to the
// second server costs. dead-queries counts the queries it got (want
// DefaultMaxFails: none during the cool-down).
func BenchmarkLookupFirstServerDead(b *testing.B) {
	dead := dnstest.NewServer(b, testZone)
	dead.SetDelay(dnstest.Any, time.Hour)
	good := dnstest.NewServer(b, testZone)
	// A generous Timeout: the machine is shared, and a stall of the good
	// server past it would fail the run.
	c, err := resolver.New(resolver.Config{Servers: []string{dead.Addr(), good.Addr()}, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range resolver.DefaultMaxFails {
		if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(dead.TotalQueries()), "dead-queries")
}
