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

// lastBudget is the verdict last read, for when the counts cannot be read
// (false if never read: fail open).
func (s *RedisStore) lastBudget() bool {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	return s.counts.exhausted
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
// for, returning the rest, the number of observations shed, the room
// reserved for the batch (to settle once ZADD says how many addresses it
// added) and the addresses evicted to make room (whose records the caller
// deletes). While the count leaves room for every address of the batch,
// known or not, it asks Redis nothing and reserves room for all. Otherwise
// one round trip finds the known addresses: in the seen set, or with a
// record (a demoted or drained address outlives its seen entry); new ones
// are admitted, and reserved, while room remains, and beyond it as far as
// their reporters' quota and evictable addresses allow (evictSource: one
// more round trip).
func (s *RedisStore) admit(ctx context.Context, groups []addrBatch, now time.Time, p Policy) (kept []addrBatch, shed int, r reservation, evicted []string, err error) {
	limit := int64(p.MaxAddresses)
	c := &s.counts
	c.mu.Lock()
	if n := int64(len(groups)); c.tracked+n <= limit {
		c.tracked += n
		r = reservation{n: n, read: c.reads}
		c.mu.Unlock()
		return groups, 0, r, nil, nil
	}
	c.mu.Unlock()

	known, err := s.known(ctx, groups)
	if err != nil {
		return nil, 0, r, nil, err
	}
	var full []int // new groups beyond the room, in order
	c.mu.Lock()
	r.read = c.reads
	admitted := make([]bool, len(groups))
	for i := range groups {
		switch {
		case known[i]:
			admitted[i] = true
		case c.tracked < limit:
			c.tracked++
			r.n++
			admitted[i] = true
		default:
			full = append(full, i)
		}
	}
	c.mu.Unlock()
	if len(full) > 0 && p.ReporterNewAddresses > 0 {
		if evicted, err = s.evict(ctx, groups, full, admitted, now, p); err != nil {
			return nil, 0, r, nil, err
		}
		c.mu.Lock()
		for _, i := range full {
			if admitted[i] {
				c.tracked++
				r.n++
			}
		}
		c.tracked -= int64(len(evicted))
		c.mu.Unlock()
	}
	for i, g := range groups {
		if !admitted[i] {
			shed += len(g.obs)
			continue
		}
		kept = append(kept, g)
	}
	return kept, shed, r, evicted, nil
}

// known asks Redis which of the groups' addresses it tracks.
func (s *RedisStore) known(ctx context.Context, groups []addrBatch) ([]bool, error) {
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
		return nil, fmt.Errorf("look up tracked addresses: %w", err)
	}
	out := make([]bool, len(groups))
	for i, sc := range scores.Val() {
		out[i] = sc != 0 || exists[i].Val() > 0
	}
	return out, nil
}

// evictSource makes room at the bound, atomically in the fleet slot: each
// reporter (a quota key in KEYS[5..], its wish in ARGV[5..]) is granted
// what is left of Policy.ReporterNewAddresses in its window, as far as
// evictable addresses go. An address is evictable when it is neither
// confirmed within BudgetWindow nor demoted nor drained; the least recently
// reported go first (the seen set's order), from at most ARGV[4] of them.
// It returns {victims, granted per reporter}. The memory store's twin is
// memory_bound.go.
//
// KEYS: seen, confirmed, demoted, drained, quota keys.
// ARGV: now, confirmed horizon, quota, window (ms), scan limit, wishes.
const evictSource = `
local now, horizon, q, window, scan = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local grant, want = {}, 0
for i = 5, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local g = math.max(math.min(tonumber(ARGV[i + 1]), q - used), 0)
  grant[#grant + 1] = g
  want = want + g
end
local victims = {}
if want > 0 then
  for _, a in ipairs(redis.call('ZRANGE', KEYS[1], 0, scan - 1)) do
    if #victims >= want then break end
    local c = tonumber(redis.call('ZSCORE', KEYS[2], a) or '0')
    local d = tonumber(redis.call('ZSCORE', KEYS[3], a) or '0')
    local x = tonumber(redis.call('ZSCORE', KEYS[4], a) or '0')
    if c <= horizon and d <= now and x <= now then victims[#victims + 1] = a end
  end
  if #victims > 0 then redis.call('ZREM', KEYS[1], unpack(victims)) end
end
local out, left = { victims }, #victims
for i, g in ipairs(grant) do
  g = math.min(g, left)
  left = left - g
  if g > 0 and redis.call('INCRBY', KEYS[i + 4], g) == g then redis.call('PEXPIRE', KEYS[i + 4], window) end
  out[#out + 1] = g
end
return out`

// evictScanPerWish bounds how many of the least recently reported
// addresses evictSource looks at per address it is asked to evict.
const evictScanPerWish = 4

// evict runs evictSource for the new groups listed in full, marking in
// admitted those their reporters' grants cover, and returns the evicted
// addresses.
func (s *RedisStore) evict(ctx context.Context, groups []addrBatch, full []int, admitted []bool, now time.Time, p Policy) ([]string, error) {
	var names []string
	wish := map[string]int{}
	for _, i := range full {
		name := groups[i].obs[0].Reporter
		if wish[name] == 0 {
			names = append(names, name)
		}
		wish[name]++
	}
	keys := []string{s.seenKey, s.confirmedKey, s.demotedKey, s.drainedKey}
	ms := now.UnixMilli()
	args := []any{ms, ms - p.BudgetWindow.Milliseconds(), p.ReporterNewAddresses, p.BudgetWindow.Milliseconds(),
		min(evictScanPerWish*len(full)+64, 4096)}
	for _, n := range names {
		keys = append(keys, s.quotaKey(n))
		args = append(args, wish[n])
	}
	v, err := s.evictScript.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("evict at the address bound: %w", err)
	}
	var victims []string
	if vs, ok := v[0].([]any); ok {
		for _, x := range vs {
			if a, ok := x.(string); ok {
				victims = append(victims, a)
			}
		}
	}
	granted := map[string]int64{}
	for j, n := range names {
		if j+1 < len(v) {
			granted[n], _ = v[j+1].(int64)
		}
	}
	for _, i := range full {
		name := groups[i].obs[0].Reporter
		if granted[name] > 0 {
			granted[name]--
			admitted[i] = true
		}
	}
	return victims, nil
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
