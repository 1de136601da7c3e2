package feedback

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sync implements Store, in one pipelined round trip: two pops of expired
// index members (tiny EVAL scripts), two index reads, the pending
// confirmations and the read of the counts.
func (s *RedisStore) Sync(ctx context.Context, now time.Time, p Policy) (Snapshot, error) {
	ms := now.UnixMilli()
	pipe := s.client.Pipeline()
	popDemoted := s.popExpired.Eval(ctx, pipe, []string{s.demotedKey}, ms)
	popDrained := s.popExpired.Eval(ctx, pipe, []string{s.drainedKey}, ms)
	rng := redis.ZRangeArgs{Start: "(" + strconv.FormatInt(ms, 10), Stop: "+inf", ByScore: true}
	rng.Key = s.demotedKey
	demoted := pipe.ZRangeArgsWithScores(ctx, rng)
	rng.Key = s.drainedKey
	drained := pipe.ZRangeArgsWithScores(ctx, rng)
	s.queueConfirmed(ctx, pipe, p)
	nDemoted, nConfirmed, nSeen := s.queueCounts(ctx, pipe, now, p)
	_, execErr := pipe.Exec(ctx)

	// Pops that succeeded are reported even if something else failed:
	// they are gone from Redis.
	snap := Snapshot{NonHealthy: map[netip.Addr]ViewEntry{}}
	for _, pop := range []struct {
		cmd   *redis.Cmd
		state State
		kind  TransitionKind
	}{{popDemoted, StateDemoted, TransitionExpired}, {popDrained, StateDrained, TransitionUndrained}} {
		v, err := pop.cmd.StringSlice()
		if err != nil {
			continue
		}
		for i := 0; i+1 < len(v); i += 2 {
			addr, err := netip.ParseAddr(v[i])
			if err != nil {
				continue
			}
			until, _ := strconv.ParseFloat(v[i+1], 64)
			snap.Ended = append(snap.Ended, Transition{Address: addr, Kind: pop.kind, From: pop.state, To: StateHealthy,
				At: time.UnixMilli(int64(until))})
		}
	}
	if execErr != nil {
		return snap, fmt.Errorf("redis sync: %w", execErr)
	}
	// Drained wins: read it last.
	for _, idx := range []struct {
		cmd   *redis.ZSliceCmd
		state State
	}{{demoted, StateDemoted}, {drained, StateDrained}} {
		for _, z := range idx.cmd.Val() {
			m, _ := z.Member.(string)
			addr, err := netip.ParseAddr(m)
			if err != nil {
				continue
			}
			snap.NonHealthy[addr] = ViewEntry{State: idx.state, Until: time.UnixMilli(int64(z.Score))}
		}
	}
	snap.BudgetExhausted = s.storeCounts(now, p, nDemoted.Val(), nConfirmed.Val(), nSeen.Val())
	snap.AtAddressLimit = nSeen.Val() >= int64(p.MaxAddresses)
	return snap, nil
}

// Host implements Store.
func (s *RedisStore) Host(ctx context.Context, addr netip.Addr, now time.Time, p Policy) (HostStatus, error) {
	st, err := s.statuses(ctx, []netip.Addr{addr}, now, p)
	if err != nil {
		return HostStatus{}, err
	}
	return st[0], nil
}

// Statuses implements Store.
func (s *RedisStore) Statuses(ctx context.Context, addrs []netip.Addr, now time.Time, p Policy) ([]HostStatus, error) {
	return s.statuses(ctx, addrs, now, p)
}

