package feedback

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultBufferSize is Options.BufferSize's default: a few minutes of a
// large fleet's reports.
const DefaultBufferSize = 100_000

// Options configures a Service. Zero values mean the documented defaults.
type Options struct {
	// Policy holds the health model's thresholds; the zero Policy means
	// DefaultPolicy(). A non-zero Policy is used as given (so Jitter 0 can
	// be chosen) and must pass Policy.Validate.
	Policy Policy
	// BufferSize bounds the reports buffered while the store is
	// unreachable; beyond it the oldest are dropped and counted.
	// Default DefaultBufferSize.
	BufferSize int
	// ResyncInterval is how often the local view is re-read from the
	// store, healing pushes missed while disconnected. Default 2s.
	ResyncInterval time.Duration
	// ViewStaleAfter is how long a shared store's view is trusted without
	// a successful resync; after that StateOf says healthy for every
	// address (plain RFC order) rather than route on stale state.
	// Default 30s.
	ViewStaleAfter time.Duration
	// StoreTimeout bounds every store call, and a call from the buffer
	// once more per storeCallUnit reports it carries. Default 250ms. A
	// go-redis client only honours it with ContextTimeoutEnabled set.
	StoreTimeout time.Duration
	// OutageAfter is how long the store must go without answering any
	// call before Submit treats it as down and lets the whole buffer fill
	// (then drop, or spool): until then a store that fails or is slow is
	// overloaded, and batches are turned away once half the buffer waits,
	// so that senders keep them rather than the buffer dropping them.
	// Default DefaultOutageAfter.
	OutageAfter time.Duration
	// CoalesceWindow is the shortest time between two store calls while
	// Submits wait on each other: the reports they carry meanwhile go to
	// the store together, one script call per address, so the store's
	// cost follows the number of addresses, not the report rate. A lone
	// sender is never held back. Default DefaultCoalesceWindow.
	CoalesceWindow time.Duration
	// SpoolDir, when set, keeps buffered reports across restarts: what
	// the full buffer would drop and what it holds at shutdown are written
	// there, and LoadSpool replays them at the next start (spool.go).
	// Default "": none (they are dropped and counted).
	SpoolDir string
	// Undialable tells the addresses plans never contain (cmd/mxroute
	// passes the planner's never-dial filter, MXROUTE_IGNORE_NETWORKS):
	// a report about one is refused with a *FieldError, so a client
	// cannot fill the store with addresses that could never be routed to.
	// Default: none beyond the unspecified address (Report.ValidateAt).
	Undialable func(netip.Addr) bool
	// DrainLimit bounds how many addresses may be drained at once; a
	// drain beyond it fails with a *DrainLimitError. Default
	// DefaultDrainLimit.
	DrainLimit int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is the source of demotion jitter. Default: a randomly seeded one.
	Rand rand.Source
	// Logger receives transitions and store outages. Default: discard.
	Logger *slog.Logger
	// TracerProvider and MeterProvider default to no-ops.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// OnTransition, when set, is called with every transition the local
	// view applies: this replica's own, those pushed by other replicas
	// (a shared store also pushes our own back, so expect repeats), and
	// the demotions and drains a resync finds ended. It runs on the
	// caller's goroutine (a request or the background loop) and must not
	// block: an event stream hands it to a bounded queue.
	OnTransition func(Transition)
}

// DefaultOutageAfter is Options.OutageAfter's default: longer than a full
// store call may take and than the resync interval, so a store that is
// slow but alive answers something within it.
const DefaultOutageAfter = 5 * time.Second

// DefaultCoalesceWindow is Options.CoalesceWindow's default: a few
// round trips, short against the second within which the fleet must see
// a demotion.
const DefaultCoalesceWindow = 10 * time.Millisecond

// replayBatch is how many buffered reports one store call sends: enough
// for a busy window of many senders, and a full buffer in about ten
// calls; the call's deadline grows with it (storeCallUnit). A call ends at
// the end of a Submit batch (ring.peek), so it may send up to one batch
// more.
const replayBatch = 10000

