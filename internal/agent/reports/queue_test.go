package reports

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/apigen"
)

// recorder is a Poster that fails the first failures calls with err.
type recorder struct {
	mu       sync.Mutex
	failures int
	err      error
	keys     []string
	batches  [][]apigen.Report
}

func (r *recorder) PostFeedback(_ context.Context, key string, reports []apigen.Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	if r.failures > 0 {
		r.failures--
		return r.err
	}
	r.batches = append(r.batches, append([]apigen.Report(nil), reports...))
	return nil
}

func rep(addr string) apigen.Report {
	return apigen.Report{Address: addr, Outcome: apigen.Success, Stage: apigen.Data}
}

type marks struct {
	mu  sync.Mutex
	got []any
}

func (m *marks) commit(v any) { m.mu.Lock(); m.got = append(m.got, v); m.mu.Unlock() }
func (m *marks) last() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.got) == 0 {
		return nil
	}
	return m.got[len(m.got)-1]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRetryKeepsBatchAndKey(t *testing.T) {
	r := &recorder{failures: 2, err: &mxclient.Error{Kind: mxclient.Unavailable, Status: http.StatusServiceUnavailable}}
	var m marks
	q := New(Config{Commit: m.commit}, r, quiet)
	q.Push([]apigen.Report{rep("192.0.2.1"), rep("192.0.2.2")}, 1)
	q.Push([]apigen.Report{rep("192.0.2.3")}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.keys) != 3 || r.keys[0] != r.keys[1] || r.keys[1] != r.keys[2] || r.keys[0] == "" {
		t.Errorf("keys %q, want the same non-empty key three times", r.keys)
	}
	if len(r.batches) != 1 || len(r.batches[0]) != 3 {
		t.Fatalf("batches %v, want one of 3", r.batches)
	}
	if m.last() != 2 {
		t.Errorf("last mark %v, want 2", m.last())
	}
	// Marks pushed before a report was accepted are never committed early.
	if st := q.Stats(); st.Posted != 3 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRejectedBatchSettlesAndCounts(t *testing.T) {
	r := &recorder{failures: 1, err: &mxclient.Error{Kind: mxclient.Rejected, Status: http.StatusBadRequest}}
	var m marks
	q := New(Config{Commit: m.commit}, r, quiet)
	q.Push([]apigen.Report{rep("192.0.2.1")}, "a")
	if err := q.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Rejected != 1 || st.Posted != 0 {
		t.Errorf("stats %+v, want 1 rejected", st)
	}
	if m.last() != "a" {
		t.Errorf("mark %v, want a", m.last())
	}
}

func TestBoundDropsOldestAndKeepsMarks(t *testing.T) {
	r := &recorder{}
	var m marks
	q := New(Config{MaxQueued: 3, Commit: m.commit}, r, quiet)
	for i := range 5 {
		q.Push([]apigen.Report{rep("192.0.2." + string(rune('1'+i)))}, i)
	}
	if st := q.Stats(); st.Dropped != 2 || st.Pending != 3 {
		t.Fatalf("stats %+v, want 2 dropped 3 pending", st)
	}
	if err := q.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.batches) != 1 || r.batches[0][0].Address != "192.0.2.3" {
		t.Errorf("batches %v, want the newest three", r.batches)
	}
	if m.last() != 4 {
		t.Errorf("mark %v, want 4", m.last())
	}
}

func TestMarkOnlyCommitsAtOnceWhenIdle(t *testing.T) {
	var m marks
	r := &recorder{failures: 1, err: &mxclient.Error{Kind: mxclient.Unavailable}}
	q := New(Config{Commit: m.commit}, r, quiet)
	q.Push(nil, "idle")
	if m.last() != "idle" {
		t.Fatalf("mark %v, want idle", m.last())
	}
	q.Push([]apigen.Report{rep("192.0.2.1")}, "r")
	q.Push(nil, "u1")
	q.Push(nil, "u2")
	if err := q.drain(context.Background()); err == nil {
		t.Fatal("first drain should fail")
	}
	if m.last() != "idle" {
		t.Fatalf("mark %v committed before its report was posted", m.last())
	}
	if err := q.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.last() != "u2" {
		t.Errorf("mark %v, want u2", m.last())
	}
}

func TestBatchSizeSplits(t *testing.T) {
	r := &recorder{}
	q := New(Config{BatchSize: 2}, r, quiet)
	q.Push([]apigen.Report{rep("192.0.2.1"), rep("192.0.2.2"), rep("192.0.2.3")}, nil)
	if err := q.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.batches) != 2 || len(r.batches[0]) != 2 || len(r.batches[1]) != 1 {
		t.Errorf("batches %v, want 2+1", r.batches)
	}
}

func TestRunPostsEveryInterval(t *testing.T) {
	r := &recorder{}
	q := New(Config{Interval: 10 * time.Millisecond}, r, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	q.Push([]apigen.Report{rep("192.0.2.1")}, nil)
	deadline := time.Now().Add(3 * time.Second)
	for q.Stats().Posted != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if q.Stats().Posted != 1 {
		t.Errorf("stats %+v, want 1 posted", q.Stats())
	}
}

// A failed post is retried after the backoff even though the interval
// ticker keeps firing: the ticks must not restart the backoff's timer.
func TestRunRetriesAfterBackoff(t *testing.T) {
	// The second failure backs off for two intervals, longer than a tick.
	r := &recorder{failures: 2, err: &mxclient.Error{Kind: mxclient.Unavailable}}
	q := New(Config{Interval: 20 * time.Millisecond, MaxBackoff: time.Second}, r, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	q.Push([]apigen.Report{rep("192.0.2.1")}, nil)
	deadline := time.Now().Add(3 * time.Second)
	for q.Stats().Posted != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if q.Stats().Posted != 1 {
		t.Errorf("stats %+v: the retry never came", q.Stats())
	}
}
