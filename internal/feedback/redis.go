package feedback

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed apply.lua
var applySource string

// popExpiredSource atomically takes the members of an index whose end
// (score) is at or before ARGV[1]: whichever replica pops an expiry first
// reports it, so each is counted once fleet-wide.
const popExpiredSource = `
local m = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'WITHSCORES')
if #m > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
return m`

// RedisOptions configures a RedisStore.
type RedisOptions struct {
	// Prefix is the deployment's namespace: it starts every key and the
	// pub/sub channel, so that deployments sharing a Redis (another DB
	// number included: pub/sub ignores DB numbers) never see each other's
	// state or events. Braces are replaced by underscores (they would
	// change Cluster hash tags). Default "mxr"; cmd/mxroute passes
	// DefaultNamespace.
	Prefix string
	// BudgetRefresh is how often the fleet-wide budget counts are re-read
	// (they are also re-read after this replica demotes). Default 1s.
	BudgetRefresh time.Duration
}

// RedisStore keeps health records in Redis, shared by every replica.
// Build the client with ContextTimeoutEnabled so that the Service's
// StoreTimeout bounds each call.
//
// Keys (namespace "mxr", address 192.0.2.1):
//
//	mxr:{192.0.2.1}:s  hash   the address's state (demotion, drain, multiplier, last failure,
//	                          and per origin the highest Seq applied: the watermark)
//	mxr:{192.0.2.1}:r  hash   reporter -> consecutive failures and times
//	mxr:{192.0.2.1}:c  hash   failure/success counters per fifth of the window
//	mxr:{mxr}:seen         zset   address -> latest event time (Hosts(healthy), the address bound)
//	mxr:{mxr}:confirmed    zset   address -> latest event time with a quorum signalling (budget denominator)
//	mxr:{mxr}:demoted      zset   address -> demotion end (index for resync, budget numerator)
//	mxr:{mxr}:drained      zset   address -> drain end (index for resync)
//	mxr:{mxr}:quota:NAME   string new addresses reporter NAME brought in at the bound, this window
//	mxr:events         channel of transitions (JSON)
//
// The fleet-wide keys carry the namespace as their hash tag: one Cluster slot, so
// that evictSource can run on them atomically, and one master whose loss
// affects them all but no address's record.
//
// The per-address keys share a hash tag and are only touched by apply.lua;
// each gets a TTL on every write (record.expiresAt). The sorted sets get a
// TTL of their longest possible member life on every write.
//
// Apply is idempotent per observation and address: a call that times out
// may still run in Redis (it was written to the connection of a stalled
// or slow server, which runs it when it resumes), and the Service replays
// what it was handed back as Unapplied. Every observation carries the Seq
// its Service's buffer stamped (Batch.Origin names the Service), and each
// Service applies an address's observations in Seq order without gaps: so
// the state hash keeps, per origin, the highest Seq applied (field
// "w:<origin>", with the latest event time among them), and apply.lua
// skips the events at or below it. A watermark is dropped once its events
// have all left the vote window (plus KeyMargin, for clock skew between
// replicas): a replay after that finds its events too old to count anyway
// (groupByAddress keeps them only as "seen", and the seen set's ZADD GT is
// idempotent). An address therefore holds one field per Service instance
// that reported on it within the window, whatever the report rate.
//
// What the lost reply carried is lost with it: a demotion decided by a
// call whose reply never came is neither published nor logged by this
// replica; the replay's reply still has the state, so the index is
// updated, and every replica's next resync picks the demotion up.
type RedisStore struct {
	client        redis.UniversalClient
	prefix        string
	channel       string
	fleetPrefix   string
	seenKey       string
	confirmedKey  string
	demotedKey    string
	drainedKey    string
	budgetRefresh time.Duration
	apply         *redis.Script
	popExpired    *redis.Script
	evictScript   *redis.Script
	claimScript   *redis.Script

	counts fleetCounts
}

var (
	_ Store  = (*RedisStore)(nil)
	_ pusher = (*RedisStore)(nil)
)