// Service ingests feedback into a Store and keeps the replica-local view
// of non-healthy addresses that routing reads.
type Service struct {
	store  Store
	push   pusher // nil unless the store is shared with other replicas
	opts   Options
	policy Policy
	log    *slog.Logger
	tel    *telemetry

	created time.Time
	view    *healthView
	buf     *ring
	budget  atomic.Bool
	kick    chan struct{} // wakes the replay loop; capacity 1
	applier chan struct{} // held by the one caller sending the buffer to the store; capacity 1
	rounds  rounds        // signals the end of each store call from the buffer
	health  storeHealth
	// committing counts the Submits waiting for their reports to reach
	// the store, joined all that ever did (pace); retrying is set while a store call from the buffer
	// failed and Run retries with backoff.
	committing atomic.Int32
	joined     atomic.Uint64 // Submits that started waiting, ever
	retrying   atomic.Bool
	contact    atomic.Int64 // unix ns of the last store call that answered (Options.Now); 0: none
	answered   atomic.Int64 // the same on the wall clock, for OutageAfter

	// The address bound: whether the store is at Policy.MaxAddresses, the
	// reports shed since the start, and when noteLimit last warned (unix
	// ns; 0: never).
	atLimit     atomic.Bool
	shed        atomic.Uint64
	limitLogged atomic.Int64

	// Batch ids are this instance's random name and a sequence number:
	// unique across replicas and restarts without coordination. The name
	// is also the Batch.Origin of the buffer's Seqs (the Redis store keeps
	// a watermark per origin and address for a vote window).
	instance string
	batchSeq atomic.Uint64

	// The spool (nil without Options.SpoolDir); reports the full buffer
	// spooled and lost since the start.
	spool          *spool
	spilled, lost  atomic.Uint64
	spillErrLogged atomic.Bool

	randMu sync.Mutex
	rnd    *rand.Rand
}

// pusher is a store shared between replicas: it pushes every replica's
// transitions to every other. Subscribe blocks until ctx is done, calling
// onResubscribe each time the subscription is (re)established, when
// pushes may have been missed.
type pusher interface {
	Subscribe(ctx context.Context, onTransition func(Transition), onResubscribe func())
}

// Status is the Service's health, for readiness probes.
type Status struct {
	// Store is "memory" or "redis".
	Store string
	// Degraded is true while the store is unreachable, reports are
	// buffered, the view is stale, or the store holds
	// Policy.MaxAddresses addresses (reports about new ones are shed).
	Degraded bool
	// Detail says why, one line per condition (also informational lines
	// such as an exhausted budget or dropped reports).
	Detail []string
	// Buffered is the number of reports waiting for the store.
	Buffered int
	// Dropped counts reports dropped from a full buffer since the start.
	Dropped uint64
	// BudgetExhausted is true while new demotions are blocked.
	BudgetExhausted bool
	// AtAddressLimit is true while the store holds Policy.MaxAddresses
	// addresses, as of the last store call.
	AtAddressLimit bool
	// Shed counts reports dropped since the start because they were
	// about new addresses at the bound.
	Shed uint64
	// ViewAge is the time since the last successful resync of a shared
	// store's view; 0 for the memory store.
	ViewAge time.Duration
	// Answered is false until a shared store has answered once (its first
	// resync); always true for the memory store. Readiness must not call
	// a store ok that has never been heard from.
	Answered bool
}

// NewService returns a Service over store. Call Run for background work
// (pushes, resync, replay) and Flush at shutdown.
func NewService(store Store, opts Options) (*Service, error) {
	if store == nil {
		return nil, errors.New("feedback: nil store")
	}
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	s := &Service{
		store:   store,
		opts:    opts,
		policy:  opts.Policy,
		log:     opts.Logger,
		view:    newHealthView(),
		buf:     newRing(opts.BufferSize),
		kick:    make(chan struct{}, 1),
		applier: make(chan struct{}, 1),
		rnd:     rand.New(opts.Rand),
	}
	s.push, _ = store.(pusher)
	if opts.SpoolDir != "" {
		s.spool = &spool{dir: opts.SpoolDir}
	}
	s.created = opts.Now()
	var nonce [9]byte
	_, _ = cryptorand.Read(nonce[:]) // never fails (crypto/rand documents it)
	s.instance = base64.RawURLEncoding.EncodeToString(nonce[:])
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider, s)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	s.tel = tel
	return s, nil
}

