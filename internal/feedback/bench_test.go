package feedback

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/redis/go-redis/v9"
)

// benchBatches builds batches of 100 reports over 20 addresses and 10
// reporters: mostly successes, some host failures, some neutral replies;
// enough failures to vote, too few reporters agreeing to demote often.
func benchBatches(n int) [][]Report {
	rnd := rand.New(rand.NewPCG(1, 1))
	out := make([][]Report, n)
	for i := range out {
		batch := make([]Report, 100)
		reporter := fmt.Sprintf("sender-%02d", rnd.IntN(10))
		for j := range batch {
			r := Report{
				Address: netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + rnd.IntN(20))}),
				Host:    "mx.example.org", Domain: "example.org", Reporter: reporter,
				Outcome: OutcomeSuccess, Stage: StageData, SMTPCode: 250, LatencyMS: 40,
			}
			switch x := rnd.IntN(100); {
			case x < 8:
				r.Outcome, r.Stage, r.SMTPCode = OutcomeFailure, StageConnect, 0
			case x < 15:
				r.Outcome, r.Stage, r.SMTPCode, r.EnhancedCode = OutcomeFailure, StageRcpt, 550, "5.1.1"
			}
			batch[j] = r
		}
		out[i] = batch
	}
	return out
}

// countingHook counts the commands the client sends, pipelined or not.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// commandCalls sums the calls of every command in INFO commandstats,
// except INFO itself, and returns the microseconds Redis spent in EVALSHA
// (the scripts, with the commands they call).
func commandCalls(b *testing.B, c redis.UniversalClient) (calls, scriptUsec int64) {
	b.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		f := strings.Split(rest, ",")
		n, _ := strconv.ParseInt(f[0], 10, 64)
		calls += n
		if name == "cmdstat_evalsha" && len(f) > 1 {
			us, _ := strconv.ParseInt(strings.TrimPrefix(f[1], "usec="), 10, 64)
			scriptUsec += us
		}
	}
	return calls, scriptUsec
}

// BenchmarkSubmitRedis measures Submit into a standalone redis-server:
// reports/s; commands the client sends per batch of 100 reports (a hook,
// pipelined commands counted one by one); and commands Redis executes per
// batch (INFO commandstats delta, which also counts the redis.call()s
// inside the scripts); Redis's time in the scripts per batch; and the
// memory of one address's keys at the end (MEMORY USAGE).
func BenchmarkSubmitRedis(b *testing.B) {
	srv := redistest.StartServer(b)
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			client := newRedisClient(b, srv.Addr())
			if err := client.FlushAll(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			svc, err := NewService(NewRedisStore(client, RedisOptions{}), Options{StoreTimeout: 2 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			batches := benchBatches(256)
			ctx := context.Background()
			if _, err := svc.Submit(ctx, batches[0]); err != nil { // loads the script
				b.Fatal(err)
			}
			before, beforeUsec := commandCalls(b, client)
			sent := &countingHook{}
			client.AddHook(sent)
			b.ResetTimer()
			if mode == "serial" {
				for i := range b.N {
					if _, err := svc.Submit(ctx, batches[i%len(batches)]); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1)
						if _, err := svc.Submit(ctx, batches[int(i)%len(batches)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			if st := svc.Status(); st.Buffered > 0 || st.Degraded {
				b.Fatalf("the store fell behind, results are not Redis's: %+v", st)
			}
			server, usec := commandCalls(b, client)
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "reports/s")
			b.ReportMetric(float64(sent.n.Load())/float64(b.N), "cmds/batch")
			b.ReportMetric(float64(server-before)/float64(b.N), "server-cmds/batch")
			b.ReportMetric(float64(usec-beforeUsec)/float64(b.N), "script-µs/batch")
			var perAddr int64
			for _, k := range NewRedisStore(client, RedisOptions{}).addrKeys(ip("203.0.113.1")) {
				n, _ := client.MemoryUsage(ctx, k, 0).Result() // 0: every element, not a sample
				perAddr += n
			}
			b.ReportMetric(float64(perAddr), "B/address")
		})
	}
}

// BenchmarkSubmitMemory is the single-instance baseline.
func BenchmarkSubmitMemory(b *testing.B) {
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{})
	if err != nil {
		b.Fatal(err)
	}
	batches := benchBatches(256)
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.Submit(context.Background(), batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "reports/s")
}

// BenchmarkStateOf measures the routing path's lookup with 1000
// non-healthy addresses in the view, half of the lookups hitting one.
func BenchmarkStateOf(b *testing.B) {
	svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{})
	if err != nil {
		b.Fatal(err)
	}
	var trans []Transition
	var probe []netip.Addr
	until := time.Now().Add(time.Hour)
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})
		trans = append(trans, Transition{Address: a, To: StateDemoted, Until: until})
		probe = append(probe, a, netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)}))
	}
	svc.view.apply(trans, time.Now())
	b.Run("serial", func(b *testing.B) {
		n := 0
		for i := range b.N {
			if svc.StateOf(probe[i%len(probe)]) != StateHealthy {
				n++
			}
		}
		if n == 0 {
			b.Fatal("no demoted address found")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_ = svc.StateOf(probe[i%len(probe)])
				i++
			}
		})
	})
}

