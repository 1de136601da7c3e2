package feedback

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// The footprint tests measure what one tracked address costs in each
// store in the flood Policy.MaxAddresses guards against: one reporter, one
// host failure per address, with host and domain names held the way a
// decoded request holds them (a string each per report; the last failure
// keeps them). They fail when the cost grows well past what the package
// documentation promises for the default bound.

// floodBatches returns n reports about n distinct addresses in batches of
// 1000, with names of nameLen bytes.
func floodBatches(n, nameLen int) [][]Report {
	var out [][]Report
	for i := range n {
		if i%1000 == 0 {
			out = append(out, make([]Report, 0, 1000))
		}
		name := func(kind string) string {
			s := fmt.Sprintf("%s%d.example.com", kind, i)
			for pad := nameLen - len(s) - 1; pad > 0; pad = nameLen - len(s) - 1 { // labels of at most 63 bytes
				s = strings.Repeat("x", min(pad, 63)) + "." + s
			}
			return s
		}
		out[len(out)-1] = append(out[len(out)-1], Report{
			Address: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Outcome: OutcomeFailure, Stage: StageConnect, Reporter: "flood",
			Host: name("mx"), Domain: name("d"),
		})
	}
	return out
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestMemoryFootprint(t *testing.T) {
	const n = 20_000
	for _, tc := range []struct {
		nameLen int
		limit   uint64
	}{{20, 700}, {255, 1300}} {
		store := NewMemoryStore(MemoryOptions{})
		h := newHarness(t, store, testPolicy())
		before := heapAlloc()
		batches := floodBatches(n, tc.nameLen) // the names a decoded request would hold
		for _, b := range batches {
			h.submit(b...)
		}
		batches = nil
		per := (heapAlloc() - before) / n
		runtime.KeepAlive(h)
		if len(store.addrs) != n {
			t.Fatalf("%d addresses tracked, want %d", len(store.addrs), n)
		}
		t.Logf("memory store, %d-byte names: %d bytes per tracked address", tc.nameLen, per)
		if per > tc.limit {
			t.Errorf("memory store, %d-byte names: %d bytes per address, want at most %d", tc.nameLen, per, tc.limit)
		}
	}
}

func TestRedisFootprint(t *testing.T) {
	const n = 5000
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	ctx := context.Background()
	usedMemory := func() uint64 {
		info, err := client.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory in INFO memory")
		return 0
	}
	for _, tc := range []struct {
		prefix  string
		nameLen int
		limit   uint64
	}{{"short", 20, 1400}, {"long", 255, 3200}} {
		store := NewRedisStore(client, RedisOptions{Prefix: tc.prefix})
		h := newHarness(t, store, testPolicy())
		before := usedMemory()
		for _, b := range floodBatches(n, tc.nameLen) {
			h.submit(b...)
		}
		per := (usedMemory() - before) / n
		// MEMORY USAGE of one address's keys, and its share of the seen set.
		var keys uint64
		for _, k := range store.addrKeys(netip.AddrFrom4([4]byte{10, 0, 0, 7})) {
			v, err := client.MemoryUsage(ctx, k).Result()
			if err != nil {
				t.Fatalf("MEMORY USAGE %s: %v", k, err)
			}
			keys += uint64(v)
		}
		seen, err := client.MemoryUsage(ctx, store.seenKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("redis, %d-byte names: used_memory grows %d bytes per address; MEMORY USAGE of its keys %d, seen set %d per member",
			tc.nameLen, per, keys, uint64(seen)/n)
		if per > tc.limit {
			t.Errorf("redis, %d-byte names: %d bytes per address, want at most %d", tc.nameLen, per, tc.limit)
		}
	}
}
