// Command propagation measures how long a demotion decided on one mxroute
// instance takes to change the plans of another instance sharing its
// Redis: the fleet-wide promise of the Redis store.
//
// Method. -zone FILE writes a zone of N domains pI.prop.test, each with
// one MX hI.prop.test whose one A record is a distinct address in
// 10.9.0.0/16 (payloads only: nothing is ever sent there); both instances
// load it with MXROUTE_ZONE_FILES, so DNS plays no part. Then, for each
// address in turn: GET B's /route for its domain (this caches the DNS
// answer and checks the address starts healthy); POST /feedback to A as
// reporter r1 with three connect failures (one vote, no demotion); POST
// to A as reporter r2 with three more (the quorum: A demotes the address
// in Redis before answering 202); then GET B's /route in a tight loop
// until the plan's attempt is marked demoted. The figure is the time from
// A's 202 to the first plan of B that shows the demotion ("ack to
// visible"), and from just before the second POST ("report to
// visible", which adds A's own processing). The loop's resolution is one
// /route round trip on loopback (about 0.1-0.3 ms here).
//
// The instances need a demotion budget above N
// (MXROUTE_HEALTH_BUDGET_MIN), or demotions past the budget are refused
// by design and the run reports them as timeouts.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
}

func address(i int) string { return fmt.Sprintf("10.9.%d.%d", i/250, i%250+1) }

func writeZone(path string, n int) error {
	var b strings.Builder
	b.WriteString("$ORIGIN prop.test.\n@ 3600 IN SOA ns hostmaster 1 3600 600 86400 3600\n@ 3600 IN NS ns\nns 3600 IN A 10.9.255.1\n")
	for i := range n {
		fmt.Fprintf(&b, "p%d 3600 IN MX 10 h%d\nh%d 3600 IN A %s\n", i, i, i, address(i))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write zone: %w", err)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	a := fs.String("a", "", "base URL of instance A, which receives the reports")
	b := fs.String("b", "", "base URL of instance B, whose plans are watched")
	n := fs.Int("n", 1000, "addresses to demote, one after another (at most 62500)")
	zone := fs.String("zone", "", "write the zone of -n domains to this file and exit")
	wait := fs.Duration("timeout", 5*time.Second, "give up on one address after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *n < 1 || *n > 62500 {
		return errors.New("-n must be in 1..62500")
	}
	if *zone != "" {
		return writeZone(*zone, *n)
	}
	if *a == "" || *b == "" {
		return errors.New("-a and -b are required")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}

	var ackLat, sendLat []time.Duration
	polls, timeouts := 0, 0
	start := time.Now()
	for i := range *n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		addr, domain := address(i), fmt.Sprintf("p%d.prop.test", i)
		state, err := planState(client, *b, domain)
		if err != nil {
			return err
		}
		if state != "healthy" {
			return fmt.Errorf("%s on B before any report: %s, want healthy", addr, state)
		}
		if err := post(client, *a, "r1", addr); err != nil {
			return err
		}
		sent := time.Now()
		if err := post(client, *a, "r2", addr); err != nil {
			return err
		}
		acked := time.Now()
		for {
			polls++
			state, err := planState(client, *b, domain)
			if err != nil {
				return err
			}
			if state == "demoted" {
				now := time.Now()
				ackLat = append(ackLat, now.Sub(acked))
				sendLat = append(sendLat, now.Sub(sent))
				break
			}
			if time.Since(acked) > *wait {
				timeouts++
				break
			}
		}
	}
	elapsed := time.Since(start)
	slices.Sort(ackLat)
	slices.Sort(sendLat)
	fmt.Fprintf(stdout, "propagation: %d demotions through A, watched on B's /route, %v, %d polls of B\n", *n, elapsed.Round(time.Millisecond), polls)
	fmt.Fprintf(stdout, "ack to visible:    p50 %v p90 %v p99 %v max %v\n", pct(ackLat, 50), pct(ackLat, 90), pct(ackLat, 99), pct(ackLat, 100))
	fmt.Fprintf(stdout, "report to visible: p50 %v p90 %v p99 %v max %v\n", pct(sendLat, 50), pct(sendLat, 90), pct(sendLat, 99), pct(sendLat, 100))
	fmt.Fprintf(stdout, "not visible within %v: %d\n", *wait, timeouts)
	if timeouts > 0 {
		return fmt.Errorf("%d of %d demotions never showed on B", timeouts, *n)
	}
	return nil
}

// post sends three connect failures for addr as reporter.
func post(client *http.Client, base, reporter, addr string) error {
	r := fmt.Sprintf(`{"address":%q,"outcome":"failure","stage":"connect"}`, addr)
	body := `{"reports":[` + r + "," + r + "," + r + `]}`
	req, err := http.NewRequest(http.MethodPost, base+"/feedback", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Mxroute-Reporter", reporter)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST /feedback: %w", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /feedback as %s: %d %s", reporter, resp.StatusCode, got)
	}
	return nil
}

// planState returns the state of the first attempt of B's plan for domain.
func planState(client *http.Client, base, domain string) (string, error) {
	resp, err := client.Get(base + "/route?domain=" + domain)
	if err != nil {
		return "", fmt.Errorf("GET /route: %w", err)
	}
	defer resp.Body.Close()
	var p struct {
		Attempts []struct {
			State string `json:"state"`
		} `json:"attempts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /route?domain=%s: status %d, %v", domain, resp.StatusCode, err)
	}
	if len(p.Attempts) != 1 {
		return "", fmt.Errorf("GET /route?domain=%s: %d attempts, want 1", domain, len(p.Attempts))
	}
	return p.Attempts[0].State, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100].Round(10 * time.Microsecond)
}