// BenchmarkPropagation measures how long a demotion submitted through one
// replica takes to show in another replica's StateOf (push path), on a
// standalone redis-server.
func BenchmarkPropagation(b *testing.B) {
	srv := redistest.StartServer(b)
	p := DefaultPolicy()
	p.BudgetMin = 1 << 30
	mk := func() (*Service, func()) {
		svc, err := NewService(NewRedisStore(newRedisClient(b, srv.Addr()), RedisOptions{}),
			Options{Policy: p, StoreTimeout: 2 * time.Second, ResyncInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = svc.Run(ctx); close(done) }()
		for svc.view.load().synced.IsZero() {
			time.Sleep(time.Millisecond)
		}
		return svc, func() { cancel(); <-done }
	}
	a, stopA := mk()
	defer stopA()
	bb, stopB := mk()
	defer stopB()
	time.Sleep(100 * time.Millisecond) // let B's subscription settle
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		addr := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
		start := time.Now()
		demote(b, a, addr)
		for bb.StateOf(addr) != StateDemoted {
			if time.Since(start) > 5*time.Second {
				b.Fatalf("demotion of %s not seen by B within 5s", addr)
			}
			time.Sleep(20 * time.Microsecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/demotion-seen")
}

// BenchmarkMemoryDemotion measures one demotion (a store call whose
// failures from a quorum of reporters demote a fresh address) into a
// memory store already holding 0 or 50,000 demoted addresses, each
// confirmed: the budget is counted afresh for every demotion, so its cost
// must not grow with the others (issue 10: within 2x).
func BenchmarkMemoryDemotion(b *testing.B) {
	p := testPolicy()
	p.BudgetMin = 1_000_000 // never exhausted: every demotion goes through
	p.MaxAddresses = 1_000_000
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	demote := func(s *MemoryStore, a netip.Addr) {
		var obs []Observation
		for _, r := range []string{"r1", "r2"} {
			for range p.VoteFailures {
				obs = append(obs, Observation{Report: Report{Address: a, Reporter: r, Outcome: OutcomeFailure, Stage: StageConnect},
					Signal: SignalHostFailure, At: now})
			}
		}
		out, err := s.Apply(ctx, Batch{Now: now, Policy: p, Observations: obs})
		if err != nil || len(out.Transitions) != 1 {
			b.Fatalf("Apply = %+v, %v; want one demotion", out, err)
		}
	}
	for _, others := range []int{0, 50_000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			s := NewMemoryStore(MemoryOptions{PruneEvery: time.Hour})
			for i := range others {
				demote(s, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
			}
			b.ResetTimer()
			for i := range b.N {
				demote(s, netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}))
			}
		})
	}
}
