package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// Generous bounds on a broken run. The targets (writes and propagation
// back within 5 s of the promotion) are measured and written to
// docs/benchmarks.md from the timings these tests log, not asserted
// tightly on a shared machine.
const (
	promotionDeadline = 30 * time.Second
	recoveryDeadline  = 30 * time.Second
)

// TestFailoverSentinel: SIGKILL the Sentinel-managed master under load.
func TestFailoverSentinel(t *testing.T) {
	g := redistest.StartSentinelGroup(t)
	failover(t, map[string]string{
		"MXROUTE_REDIS_SENTINEL_ADDRS":  strings.Join(g.Addrs(), ","),
		"MXROUTE_REDIS_SENTINEL_MASTER": g.MasterName(),
	}, func() time.Time {
		g.Replica.WaitCaughtUp(g.Master)
		g.Master.Stop()
		return g.Replica.WaitMaster(promotionDeadline)
	})
}

// TestFailoverCluster: SIGKILL the Cluster master that holds the demoted
// address's record, under load.
func TestFailoverCluster(t *testing.T) {
	c := redistest.StartReplicatedCluster(t, 3)
	failover(t, map[string]string{"MXROUTE_REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ",")}, func() time.Time {
		m := c.MasterOf(t, "mxr:{"+failoverDemoted+"}:s")
		c.ReplicaOf[m].WaitCaughtUp(m)
		m.Stop()
		return c.ReplicaOf[m].WaitMaster(promotionDeadline)
	})
}

const failoverDemoted = "172.16.10.1" // one of example.com's two addresses in the demo zone