func (s *Service) now() time.Time { return s.opts.Now() }

// withDefaults fills the zero Options fields with their documented
// defaults and checks the Policy.
func withDefaults(opts Options) (Options, error) {
	if opts.Policy == (Policy{}) {
		opts.Policy = DefaultPolicy()
	}
	if err := opts.Policy.Validate(); err != nil {
		return opts, err
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 2 * time.Second
	}
	if opts.ViewStaleAfter <= 0 {
		opts.ViewStaleAfter = 30 * time.Second
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 250 * time.Millisecond
	}
	if opts.CoalesceWindow <= 0 {
		opts.CoalesceWindow = DefaultCoalesceWindow
	}
	if opts.OutageAfter <= 0 {
		opts.OutageAfter = DefaultOutageAfter
	}
	if opts.DrainLimit <= 0 {
		opts.DrainLimit = DefaultDrainLimit
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return opts, nil
}

// newBatchID names the reports of one Submit call, the unit of an
// Idempotency-Key claim.
func (s *Service) newBatchID() string {
	return s.instance + "." + strconv.FormatUint(s.batchSeq.Add(1), 36)
}

// jitter draws from [-1, 1).
func (s *Service) jitter() float64 {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rnd.Float64()*2 - 1
}

func (s *Service) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.StoreTimeout)
}

// Submit ingests a batch of reports. Callers validate first (Submit checks
// again and rejects the whole batch with a *FieldError if one is invalid).
// Submit never fails for a store problem and waits at most as long as a
// full store call may take (callTimeout(replayBatch) plus CoalesceWindow:
// commit): the batch goes to the bounded buffer, and to the store with
// whatever other Submits buffered meanwhile; when the store errs or is
// slow, it stays there for Run to replay in order; accepted is
// then still len(reports). So it is for reports the store sheds because
// they are about new addresses beyond Policy.MaxAddresses: the sender
// could do nothing about it, so only Status and a metric say so. Each
// report gets a Seq in the buffer, which it keeps through every replay, so
// that the store counts it once even when a call that timed out did reach
// it (the spool aside: spool.go). It fails with an *OverloadedError when
// the buffer fills faster than an answering store takes it, and after
// Spill.
func (s *Service) Submit(ctx context.Context, reports []Report) (accepted int, err error) {
	return s.SubmitOnce(ctx, "", reports)
}

// maxIdempotencyKey bounds an Idempotency-Key, as api/openapi.yaml does.
const maxIdempotencyKey = 128

// SubmitOnce is Submit for a batch named by its sender's idempotency key
// ("" for none): the fleet applies the reports of one reporter's key at
// most once within IdempotencyWindow, however often the sender retries and
// through whichever replica. A repeat is accepted like the first (the
// sender needs no other answer) and applies nothing.
func (s *Service) SubmitOnce(ctx context.Context, key string, reports []Report) (accepted int, err error) {
	once, err := onceKey(key, reports)
	if err != nil {
		return 0, err
	}
	if err := s.admit(); err != nil {
		return 0, err
	}
	now := s.now()
	id := s.newBatchID()
	obs := make([]Observation, len(reports))
	var failures, successes, neutral int64
	for i, r := range reports {
		if err := r.ValidateAt(now); err != nil {
			return 0, fmt.Errorf("report %d: %w", i, err)
		}
		r.Address = normalAddr(r.Address)
		if s.opts.Undialable != nil && s.opts.Undialable(r.Address) {
			return 0, fmt.Errorf("report %d: %w", i, &FieldError{Field: "address",
				Reason: fmt.Sprintf("%s is in a network plans never dial (MXROUTE_IGNORE_NETWORKS)", r.Address)})
		}
		at := r.ObservedAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		sig := Classify(r)
		switch sig {
		case SignalHostFailure:
			failures++
		case SignalHostSuccess:
			successes++
		default:
			neutral++
		}
		obs[i] = Observation{Report: r, Signal: sig, At: at, BatchID: id, Once: once}
	}
	s.countReports(ctx, failures, successes, neutral)
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(
			attrReporter.String(reporterAttr(reports)),
			attrHostFailures.Int64(failures), attrHostSuccesses.Int64(successes), attrNeutral.Int64(neutral))
	}
	if len(obs) == 0 {
		return 0, nil
	}
	// Every report goes through the buffer, in order: reports already
	// waiting go first (replaying in order keeps each reporter's
	// consecutive-failure counting right), and the store sees each
	// address's reports in Seq order, as its watermark needs.
	mark := s.buffer(ctx, obs)
	// The store call must not be cut short by the client going away: the
	// reports are accepted either way.
	if !s.commit(context.WithoutCancel(ctx), mark) {
		span.SetAttributes(attrBuffered.Bool(true))
	}
	return len(reports), nil
}

