package feedback

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSpoolOverflowAndShutdown: with a spool, what the full buffer drops
// and what Spill takes at shutdown are kept, whole batches, and a new
// Service loads them in order, as many as its buffer holds at a time.
func TestSpoolOverflowAndShutdown(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	newSvc := func() *Service {
		svc, err := NewService(NewMemoryStore(MemoryOptions{}), Options{BufferSize: 4, SpoolDir: dir, Now: newFakeClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a := newSvc()
	batch := func(id string, n int) []Observation {
		out := make([]Observation, n)
		for i := range out {
			out[i] = Observation{Report: connectFailure("192.0.2.1", "r1"), BatchID: id}
			out[i].LatencyMS = i
		}
		return out
	}
	a.enqueue(ctx, batch("b1", 3), false)
	a.enqueue(ctx, batch("b2", 3), false) // b1 goes to the spool whole
	if st := a.Status(); st.Buffered != 3 || st.Dropped != 0 {
		t.Fatalf("after overflow: %+v, want b2 buffered, nothing dropped", st)
	}
	kept, lost, err := a.Spill(ctx)
	if kept != 3 || lost != 0 || err != nil {
		t.Fatalf("Spill = %d kept, %d lost, %v; want 3, 0", kept, lost, err)
	}
	if _, err := a.Submit(ctx, []Report{connectFailure("192.0.2.1", "r1")}); !errors.Is(err, errShutDown) {
		t.Fatalf("Submit after Spill = %v, want it refused (the Service is done)", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "reports-*.jsonl"))
	if len(files) != 2 {
		t.Fatalf("spool files %v, want 2", files)
	}

	b := newSvc()
	if n, err := b.LoadSpool(ctx); n != 3 || err != nil {
		t.Fatalf("LoadSpool = %d, %v; want b1's 3 (b2 does not fit beside it)", n, err)
	}
	got, pos := b.buf.peek(10)
	if len(got) != 3 || got[0].BatchID != "b1" || got[2].LatencyMS != 2 || got[0].Address != ip("192.0.2.1") || got[0].Signal != "" && got[0].At.IsZero() {
		t.Fatalf("loaded %+v, want b1 in order", got)
	}
	b.buf.pop(pos, len(got)) // replayed
	if n, _ := b.LoadSpool(ctx); n != 3 {
		t.Fatalf("second LoadSpool = %d, want b2's 3", n)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
}
