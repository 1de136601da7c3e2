package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/mtasts/redisstore"
)

// newSTSFetcher builds the policy fetcher from the settings; nil when
// MTA-STS is off.
func newSTSFetcher(cfg *config, dns mtasts.Lookuper, log *slog.Logger) (*mtasts.Fetcher, error) {
	if !cfg.MTASTS {
		return nil, nil
	}
	var roots *x509.CertPool
	if cfg.MTASTSCAFile != "" {
		pem, err := os.ReadFile(cfg.MTASTSCAFile)
		if err != nil {
			return nil, fmt.Errorf("MXROUTE_MTA_STS_CA_FILE: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MXROUTE_MTA_STS_CA_FILE: no certificate in %s", cfg.MTASTSCAFile)
		}
	}
	opts := planOptions(cfg)
	dialable := func(a netip.Addr) bool { return !opts.NeverDials(a) }
	if cfg.MTASTSAllowLoopback {
		dialable = func(a netip.Addr) bool { return a.Unmap().IsLoopback() || !opts.NeverDials(a) }
	}
	return mtasts.NewFetcher(mtasts.FetchConfig{
		Resolver: mtasts.DNSAddrs{DNS: dns}, Dialable: dialable, RootCAs: roots,
		Port: cfg.MTASTSPort, Timeout: cfg.MTASTSTimeout, Logger: log,
	}), nil
}

// newSTSCache builds the fleet's MTA-STS policy cache on f: policies in
// Redis when it is configured (so one replica fetches for all), in memory
// otherwise. Nil when MTA-STS is off (f is nil).
func newSTSCache(cfg *config, f *mtasts.Fetcher, rdb redis.UniversalClient, log *slog.Logger) *mtasts.Cache {
	if f == nil {
		return nil
	}
	cc := mtasts.CacheConfig{Logger: log, LockTTL: cfg.MTASTSTimeout + mtasts.DefaultLockMargin}
	if rdb != nil {
		st := redisstore.New(rdb, redisNamespace(cfg, rdb))
		cc.Store, cc.Locker = st, st
	}
	return mtasts.NewCache(f, cc)
}

// withSTS has the check fetch MTA-STS policies with f (MTA_STS_*
// findings); MTA-STS is not checked when f is nil (off).
func withSTS(o check.Options, f *mtasts.Fetcher) check.Options {
	if f != nil {
		o.STS = f
	}
	return o
}

// stsPolicies is c as the gatherer's optional policy source: nil when off.
func stsPolicies(c *mtasts.Cache) gather.STSPolicies {
	if c == nil {
		return nil
	}
	return c
}
