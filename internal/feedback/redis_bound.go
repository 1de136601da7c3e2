package feedback

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file holds the Redis store's fleet-wide counts: the budget (demoted
// addresses against confirmed ones) and the address bound (addresses in
// the seen set against Policy.MaxAddresses). They live in sorted sets in
// Cluster slots of their own, which apply.lua may not touch, so they are
// read and written by plain commands in the batch's pipelines and cached
// for RedisOptions.BudgetRefresh.

// fleetCounts is the cache of the counts, and the confirmations waiting to
// be written.
type fleetCounts struct {
	mu        sync.Mutex
	at        time.Time // when the counts were read; zero: never, or invalidated
	exhausted bool
	// tracked is the seen set's size when read, plus the addresses this
	// replica added to it since (ZADD's count), plus those of batches
	// in flight (reserved by admit, settled when ZADD answers): a
	// replica cannot admit the same room twice between reads.
	tracked int64
	reads   uint64 // counts reads, so that a reservation made before one is not settled after it
	// pending holds the addresses apply.lua found confirmed (a quorum of
	// reporters signalling) and their latest event time. The script runs
	// in the address's slot and cannot write the confirmed set, and a
	// follow-up round trip per batch would double the calls, so they
	// ride along with the next pipeline (Apply, the budget read or Sync):
	// the budget's denominator lags by a batch or a resync, and loses
	// the confirmations of a pipeline that fails (the next report on the
	// address confirms it again).
	pending map[netip.Addr]int64
}

// budget returns whether new demotions are blocked, from a value read at
// most BudgetRefresh ago (by the store's clock, now).
func (s *RedisStore) budget(ctx context.Context, now time.Time, p Policy) (bool, error) {
	c := &s.counts
	c.mu.Lock()
	if !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < s.budgetRefresh {
		v := c.exhausted
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()
	pipe := s.client.Pipeline()
	s.queueConfirmed(ctx, pipe, p)
	demoted, confirmed, seen := s.queueCounts(ctx, pipe, now, p)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, err
	}
	return s.storeCounts(now, p, demoted.Val(), confirmed.Val(), seen.Val()), nil
}

// queueCounts queues the read of the counts: demoted addresses, confirmed
// ones and seen ones within BudgetWindow (forgetting older ones on the
// way, so that the sets' sizes are the counts).
func (s *RedisStore) queueCounts(ctx context.Context, pipe redis.Pipeliner, now time.Time, p Policy) (demoted, confirmed, seen *redis.IntCmd) {
	ms := now.UnixMilli()
	horizon := strconv.FormatInt(ms-p.BudgetWindow.Milliseconds(), 10)
	demoted = pipe.ZCount(ctx, s.demotedKey, "("+strconv.FormatInt(ms, 10), "+inf")
	pipe.ZRemRangeByScore(ctx, s.confirmedKey, "-inf", horizon)
	confirmed = pipe.ZCard(ctx, s.confirmedKey)
	pipe.ZRemRangeByScore(ctx, s.seenKey, "-inf", horizon)
	seen = pipe.ZCard(ctx, s.seenKey)
	return demoted, confirmed, seen
}

// storeCounts caches freshly read counts and returns the budget's verdict.
func (s *RedisStore) storeCounts(now time.Time, p Policy, demoted, confirmed, seen int64) bool {
	v := p.budgetExhausted(int(demoted), int(confirmed))
	c := &s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.exhausted, c.tracked = now, v, seen
	c.reads++
	return v
}

// invalidateBudget makes the next Apply read the counts again (after a
// demotion by this replica).
func (s *RedisStore) invalidateBudget() {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	s.counts.at = time.Time{}
}

// atLimit reports whether the address count has reached the bound.
func (s *RedisStore) atLimit(p Policy) bool {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	return s.counts.tracked >= int64(p.MaxAddresses)
}

// admit drops the groups about new addresses that the bound has no room
// for, returning the rest, the number of observations shed and the room
// reserved for the batch (to settle once ZADD says how many addresses it
// added). While the count leaves room for every address of the batch,
// known or not, it asks Redis nothing and reserves room for all. Otherwise
// one round trip finds the known addresses: in the seen set, or with a
// record (a demoted or drained address outlives its seen entry); new ones
// are admitted, and reserved, while room remains.
func (s *RedisStore) admit(ctx context.Context, groups []addrBatch, p Policy) (kept []addrBatch, shed int, r reservation, err error) {
	limit := int64(p.MaxAddresses)
	c := &s.counts
	c.mu.Lock()
	if n := int64(len(groups)); c.tracked+n <= limit {
		c.tracked += n
		r = reservation{n: n, read: c.reads}
		c.mu.Unlock()
		return groups, 0, r, nil
	}
	c.mu.Unlock()

	members := make([]string, len(groups))
	for i, g := range groups {
		members[i] = g.addr.String()
	}
	pipe := s.client.Pipeline()
	scores := pipe.ZMScore(ctx, s.seenKey, members...)
	exists := make([]*redis.IntCmd, len(groups))
	for i, g := range groups {
		exists[i] = pipe.Exists(ctx, s.addrKeys(g.addr)[0])
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, r, fmt.Errorf("look up tracked addresses: %w", err)
	}
	known := scores.Val()
	c.mu.Lock()
	defer c.mu.Unlock()
	kept, r.read = groups[:0], c.reads
	for i, g := range groups {
		switch {
		case known[i] != 0 || exists[i].Val() > 0:
		case c.tracked < limit:
			c.tracked++
			r.n++
		default:
			shed += len(g.obs)
			continue
		}
		kept = append(kept, g)
	}
	return kept, shed, r, nil
}

// reservation is the room admit counted for a batch's new addresses.
type reservation struct {
	n    int64
	read uint64 // fleetCounts.reads when made
}

// settle replaces a batch's reservation by the number of addresses its
// ZADD added to the seen set, unless the counts were read since: the read
// replaced the reservation, and may or may not hold the batch's addresses.
func (s *RedisStore) settle(r reservation, added int64) {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	if s.counts.reads == r.read {
		s.counts.tracked += added - r.n
	}
}

// confirm records that addr was found confirmed at event time t, to be
// written with the next pipeline.
func (s *RedisStore) confirm(addr netip.Addr, t int64) {
	c := &s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[netip.Addr]int64{}
	}
	c.pending[addr] = max(c.pending[addr], t)
}

// queueConfirmed queues the pending confirmations into pipe, taking them.
func (s *RedisStore) queueConfirmed(ctx context.Context, pipe redis.Pipeliner, p Policy) {
	c := &s.counts
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	members := make([]redis.Z, 0, len(pending))
	for addr, t := range pending {
		members = append(members, redis.Z{Score: float64(t), Member: addr.String()})
	}
	pipe.ZAddArgs(ctx, s.confirmedKey, redis.ZAddArgs{GT: true, Members: members})
	pipe.PExpire(ctx, s.confirmedKey, p.BudgetWindow+p.KeyMargin)
}
