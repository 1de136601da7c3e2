package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/events"
)

// EventStreams opens and closes live transition streams; *events.Hub
// satisfies it.
type EventStreams interface {
	// Subscribe opens a stream for client (clientKey of the request),
	// resuming after the event id after when resume is set.
	Subscribe(client string, after uint64, resume bool) (*events.Stream, error)
	Unsubscribe(s *events.Stream)
}

// TransitionLog lists recent transitions; *events.Hub satisfies it.
type TransitionLog interface {
	Recent(addr netip.Addr, limit int) []events.Event
}

// heartbeat is how often an idle stream gets a comment line: often enough
// for proxies' idle timeouts (typically 60 s), and it notices a client
// gone away within that time.
const heartbeat = 15 * time.Second

// clientStreamsRetry is the Retry-After of a client at its stream bound,
// in seconds: a heartbeat, within which the server notices a stream whose
// client went away (a closed tab) and frees its place.
const clientStreamsRetry = int(heartbeat / time.Second)

// Bounds of GET /transitions' limit, as the contract says.
const (
	defaultTransitions = 100
	maxTransitions     = events.DefaultRecent
)

// eventHandlers serves /events and /transitions.
type eventHandlers struct {
	streams EventStreams
	log     TransitionLog
}

// StreamEvents subscribes the caller to the transition feed.
func (h eventHandlers) StreamEvents(ctx context.Context, req apigen.StreamEventsRequestObject) (apigen.StreamEventsResponseObject, error) {
	var after uint64
	resume := false
	if req.Params.LastEventID != nil {
		// An id this replica did not hand out (another replica's, after a
		// load balancer switched) resumes nothing rather than failing.
		var err error
		after, err = strconv.ParseUint(*req.Params.LastEventID, 10, 64)
		resume = err == nil
	}
	client, _ := ctx.Value(clientCtxKey{}).(string)
	s, err := h.streams.Subscribe(client, after, resume)
	if errors.Is(err, events.ErrTooManyClientStreams) {
		p := problem(http.StatusTooManyRequests, "too-many-client-streams", "Too many event streams for this client",
			"this client holds as many event streams on this replica as it may; close one")
		secs := clientStreamsRetry
		return apigen.StreamEvents429ApplicationProblemPlusJSONResponse{TooManyClientStreamsApplicationProblemPlusJSONResponse: apigen.TooManyClientStreamsApplicationProblemPlusJSONResponse{
			Body: p, Headers: apigen.TooManyClientStreamsResponseHeaders{RetryAfter: &secs}}}, nil
	}
	if err != nil {
		detail := "this replica serves as many event streams as it may"
		if errors.Is(err, events.ErrClosed) {
			detail = "the server is shutting down"
		}
		p := problem(http.StatusServiceUnavailable, "too-many-streams", "Event streams unavailable", detail)
		secs := 5
		return apigen.StreamEvents503ApplicationProblemPlusJSONResponse{TooManyStreamsApplicationProblemPlusJSONResponse: apigen.TooManyStreamsApplicationProblemPlusJSONResponse{
			Body: p, Headers: apigen.TooManyStreamsResponseHeaders{RetryAfter: &secs}}}, nil
	}
	return eventStream{ctx: ctx, streams: h.streams, s: s}, nil
}

// eventStream writes Server-Sent Events until the client goes, the
// stream is dropped or expires, or the hub closes. The generated 200 response would
// copy a reader without flushing; this one flushes each event.
type eventStream struct {
	ctx     context.Context
	streams EventStreams
	s       *events.Stream
}

func (e eventStream) VisitStreamEventsResponse(w http.ResponseWriter) error {
	defer e.streams.Unsubscribe(e.s)
	rc := http.NewResponseController(w)
	// The server's write timeout is for requests, not for a stream that
	// lives as long as the console is open.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx would buffer the stream
	w.WriteHeader(http.StatusOK)
	// The id is where a client that sees no event before the stream ends
	// (its lifetime, a restart) resumes; without it, what happened while
	// it reconnected would never reach it.
	if _, err := fmt.Fprintf(w, "retry: 2000\nid: %d\n: mxroute transitions\n\n", e.s.Start()); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return nil
		case ev, ok := <-e.s.C():
			if !ok {
				return nil
			}
			if err := writeEvent(w, ev); err != nil {
				return err
			}
			// Send what else is queued before flushing once.
			for more := len(e.s.C()); more > 0; more-- {
				if ev, ok = <-e.s.C(); !ok {
					break
				}
				if err := writeEvent(w, ev); err != nil {
					return err
				}
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return err
			}
		}
		if err := rc.Flush(); err != nil {
			return err
		}
	}
}

func writeEvent(w http.ResponseWriter, ev events.Event) error {
	b, err := json.Marshal(transitionJSON(ev))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: transition\ndata: %s\n\n", ev.ID, b)
	return err
}

// ListTransitions returns the recent transitions.
func (h eventHandlers) ListTransitions(_ context.Context, req apigen.ListTransitionsRequestObject) (apigen.ListTransitionsResponseObject, error) {
	var addr netip.Addr
	if req.Params.Address != nil {
		a, err := parseAddress(*req.Params.Address)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	limit := defaultTransitions
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
		if limit < 1 || limit > maxTransitions {
			return nil, &ParamError{Name: "limit", Reason: fmt.Sprintf("must be between 1 and %d", maxTransitions)}
		}
	}
	evs := h.log.Recent(addr, limit)
	out := apigen.TransitionList{Transitions: make([]apigen.Transition, len(evs))}
	for i, ev := range evs {
		out.Transitions[i] = transitionJSON(ev)
	}
	return apigen.ListTransitions200JSONResponse(out), nil
}

func transitionJSON(ev events.Event) apigen.Transition {
	t := apigen.Transition{
		Id: int64(ev.ID), Address: ev.Address.String(), Kind: apigen.TransitionKind(ev.Kind),
		From: apigen.HostState(ev.From), To: apigen.HostState(ev.To), At: ev.At.UTC(), Reporters: ev.Reporters,
	}
	if t.Reporters == nil {
		t.Reporters = []string{}
	}
	if !ev.Until.IsZero() {
		u := ev.Until.UTC()
		t.Until = &u
	}
	if ev.Reason != "" {
		r := ev.Reason
		t.Reason = &r
	}
	return t
}
