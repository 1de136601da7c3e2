package feedback

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Replay backoff while the store keeps failing: the first retry is quick
// (a blip), later ones wait up to ResyncInterval, so a dead store costs
// one failed call per interval rather than one per Submit.
const replayRetryMin = 100 * time.Millisecond

// Run does the background work until ctx is done, then returns nil:
// it subscribes to other replicas' transitions (shared stores only),
// resyncs the view every ResyncInterval and after each resubscription,
// and replays buffered reports, in order, as soon as the store answers.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	resubscribed := make(chan struct{}, 1)
	if s.push != nil {
		wg.Go(func() {
			s.push.Subscribe(ctx, s.pushed, func() {
				select {
				case resubscribed <- struct{}{}:
				default:
				}
			})
		})
	}
	tick := time.NewTicker(s.opts.ResyncInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := time.Duration(0) // > 0 while waiting to retry a failed replay

	replay := func() {
		more, err := s.replayOnce(ctx)
		switch {
		case err != nil && more:
			backoff = min(max(2*backoff, replayRetryMin), s.opts.ResyncInterval)
			retry.Reset(backoff)
		case more:
			backoff = 0
			s.wake()
		default:
			backoff = 0
			// Drained: files the spool still holds come next.
			if n, _ := s.LoadSpool(ctx); n > 0 {
				s.wake()
			}
		}
	}

	s.resync(ctx)
	replay()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.resync(ctx)
		case <-resubscribed:
			s.resync(ctx)
		case <-s.kick:
			if backoff == 0 {
				replay()
			}
		case <-retry.C:
			replay()
		}
	}
}

// wake asks the replay loop to run.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// pushed applies another replica's transition to the view.
func (s *Service) pushed(t Transition) {
	s.view.apply([]Transition{t}, s.now())
	s.observe([]Transition{t})
}

// resync replaces the view with the store's list of non-healthy addresses
// and counts the demotions and drains that ran out.
func (s *Service) resync(ctx context.Context) {
	started := s.now()
	sctx, cancel := s.storeCtx(ctx)
	snap, err := s.store.Sync(sctx, started, s.policy)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.storeFailed(ctx, "sync", err)
		}
		return
	}
	s.storeOK()
	s.budget.Store(snap.BudgetExhausted)
	s.noteLimit(ctx, snap.AtAddressLimit)
	s.view.replace(snap.NonHealthy, started, s.now())
	s.tel.recordTransitions(ctx, snap.Ended)
	s.observe(snap.Ended)
	for _, t := range snap.Ended {
		s.log.LogAttrs(ctx, slog.LevelInfo, "address "+string(t.Kind),
			slog.String("address", t.Address.String()), slog.Time("at", t.At))
	}
	if s.buf.Len() > 0 {
		s.wake()
	}
}

// storeCallUnit is the number of reports a store call from the buffer may
// carry per StoreTimeout of its deadline.
const storeCallUnit = 1000

// callTimeout bounds a store call carrying n reports: a call carrying
// several Submits' reports does several calls' work.
func (s *Service) callTimeout(n int) time.Duration {
	return s.opts.StoreTimeout * time.Duration(1+n/storeCallUnit)
}

// replayOnce sends the oldest buffered reports to the store, once no
// Submit is sending them. more reports whether reports remain buffered;
// err is the store's error (with more true when nothing was applied).
func (s *Service) replayOnce(ctx context.Context) (more bool, err error) {
	select {
	case s.applier <- struct{}{}:
	case <-ctx.Done():
		return s.buf.Len() > 0, ctx.Err()
	}
	defer func() { <-s.applier }()
	return s.applyFront(ctx)
}

// applyFront sends the oldest buffered reports to the store; the caller
// holds s.applier. What the store hands back goes back to the front, in
// Seq order, to be retried before anything newer.
func (s *Service) applyFront(ctx context.Context) (more bool, err error) {
	obs, pos := s.buf.peek(replayBatch)
	if len(obs) == 0 {
		return false, nil
	}
	s.rounds.begin(time.Now())
	defer s.rounds.end()
	ctx, span := s.tel.tracer.Start(ctx, "feedback.apply",
		trace.WithAttributes(attribute.Int("mxroute.feedback.reports", len(obs))))
	defer span.End()
	sctx, cancel := context.WithTimeout(ctx, s.callTimeout(len(obs)))
	applied, err := s.store.Apply(sctx, s.batch(obs))
	cancel()
	s.retrying.Store(err != nil && len(applied.Unapplied) > 0)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "store failed")
		if len(applied.Unapplied) == len(obs) {
			s.buf.unpeek()
			if ctx.Err() == nil {
				s.storeFailed(ctx, "apply", err)
			}
			return true, err
		}
	}
	s.buf.pop(pos, len(obs))
	s.afterApply(ctx, "apply", applied, err)
	if len(applied.Unapplied) > 0 {
		s.enqueue(ctx, inSeqOrder(applied.Unapplied), true)
	}
	return s.buf.Len() > 0, err
}

// inSeqOrder sorts what a store hands back (address by address) into the
// ring's order: the ring must stay in Seq order, and hold each batch in
// one piece.
func inSeqOrder(obs []Observation) []Observation {
	slices.SortFunc(obs, func(a, b Observation) int { return cmp.Compare(a.Seq, b.Seq) })
	return obs
}

// Flush replays every buffered report, retrying while the store fails,
// until the buffer is empty or ctx is done; with a spool configured it
// stops at the first failure instead (call Spill next). Call it at shutdown, with a
// fresh deadline, after the HTTP server stopped accepting reports.
func (s *Service) Flush(ctx context.Context) error {
	ctx, span := s.tel.tracer.Start(ctx, "feedback.flush",
		trace.WithAttributes(attribute.Int("mxroute.feedback.buffered", s.buf.Len())))
	defer span.End()
	delay := replayRetryMin
	for {
		more, err := s.replayOnce(ctx)
		if !more {
			return nil
		}
		if err == nil {
			continue
		}
		if s.spool != nil {
			// The spool keeps the rest (Spill): waiting out the store
			// would only hold the shutdown up.
			return fmt.Errorf("flush feedback: %d reports still buffered: %w", s.buf.Len(), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			err := fmt.Errorf("flush feedback: %d reports still buffered: %w", s.buf.Len(), ctx.Err())
			span.RecordError(err)
			span.SetStatus(codes.Error, "flush incomplete")
			return err
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}