// NewRedisStore returns a store over client: a *redis.Client (standalone
// or Sentinel failover) or a *redis.ClusterClient.
func NewRedisStore(client redis.UniversalClient, opts RedisOptions) *RedisStore {
	if opts.Prefix == "" {
		opts.Prefix = "mxr"
	}
	opts.Prefix = strings.NewReplacer("{", "_", "}", "_").Replace(opts.Prefix)
	fleet := opts.Prefix + ":{" + opts.Prefix + "}:"
	if opts.BudgetRefresh <= 0 {
		opts.BudgetRefresh = time.Second
	}
	return &RedisStore{
		client:        client,
		prefix:        opts.Prefix,
		channel:       opts.Prefix + ":events",
		fleetPrefix:   fleet,
		seenKey:       fleet + "seen",
		confirmedKey:  fleet + "confirmed",
		demotedKey:    fleet + "demoted",
		drainedKey:    fleet + "drained",
		budgetRefresh: opts.BudgetRefresh,
		apply:         redis.NewScript(applySource),
		popExpired:    redis.NewScript(popExpiredSource),
		evictScript:   redis.NewScript(evictSource),
		claimScript:   redis.NewScript(claimSource),
	}
}

// Kind implements Store.
func (s *RedisStore) Kind() string { return "redis" }

func (s *RedisStore) addrKeys(a netip.Addr) []string {
	tag := s.prefix + ":{" + a.String() + "}:"
	return []string{tag + "s", tag + "r", tag + "c"}
}

// quotaKey counts the new addresses reporter brought in at the bound.
func (s *RedisStore) quotaKey(reporter string) string { return s.fleetPrefix + "quota:" + reporter }

// DefaultNamespace is the namespace cmd/mxroute gives a RedisStore when the
// operator names none: the default prefix and the DB number, so that
// deployments in different DBs of one Redis stay apart on pub/sub too.
func DefaultNamespace(db int) string { return "mxr:db" + strconv.Itoa(db) }

// indexTTL outlives any member of the demoted and drained indexes.
func indexTTL(p Policy) time.Duration { return max(p.MaxDrain, p.MaxDemotion) + p.KeyMargin }

// scriptArgs builds ARGV for apply.lua up to the op arguments.
func scriptArgs(op string, now int64, canDemote bool, u float64, p Policy, extra int) []any {
	pp := p.params()
	demote := "0"
	if canDemote {
		demote = "1"
	}
	args := make([]any, 0, 15+extra)
	return append(args, op, now, demote, strconv.FormatFloat(u, 'g', -1, 64),
		pp.voteFailures, pp.voteTTL, pp.quorum, strconv.FormatFloat(pp.veto, 'g', -1, 64),
		pp.base, pp.max, pp.decay, pp.recovery, strconv.FormatFloat(pp.jitter, 'g', -1, 64),
		pp.bucket, pp.margin)
}

// Apply implements Store. Commands the client sends per batch touching A
// addresses with host signals, in one pipelined round trip (go-redis
// splits it per node in Cluster): A × EVALSHA, plus ZADD and PEXPIRE of the
// seen set, and of the confirmed set for the addresses earlier batches
// confirmed. Once per BudgetRefresh, one round trip before it reads the
// budget and the address count (ZCOUNT, 2 × ZREMRANGEBYSCORE and ZCARD).
// Only near Policy.MaxAddresses (the count read plus the addresses
// admitted since leave no room for every address of the batch), a round
// trip before it asks which addresses are known (ZMSCORE, A × EXISTS).
// Only when the batch changes a state or touches a non-healthy address,
// a follow-up round trip
// updates the indexes (ZREM/ZADD, PEXPIRE) and PUBLISHes each transition.
// Inside Redis each EVALSHA runs about 9 commands: 3 HGETALL, up to 3
// HSET and HDELs and 3 PEXPIRE, however many events it carries
// (BenchmarkSubmitRedis counts the commands per batch; docs/benchmarks.md
// §5). After a Redis restart, the addresses whose EVALSHA met NOSCRIPT
// are retried once after SCRIPT LOAD (on every master, in Cluster).
func (s *RedisStore) Apply(ctx context.Context, b Batch) (Applied, error) {
	all := b.Observations
	kept, dup, err := s.claim(ctx, b.Now, b.Policy, b.Observations)
	var keyed []Observation
	if err != nil {
		kept, keyed = holdKeyed(all)
	}
	b.Observations = kept
	out, aerr := s.applyClaimed(ctx, b)
	out.Duplicates = dup
	out.Unapplied = append(out.Unapplied, keyed...)
	return out, errors.Join(err, aerr)
}

// holdKeyed splits observations whose Idempotency-Key could not be
// claimed: batches with a key wait for the claim (buffered, replayed),
// and so does everything else on their addresses, since an address's
// observations must be applied in Seq order (the watermark would skip the
// held ones once a later one is applied). The other addresses need not
// wait.
func holdKeyed(all []Observation) (kept, held []Observation) {
	waiting := map[netip.Addr]bool{}
	for _, o := range all {
		if o.Once != "" {
			waiting[o.Address] = true
		}
	}
	for _, o := range all {
		if waiting[o.Address] {
			held = append(held, o)
		} else {
			kept = append(kept, o)
		}
	}
	return kept, held
}

