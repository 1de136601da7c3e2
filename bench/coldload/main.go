// Command coldload sends cold plans, one domain each, never the same
// domain twice, and prints domains per second. Against mxroute it asks
// GET /route; against a DNS resolver it asks what a plan needs: the MX,
// then the A and AAAA of each MX host at once. Domains are dN.bench for
// N in [-from, -from+-count), so runs with disjoint ranges find every
// cache cold. Loopback only: the address must be on 127.0.0.0/8.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

func main() {
	target := flag.String("target", "http", "http (mxroute /route) or dns (a resolver)")
	addr := flag.String("addr", "127.0.0.1:8080", "loopback host:port of mxroute or the resolver")
	from := flag.Int("from", 0, "first domain number")
	count := flag.Int("count", 10000, "domains to plan")
	conc := flag.Int("conc", 16, "plans in flight")
	sts := flag.Bool("mta-sts", false, "dns target: also ask _mta-sts.<domain> TXT, in parallel with the MX query, as mxroute does with MTA-STS on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "coldload: -addr must be a loopback host:port")
		os.Exit(2)
	}
	var plan func(ctx context.Context, domain string) error
	switch *target {
	case "http":
		cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc}, Timeout: 10 * time.Second}
		plan = func(ctx context.Context, d string) error { return httpPlan(ctx, cl, *addr, d) }
	case "dns":
		cl := &dns.Client{Timeout: 5 * time.Second}
		plan = func(ctx context.Context, d string) error { return dnsPlan(ctx, cl, *addr, d, *sts) }
	default:
		fmt.Fprintln(os.Stderr, "coldload: -target is http or dns")
		os.Exit(2)
	}
	var next, failed atomic.Int64
	next.Store(int64(*from))
	end := int64(*from + *count)
	start := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= end {
					return
				}
				if err := plan(context.Background(), fmt.Sprintf("d%d.bench", n)); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	fmt.Printf("target=%s domains=%d failed=%d seconds=%.2f domains_per_s=%.0f\n",
		*target, *count, failed.Load(), took.Seconds(), float64(*count)/took.Seconds())
}

func httpPlan(ctx context.Context, cl *http.Client, addr, d string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/route?domain="+d, nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func query(ctx context.Context, cl *dns.Client, addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	r, _, err := cl.ExchangeContext(ctx, m, addr)
	return r, err
}

func dnsPlan(ctx context.Context, cl *dns.Client, addr, d string, sts bool) error {
	var wg sync.WaitGroup
	var errs atomic.Int32
	if sts {
		wg.Go(func() {
			if _, err := query(ctx, cl, addr, "_mta-sts."+d, dns.TypeTXT); err != nil {
				errs.Add(1)
			}
		})
	}
	r, err := query(ctx, cl, addr, d, dns.TypeMX)
	if err != nil {
		wg.Wait()
		return err
	}
	for _, rr := range r.Answer {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			wg.Go(func() {
				if _, err := query(ctx, cl, addr, mx.Mx, t); err != nil {
					errs.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if errs.Load() > 0 {
		return fmt.Errorf("%d address queries failed", errs.Load())
	}
	return nil
}