// OverloadedError is a batch turned away because reports arrive faster
// than the store, which still answers (if slowly), takes them: half the
// buffer is waiting. The sender keeps the batch and retries after RetryAfter; the
// rest of the buffer stays for store outages, when accepting and
// replaying later is the point.
type OverloadedError struct {
	Buffered, Limit int
	RetryAfter      time.Duration
}

func (e *OverloadedError) Error() string {
	return fmt.Sprintf("feedback overloaded: %d reports waiting for the store (limit %d while it answers)", e.Buffered, e.Limit)
}

// overloadRetryAfter is what an OverloadedError asks a sender to wait: a
// few store calls' worth of draining.
const overloadRetryAfter = time.Second

// errShutDown refuses a batch after Spill: the Service is done.
var errShutDown = errors.New("feedback: shut down, reports are no longer taken")

// admitLimit is how many buffered reports turn batches away while the
// store answers: half the buffer, the other half being for outages.
func (s *Service) admitLimit() int { return s.opts.BufferSize / 2 }

// admit refuses a batch once half the buffer waits for the store, unless
// the store is down (failing, and no call answered for OutageAfter): the
// whole buffer is for outages. A store that answers, even slowly, is
// overloaded, and buffering for it would only end in dropping reports.
func (s *Service) admit() error {
	if s.buf.isClosed() {
		return errShutDown
	}
	limit := s.admitLimit()
	n := s.buf.Len()
	if n < limit || (s.retrying.Load() && s.down()) {
		return nil
	}
	return &OverloadedError{Buffered: n, Limit: limit, RetryAfter: overloadRetryAfter}
}

// down reports whether no store call answered for OutageAfter.
func (s *Service) down() bool {
	last := s.answered.Load()
	return last == 0 || time.Since(time.Unix(0, last)) >= s.opts.OutageAfter
}

// onceKey validates an Idempotency-Key and scopes it by the batch's
// reporter (a POST comes from one reporter), so two senders' keys never
// collide: the reporter's length, the reporter and the key.
func onceKey(key string, reports []Report) (string, error) {
	if key == "" {
		return "", nil
	}
	if len(key) > maxIdempotencyKey || strings.IndexFunc(key, func(r rune) bool { return r < '!' || r > '~' }) >= 0 {
		return "", &FieldError{Field: "Idempotency-Key", Reason: fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", maxIdempotencyKey)}
	}
	reporter := ""
	if len(reports) > 0 {
		reporter = reports[0].Reporter
	}
	return strconv.Itoa(len(reporter)) + ":" + reporter + ":" + key, nil
}

func (s *Service) batch(obs []Observation) Batch {
	return Batch{Now: s.now(), Policy: s.policy, Observations: obs, Jitter: s.jitter, Origin: s.instance}
}

// afterApply records what an Apply did: transitions into the view,
// metrics and span events, the budget, and the store's health.
func (s *Service) afterApply(ctx context.Context, op string, a Applied, err error) {
	if err != nil {
		s.storeFailed(ctx, op, err)
	} else {
		s.storeOK()
		s.budget.Store(a.BudgetExhausted)
		s.noteLimit(ctx, a.AtAddressLimit)
	}
	if a.Shed > 0 {
		s.shed.Add(uint64(a.Shed))
		s.tel.shed.Add(ctx, int64(a.Shed))
	}
	s.noteTransitions(ctx, a.Transitions)
}

// limitLogEvery spaces the warnings about reaching Policy.MaxAddresses: a
// store kept at its bound by a flood dips below it whenever addresses
// expire, and would otherwise warn every second.
const limitLogEvery = time.Minute

// noteLimit records whether the store is at Policy.MaxAddresses, and warns
// when it reaches it (at most once per limitLogEvery) rather than per shed
// report; Status tells whether it still is.
func (s *Service) noteLimit(ctx context.Context, at bool) {
	if s.atLimit.Swap(at) || !at {
		return
	}
	now := s.now().UnixNano()
	last := s.limitLogged.Load()
	if (last != 0 && now-last < limitLogEvery.Nanoseconds()) || !s.limitLogged.CompareAndSwap(last, now) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "health store at its address limit; reports about new addresses are shed",
		slog.Int("max_addresses", s.policy.MaxAddresses), slog.Uint64("shed_since_start", s.shed.Load()))
}