// claimSource claims an Idempotency-Key (KEYS[1]) for batch ARGV[1] at
// ARGV[2] (ms) for ARGV[3] ms, unless another batch holds it still, and
// returns the holder. Expiry is judged by the caller's clock, as every
// time in the store is; the key's TTL only collects it.
const claimSource = `
local v = redis.call('GET', KEYS[1])
if v then
  local b, u = string.match(v, '^(.*)@(%d+)$')
  if b and tonumber(u) > tonumber(ARGV[2]) then return b end
end
redis.call('SET', KEYS[1], ARGV[1] .. '@' .. string.format('%d', tonumber(ARGV[2]) + tonumber(ARGV[3])), 'PX', ARGV[4])
return ARGV[1]`

// claim drops the observations of batches whose Idempotency-Key another
// batch claimed (claimOnce): one claimSource call per key and batch, in
// the fleet slot.
func (s *RedisStore) claim(ctx context.Context, now time.Time, p Policy, obs []Observation) ([]Observation, int, error) {
	type pair struct{ once, batch string }
	cmds := map[pair]*redis.Cmd{}
	var pipe redis.Pipeliner
	window := IdempotencyWindow.Milliseconds()
	for _, o := range obs {
		k := pair{o.Once, o.BatchID}
		if o.Once == "" || cmds[k] != nil {
			continue
		}
		if pipe == nil {
			pipe = s.client.Pipeline()
		}
		cmds[k] = s.claimScript.Eval(ctx, pipe, []string{s.fleetPrefix + "once:" + o.Once},
			o.BatchID, now.UnixMilli(), window, window+p.KeyMargin.Milliseconds())
	}
	if pipe == nil {
		return obs, 0, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("claim idempotency keys: %w", err)
	}
	kept, dup := claimOnce(obs, func(once, batch string) bool {
		held, _ := cmds[pair{once, batch}].Text()
		return held == batch
	})
	return kept, dup, nil
}

// applyClaimed is Apply after the idempotency claims.
func (s *RedisStore) applyClaimed(ctx context.Context, b Batch) (Applied, error) {
	groups := groupByAddress(b, true)
	if len(groups) == 0 {
		return Applied{}, nil
	}
	var errs []error
	exhausted, err := s.budget(ctx, b.Now, b.Policy)
	if err != nil {
		// The fleet-wide keys live in one slot, whose master may be
		// down while the addresses' own slots answer: fail open with
		// the last verdict read (a local estimate), so that one master
		// down does not stop the writes for every address.
		exhausted = s.lastBudget()
		errs = append(errs, fmt.Errorf("read budget (using the last verdict): %w", err))
	}
	groups, shed, reserved, evicted, err := s.admit(ctx, groups, b.Now, b.Policy)
	if err != nil {
		return Applied{Unapplied: b.Observations}, err
	}
	if len(groups) == 0 {
		return Applied{Shed: shed, BudgetExhausted: exhausted, AtAddressLimit: true}, nil
	}

	calls, members := s.buildCalls(b, groups, !exhausted)
	seen := s.execute(ctx, calls, members, evicted, b.Policy)
	out := Applied{Shed: shed}
	errs = append(errs, s.collect(ctx, calls, groups, seen, reserved, b, &out)...)
	out.BudgetExhausted = exhausted
	out.AtAddressLimit = s.atLimit(b.Policy)
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("redis apply: %w", err)
	}
	return out, nil
}

// applyCall is one address's EVALSHA of apply.lua in a batch.
type applyCall struct {
	g    *addrBatch
	keys []string
	args []any
	cmd  *redis.Cmd
}

// buildCalls builds the script call of each group with host signals, and
// the seen set's members for every group (Apply's first step).
func (s *RedisStore) buildCalls(b Batch, groups []addrBatch, canDemote bool) ([]applyCall, []redis.Z) {
	now := b.Now.UnixMilli()
	var calls []applyCall
	members := make([]redis.Z, 0, len(groups))
	for i := range groups {
		g := &groups[i]
		members = append(members, redis.Z{Score: float64(g.seen), Member: g.addr.String()})
		if len(g.events) == 0 {
			continue
		}
		u := 0.0
		if b.Jitter != nil {
			u = b.Jitter()
		}
		args := scriptArgs("apply", now, canDemote, u, b.Policy, 2+9*len(g.events))
		args = append(args, b.Origin, g.sequenced)
		for _, e := range g.events {
			if e.failure {
				args = append(args, e.t, e.reporter, "f", e.detail.Host, e.detail.Domain,
					string(e.detail.Stage), e.detail.SMTPCode, e.detail.EnhancedCode, e.seq)
			} else {
				args = append(args, e.t, e.reporter, "s", "", "", "", 0, "", e.seq)
			}
		}
		calls = append(calls, applyCall{g: g, keys: s.addrKeys(g.addr), args: args})
	}
	return calls, members
}

