package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/mtasts/redisstore"
)

// newSTSCache builds the fleet's MTA-STS policy cache: policies in Redis
// when it is configured (so one replica fetches for all), in memory
// otherwise. Nil when MTA-STS is off.
func newSTSCache(cfg *config, dns mtasts.Lookuper, rdb redis.UniversalClient, log *slog.Logger) (*mtasts.Cache, error) {
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
	f := mtasts.NewFetcher(mtasts.FetchConfig{
		Resolver: mtasts.DNSAddrs{DNS: dns}, Dialable: dialable, RootCAs: roots,
		Port: cfg.MTASTSPort, Timeout: cfg.MTASTSTimeout,
	})
	cc := mtasts.CacheConfig{Logger: log, LockTTL: cfg.MTASTSTimeout + mtasts.DefaultLockMargin}
	if rdb != nil {
		st := redisstore.New(rdb, redisNamespace(cfg, rdb))
		cc.Store, cc.Locker = st, st
	}
	return mtasts.NewCache(f, cc), nil
}

// stsPolicies is c as the gatherer's optional policy source: nil when off.
func stsPolicies(c *mtasts.Cache) gather.STSPolicies {
	if c == nil {
		return nil
	}
	return c
}