// failover runs two replicas on env, demotes an address, puts /route and
// /feedback under load through both, calls kill (which kills a master
// and returns when its replica was promoted), and asserts: no /route
// failed, the demotion was in every plan throughout, writes and
// cross-replica propagation came back, and every accepted report was
// counted exactly once.
func failover(t *testing.T, env map[string]string, kill func() time.Time) {
	a := startServer(t, env)
	b := startServer(t, env)
	for _, x := range []struct {
		s        *testServer
		reporter string
	}{{a, "node-a"}, {b, "node-b"}} {
		if code, body := x.s.post(x.reporter, batch(failure(failoverDemoted), failure(failoverDemoted), failure(failoverDemoted))); code != http.StatusAccepted {
			t.Fatalf("POST /feedback: %d %s", code, body)
		}
	}
	for _, s := range []*testServer{a, b} {
		eventually(t, "demotion in "+s.URL+"'s plans", func() bool { return demotedInPlan(s.route("example.com")) })
	}

	load := startFailoverLoad(t, a, b)
	killed := time.Now()
	promoted := kill()
	t.Logf("promotion %.2f s after the kill", promoted.Sub(killed).Seconds())

	// Writes: a drain through a is a direct store write (503 while it
	// fails). Propagation: b lists the drained address from its view,
	// which only a push or a resync fills.
	const probe = "198.51.100.77"
	// (Not through a.do, which fails the test on any 5xx: here a 503
	// is the expected answer until the store is back.)
	wrote := waitFor(t, "a drain through replica a succeeds", func() bool {
		resp, err := http.Post(a.URL+"/hosts/"+probe+"/drain", "application/json", strings.NewReader(`{"duration_seconds":600}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	seen := waitFor(t, "replica b lists the drain made through a", func() bool {
		var page apigen.HostList
		return b.getJSON("/hosts?state=drained&prefix="+probe, &page) == http.StatusOK && len(page.Hosts) == 1
	})
	t.Logf("writes back %.2f s after promotion, propagation to the other replica %.2f s after promotion",
		wrote.Sub(promoted).Seconds(), seen.Sub(promoted).Seconds())

	time.Sleep(2 * time.Second) // more load on the new topology
	load.stop()
	t.Logf("load: %d /route (%d failed, %d without the demotion), %d batches accepted",
		load.routes.Load(), load.routeFailures.Load(), load.missing.Load(), load.batches.Load())
	if n := load.routeFailures.Load(); n != 0 {
		t.Errorf("%d of %d /route requests failed during the failover", n, load.routes.Load())
	}
	if n := load.missing.Load(); n != 0 {
		t.Errorf("%d of %d plans did not carry the demotion of %s", n, load.routes.Load(), failoverDemoted)
	}

	// Every accepted report is counted once, after the replays. A read of
	// an address whose shard has just failed over may still time out (a
	// 503, the contract's answer while the store cannot be read), so the
	// count is read until it answers.
	for i, addr := range load.addrs {
		want := int(load.posted[i].Load())
		var last int
		waitFor(t, fmt.Sprintf("%d successes of %s counted", want, addr), func() bool {
			var h apigen.HostStatus
			if !readHost(a.URL, addr, &h) {
				return false
			}
			last = h.RecentSuccesses
			return last >= want
		})
		if last != want {
			t.Errorf("%s: %d successes counted, %d accepted", addr, last, want)
		}
	}
	if h := b.host(failoverDemoted); h.State != apigen.HostStateDemoted {
		t.Errorf("after the failover %s is %s, want still demoted", failoverDemoted, h.State)
	}
}

func demotedInPlan(p apigen.Plan) bool {
	for _, at := range p.Attempts {
		if at.Address == failoverDemoted {
			return at.State == apigen.HostStateDemoted
		}
	}
	return false
}

// waitFor polls cond every 50 ms until it holds and returns when; it
// fails the test after recoveryDeadline.
func waitFor(t *testing.T, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(recoveryDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, recoveryDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

// failoverLoad is /route and /feedback traffic through two replicas.
type failoverLoad struct {
	addrs                          []string
	posted                         []atomic.Int64 // accepted success reports per address
	routes, routeFailures, missing atomic.Int64
	batches                        atomic.Int64
	done                           chan struct{}
	wg                             sync.WaitGroup
}

func startFailoverLoad(t *testing.T, servers ...*testServer) *failoverLoad {
	l := &failoverLoad{done: make(chan struct{})}
	for i := range 24 {
		l.addrs = append(l.addrs, fmt.Sprintf("192.0.2.%d", 10+i))
	}
	l.posted = make([]atomic.Int64, len(l.addrs))
	client := &http.Client{Timeout: 10 * time.Second}
	for i, s := range servers {
		for range 2 {
			l.wg.Go(func() { l.routeLoop(client, s) })
		}
		l.wg.Go(func() { l.feedbackLoop(t, client, s, fmt.Sprintf("load-%d", i)) })
	}
	return l
}

func (l *failoverLoad) stop() {
	close(l.done)
	l.wg.Wait()
}

func (l *failoverLoad) routeLoop(client *http.Client, s *testServer) {
	for {
		select {
		case <-l.done:
			return
		default:
		}
		l.routes.Add(1)
		resp, err := client.Get(s.URL + "/route?domain=example.com")
		if err != nil {
			l.routeFailures.Add(1)
			continue
		}
		var p apigen.Plan
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		switch {
		case err != nil || resp.StatusCode != http.StatusOK:
			l.routeFailures.Add(1)
		case !demotedInPlan(p):
			l.missing.Add(1)
		}
	}
}

// feedbackLoop posts a success about every address, 20 batches a second
// (under the per-reporter rate limit), counting what was accepted.
func (l *failoverLoad) feedbackLoop(t *testing.T, client *http.Client, s *testServer, reporter string) {
	rs := make([]report, len(l.addrs))
	for i, a := range l.addrs {
		rs[i] = success(a)
	}
	body, _ := json.Marshal(batch(rs...))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-tick.C:
		}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/feedback", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Mxroute-Reporter", reporter)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("POST /feedback during the failover: %v", err)
			continue
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			l.batches.Add(1)
			for i := range l.posted {
				l.posted[i].Add(1)
			}
		case http.StatusTooManyRequests:
		default:
			t.Errorf("POST /feedback during the failover: %d", resp.StatusCode)
		}
	}
}

// readHost reads GET /hosts/{addr} into h, reporting whether it answered
// 200; unlike testServer.do it accepts a 503 from a store that cannot be
// read yet.
func readHost(base, addr string, h *apigen.HostStatus) bool {
	resp, err := http.Get(base + "/hosts/" + addr)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(h) == nil
}
