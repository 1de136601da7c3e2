package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
	"github.com/mxroute/mxroute/zones"
)

// dnsStack is the resolver with its cache, shared by the server and the
// CLI commands.
type dnsStack struct {
	client *resolver.Client
	cache  *cache.Cache
	// probe asks the same upstreams for readiness, untraced: a probe every
	// few seconds would otherwise fill the traces with root spans.
	probe *resolver.Client
	// local is the zone data answered locally (nil for none).
	local *resolver.Zones
	// dane is set when TLSA records are looked up (config.dane): the
	// resolver is trusted to validate them.
	dane bool
}

func newDNSStack(cfg *config, tp trace.TracerProvider, mp metric.MeterProvider) (*dnsStack, error) {
	servers := cfg.DNSServers
	if len(servers) == 0 {
		s, err := resolver.SystemServers("/etc/resolv.conf")
		if err != nil || len(s) == 0 {
			// Offline demo machines may have no resolv.conf; the local
			// zones still answer and every other lookup fails cleanly.
			s = []string{"127.0.0.1:53"}
		}
		servers = s
	}
	local, err := loadZones(cfg.ZoneFiles)
	if err != nil {
		return nil, err
	}
	rc, err := resolver.New(resolver.Config{
		Servers: servers, Timeout: cfg.DNSTimeout, Budget: cfg.DNSBudget, Local: local,
		Validating:     cfg.DNSSECValidating,
		TracerProvider: tp, MeterProvider: mp,
	})
	if err != nil {
		return nil, fmt.Errorf("dns client: %w", err)
	}
	probe, err := resolver.New(resolver.Config{Servers: servers, Timeout: cfg.DNSTimeout, Budget: cfg.DNSBudget})
	if err != nil {
		return nil, fmt.Errorf("dns probe client: %w", err)
	}
	c, err := cache.New(rc, cache.Config{
		MaxBytes: int64(cfg.CacheMiB) << 20, MinTTL: zeroMeansOff(cfg.CacheMinTTL), MaxTTL: cfg.CacheMaxTTL, StaleFor: zeroMeansOff(cfg.CacheStaleFor),
		StaleAnswerAfter: zeroMeansOff(cfg.StaleAfter), FailureTTL: zeroMeansOff(cfg.FailureTTL),
		TracerProvider: tp, MeterProvider: mp,
	})
	if err != nil {
		return nil, fmt.Errorf("dns cache: %w", err)
	}
	return &dnsStack{client: rc, cache: c, probe: probe, local: local, dane: cfg.dane()}, nil
}

// close ends the cache's lookups in flight, then closes the idle upstream
// connections they used.
func (s *dnsStack) close() {
	s.cache.Close()
	s.client.Close()
	s.probe.Close()
}

// zeroMeansOff maps an operator's explicit 0 to the cache's "off" (a
// negative value); the cache reads 0 as "use the default".
func zeroMeansOff(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func loadZones(files []string) (*resolver.Zones, error) {
	if slices.Equal(files, []string{"none"}) || len(files) == 0 {
		return nil, nil
	}
	var all []*resolver.Zones
	for _, f := range files {
		var z *resolver.Zones
		var err error
		if f == "demo" {
			z, err = resolver.ParseZones("demo.zone (embedded)", bytes.NewReader(zones.Demo))
		} else {
			z, err = resolver.LoadZones(f)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, z)
	}
	return resolver.MergeZones(all...)
}

// planOptions turns the configuration into the planner's options.
func planOptions(cfg *config) routing.Options {
	o := routing.DefaultOptions()
	o.MaxAttempts = cfg.MaxAttempts
	o.AddressOrder = cfg.AddressOrder
	o.AllowMXToIP = cfg.AllowMXToIP
	o.IgnoreNetworks = cfg.IgnoreNetworks
	o.BlockPrivate = cfg.BlockPrivate
	if len(cfg.LocalNames) > 0 {
		o.LocalNames = map[string]bool{}
		for _, n := range cfg.LocalNames {
			o.LocalNames[n] = true
		}
	}
	if len(cfg.LocalAddresses) > 0 {
		o.LocalAddrs = map[netip.Addr]bool{}
		for _, a := range cfg.LocalAddresses {
			o.LocalAddrs[a] = true
		}
	}
	return o
}

func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
