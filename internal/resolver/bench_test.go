package resolver_test

import (
	"context"
	"strings"
	"testing"

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
