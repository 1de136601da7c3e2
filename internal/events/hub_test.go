package events

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback"
)

func tr(addr string, kind feedback.TransitionKind, at time.Time) feedback.Transition {
	return feedback.Transition{Address: netip.MustParseAddr(addr), Kind: kind, From: feedback.StateHealthy,
		To: feedback.StateDemoted, At: at, Until: at.Add(5 * time.Minute), Reporters: []string{"a", "b"}}
}

func TestPublishDedupesEchoes(t *testing.T) {
	h := New(Options{})
	s, err := h.Subscribe("c", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, at))
	// The same transition pushed back through Redis, at millisecond precision.
	h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, time.UnixMilli(at.UnixMilli())))
	h.Publish(tr("192.0.2.2", feedback.TransitionDemoted, at))
	if got := len(s.C()); got != 2 {
		t.Fatalf("queued %d events, want 2 (the echo dropped)", got)
	}
	ev := <-s.C()
	if ev.ID != 1 || ev.Address.String() != "192.0.2.1" || ev.At.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("first event = %+v", ev)
	}
	if got := h.Recent(netip.MustParseAddr("192.0.2.2"), 10); len(got) != 1 || got[0].ID != 2 {
		t.Fatalf("Recent(192.0.2.2) = %+v", got)
	}
}

func TestSlowStreamIsDroppedWithoutBlocking(t *testing.T) {
	h := New(Options{Queue: 4})
	slow, _ := h.Subscribe("slow", 0, false)
	fast, _ := h.Subscribe("fast", 0, false)
	done := make(chan struct{})
	got := 0
	go func() {
		defer close(done)
		for range fast.C() {
			got++
		}
	}()
	base := time.Now()
	for i := range 100 {
		h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, base.Add(time.Duration(i)*time.Second)))
		time.Sleep(100 * time.Microsecond)
	}
	if !h.Dropped(slow) {
		t.Fatal("the stream that never read was not dropped")
	}
	n := 0
	for range slow.C() { // closed after what it had queued
		n++
	}
	if n != 4 {
		t.Fatalf("dropped stream held %d events, want its queue of 4", n)
	}
	h.Unsubscribe(fast)
	<-done
	if h.Dropped(fast) || got < 90 {
		t.Fatalf("reading stream: dropped=%v, got %d of 100", h.Dropped(fast), got)
	}
	if st := h.Stats(); st.Streams != 0 || st.Dropped != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestMaxStreamsResumeAndClose(t *testing.T) {
	h := New(Options{MaxStreams: 2, Recent: 3})
	base := time.Now()
	for i := range 5 {
		h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, base.Add(time.Duration(i)*time.Second)))
	}
	a, err := h.Subscribe("a", 3, true) // the ring holds 3, 4 and 5
	if err != nil {
		t.Fatal(err)
	}
	if len(a.C()) != 2 {
		t.Fatalf("resumed after 3: %d events queued, want 2", len(a.C()))
	}
	if _, err := h.Subscribe("b", 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe("c", 0, false); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream: err = %v, want ErrTooManyStreams", err)
	}
	h.Close()
	for range a.C() {
	}
	if _, err := h.Subscribe("d", 0, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v", err)
	}
	if h.Dropped(a) {
		t.Fatal("closing is not dropping")
	}
}

// TestClientStreamsBound: one client gets MaxClientStreams streams and no
// more, whatever room the hub has; others are not held back; a stream
// ended any way (unsubscribed, dropped) gives its place back.
func TestClientStreamsBound(t *testing.T) {
	h := New(Options{MaxStreams: 10, MaxClientStreams: 2, Queue: 1})
	x1, err1 := h.Subscribe("x", 0, false)
	x2, err2 := h.Subscribe("x", 0, false)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := h.Subscribe("x", 0, false); !errors.Is(err, ErrTooManyClientStreams) {
		t.Fatalf("third stream of x: err = %v, want ErrTooManyClientStreams", err)
	}
	if _, err := h.Subscribe("y", 0, false); err != nil {
		t.Fatalf("y: %v", err)
	}
	h.Unsubscribe(x1)
	h.Unsubscribe(x1) // twice counts once
	if _, err := h.Subscribe("x", 0, false); err != nil {
		t.Fatalf("x after an unsubscribe: %v", err)
	}
	// Two events overflow every queue of one: all streams are dropped.
	base := time.Now()
	h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, base))
	h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, base.Add(time.Second)))
	if !h.Dropped(x2) {
		t.Fatal("x2 not dropped")
	}
	for range 2 {
		if _, err := h.Subscribe("x", 0, false); err != nil {
			t.Fatalf("x after its streams were dropped: %v", err)
		}
	}
	if st := h.Stats(); st.Streams != 2 {
		t.Fatalf("stats = %+v, want 2 open streams", st)
	}
}

// TestLifetimeEndsStream: a stream is closed, not dropped, within its
// lifetime and no earlier than nine tenths of it, and its place is free
// again.
func TestLifetimeEndsStream(t *testing.T) {
	const life = 300 * time.Millisecond
	h := New(Options{MaxClientStreams: 1, Lifetime: life})
	start := time.Now()
	s, err := h.Subscribe("x", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-s.C():
		if ok {
			t.Fatal("an event on an idle hub")
		}
	case <-time.After(life + 5*time.Second): // room for a loaded machine
		t.Fatal("the stream outlived its lifetime")
	}
	if d := time.Since(start); d < life*9/10 {
		t.Fatalf("stream ended after %s, before nine tenths of %s", d, life)
	}
	if h.Dropped(s) {
		t.Fatal("an expired stream is not a dropped one")
	}
	if _, err := h.Subscribe("x", 0, false); err != nil {
		t.Fatalf("after the stream expired: %v", err)
	}
}

// TestStartAndResumeFromNone: a stream's Start is the last id before it;
// resuming from 0 (a client that saw none) replays the ring, and not
// resuming replays nothing.
func TestStartAndResumeFromNone(t *testing.T) {
	h := New(Options{})
	s, _ := h.Subscribe("x", 0, false)
	if s.Start() != 0 {
		t.Fatalf("Start on a new hub = %d", s.Start())
	}
	base := time.Now()
	for i := range 2 {
		h.Publish(tr("192.0.2.1", feedback.TransitionDemoted, base.Add(time.Duration(i)*time.Second)))
	}
	fresh, _ := h.Subscribe("y", 0, false)
	resumed, _ := h.Subscribe("z", 0, true)
	if fresh.Start() != 2 || len(fresh.C()) != 0 || len(resumed.C()) != 2 {
		t.Fatalf("fresh: start %d, %d queued; resumed from 0: %d queued; want 2, 0, 2", fresh.Start(), len(fresh.C()), len(resumed.C()))
	}
}
