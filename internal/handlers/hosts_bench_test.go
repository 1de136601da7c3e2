package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback"
)

// BenchmarkListHosts serves GET /hosts pages through the real router from
// a memory store holding 50,000 drained addresses (issue 10: "/hosts
// paginated answers under 50 ms at 50k"); docs/benchmarks.md has the
// figures.
func BenchmarkListHosts(b *testing.B) {
	const n = 50_000
	fb, err := feedback.NewService(feedback.NewMemoryStore(feedback.MemoryOptions{}), feedback.Options{DrainLimit: n})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		a := netip.AddrFrom4([4]byte{10, byte(8 + i/65536), byte(i / 256), byte(i)})
		if _, err := fb.Drain(ctx, a, time.Hour, "drainscale", "bench"); err != nil {
			b.Fatal(err)
		}
	}
	h := NewServer(Deps{Planner: fixedPlanner{}, Reports: fb, Hosts: fb, Checker: noChecker{}, Readiness: alwaysReady{}})
	for _, limit := range []int{100, 1000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/hosts?state=drained&limit=%d&cursor=%s", limit, encodeCursor(netip.MustParseAddr("10.8.100.0"))), nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
