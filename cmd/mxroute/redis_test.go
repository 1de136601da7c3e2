package main

import (
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

// eventually polls cond until it holds or a generous deadline passes. The
// deadline only bounds a broken run; the propagation target (1 s) is
// measured in docs/benchmarks.md, not asserted here.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leads(s *testServer, addr string) bool {
	p := s.route("example.com")
	return len(p.Attempts) == 2 && p.Attempts[0].Address == addr
}

// twoReplicas checks the fleet promise: reports through one replica
// demote the address in the plans of another, and recoveries spread too.
func twoReplicas(t *testing.T, env map[string]string) {
	a := startServer(t, env)
	b := startServer(t, env)
	const bad, good = "172.16.10.1", "172.16.10.2"

	// One reporter through each replica: still only one voter each, and
	// votes are counted fleet-wide, so two reporters across two replicas
	// demote.
	for _, x := range []struct {
		s        *testServer
		reporter string
	}{{a, "node-a"}, {b, "node-b"}} {
		if code, body := x.s.post(x.reporter, batch(failure(bad), failure(bad), failure(bad))); code != http.StatusAccepted {
			t.Fatalf("POST /feedback: %d %s", code, body)
		}
	}
	for _, s := range []*testServer{a, b} {
		eventually(t, "demotion visible in "+s.URL, func() bool {
			p := s.route("example.com")
			return p.Attempts[0].Address == good && p.Attempts[1].State == apigen.HostStateDemoted
		})
	}
	if h := b.host(bad); h.State != apigen.HostStateDemoted || len(h.Votes) != 2 {
		t.Errorf("replica b: %+v, want demoted with votes of node-a and node-b", h)
	}

	// Two reporters' successes through a end it everywhere.
	a.post("node-a", batch(success(bad)))
	a.post("node-c", batch(success(bad)))
	eventually(t, "recovery visible in b", func() bool { return b.host(bad).State == apigen.HostStateHealthy })
	eventually(t, "b's plans no longer demote "+bad, func() bool {
		for _, at := range b.route("example.com").Attempts {
			if at.State != apigen.HostStateHealthy {
				return false
			}
		}
		return true
	})

	// A drain through b reaches a's plans.
	if code, body, _ := b.do(http.MethodPost, "/hosts/"+good+"/drain", map[string]any{"duration_seconds": 300, "reason": "test"}, nil); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	eventually(t, "drain visible in a", func() bool { return leads(a, bad) })
}

func TestTwoReplicasStandaloneRedis(t *testing.T) {
	r := redistest.StartServer(t)
	twoReplicas(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr()})
}

func TestTwoReplicasRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	twoReplicas(t, map[string]string{"MXROUTE_REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ",")})
}

// TestRedisOutage kills Redis under load: every /route keeps answering
// 200, /feedback keeps accepting, /readyz says degraded, and once Redis is
// back every report accepted during the outage has been applied.
func TestRedisOutage(t *testing.T) {
	r := redistest.StartServer(t)
	s := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr()})
	const addr = "172.16.10.1"

	var routes, routeFailures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(s.URL + "/route?domain=example.com")
				routes.Add(1)
				if err != nil {
					routeFailures.Add(1)
					continue
				}
				if resp.StatusCode != http.StatusOK {
					routeFailures.Add(1)
				}
				resp.Body.Close()
			}
		})
	}

	r.Stop()
	// The outage shows once a store call fails; a report makes one.
	s.post("probe", batch(success("172.16.10.2")))
	eventually(t, "readyz reports the outage", func() bool {
		c := readyCheck(s, "redis")
		return c != nil && c.Status == apigen.ReadinessCheckStatusDegraded
	})
	// Reports during the outage, posted concurrently by two reporters:
	// connection failures, counted per address once replayed.
	const batches, perBatch = 20, 50
	var posts sync.WaitGroup
	var rejected atomic.Int64
	for i := range batches {
		posts.Go(func() {
			rs := make([]report, perBatch)
			for j := range rs {
				rs[j] = report{"address": addr, "outcome": "failure", "stage": "connect"}
			}
			if code, _ := s.post(fmt.Sprintf("node-%d", i%2), batch(rs...)); code != http.StatusAccepted {
				rejected.Add(1)
			}
		})
	}
	posts.Wait()
	if n := rejected.Load(); n != 0 {
		t.Fatalf("%d of %d batches rejected during the outage", n, batches)
	}
	if c := readyCheck(s, "feedback_buffer"); c == nil || c.Status != apigen.ReadinessCheckStatusDegraded || !strings.Contains(*c.Detail, "buffered") {
		t.Errorf("readyz during the outage: feedback_buffer check %+v, want the buffered reports mentioned", c)
	}
	if c := readyCheck(s, "redis"); c == nil || c.Status != apigen.ReadinessCheckStatusDegraded {
		t.Errorf("readyz during the outage: redis check %+v, want degraded", c)
	}

	r.Restart()
	eventually(t, "buffered reports replayed", func() bool {
		// /hosts reads Redis, so it may answer 503 while Redis comes back.
		resp, err := http.Get(s.URL + "/hosts/" + addr)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var h apigen.HostStatus
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.RecentFailures == batches*perBatch
	})
	close(stop)
	wg.Wait()
	if routes.Load() == 0 || routeFailures.Load() != 0 {
		t.Errorf("/route during the outage: %d of %d failed", routeFailures.Load(), routes.Load())
	}
	h := s.host(addr)
	if h.State != apigen.HostStateDemoted || len(h.Votes) != 2 {
		t.Errorf("after replay: %+v, want demoted by node-0 and node-1", h)
	}
	eventually(t, "readyz: redis ok and nothing buffered", func() bool {
		c := readyCheck(s, "redis")
		return c != nil && c.Status == apigen.ReadinessCheckStatusOk && readyCheck(s, "feedback_buffer") == nil
	})
}

// readyCheck returns the named check of /readyz, or nil.
func readyCheck(s *testServer, name string) *apigen.ReadinessCheck {
	var rd apigen.Readiness
	if s.getJSON("/readyz?verbose=true", &rd) != http.StatusOK {
		return nil
	}
	for _, c := range rd.Checks {
		if c.Name == name {
			return &c
		}
	}
	return nil
}
