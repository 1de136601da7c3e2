package mxclient

import (
	"errors"
	"fmt"
	"time"
)

// Kind is what a caller does about a failed request.
type Kind int

const (
	// Unavailable: mxroute could not be reached, timed out, was overloaded
	// or answered with a server error. Routing falls back to the MTA's own
	// lookups (or defers, when configured fail-closed); feedback retries.
	Unavailable Kind = iota + 1
	// Rejected: mxroute answered that this request is wrong (4xx other than
	// 408 and 429). Retrying the same request cannot help.
	Rejected
)

func (k Kind) String() string {
	switch k {
	case Unavailable:
		return "unavailable"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Error is every failure of a Client call.
type Error struct {
	Op     string
	Kind   Kind
	Status int // HTTP status, 0 when there was no response
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d: %v", e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns err's Kind, Unavailable for errors not from this package
// (a context cancellation, for one).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unavailable
}
