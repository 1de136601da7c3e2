// Command drainscale measures what drains and GET /hosts cost when many
// addresses are already non-healthy (issue 10: a drain cost 7× more with
// 30k drained, and listing them had no pagination).
//
// Method, against one running mxroute (-url; loopback only), which needs
// MXROUTE_DRAIN_LIMIT above -n + -m:
//
//  1. baseline: -m drains of fresh addresses one after another, each
//     followed by its undrain, timing each POST and DELETE;
//  2. fill: drain -n other addresses (10.8.0.0/16 and up; payloads only,
//     nothing is dialled) with -c concurrent clients;
//  3. at scale: the same -m drains and undrains again;
//  4. listing: page through GET /hosts?state=drained with -limit per page,
//     timing each page, and one page filtered by a /24 prefix;
//  5. cleanup: undrain the -n addresses, then the baseline once more, so
//     the "none" figure brackets the "at scale" one (A B A).
//
// Every phase is bounded by its count; the run ends after -n × 2 + -m ×
// 6 requests plus the pages.
//
// For comparing builds, -phase splits the run: "fill" only drains the -n
// addresses; "list" only pages through them -passes times at each page
// size of -limits, printing one line per size with the pages' p50 and
// p99 (bench/drainscale/pages.sh alternates it between servers).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "drainscale:", err)
		os.Exit(1)
	}
}

// filler is the i-th address drained to fill the store.
func filler(i int) string { return fmt.Sprintf("10.%d.%d.%d", 8+i/65536, i/256%256, i%256) }

// probe is the i-th address whose drain is timed.
func probe(i int) string { return fmt.Sprintf("10.7.%d.%d", i/256%256, i%256) }

type bench struct {
	base   string
	client *http.Client
	// retried counts fill and cleanup requests answered 503 and retried
	// (a store call past its 250 ms timeout on a loaded machine).
	retried atomic.Int64
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "mxroute base URL (loopback)")
	n := fs.Int("n", 50_000, "addresses drained to fill the store (at most 500000)")
	m := fs.Int("m", 300, "timed drains per phase (at most 65536)")
	c := fs.Int("c", 8, "concurrent clients while filling")
	limit := fs.Int("limit", 1000, "GET /hosts page size")
	only := fs.String("phase", "all", "all, fill (drain -n addresses only) or list (page through them only)")
	limits := fs.String("limits", "100,1000", "list phase: page sizes, comma-separated")
	passes := fs.Int("passes", 1, "list phase: passes through all pages per page size (at most 100)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if err != nil || !loopback(u.Hostname()) {
		return fmt.Errorf("-url %q: must be an http URL on 127.0.0.1, ::1 or localhost", *base)
	}
	if *n < 0 || *n > 500_000 || *m < 1 || *m > 65536 || *c < 1 || *c > 64 {
		return errors.New("-n in 0..500000, -m in 1..65536, -c in 1..64")
	}
	b := &bench{base: *base, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c}, Timeout: 10 * time.Second}}
	switch *only {
	case "all":
	case "fill":
		return b.parallel(ctx, *n, *c, http.MethodPost)
	case "list":
		return b.listPasses(ctx, stdout, *n, *limits, *passes)
	default:
		return fmt.Errorf("-phase %q: all, fill or list", *only)
	}

	none1, err := b.timed(ctx, *m)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	start := time.Now()
	if err := b.parallel(ctx, *n, *c, http.MethodPost); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	fmt.Fprintf(stdout, "fill: %d drains in %v\n", *n, time.Since(start).Round(time.Millisecond))
	full, err := b.timed(ctx, *m)
	if err != nil {
		return fmt.Errorf("at scale: %w", err)
	}
	pages, listed, err := b.list(ctx, "state=drained", *limit)
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	prefixed, _, err := b.list(ctx, "state=drained&prefix=10.8.3.0/24", *limit)
	if err != nil {
		return fmt.Errorf("prefix listing: %w", err)
	}
	start = time.Now()
	if err := b.parallel(ctx, *n, *c, http.MethodDelete); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	fmt.Fprintf(stdout, "cleanup: %d undrains in %v\n", *n, time.Since(start).Round(time.Millisecond))
	none2, err := b.timed(ctx, *m)
	if err != nil {
		return fmt.Errorf("baseline again: %w", err)
	}

	none := phase{drain: append(none1.drain, none2.drain...), undrain: append(none1.undrain, none2.undrain...)}
	fmt.Fprintf(stdout, "drain,   none drained:       %s\n", summary(none.drain))
	fmt.Fprintf(stdout, "drain,   %6d drained:     %s  (p50 ratio %.2f)\n", *n, summary(full.drain), ratio(full.drain, none.drain))
	fmt.Fprintf(stdout, "undrain, none drained:       %s\n", summary(none.undrain))
	fmt.Fprintf(stdout, "undrain, %6d drained:     %s  (p50 ratio %.2f)\n", *n, summary(full.undrain), ratio(full.undrain, none.undrain))
	fmt.Fprintf(stdout, "GET /hosts?state=drained&limit=%d: %d pages, %d addresses: %s\n", *limit, len(pages), listed, summary(pages))
	fmt.Fprintf(stdout, "GET /hosts with a /24 prefix: %s\n", summary(prefixed))
	fmt.Fprintf(stdout, "fill and cleanup requests retried after a 503: %d\n", b.retried.Load())
	if listed != *n {
		return fmt.Errorf("listed %d drained addresses, want %d", listed, *n)
	}
	return nil
}

