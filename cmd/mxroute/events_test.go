package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
	err    error  // why the stream ended, set before events is closed
	lastID string // the last id: line, set before events is closed
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
		defer func() { r.err = sc.Err() }()
		lastID := ""
		defer func() { r.lastID = lastID }()
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				lastID = id
			}
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

// eventsStatus opens GET /events with header and returns the status and
// headers; a 200 stream stays open until the test ends.
func eventsStatus(t *testing.T, s *testServer, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/events", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		t.Cleanup(func() { resp.Body.Close() })
		return resp.StatusCode, resp.Header, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	s.validate(req, nil, resp, body)
	return resp.StatusCode, resp.Header, body
}

// TestEventStreamsPerClient: one client (a token, else an address) gets
// MXROUTE_EVENT_STREAMS_PER_CLIENT streams; the next is a 429 problem with
// Retry-After while other tokens from the same address still get theirs;
// a closed stream gives its place back.
func TestEventStreamsPerClient(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	const a, b = "console-a-token-0123456789", "console-b-token-0123456789"
	if err := os.WriteFile(file, []byte(fmt.Sprintf("%s ops-a admin\n%s ops-b sender\n", a, b)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"MXROUTE_AUTH_TOKENS_FILE": file, "MXROUTE_EVENT_STREAMS_PER_CLIENT": "2"})
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	first := openEvents(t, s, bearer(a))
	openEvents(t, s, bearer(a))
	code, h, body := eventsStatus(t, s, bearer(a))
	if code != http.StatusTooManyRequests || h.Get("Content-Type") != "application/problem+json" || h.Get("Retry-After") == "" {
		t.Fatalf("third stream of ops-a: %d %v %s, want 429 problem with Retry-After", code, h, body)
	}
	if p := problemOf(t, body); p.Status != http.StatusTooManyRequests || !strings.HasSuffix(p.Type, "too-many-client-streams") {
		t.Fatalf("problem %+v", p)
	}
	if secs, err := strconv.Atoi(h.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	// Same address, another token: its own bound.
	openEvents(t, s, bearer(b))
	openEvents(t, s, bearer(b))
	// A stream closed by its client frees its place once the server
	// notices, at the latest on the next heartbeat; it notices a closed
	// connection sooner, as the read side ends.
	first.resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, body := eventsStatus(t, s, bearer(a))
		if code == http.StatusOK {
			break
		}
		if code != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a stream of ops-a: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEventStreamsPerAddress: without tokens the client is the address.
func TestEventStreamsPerAddress(t *testing.T) {
	s := startServer(t, map[string]string{"MXROUTE_EVENT_STREAMS_PER_CLIENT": "1"})
	openEvents(t, s, nil)
	if code, h, body := eventsStatus(t, s, map[string]string{"X-Mxroute-Reporter": "someone-else"}); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("second stream from 127.0.0.1: %d %s, want 429 (the reporter header names nobody here)", code, body)
	}
}

// TestEventStreamLifetime: the server ends a stream cleanly once its
// lifetime is over; a client that saw no event on it resumes with the id
// the stream announced at its start, and gets the transition that
// happened while it reconnected; so does one that saw events.
func TestEventStreamLifetime(t *testing.T) {
	const life = 2 * time.Second
	s := startServer(t, map[string]string{"MXROUTE_EVENT_STREAM_LIFETIME": life.String()})
	drain := func(addr string) {
		if code, body, _ := s.do(http.MethodPost, "/hosts/"+addr+"/drain", map[string]any{"duration_seconds": 60}, nil); code != http.StatusOK {
			t.Fatalf("drain %s: %d %s", addr, code, body)
		}
	}
	stream := openEvents(t, s, nil)
	expired(t, stream, life, time.Now())
	if stream.lastID != "0" {
		t.Fatalf("the stream announced id %q, want 0 (no event yet)", stream.lastID)
	}
	drain("172.16.10.1")
	start := time.Now()
	stream = openEvents(t, s, map[string]string{"Last-Event-ID": stream.lastID})
	if tr := stream.next(t, time.Second); tr.Address != "172.16.10.1" {
		t.Fatalf("after resuming from the announced id: %+v, want the drain of 172.16.10.1", tr)
	}
	expired(t, stream, life, start)
	drain("172.16.10.2")
	resumed := openEvents(t, s, map[string]string{"Last-Event-ID": stream.lastID})
	if tr := resumed.next(t, time.Second); tr.Address != "172.16.10.2" || tr.Kind != apigen.TransitionKindDrained {
		t.Fatalf("after resuming: %+v, want the drain of 172.16.10.2", tr)
	}
}

// expired waits for stream, opened at start, to end cleanly at the end of
// its lifetime, and for nothing else to arrive meanwhile.
func expired(t *testing.T, stream *sseReader, life time.Duration, start time.Time) {
	t.Helper()
	select {
	case tr, ok := <-stream.events:
		if ok {
			t.Fatalf("unexpected event %+v", tr)
		}
	case <-time.After(life + 10*time.Second):
		t.Fatal("the stream outlived its lifetime")
	}
	if d := time.Since(start); d < life*9/10 || stream.err != nil {
		t.Fatalf("stream ended after %s (lifetime %s), err %v; want a clean end", d, life, stream.err)
	}
}
