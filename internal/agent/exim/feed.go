package exim

import (
	"sync/atomic"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// Feed turns main log lines into reports and counts what it saw.
type Feed struct {
	plans *Plans
	loc   *time.Location

	reported, skipped, malformed atomic.Uint64
}

// FeedStats are the counters since start.
type FeedStats struct {
	Reported, Skipped, Malformed uint64
}

// NewFeed reads timestamps without a zone in loc (time.Local when nil) and
// fills host names and route ids from plans (may be nil).
func NewFeed(plans *Plans, loc *time.Location) *Feed {
	if loc == nil {
		loc = time.Local
	}
	return &Feed{plans: plans, loc: loc}
}

// Line returns the report for one log line, if it is an attempt.
func (f *Feed) Line(line []byte) (apigen.Report, bool) {
	a, kind := ParseLine(line, f.loc)
	switch kind {
	case Reported:
		f.reported.Add(1)
		return a.Report(f.plans), true
	case Skipped:
		f.skipped.Add(1)
	case Malformed:
		f.malformed.Add(1)
	}
	return apigen.Report{}, false
}

// Stats returns the counters.
func (f *Feed) Stats() FeedStats {
	return FeedStats{f.reported.Load(), f.skipped.Load(), f.malformed.Load()}
}