func (s *Service) noteTransitions(ctx context.Context, trans []Transition) {
	if len(trans) == 0 {
		return
	}
	s.view.apply(trans, s.now())
	s.tel.recordTransitions(ctx, trans)
	s.observe(trans)
	for _, t := range trans {
		s.log.LogAttrs(ctx, slog.LevelInfo, "address "+string(t.Kind),
			slog.String("address", t.Address.String()), slog.String("from", string(t.From)),
			slog.String("to", string(t.To)), slog.Time("until", t.Until), slog.Any("reporters", t.Reporters))
	}
}

// observe hands transitions to Options.OnTransition.
func (s *Service) observe(trans []Transition) {
	if s.opts.OnTransition == nil {
		return
	}
	for _, t := range trans {
		s.opts.OnTransition(t)
	}
}

// buffer buffers new observations (stamping their Seq) and returns the
// last Seq.
func (s *Service) buffer(ctx context.Context, obs []Observation) uint64 {
	last, dropped := s.buf.push(obs)
	s.overflow(ctx, dropped)
	return last
}

// enqueue buffers observations and wakes the replay loop: new ones at the
// back, or those a store call handed back at the front.
func (s *Service) enqueue(ctx context.Context, obs []Observation, front bool) {
	if front {
		s.overflow(ctx, s.buf.pushFront(obs))
	} else {
		s.buffer(ctx, obs)
	}
	s.wake()
}

func (s *Service) countReports(ctx context.Context, failures, successes, neutral int64) {
	for _, c := range []struct {
		sig Signal
		n   int64
	}{{SignalHostFailure, failures}, {SignalHostSuccess, successes}, {SignalNeutral, neutral}} {
		if c.n > 0 {
			s.tel.reports.Add(ctx, c.n, metric.WithAttributes(attribute.String("classification", string(c.sig))))
		}
	}
}

// reporterAttr names the reporter of a batch: a POST comes from one
// reporter; a mixed batch (a test, a relay) lists them.
func reporterAttr(reports []Report) string {
	if len(reports) == 0 {
		return ""
	}
	first := reports[0].Reporter
	var others []string
	for _, r := range reports[1:] {
		if r.Reporter != first && len(others) < 8 {
			others = append(others, r.Reporter)
		}
	}
	if len(others) == 0 {
		return first
	}
	return first + "," + strings.Join(others, ",")
}

// StateOf is the state of addr in the local view: no I/O, no lock. A
// demotion or drain ends by the clock. For a shared store whose view has
// not been resynced for ViewStaleAfter, every address is healthy, so
// routing falls back to plain RFC order instead of stale state.
func (s *Service) StateOf(addr netip.Addr) State {
	v := s.view.load()
	if v.len() == 0 {
		return StateHealthy
	}
	now := s.now()
	if s.viewStale(v, now) {
		return StateHealthy
	}
	return v.stateAt(normalAddr(addr), now)
}