// Hosts implements Store.
func (s *RedisStore) Hosts(ctx context.Context, state State, now time.Time, p Policy) ([]HostStatus, error) {
	ms := now.UnixMilli()
	after := "(" + strconv.FormatInt(ms, 10)
	var keys []string
	switch state {
	case StateHealthy:
		keys = []string{s.seenKey}
		after = "(" + strconv.FormatInt(ms-p.BudgetWindow.Milliseconds(), 10)
	case StateDemoted:
		keys = []string{s.demotedKey}
	case StateDrained:
		keys = []string{s.drainedKey}
	default:
		keys = []string{s.demotedKey, s.drainedKey}
	}
	pipe := s.client.Pipeline()
	var cmds []*redis.StringSliceCmd
	for _, k := range keys {
		cmds = append(cmds, pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k, Start: after, Stop: "+inf", ByScore: true}))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis list %s: %w", stateLabel(state), err)
	}
	var addrs []netip.Addr
	listed := map[netip.Addr]struct{}{}
	for _, c := range cmds {
		for _, m := range c.Val() {
			a, err := netip.ParseAddr(m)
			if _, dup := listed[a]; err != nil || dup {
				continue
			}
			listed[a] = struct{}{}
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	all, err := s.statuses(ctx, addrs, now, p)
	if err != nil {
		return nil, err
	}
	var out []HostStatus
	for _, st := range all {
		// The index may lag the records by a moment: filter on the record.
		if st.State == state || (state == "" && st.State != StateHealthy) {
			out = append(out, st)
		}
	}
	return sortStatuses(out), nil
}

func stateLabel(s State) string {
	if s == "" {
		return "non-healthy"
	}
	return string(s)
}

// statuses reads the records of addrs in one pipeline (3 HGETALL each).
func (s *RedisStore) statuses(ctx context.Context, addrs []netip.Addr, now time.Time, p Policy) ([]HostStatus, error) {
	pipe := s.client.Pipeline()
	cmds := make([][3]*redis.MapStringStringCmd, len(addrs))
	for i, a := range addrs {
		for j, k := range s.addrKeys(a) {
			cmds[i][j] = pipe.HGetAll(ctx, k)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis read hosts: %w", err)
	}
	out := make([]HostStatus, len(addrs))
	pp := p.params()
	for i, a := range addrs {
		rec := decodeRecord(cmds[i][0].Val(), cmds[i][1].Val(), cmds[i][2].Val())
		out[i] = rec.status(a, now.UnixMilli(), pp)
	}
	return out, nil
}

// decodeRecord reads the hashes apply.lua writes into a record; fields it
// cannot parse read as zero (absent).
func decodeRecord(state, reps, counts map[string]string) *record {
	rec := newRecord()
	i64 := func(k string) int64 {
		v, _ := strconv.ParseInt(state[k], 10, 64)
		return v
	}
	rec.demotedAt, rec.demotedUntil = i64("da"), i64("du")
	rec.mult, rec.multAt = int(i64("m")), i64("ma")
	rec.drainedAt, rec.drainUntil = i64("xa"), i64("xu")
	rec.drainReason, rec.drainBy = state["xr"], state["xb"]
	rec.lastT = i64("lt")
	if ft := i64("ft"); ft != 0 {
		code, _ := strconv.Atoi(state["fc"])
		rec.lastFailure = &FailureDetail{
			Reporter: state["fr"], Host: state["fh"], Domain: state["fd"], Stage: Stage(state["fs"]),
			SMTPCode: code, EnhancedCode: state["fe"], At: time.UnixMilli(ft),
		}
	}
	for name, v := range reps {
		f := strings.Split(v, ",")
		if len(f) != 4 {
			continue
		}
		var n [4]int64
		for j := range f {
			n[j], _ = strconv.ParseInt(f[j], 10, 64)
		}
		rec.reporters = append(rec.reporters, namedReporter{name: name,
			reporterState: reporterState{fails: int(n[0]), lastFail: n[1], lastSucc: n[2], lastSignal: n[3]}})
	}
	for k, v := range counts {
		b, err := strconv.ParseInt(k, 10, 64)
		f, sc, ok := strings.Cut(v, ",")
		if err != nil || !ok {
			continue
		}
		nf, _ := strconv.Atoi(f)
		ns, _ := strconv.Atoi(sc)
		rec.buckets = append(rec.buckets, bucketCounts{index: b, failures: nf, successes: ns})
	}
	return rec
}