// listPasses pages through the n drained addresses passes times at each
// page size, one size after another, and prints each size's pages.
func (b *bench) listPasses(ctx context.Context, stdout io.Writer, n int, limits string, passes int) error {
	if passes < 1 || passes > 100 {
		return errors.New("-passes in 1..100")
	}
	for _, f := range strings.Split(limits, ",") {
		limit, err := strconv.Atoi(f)
		if err != nil || limit < 1 || limit > 1000 {
			return fmt.Errorf("-limits %q: page sizes in 1..1000", limits)
		}
		var all []time.Duration
		for range passes {
			pages, listed, err := b.list(ctx, "state=drained", limit)
			if err != nil {
				return err
			}
			if listed != n {
				return fmt.Errorf("listed %d drained addresses, want %d", listed, n)
			}
			all = append(all, pages...)
		}
		fmt.Fprintf(stdout, "PAGES limit=%d %s p50_us=%d p99_us=%d\n", limit, summary(all), pct(all, 50).Microseconds(), pct(all, 99).Microseconds())
	}
	return nil
}

var errUnavailable = errors.New("503")

type phase struct{ drain, undrain []time.Duration }

// timed drains and undrains m probe addresses one after another.
func (b *bench) timed(ctx context.Context, m int) (phase, error) {
	var p phase
	for i := range m {
		for _, method := range []string{http.MethodPost, http.MethodDelete} {
			t0 := time.Now()
			if err := b.drain(ctx, method, probe(i)); err != nil {
				return p, err
			}
			d := time.Since(t0)
			if method == http.MethodPost {
				p.drain = append(p.drain, d)
			} else {
				p.undrain = append(p.undrain, d)
			}
		}
	}
	return p, nil
}

// parallel drains (POST) or undrains (DELETE) the n fillers with c clients.
func (b *bench) parallel(ctx context.Context, n, c int, method string) error {
	next := make(chan int)
	errs := make(chan error, c)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for i := range next {
				err := b.drain(ctx, method, filler(i))
				for try := 0; errors.Is(err, errUnavailable) && try < 3; try++ {
					b.retried.Add(1)
					err = b.drain(ctx, method, filler(i))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

func (b *bench) drain(ctx context.Context, method, addr string) error {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"duration_seconds":3600,"reason":"drainscale"}`)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+"/hosts/"+addr+"/drain", body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		return fmt.Errorf("%s /hosts/%s/drain: %w: %s", method, addr, errUnavailable, got)
	default:
		return fmt.Errorf("%s /hosts/%s/drain: %d %s", method, addr, resp.StatusCode, got)
	}
	return nil
}

// list pages through GET /hosts?query, timing each page.
func (b *bench) list(ctx context.Context, query string, limit int) ([]time.Duration, int, error) {
	var pages []time.Duration
	total, cursor := 0, ""
	for {
		u := fmt.Sprintf("%s/hosts?%s&limit=%d", b.base, query, limit)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, err
		}
		t0 := time.Now()
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		var page struct {
			Hosts      []json.RawMessage `json:"hosts"`
			NextCursor string            `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		pages = append(pages, time.Since(t0))
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		total += len(page.Hosts)
		if page.NextCursor == "" {
			return pages, total, nil
		}
		cursor = page.NextCursor
	}
}

func loopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[(len(s)-1)*p/100]
}

func summary(d []time.Duration) string {
	return fmt.Sprintf("n %d p50 %v p99 %v", len(d), pct(d, 50).Round(time.Microsecond), pct(d, 99).Round(time.Microsecond))
}

func ratio(a, base []time.Duration) float64 {
	return float64(pct(a, 50)) / float64(pct(base, 50))
}
