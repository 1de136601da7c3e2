package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// floodThenDemote: one reporter posts reports about more new addresses
// than the bound holds; two others then report a real host failing, and
// it is demoted at once, in the replica's plans as in the store. Before
// the per-reporter quota and eviction, the flood filled the bound and the
// host's reports were dropped while every request got 202.
func floodThenDemote(t *testing.T, env map[string]string) {
	full := map[string]string{"MXROUTE_HEALTH_MAX_ADDRESSES": "200", "MXROUTE_HEALTH_REPORTER_NEW_ADDRESSES": "50"}
	for k, v := range env {
		full[k] = v
	}
	s := startServer(t, full)
	const bad, good = "172.16.10.1", "172.16.10.2"
	for b := range 4 { // 400 addresses: twice the bound
		var rs []report
		for i := range 100 {
			n := b*100 + i
			rs = append(rs, failure(fmt.Sprintf("198.18.%d.%d", n/256, n%256)))
		}
		if code, body := s.post("flooder", batch(rs...)); code != http.StatusAccepted {
			t.Fatalf("flood batch %d: %d %s", b, code, body)
		}
	}
	s.demote(bad) // node-a and node-b, three failures each
	p := s.route("example.com")
	if len(p.Attempts) != 2 || p.Attempts[0].Address != good || p.Attempts[1].State != apigen.HostStateDemoted {
		t.Fatalf("plan after the flood and two reporters' failures: %+v, want %s demoted", p.Attempts, bad)
	}
	if h := s.host(bad); h.State != apigen.HostStateDemoted || len(h.Votes) != 2 {
		t.Errorf("host %s: %+v, want demoted with two votes", bad, h)
	}
}

func TestFloodCannotStopDemotionMemory(t *testing.T) { floodThenDemote(t, nil) }

func TestFloodCannotStopDemotionRedis(t *testing.T) {
	r := redistest.StartServer(t)
	floodThenDemote(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr()})
}

// TestReportsAboutUndialableAddresses: a report about an address no plan
// can contain (MXROUTE_IGNORE_NETWORKS, loopback, multicast, broadcast and
// unspecified by default) gets the batch a 400 and changes nothing.
func TestReportsAboutUndialableAddresses(t *testing.T) {
	s := startServer(t, map[string]string{"MXROUTE_IGNORE_NETWORKS": "0.0.0.0/8,127.0.0.0/8,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4,::1/128,ff00::/8,203.0.113.0/24"})
	const ok = "172.16.10.1"
	for _, addr := range []string{"127.0.0.1", "::1", "0.0.0.0", "::", "224.0.0.5", "ff02::1", "255.255.255.255", "169.254.1.1", "::ffff:127.0.0.1", "203.0.113.9"} {
		code, body := s.post("node-a", batch(failure(ok), failure(addr)))
		if code != http.StatusBadRequest || !strings.Contains(string(body), "address") {
			t.Errorf("report about %s: %d %s, want 400 naming the address", addr, code, body)
		}
	}
	if h := s.host(ok); h.RecentFailures != 0 {
		t.Errorf("after refused batches: %+v, want no state", h)
	}
	if code, body := s.post("node-a", batch(failure(ok))); code != http.StatusAccepted {
		t.Errorf("dialable address: %d %s", code, body)
	}

	// With loopback allowed in plans, reports about it are taken.
	lo := startServer(t, map[string]string{"MXROUTE_IGNORE_NETWORKS": "none"})
	if code, body := lo.post("node-a", batch(failure("127.0.0.1"))); code != http.StatusAccepted {
		t.Errorf("loopback with MXROUTE_IGNORE_NETWORKS=none: %d %s", code, body)
	}
}

// TestRedisNamespacesByDB: two deployments on one Redis, one in DB 0 and
// one in DB 1, never see each other's demotions, neither through pub/sub
// nor through the shared keys of a resync.
func TestRedisNamespacesByDB(t *testing.T) {
	r := redistest.StartServer(t)
	a := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr() + "/0"})
	b := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr() + "/1"})
	b2 := startServer(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr() + "/1"})
	const bad = "172.16.10.1"
	a.demote(bad)
	if h := a.host(bad); h.State != apigen.HostStateDemoted {
		t.Fatalf("db 0: %+v, want demoted", h)
	}
	// b2 shares b's DB: a demotion through b2 reaching b proves b is
	// subscribed and resyncing, so b's silence about a's demotion is
	// separation, not a slow replica.
	b2.demote("172.16.10.2")
	eventually(t, "db 1 replicas share their own demotion", func() bool {
		return b.host("172.16.10.2").State == apigen.HostStateDemoted && leads(b, bad)
	})
	for _, s := range []*testServer{b, b2} {
		if h := s.host(bad); h.State != apigen.HostStateHealthy || h.RecentFailures != 0 {
			t.Errorf("db 1 sees db 0's state: %+v", h)
		}
		if !leads(s, bad) {
			t.Errorf("db 1 plan: %+v, want %s first", s.route("example.com").Attempts, bad)
		}
	}
	if leads(a, bad) {
		t.Errorf("db 0 plan leads with its demoted address")
	}
}

// retriedThrice posts one batch three times with one Idempotency-Key,
// alternating between the given replicas (one, or two sharing Redis): the
// fleet applies it once. A bad key is a 400.
func retriedThrice(t *testing.T, replicas ...*testServer) {
	const addr = "172.16.10.1"
	hdr := map[string]string{"X-Mxroute-Reporter": "node-a", "Idempotency-Key": "batch-7f9c2ba4"}
	for i := range 3 {
		s := replicas[i%len(replicas)]
		if code, body, _ := s.do(http.MethodPost, "/feedback", batch(failure(addr), failure(addr)), hdr); code != http.StatusAccepted {
			t.Fatalf("attempt %d: %d %s", i+1, code, body)
		}
	}
	for _, s := range replicas {
		if h := s.host(addr); h.RecentFailures != 2 || len(h.Votes) != 0 {
			t.Errorf("%s: one batch posted 3 times: %+v, want 2 failures, no vote", s.URL, h)
		}
	}
	hdr["Idempotency-Key"] = "has space"
	if code, body, _ := replicas[0].do(http.MethodPost, "/feedback", batch(failure(addr)), hdr); code != http.StatusBadRequest || !strings.Contains(string(body), "Idempotency-Key") {
		t.Errorf("bad key: %d %s, want 400 naming Idempotency-Key", code, body)
	}
}

func TestIdempotencyKeyMemory(t *testing.T) { retriedThrice(t, startServer(t, nil)) }

func TestIdempotencyKeyAcrossReplicas(t *testing.T) {
	r := redistest.StartServer(t)
	env := map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr()}
	retriedThrice(t, startServer(t, env), startServer(t, env))
}
