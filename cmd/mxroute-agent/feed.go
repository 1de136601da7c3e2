package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/mxroute/mxroute/internal/agent/logtail"
	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/agent/ratelog"
	"github.com/mxroute/mxroute/internal/agent/reports"
	"github.com/mxroute/mxroute/internal/apigen"
)

// feed follows an MTA log and posts the reports parse finds in it. The
// log position is saved only once the reports before it are settled, so a
// restart resumes after the last report mxroute has: none lost, none
// repeated. It returns when ctx ends, after posting what it can within
// the shutdown grace.
func feed(ctx context.Context, c *common, lt logtail.Config, parse func([]byte) []apigen.Report,
	client *mxclient.Client, log *slog.Logger, stats func() []any) error {
	warn := ratelog.New(log, ratelog.DefaultInterval, nil)
	commit := func(mark any) {
		if lt.StatePath == "" {
			return
		}
		if err := logtail.SaveState(lt.StatePath, mark.(logtail.Position)); err != nil {
			warn.Warn(context.Background(), "state", "saving the log position failed", "err", err)
		}
	}
	q := reports.New(reports.Config{MaxQueued: c.QueueMax, Interval: c.BatchInterval, Commit: commit}, client, log)
	f, err := logtail.Open(lt)
	if err != nil {
		return err
	}
	parserStats := stats
	stats = func() []any { return append(parserStats(), "long_lines_skipped", f.SkippedLongLines()) }
	posting, stopPosting := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { q.Run(posting); close(done) }()
	go logStats(posting, log, q, stats)

	err = f.Run(ctx, func(line []byte, pos logtail.Position) { q.Push(parse(line), pos) })
	stopPosting()
	<-done
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownGrace)
	defer cancel()
	if ferr := q.Flush(flushCtx); ferr != nil {
		log.Warn("reports left unposted at shutdown; they are re-read from the log at the next start",
			"pending", q.Stats().Pending, "err", ferr)
	}
	st := q.Stats()
	log.Info("feedback stopped", append([]any{"posted", st.Posted, "dropped", st.Dropped, "rejected", st.Rejected}, stats()...)...)
	return err
}

// logStats logs the counters once a minute while they change, so unknown
// lines and dropped reports are visible without metrics.
func logStats(ctx context.Context, log *slog.Logger, q *reports.Queue, stats func() []any) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var last reports.Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := q.Stats()
		if st == last {
			continue
		}
		last = st
		log.Info("feedback", append([]any{"queued", st.Queued, "posted", st.Posted, "dropped", st.Dropped,
			"rejected", st.Rejected, "pending", st.Pending}, stats()...)...)
	}
}
