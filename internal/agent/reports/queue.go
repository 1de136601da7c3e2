// Package reports queues attempt reports and posts them to mxroute in
// batches, once a second or as soon as a batch is full.
//
// The queue is bounded: while mxroute is unreachable it keeps the newest
// reports and drops the oldest, counting them, because recent outcomes say
// more about a host than old ones and a sending node must not grow without
// bound. A batch, once formed, is retried unchanged under the same
// Idempotency-Key until mxroute accepts or rejects it, so a retry after a
// lost response is applied once.
//
// Each push carries a mark (a log position, say). The queue calls Commit
// with a mark once every report pushed with it and before it has been
// accepted, rejected or dropped: the log follower saves its position then,
// and a restart resumes exactly after the last report mxroute has.
package reports

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/agent/ratelog"
	"github.com/mxroute/mxroute/internal/apigen"
)

// Defaults for Config.
const (
	DefaultMaxQueued  = 100_000
	DefaultBatchSize  = 1000 // the contract's maximum reports per request
	DefaultInterval   = time.Second
	DefaultMaxBackoff = 10 * time.Second
)

// Poster sends one batch; mxclient.Client is one.
type Poster interface {
	PostFeedback(ctx context.Context, key string, reports []apigen.Report) error
}

// Config bounds the queue.
type Config struct {
	MaxQueued  int
	BatchSize  int
	Interval   time.Duration
	MaxBackoff time.Duration
	// Commit is called, from the posting goroutine, with the newest mark
	// whose reports are all settled. May be nil.
	Commit func(mark any)
}

// Stats are the queue's counters since start.
type Stats struct {
	Queued, Posted, Dropped, Rejected uint64
	Pending                           int
}

type item struct {
	report *apigen.Report // nil: a mark with no report
	mark   any            // nil: not the last item of its push
}

// Queue is safe for concurrent Push.
type Queue struct {
	cfg    Config
	post   Poster
	log    *slog.Logger
	warn   *ratelog.Limiter
	wake   chan struct{}
	mu     sync.Mutex
	items  []item
	nrep   int // reports in items
	flight []item
	key    string

	queued, posted, dropped, rejected atomic.Uint64
}

// New returns a queue posting through p. Run must be called to post.
func New(cfg Config, p Poster, log *slog.Logger) *Queue {
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > DefaultBatchSize {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	return &Queue{cfg: cfg, post: p, log: log, warn: ratelog.New(log, ratelog.DefaultInterval, nil),
		wake: make(chan struct{}, 1)}
}

// Push queues reports with mark; an empty reports only advances the mark.
func (q *Queue) Push(reports []apigen.Report, mark any) {
	q.mu.Lock()
	if len(reports) == 0 {
		if mark != nil {
			q.pushMark(mark)
		}
		q.mu.Unlock()
		return
	}
	for i := range reports {
		it := item{report: &reports[i]}
		if i == len(reports)-1 {
			it.mark = mark
		}
		q.items = append(q.items, it)
	}
	q.nrep += len(reports)
	q.queued.Add(uint64(len(reports)))
	dropped := q.trim()
	full := q.nrep >= q.cfg.BatchSize
	q.mu.Unlock()
	if dropped > 0 {
		q.warn.Warn(context.Background(), "dropped", "report queue full: oldest reports dropped",
			"dropped_total", q.dropped.Load(), "max_queued", q.cfg.MaxQueued)
	}
	if full {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// pushMark records a mark with no report. With nothing queued or in
// flight it is settled already; otherwise it replaces a trailing mark-only
// item, so unknown lines never grow the queue.
func (q *Queue) pushMark(mark any) {
	if len(q.items) == 0 && q.flight == nil {
		if q.cfg.Commit != nil {
			q.cfg.Commit(mark)
		}
		return
	}
	if n := len(q.items); n > 0 && q.items[n-1].report == nil {
		q.items[n-1].mark = mark
		return
	}
	q.items = append(q.items, item{mark: mark})
}

// trim drops the oldest queued reports beyond MaxQueued. The newest mark
// among them is kept as a mark-only item, so settling still advances.
func (q *Queue) trim() int {
	excess := q.nrep - q.cfg.MaxQueued
	if excess <= 0 {
		return 0
	}
	var lastMark any
	n, i := 0, 0
	for ; i < len(q.items) && n < excess; i++ {
		if q.items[i].report != nil {
			n++
		}
		if q.items[i].mark != nil {
			lastMark = q.items[i].mark
		}
	}
	rest := q.items[i:]
	if lastMark != nil {
		rest = append([]item{{mark: lastMark}}, rest...)
	}
	q.items = append(q.items[:0:0], rest...)
	q.nrep -= n
	q.dropped.Add(uint64(n))
	return n
}

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	pending := q.nrep
	for _, it := range q.flight {
		if it.report != nil {
			pending++
		}
	}
	q.mu.Unlock()
	return Stats{Queued: q.queued.Load(), Posted: q.posted.Load(), Dropped: q.dropped.Load(),
		Rejected: q.rejected.Load(), Pending: pending}
}

// Run posts batches every Interval (sooner when a batch is full) until ctx
// ends. It returns without a final flush: call Flush with a deadline.
func (q *Queue) Run(ctx context.Context) {
	t := time.NewTicker(q.cfg.Interval)
	defer t.Stop()
	backoff := time.Duration(0)
	// retry is armed once per failed drain: ticks and wakes during the
	// backoff must not restart it, or a backoff of one interval or more
	// would never end.
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if backoff > 0 {
				continue
			}
		case <-q.wake:
			if backoff > 0 {
				continue
			}
		case <-retry:
		}
		backoff = q.next(backoff, q.drain(ctx))
		retry = nil
		if backoff > 0 {
			retry = time.After(backoff)
		}
	}
}

