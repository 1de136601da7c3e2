// Command cachefill measures the DNS answer cache in process, against an
// upstream that answers from memory (no network at all):
//
//	cachefill -mode rss -domains 1000000 -mib 1024
//	    fills the cache with the lookups of N domains (MX, then the A and
//	    AAAA of the domain's own MX host: three answers a domain, as the
//	    resolver returns them, dns.RR values included), collects garbage
//	    and prints the process's RSS, the Go heap in use, the domains
//	    still fully cached and the bytes per domain.
//	cachefill -mode refetch -domains 2000000 -mib 64
//	    the re-fetch workload: a stream of lookups in which most domains
//	    are seen once (a scan, the long tail of recipient domains) and a
//	    share of them is fetched again a few simulated minutes later; it
//	    prints how many re-fetches and third fetches hit the cache while
//	    the scan overflows it many times.
//
// Time is simulated (the cache's clock advances a fixed step per
// domain), so the run is bounded by -domains and takes seconds.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/resolver"
)

func main() {
	mode := flag.String("mode", "rss", "rss or refetch")
	domains := flag.Int("domains", 1_000_000, "domains to look up")
	mib := flag.Int64("mib", 1024, "cache bound (MaxBytes) in MiB")
	refetch := flag.Float64("refetch", 0.1, "refetch mode: share of domains fetched again")
	delay := flag.Duration("delay", 3*time.Minute, "refetch mode: simulated time between a domain's fetches")
	rate := flag.Int("rate", 500, "refetch mode: new domains per simulated second")
	skip := flag.Int("skip", 0, "refetch mode: count only the re-fetches of domains after the first N (the cache's steady state, once it is full)")
	flag.Parse()
	var err error
	switch *mode {
	case "rss":
		err = fill(*domains, *mib)
	case "refetch":
		err = refetchRun(*domains, *mib, *refetch, *delay, *rate, *skip)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cachefill:", err)
		os.Exit(1)
	}
}

// memUpstream answers like a recursive resolver for a synthetic zone:
// every dN.bench. has one MX, mx.dN.bench., with one IPv4 address and no
// IPv6 one. TTLs are an hour, so nothing expires during a run.
type memUpstream struct{}

func (memUpstream) Lookup(_ context.Context, name string, qtype uint16) (resolver.Answer, error) {
	a := resolver.Answer{Name: name, Qtype: qtype, Rcode: dns.RcodeSuccess, TTL: time.Hour, Server: "127.0.0.1:53"}
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: 3600}
	switch qtype {
	case dns.TypeMX:
		hdr.Rrtype = dns.TypeMX
		a.Records = []dns.RR{&dns.MX{Hdr: hdr, Preference: 10, Mx: "mx." + name}}
	case dns.TypeA:
		hdr.Rrtype = dns.TypeA
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(name, ".", 3)[1], "d"))
		a.Records = []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(10, byte(n>>16), byte(n>>8), byte(n))}}
	}
	return a, nil
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newCache(mib int64, c *clock) (*cache.Cache, error) {
	return cache.New(memUpstream{}, cache.Config{MaxBytes: mib << 20, Now: c.Now, StaleAnswerAfter: -1})
}

// lookupDomain makes a plan's three lookups for domain i and reports
// whether all three hit.
func lookupDomain(ctx context.Context, c *cache.Cache, i int) (bool, error) {
	d := "d" + strconv.Itoa(i) + ".bench."
	hits := 0
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{d, dns.TypeMX}, {"mx." + d, dns.TypeA}, {"mx." + d, dns.TypeAAAA}} {
		_, r, err := c.LookupResult(ctx, q.name, q.qtype)
		if err != nil {
			return false, err
		}
		if r == cache.ResultHit {
			hits++
		}
	}
	return hits == 3, nil
}

func fill(domains int, mib int64) error {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	c, err := newCache(mib, clk)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	for i := range domains {
		if _, err := lookupDomain(ctx, c, i); err != nil {
			return err
		}
	}
	took := time.Since(start)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := 0
	for i := range domains {
		if _, _, ok := c.Peek(ctx, "d"+strconv.Itoa(i)+".bench.", dns.TypeMX); ok {
			held++
		}
	}
	rss := rssBytes()
	fmt.Printf("domains=%d bound=%dMiB entries=%d domains_held=%d rss=%.0fMiB heap_inuse=%.0fMiB rss_per_held_domain=%.0fB heap_per_held_domain=%.0fB fill=%v\n",
		domains, mib, c.Len(), held, float64(rss)/(1<<20), float64(ms.HeapInuse)/(1<<20),
		float64(rss)/float64(max(held, 1)), float64(ms.HeapInuse)/float64(max(held, 1)), took.Round(time.Millisecond))
	return nil
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// refetchRun streams domains at rate per simulated second; a share of
// them is fetched again delay later, and again 2*delay later. Only the
// re-fetches of domains from skip on are counted.
func refetchRun(domains int, mib int64, share float64, delay time.Duration, rate, skip int) error {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	c, err := newCache(mib, clk)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	step := time.Second / time.Duration(rate)
	lag := int(delay / step)   // domains between a fetch and its re-fetch
	again := make(map[int]int) // domain -> fetches so far, for the chosen share
	var second, secondHit, third, thirdHit int
	for i := range domains {
		clk.now = clk.now.Add(step)
		if _, err := lookupDomain(ctx, c, i); err != nil {
			return err
		}
		if rng.Float64() < share && i >= skip {
			again[i] = 1
		}
		for _, j := range []int{i - lag, i - 2*lag} {
			n, ok := again[j]
			if !ok {
				continue
			}
			hit, err := lookupDomain(ctx, c, j)
			if err != nil {
				return err
			}
			if n == 1 {
				second++
				if hit {
					secondHit++
				}
				again[j] = 2
			} else {
				third++
				if hit {
					thirdHit++
				}
				delete(again, j)
			}
		}
	}
	fmt.Printf("domains=%d skip=%d bound=%dMiB entries=%d refetch_share=%.2f delay=%v rate=%d/s scan_per_delay=%d second_fetch_hits=%d/%d (%.1f%%) third_fetch_hits=%d/%d (%.1f%%)\n",
		domains, skip, mib, c.Len(), share, delay, rate, lag, secondHit, second, pct(secondHit, second), thirdHit, third, pct(thirdHit, third))
	return nil
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
