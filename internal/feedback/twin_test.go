package feedback

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// TestStoresAgree feeds the same random stream of reports, clock jumps,
// drains and undrains to a memory store and to Redis, and requires the
// same status for every address after every step: apply.lua must stay the
// exact twin of record.go, jitter included. Some store calls reach Redis
// twice, as a call whose reply was lost is replayed: the watermark must
// make the second a no-op.
func TestStoresAgree(t *testing.T) {
	srv := redistest.StartServer(t)
	p := DefaultPolicy()
	p.BudgetMin = 1000 // the Redis budget is cached: keep it out of the comparison
	mem := newHarness(t, NewMemoryStore(MemoryOptions{}), p)
	rec := &recordingStore{Store: NewRedisStore(newRedisClient(t, srv.Addr()), RedisOptions{})}
	red := newHarness(t, rec, p)
	red.clock = mem.clock
	red.svc.opts.Now = mem.clock.Now

	rnd := rand.New(rand.NewPCG(11, 12))
	addrs := []netip.Addr{ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"), ip("2001:db8::1")}
	stages := []Stage{StageConnect, StageTLS, StageGreeting, StageEHLO, StageMail, StageRcpt, StageData}
	replays := 0
	for step := range 1500 {
		switch x := rnd.IntN(100); {
		case x < 3:
			a := addrs[rnd.IntN(len(addrs))]
			d := time.Duration(1+rnd.IntN(600)) * time.Second
			_, err1 := mem.svc.Drain(mem.ctx, a, d, "r", "op")
			_, err2 := red.svc.Drain(red.ctx, a, d, "r", "op")
			if err1 != nil || err2 != nil {
				t.Fatalf("drain: %v %v", err1, err2)
			}
		case x < 6:
			a := addrs[rnd.IntN(len(addrs))]
			_, err1 := mem.svc.Undrain(mem.ctx, a)
			_, err2 := red.svc.Undrain(red.ctx, a)
			if err1 != nil || err2 != nil {
				t.Fatalf("undrain: %v %v", err1, err2)
			}
		case x < 20:
			mem.advance(time.Duration(rnd.IntN(120_000)) * time.Millisecond)
			red.svc.resync(red.ctx)
		default:
			var batch []Report
			for range 1 + rnd.IntN(6) {
				r := Report{
					Address:  addrs[rnd.IntN(len(addrs))],
					Reporter: fmt.Sprintf("r%d", rnd.IntN(6)),
					Stage:    stages[rnd.IntN(len(stages))],
					Outcome:  OutcomeFailure,
				}
				codes := []int{421, 450, 451, 550, 554} // a failure's replies
				if rnd.IntN(3) == 0 {
					r.Outcome = OutcomeSuccess
					codes = []int{220, 250, 354}
				}
				if rnd.IntN(2) == 0 {
					r.SMTPCode = codes[rnd.IntN(len(codes))]
				}
				if rnd.IntN(4) == 0 {
					r.ObservedAt = mem.clock.Now().Add(-time.Duration(rnd.IntN(400)) * time.Second)
				}
				batch = append(batch, r)
			}
			mem.submit(batch...)
			red.submit(batch...)
			if rnd.IntN(4) == 0 {
				replays++
				again := rec.last
				again.Jitter = nil // a no-op must not draw from the replica's jitter stream
				if _, err := rec.Store.Apply(red.ctx, again); err != nil {
					t.Fatalf("replay: %v", err)
				}
			}
		}
		for _, a := range addrs {
			m, r := describe(mem.host(a.String())), describe(red.host(a.String()))
			if m != r {
				t.Fatalf("step %d, %s:\nmemory %s\nredis  %s", step, a, m, r)
			}
			if ms, rs := mem.svc.StateOf(a), red.svc.StateOf(a); ms != rs {
				t.Fatalf("step %d, %s: StateOf memory %s, redis %s", step, a, ms, rs)
			}
		}
	}
	if replays == 0 {
		t.Fatal("no store call was replayed")
	}
}

// recordingStore keeps the last batch it applied, to apply it again.
type recordingStore struct {
	Store
	last Batch
}

func (r *recordingStore) Apply(ctx context.Context, b Batch) (Applied, error) {
	r.last = b
	return r.Store.Apply(ctx, b)
}

func describe(st HostStatus) string {
	lf := st.LastFailure
	st.LastFailure = nil
	st.Until = st.Until.UTC()
	out := fmt.Sprintf("%+v", st)
	if lf != nil {
		lf.At = lf.At.UTC()
		out += fmt.Sprintf(" last failure %+v", *lf)
	}
	return out
}