// next is the pause after a drain: none after success, else doubling from
// Interval up to MaxBackoff, or the server's Retry-After.
func (q *Queue) next(prev time.Duration, err error) time.Duration {
	if err == nil {
		return 0
	}
	var me *mxclient.Error
	if errors.As(err, &me) && me.RetryAfter > 0 {
		return min(me.RetryAfter, q.cfg.MaxBackoff)
	}
	return min(max(2*prev, q.cfg.Interval), q.cfg.MaxBackoff)
}

// Flush posts everything queued, retrying until ctx ends; it returns the
// last error when reports are left.
func (q *Queue) Flush(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		err := q.drain(ctx)
		if err == nil {
			return nil
		}
		backoff = q.next(backoff, err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(backoff, 200*time.Millisecond)):
		}
	}
}

// drain posts batches until the queue is empty or a post fails with a
// retryable error (the batch stays in flight for the next try).
func (q *Queue) drain(ctx context.Context) error {
	for {
		batch, reports := q.take()
		if batch == nil {
			return nil
		}
		err := q.post.PostFeedback(ctx, q.key, reports)
		if err != nil && mxclient.KindOf(err) == mxclient.Unavailable {
			q.warn.Warn(ctx, "post", "posting feedback failed; will retry", "err", err, "pending", len(reports))
			return err
		}
		if err != nil {
			q.rejected.Add(uint64(len(reports)))
			q.warn.Warn(ctx, "rejected", "mxroute rejected a feedback batch; dropped", "err", err, "reports", len(reports))
		} else {
			q.posted.Add(uint64(len(reports)))
		}
		q.settle(batch)
	}
}

// take returns the batch in flight, or forms a new one from the front of
// the queue. A batch of marks only is settled at once.
func (q *Queue) take() ([]item, []apigen.Report) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.flight == nil {
		if len(q.items) == 0 {
			return nil, nil
		}
		n, i := 0, 0
		for ; i < len(q.items) && n < q.cfg.BatchSize; i++ {
			if q.items[i].report != nil {
				n++
			}
		}
		// Take the trailing marks too: they settle with this batch.
		for i < len(q.items) && q.items[i].report == nil {
			i++
		}
		batch := append([]item(nil), q.items[:i]...)
		q.items = append(q.items[:0:0], q.items[i:]...)
		q.nrep -= n
		if n == 0 {
			q.commitLocked(batch)
			continue
		}
		q.flight, q.key = batch, newKey()
	}
	reports := make([]apigen.Report, 0, len(q.flight))
	for _, it := range q.flight {
		if it.report != nil {
			reports = append(reports, *it.report)
		}
	}
	return q.flight, reports
}

func (q *Queue) settle(batch []item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.flight, q.key = nil, ""
	q.commitLocked(batch)
	if len(q.items) > 0 && q.nrep == 0 {
		// Only marks are left: settled now that nothing is in flight.
		rest := q.items
		q.items = nil
		q.commitLocked(rest)
	}
}

func (q *Queue) commitLocked(items []item) {
	if q.cfg.Commit == nil {
		return
	}
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].mark != nil {
			q.cfg.Commit(items[i].mark)
			return
		}
	}
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
