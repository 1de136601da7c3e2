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
	s, err := h.Subscribe(0)
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
	slow, _ := h.Subscribe(0)
	fast, _ := h.Subscribe(0)
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
	a, err := h.Subscribe(3) // the ring holds 3, 4 and 5
	if err != nil {
		t.Fatal(err)
	}
	if len(a.C()) != 2 {
		t.Fatalf("resumed after 3: %d events queued, want 2", len(a.C()))
	}
	if _, err := h.Subscribe(0); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(0); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream: err = %v, want ErrTooManyStreams", err)
	}
	h.Close()
	for range a.C() {
	}
	if _, err := h.Subscribe(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v", err)
	}
	if h.Dropped(a) {
		t.Fatal("closing is not dropping")
	}
}
