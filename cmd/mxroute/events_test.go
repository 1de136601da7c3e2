package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

// sseReader reads transitions from a GET /events response.
type sseReader struct {
	resp   *http.Response
	events chan apigen.Transition
}

func openEvents(t *testing.T, s *testServer, header map[string]string) *sseReader {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/events", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := &sseReader{resp: resp, events: make(chan apigen.Transition, 64)}
	go func() {
		defer close(r.events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var tr apigen.Transition
				if err := json.Unmarshal([]byte(data), &tr); err != nil {
					t.Errorf("event data %q: %v", data, err)
					return
				}
				r.events <- tr
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return r
}

func (r *sseReader) next(t *testing.T, within time.Duration) apigen.Transition {
	t.Helper()
	select {
	case tr, ok := <-r.events:
		if !ok {
			t.Fatal("event stream ended")
		}
		return tr
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return apigen.Transition{}
}

// TestEventStreamAcrossReplicas: a console watching replica b sees, within
// a second, a demotion caused by reports sent to replica a (pushed through
// Redis), then a drain made on b itself, each once; /transitions keeps the
// history; the stream bound answers 503; and an open stream does not hold
// up shutdown.
func TestEventStreamAcrossReplicas(t *testing.T) {
	r := redistest.StartServer(t)
	env := map[string]string{"MXROUTE_REDIS_URL": "redis://" + r.Addr(), "MXROUTE_EVENT_STREAMS": "1"}
	a := startServer(t, env)
	b := startServer(t, env)
	stream := openEvents(t, b, nil)
	const bad = "172.16.10.1"
	for _, reporter := range []string{"node-a", "node-b"} {
		if code, body := a.post(reporter, batch(failure(bad), failure(bad), failure(bad))); code != http.StatusAccepted {
			t.Fatalf("POST /feedback: %d %s", code, body)
		}
	}
	tr := stream.next(t, time.Second)
	if tr.Address != bad || tr.Kind != apigen.TransitionKindDemoted || tr.To != apigen.HostStateDemoted || tr.Until == nil ||
		strings.Join(tr.Reporters, ",") != "node-a,node-b" {
		t.Fatalf("first event = %+v, want the demotion of %s by node-a and node-b", tr, bad)
	}
	if code, body, _ := b.do(http.MethodPost, "/hosts/172.16.10.2/drain", map[string]any{"duration_seconds": 60, "reason": "disk swap"}, nil); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	tr = stream.next(t, time.Second)
	if tr.Kind != apigen.TransitionKindDrained || tr.Reason == nil || *tr.Reason != "disk swap" {
		t.Fatalf("second event = %+v, want the drain", tr)
	}
	// b's own drain comes back through Redis: it is not sent twice.
	select {
	case tr := <-stream.events:
		t.Fatalf("unexpected event %+v", tr)
	case <-time.After(500 * time.Millisecond):
	}

	var list apigen.TransitionList
	if code := b.getJSON("/transitions?address="+bad, &list); code != http.StatusOK || len(list.Transitions) != 1 || list.Transitions[0].Kind != apigen.TransitionKindDemoted {
		t.Fatalf("GET /transitions?address=%s: %d %+v", bad, code, list)
	}
	if code, body, _ := b.do(http.MethodGet, "/transitions?limit=0", nil, nil); code != http.StatusBadRequest {
		t.Fatalf("limit=0: %d %s", code, body)
	}
	// The bound's 503 is the one 5xx the contract has here, so not
	// through do, which refuses any.
	resp, err := http.Get(b.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("second stream with MXROUTE_EVENT_STREAMS=1: %d %v", resp.StatusCode, resp.Header)
	}

	start := time.Now()
	b.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown with an open stream took %s", d)
	}
	for range stream.events {
	}
}
