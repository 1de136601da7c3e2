package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// hostsStores runs f against the memory store and a real Redis: the
// listing and the drain limit must behave the same on both.
func hostsStores(t *testing.T, f func(t *testing.T, env map[string]string)) {
	t.Run("memory", func(t *testing.T) { f(t, map[string]string{}) })
	t.Run("redis", func(t *testing.T) {
		r := redistest.StartServer(t)
		f(t, map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr()})
	})
}

func drainAddr(s *testServer, addr string) (int, []byte) {
	code, body, _ := s.do(http.MethodPost, "/hosts/"+addr+"/drain", map[string]any{"duration_seconds": 600, "reason": "test"}, nil)
	return code, body
}

// listAll pages through GET /hosts with query q and limit, returning
// the addresses in the order listed and the last page.
func listAll(t *testing.T, s *testServer, q url.Values, limit int) ([]string, apigen.HostList) {
	t.Helper()
	var got []string
	var page apigen.HostList
	q.Set("limit", fmt.Sprint(limit))
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		page = apigen.HostList{}
		if code := s.getJSON("/hosts?"+q.Encode(), &page); code != http.StatusOK {
			t.Fatalf("GET /hosts?%s: %d", q.Encode(), code)
		}
		if len(page.Hosts) > limit {
			t.Fatalf("page of %d hosts, limit %d", len(page.Hosts), limit)
		}
		for _, h := range page.Hosts {
			got = append(got, h.Address)
		}
		if page.NextCursor == nil {
			return got, page
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// TestHostsPagination drains addresses of both families and demotes one,
// then pages through GET /hosts: every address once, in address order,
// filtered by state and by network, with the drain count alongside.
func TestHostsPagination(t *testing.T) {
	hostsStores(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		var drained []string
		for i := range 30 {
			a := fmt.Sprintf("198.51.100.%d", 200-i)
			if i%3 == 0 {
				a = fmt.Sprintf("2001:db8::%x", 0x100-i)
			}
			if code, body := drainAddr(s, a); code != http.StatusOK {
				t.Fatalf("drain %s: %d %s", a, code, body)
			}
			drained = append(drained, a)
		}
		const demoted = "172.16.10.1"
		for _, r := range []string{"node-a", "node-b"} {
			s.post(r, batch(failure(demoted), failure(demoted), failure(demoted)))
		}
		eventually(t, "demotion listed", func() bool { return s.host(demoted).State == apigen.HostStateDemoted })

		all, last := listAll(t, s, url.Values{}, 7)
		if len(all) != len(drained)+1 {
			t.Fatalf("listed %d addresses (%v), want %d", len(all), all, len(drained)+1)
		}
		for i := 1; i < len(all); i++ {
			if netip.MustParseAddr(all[i-1]).Compare(netip.MustParseAddr(all[i])) >= 0 {
				t.Fatalf("not in address order: %s before %s", all[i-1], all[i])
			}
		}
		if all[0] != demoted {
			t.Errorf("first listed %s, want %s (IPv4 first, in order)", all[0], demoted)
		}
		if last.Drained != len(drained) || last.DrainLimit != 10_000 {
			t.Errorf("drained %d of limit %d, want %d of 10000", last.Drained, last.DrainLimit, len(drained))
		}

		onlyDrained, _ := listAll(t, s, url.Values{"state": {"drained"}}, 1000)
		if len(onlyDrained) != len(drained) {
			t.Errorf("state=drained listed %d, want %d", len(onlyDrained), len(drained))
		}
		onlyDemoted, _ := listAll(t, s, url.Values{"state": {"demoted"}}, 3)
		if len(onlyDemoted) != 1 || onlyDemoted[0] != demoted {
			t.Errorf("state=demoted listed %v, want [%s]", onlyDemoted, demoted)
		}
		v6, _ := listAll(t, s, url.Values{"prefix": {"2001:db8::/64"}}, 4)
		if len(v6) != 10 {
			t.Errorf("prefix 2001:db8::/64 listed %d (%v), want 10", len(v6), v6)
		}
		for _, a := range v6 {
			if !strings.HasPrefix(a, "2001:db8::") {
				t.Errorf("prefix 2001:db8::/64 listed %s", a)
			}
		}
		one, _ := listAll(t, s, url.Values{"prefix": {"198.51.100.199"}}, 5)
		if len(one) != 1 || one[0] != "198.51.100.199" {
			t.Errorf("prefix of one address listed %v", one)
		}

		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=nope", "cursor=" + url.QueryEscape("MTo="), "prefix=192.0.2.0/33", "prefix=example.com", "state=healthy"} {
			if code, body, _ := s.do(http.MethodGet, "/hosts?"+q, nil, nil); code != http.StatusBadRequest {
				t.Errorf("GET /hosts?%s: %d %s, want 400", q, code, body)
			}
		}
	})
}

// TestDrainLimit: drains beyond MXROUTE_DRAIN_LIMIT are refused with a
// 409 problem that says why, renewing a drain still works, and undraining
// makes room again.
func TestDrainLimit(t *testing.T) {
	hostsStores(t, func(t *testing.T, env map[string]string) {
		env["MXROUTE_DRAIN_LIMIT"] = "3"
		s := startServer(t, env)
		for i := range 3 {
			if code, body := drainAddr(s, fmt.Sprintf("192.0.2.%d", i+1)); code != http.StatusOK {
				t.Fatalf("drain %d: %d %s", i, code, body)
			}
		}
		code, body := drainAddr(s, "192.0.2.4")
		if code != http.StatusConflict || !strings.Contains(string(body), "MXROUTE_DRAIN_LIMIT") || !strings.Contains(string(body), "drain-limit") {
			t.Fatalf("drain beyond the limit: %d %s, want 409 naming the limit", code, body)
		}
		if h := s.host("192.0.2.4"); h.State != apigen.HostStateHealthy {
			t.Errorf("refused drain changed the state: %+v", h)
		}
		if code, body := drainAddr(s, "192.0.2.2"); code != http.StatusOK {
			t.Errorf("renewing a drain at the limit: %d %s, want 200", code, body)
		}
		var page apigen.HostList
		if s.getJSON("/hosts", &page); page.Drained != 3 || page.DrainLimit != 3 {
			t.Errorf("GET /hosts: drained %d of %d, want 3 of 3", page.Drained, page.DrainLimit)
		}
		if code, body, _ := s.do(http.MethodDelete, "/hosts/192.0.2.1/drain", nil, nil); code != http.StatusOK {
			t.Fatalf("undrain: %d %s", code, body)
		}
		if code, body := drainAddr(s, "192.0.2.4"); code != http.StatusOK {
			t.Errorf("drain after an undrain made room: %d %s", code, body)
		}
	})
}