// viewStale reports whether a shared store's view is too old to route
// on: no resync succeeded and no store call at all answered within
// ViewStaleAfter. A store that answers other calls while resyncs fail
// (one slow index read, a shard failing over) still delivers this
// replica's own transitions and the others' pushes, so its view is kept;
// only a store that has really been unreachable for that long is not
// trusted.
func (s *Service) viewStale(v *viewSnap, now time.Time) bool {
	if s.push == nil {
		return false
	}
	last := s.contact.Load()
	if !v.synced.IsZero() {
		last = max(last, v.synced.UnixNano())
	}
	return last == 0 || now.UnixNano()-last > s.opts.ViewStaleAfter.Nanoseconds()
}

// Host reads the status of one address from the store.
func (s *Service) Host(ctx context.Context, addr netip.Addr) (HostStatus, error) {
	if !addr.IsValid() {
		return HostStatus{}, &FieldError{Field: "address", Reason: "missing or not an IP address"}
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	st, err := s.store.Host(sctx, normalAddr(addr), s.now(), s.policy)
	if err != nil {
		s.storeFailed(ctx, "host", err)
		return HostStatus{}, fmt.Errorf("read host %s: %w", addr, err)
	}
	return st, nil
}

// Hosts lists the addresses in state, sorted; "" lists every non-healthy
// address; StateHealthy lists the healthy addresses reported on within
// Policy.BudgetWindow.
func (s *Service) Hosts(ctx context.Context, state State) ([]HostStatus, error) {
	if state != "" && !validState(state) {
		return nil, &FieldError{Field: "state", Reason: fmt.Sprintf("%q is not healthy, demoted or drained", state)}
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	list, err := s.store.Hosts(sctx, state, s.now(), s.policy)
	if err != nil {
		s.storeFailed(ctx, "hosts", err)
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	return list, nil
}

// Drain takes addr out of rotation for d (Policy.MinDrain..MaxDrain), on
// behalf of operator by. A drain wins over a demotion and replaces it.
func (s *Service) Drain(ctx context.Context, addr netip.Addr, d time.Duration, reason, by string) (HostStatus, error) {
	switch {
	case !addr.IsValid() || addr.IsUnspecified():
		return HostStatus{}, &FieldError{Field: "address", Reason: "missing or not a host address"}
	case d < s.policy.MinDrain || d > s.policy.MaxDrain:
		return HostStatus{}, &FieldError{Field: "duration", Reason: fmt.Sprintf("%s is outside %s..%s", d, s.policy.MinDrain, s.policy.MaxDrain)}
	}
	addr = normalAddr(addr)
	if err := s.checkDrainLimit(addr); err != nil {
		return HostStatus{}, err
	}
	now := s.now()
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	trans, err := s.store.Drain(sctx, addr, now.Add(d), reason, by, now, s.policy)
	if err != nil {
		s.storeFailed(ctx, "drain", err)
		return HostStatus{}, fmt.Errorf("drain %s: %w", addr, err)
	}
	s.noteTransitions(ctx, trans)
	return s.statusAfter(ctx, addr)
}

// Undrain ends a drain of addr. The address is healthy again unless live
// votes demote it at once. Undraining an address that is not drained does
// nothing.
func (s *Service) Undrain(ctx context.Context, addr netip.Addr) (HostStatus, error) {
	if !addr.IsValid() {
		return HostStatus{}, &FieldError{Field: "address", Reason: "missing or not an IP address"}
	}
	addr = normalAddr(addr)
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	trans, err := s.store.Undrain(sctx, addr, s.now(), s.policy, s.jitter)
	if err != nil {
		s.storeFailed(ctx, "undrain", err)
		return HostStatus{}, fmt.Errorf("undrain %s: %w", addr, err)
	}
	s.noteTransitions(ctx, trans)
	return s.statusAfter(ctx, addr)
}

func (s *Service) statusAfter(ctx context.Context, addr netip.Addr) (HostStatus, error) {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	st, err := s.store.Host(sctx, addr, s.now(), s.policy)
	if err != nil {
		s.storeFailed(ctx, "host", err)
		return HostStatus{}, fmt.Errorf("read host %s after change: %w", addr, err)
	}
	return st, nil
}

// Status reports the Service's health; it does no I/O.
func (s *Service) Status() Status {
	now := s.now()
	st := Status{
		Store:           s.store.Kind(),
		Buffered:        s.buf.Len(),
		Dropped:         s.lost.Load(),
		BudgetExhausted: s.budget.Load(),
		AtAddressLimit:  s.atLimit.Load(),
		Shed:            s.shed.Load(),
		Answered:        true,
	}
	if failing, op, since, err := s.health.get(); failing {
		st.Degraded = true
		st.Detail = append(st.Detail, fmt.Sprintf("%s store failing since %s (%s: %v)",
			st.Store, since.UTC().Format(time.RFC3339), op, err))
	}
	if st.Buffered > 0 {
		st.Degraded = true
		st.Detail = append(st.Detail, fmt.Sprintf("%d reports buffered for replay", st.Buffered))
	}
	if s.push != nil {
		v := s.view.load()
		if v.synced.IsZero() {
			st.Answered = false
			st.ViewAge = now.Sub(s.created)
		} else {
			st.ViewAge = now.Sub(v.synced)
		}
		if s.viewStale(v, now) {
			st.Degraded = true
			st.Detail = append(st.Detail, fmt.Sprintf("health view not resynced for %s: routes use plain RFC order", st.ViewAge.Round(time.Second)))
		}
	}
	switch {
	case st.AtAddressLimit:
		// Routing still works (unknown addresses are healthy), but the
		// fleet's reports about new hosts go unheard.
		st.Degraded = true
		st.Detail = append(st.Detail, fmt.Sprintf("health state holds its limit of %d addresses: reports about new addresses are shed (%d since start)",
			s.policy.MaxAddresses, st.Shed))
	case st.Shed > 0:
		st.Detail = append(st.Detail, fmt.Sprintf("%d reports about new addresses shed at the limit of %d addresses since start",
			st.Shed, s.policy.MaxAddresses))
	}
	if n := s.spilled.Load(); n > 0 {
		st.Detail = append(st.Detail, fmt.Sprintf("%d reports from a full buffer kept in the spool for the next start", n))
	}
	if st.Dropped > 0 {
		st.Detail = append(st.Detail, fmt.Sprintf("%d reports dropped from a full buffer since start", st.Dropped))
	}
	if st.BudgetExhausted {
		st.Detail = append(st.Detail, "demotion budget exhausted: no new demotions")
	}
	if d := s.view.load().drained; 10*d >= 9*s.opts.DrainLimit {
		st.Detail = append(st.Detail, fmt.Sprintf("%d addresses drained, the drain limit is %d", d, s.opts.DrainLimit))
	}
	return st
}

// storeHealth tracks whether the store answers, for Status and for
// logging outages once rather than per call.
type storeHealth struct {
	mu      sync.Mutex
	failing bool
	op      string
	err     error
	since   time.Time // start of the current failure
}

func (h *storeHealth) get() (bool, string, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failing, h.op, h.since, h.err
}

func (s *Service) storeFailed(ctx context.Context, op string, err error) {
	s.tel.storeErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("op", op)))
	s.health.mu.Lock()
	first := !s.health.failing
	if first {
		s.health.failing = true
		s.health.since = s.now()
	}
	s.health.op, s.health.err = op, err
	s.health.mu.Unlock()
	if first {
		s.log.LogAttrs(ctx, slog.LevelWarn, "health store failing; buffering reports",
			slog.String("store", s.store.Kind()), slog.String("op", op), slog.Any("error", err))
	}
}

func (s *Service) storeOK() {
	s.contact.Store(s.now().UnixNano())
	s.answered.Store(time.Now().UnixNano())
	s.health.mu.Lock()
	was := s.health.failing
	s.health.failing, s.health.err = false, nil
	since := s.health.since
	s.health.mu.Unlock()
	if was {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "health store answering again",
			slog.String("store", s.store.Kind()), slog.Duration("outage", s.now().Sub(since)))
	}
}