// execute sends the calls, the evicted addresses' deletions and the seen
// set's update in one pipeline, and retries once after SCRIPT LOAD the
// calls a restarted Redis answered NOSCRIPT (Apply's second step). It
// returns the seen set's ZADD; errors are per command.
func (s *RedisStore) execute(ctx context.Context, calls []applyCall, members []redis.Z, evicted []string, p Policy) *redis.IntCmd {
	pipe := s.client.Pipeline()
	for i := range calls {
		calls[i].cmd = s.apply.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
	}
	for _, a := range evicted {
		if addr, err := netip.ParseAddr(a); err == nil {
			pipe.Del(ctx, s.addrKeys(addr)...)
		}
	}
	seen := pipe.ZAddArgs(ctx, s.seenKey, redis.ZAddArgs{GT: true, Members: members})
	pipe.PExpire(ctx, s.seenKey, p.BudgetWindow+p.KeyMargin)
	s.queueConfirmed(ctx, pipe, p)
	_, _ = pipe.Exec(ctx) // errors are per command, inspected by collect

	var retry []int
	for i, c := range calls {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 && s.apply.Load(ctx, s.client).Err() == nil {
		pipe := s.client.Pipeline()
		for _, i := range retry {
			calls[i].cmd = s.apply.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	return seen
}

// collect reads the replies into out: transitions, what to hand back, the
// address count, confirmations, and the index updates and publications of
// the follow-up round trip (Apply's last step). It returns the errors.
func (s *RedisStore) collect(ctx context.Context, calls []applyCall, groups []addrBatch, seen *redis.IntCmd, reserved reservation, b Batch, out *Applied) []error {
	var errs []error
	if err := seen.Err(); err == nil {
		s.settle(reserved, seen.Val())
	} else {
		// Addresses with only neutral reports live in the seen set alone.
		for _, g := range groups {
			if len(g.events) == 0 {
				out.Unapplied = append(out.Unapplied, g.obs...)
			}
		}
		errs = append(errs, fmt.Errorf("record seen addresses: %w", err))
	}
	follow := newFollowUp(s, b.Policy, b.Now.UnixMilli())
	for _, c := range calls {
		res, err := parseScriptReply(c.cmd)
		if err != nil {
			out.Unapplied = append(out.Unapplied, c.g.obs...)
			errs = append(errs, fmt.Errorf("apply %s: %w", c.g.addr, err))
			continue
		}
		trans := res.transitions(c.g.addr)
		out.Transitions = append(out.Transitions, trans...)
		follow.add(c.g.addr, res, trans)
		if res.confirmed {
			s.confirm(c.g.addr, c.g.seen)
		}
	}
	if follow.demoted {
		s.invalidateBudget()
	}
	if err := follow.exec(ctx); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Drain implements Store.
func (s *RedisStore) Drain(ctx context.Context, addr netip.Addr, until time.Time, reason, by string, now time.Time, p Policy) ([]Transition, error) {
	args := append(scriptArgs("drain", now.UnixMilli(), false, 0, p, 3), until.UnixMilli(), reason, by)
	return s.runAdmin(ctx, addr, args, now, p)
}

// Undrain implements Store.
func (s *RedisStore) Undrain(ctx context.Context, addr netip.Addr, now time.Time, p Policy, jitter func() float64) ([]Transition, error) {
	exhausted, err := s.budget(ctx, now, p)
	if err != nil {
		return nil, fmt.Errorf("read budget: %w", err)
	}
	u := 0.0
	if jitter != nil {
		u = jitter()
	}
	return s.runAdmin(ctx, addr, scriptArgs("undrain", now.UnixMilli(), !exhausted, u, p, 0), now, p)
}

func (s *RedisStore) runAdmin(ctx context.Context, addr netip.Addr, args []any, now time.Time, p Policy) ([]Transition, error) {
	res, err := parseScriptReply(s.apply.Run(ctx, s.client, s.addrKeys(addr), args...))
	if err != nil {
		return nil, fmt.Errorf("redis %s %s: %w", args[0], addr, err)
	}
	trans := res.transitions(addr)
	follow := newFollowUp(s, p, now.UnixMilli())
	follow.add(addr, res, trans)
	if follow.demoted {
		s.invalidateBudget()
	}
	if err := follow.exec(ctx); err != nil {
		return trans, fmt.Errorf("redis %s %s: %w", args[0], addr, err)
	}
	return trans, nil
}

// scriptReply is apply.lua's answer for one address.
type scriptReply struct {
	state     State
	until     int64
	confirmed bool         // a quorum of reporters is signalling: counts for the budget
	trans     []Transition // without Address
}

func parseScriptReply(cmd *redis.Cmd) (scriptReply, error) {
	v, err := cmd.Slice()
	if err != nil {
		return scriptReply{}, err
	}
	if len(v) < 3 {
		return scriptReply{}, fmt.Errorf("script reply %v: too short", v)
	}
	var res scriptReply
	st, _ := v[0].(string)
	res.state = State(st)
	res.until, _ = v[1].(int64)
	confirmed, _ := v[2].(int64)
	res.confirmed = confirmed == 1
	if !validState(res.state) {
		return scriptReply{}, fmt.Errorf("script reply %v: bad state", v)
	}
	for _, x := range v[3:] {
		t, ok := x.([]any)
		if !ok || len(t) < 6 {
			return scriptReply{}, fmt.Errorf("script reply transition %v: malformed", x)
		}
		kind, _ := t[0].(string)
		from, _ := t[1].(string)
		at, _ := t[2].(int64)
		until, _ := t[3].(int64)
		reason, _ := t[5].(string)
		tr := Transition{Kind: TransitionKind(kind), From: State(from), At: time.UnixMilli(at), Reason: reason}
		tr.To = transitionTarget(tr.Kind)
		if until != 0 {
			tr.Until = time.UnixMilli(until)
		}
		names, _ := t[4].([]any)
		for _, n := range names {
			if s, ok := n.(string); ok {
				tr.Reporters = append(tr.Reporters, s)
			}
		}
		slices.Sort(tr.Reporters)
		res.trans = append(res.trans, tr)
	}
	return res, nil
}

func (r scriptReply) transitions(addr netip.Addr) []Transition {
	return withAddr(addr, r.trans)
}

func transitionTarget(k TransitionKind) State {
	switch k {
	case TransitionDemoted:
		return StateDemoted
	case TransitionDrained:
		return StateDrained
	}
	return StateHealthy
}

// followUp collects the index updates and publications of a batch: the
// indexes live in other Cluster slots than the addresses, so the script
// cannot write them. An address found demoted or drained is re-added to its
// index every time (ZADD is idempotent), which heals an index update lost
// to a crash between the two round trips.
type followUp struct {
	s        *RedisStore
	p        Policy
	now      int64
	removes  []indexOp
	adds     []indexOp
	payloads []string
	touched  map[string]bool
	demoted  bool
}

type indexOp struct {
	key, member string
	score       float64
}

func newFollowUp(s *RedisStore, p Policy, now int64) *followUp {
	return &followUp{s: s, p: p, now: now, touched: map[string]bool{}}
}

func (f *followUp) add(addr netip.Addr, res scriptReply, trans []Transition) {
	member := addr.String()
	for _, t := range trans {
		switch t.Kind {
		case TransitionRecovered, TransitionDrained:
			f.removes = append(f.removes, indexOp{key: f.s.demotedKey, member: member})
		case TransitionUndrained:
			f.removes = append(f.removes, indexOp{key: f.s.drainedKey, member: member})
		case TransitionDemoted:
			f.demoted = true
		}
		f.payloads = append(f.payloads, encodeTransition(t))
	}
	if res.until > f.now {
		key := f.s.demotedKey
		if res.state == StateDrained {
			key = f.s.drainedKey
		}
		f.adds = append(f.adds, indexOp{key: key, member: member, score: float64(res.until)})
		f.touched[key] = true
	}
}

// exec runs the collected commands in one pipeline, removals first so a
// recovery and a re-demotion in one batch leave the address indexed.
func (f *followUp) exec(ctx context.Context) error {
	if len(f.removes)+len(f.adds)+len(f.payloads) == 0 {
		return nil
	}
	pipe := f.s.client.Pipeline()
	for _, op := range f.removes {
		pipe.ZRem(ctx, op.key, op.member)
	}
	for _, op := range f.adds {
		pipe.ZAdd(ctx, op.key, redis.Z{Score: op.score, Member: op.member})
	}
	for key := range f.touched {
		pipe.PExpire(ctx, key, indexTTL(f.p))
	}
	for _, msg := range f.payloads {
		pipe.Publish(ctx, f.s.channel, msg)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("update index and publish: %w", err)
	}
	return nil
}
