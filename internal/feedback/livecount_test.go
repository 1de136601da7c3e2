package feedback

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestLiveCountMatchesScan: the live count equals a scan of every
// address's time, through random sets, removals and a horizon that moves
// forward.
func TestLiveCountMatchesScan(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	c := newLiveCount()
	ref := map[netip.Addr]int64{}
	horizon := int64(0)
	for step := range 20_000 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(rnd.IntN(200))})
		switch x := rnd.IntN(10); {
		case x < 6:
			tm := horizon + 1 + rnd.Int64N(1000)
			c.set(a, tm)
			ref[a] = tm
		case x < 7:
			c.set(a, 0)
			delete(ref, a)
		default:
			horizon += rnd.Int64N(50)
		}
		want := 0
		for _, tm := range ref {
			if tm > horizon {
				want++
			}
		}
		if got := c.after(horizon); got != want {
			t.Fatalf("step %d: after(%d) = %d, scan says %d", step, horizon, got, want)
		}
	}
}
