package feedback

import (
	"fmt"
	"net/netip"
	"time"
)

// Outcome is how a delivery attempt stage ended, as the sender saw it.
type Outcome string

// The outcomes a report may carry.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
)

// Stage is the step of an SMTP session a report is about.
type Stage string

// The stages of an SMTP session, in the order a session passes them.
const (
	StageConnect  Stage = "connect"
	StageTLS      Stage = "tls"
	StageGreeting Stage = "greeting"
	StageEHLO     Stage = "ehlo"
	StageMail     Stage = "mail"
	StageRcpt     Stage = "rcpt"
	StageData     Stage = "data"
)

// MaxFutureSkew is how far in the future a report's ObservedAt may lie:
// reporters' clocks drift, but a report from much later than now is a bug
// or an attempt to pin state.
const MaxFutureSkew = 5 * time.Minute

// Length limits on free-text fields. They bound what one report can make a
// store keep (the reporter is a hash field in Redis, host and domain are
// stored with the last failure).
const (
	maxNameLen     = 255 // host and domain: a DNS name is at most 253 octets
	maxRouteIDLen  = 128
	maxReporterLen = 256
)

// Report is one delivery attempt outcome sent by a mail sender.
type Report struct {
	// Address is the IP address the sender connected (or tried to) to.
	Address netip.Addr
	// Host is the MX host name the address belongs to, if the sender knows it.
	Host string
	// Domain is the recipient domain the attempt was for.
	Domain string
	// Outcome is whether the stage succeeded.
	Outcome Outcome
	// Stage is the session step the outcome is about.
	Stage Stage
	// SMTPCode is the server's reply code, 0 when there was none (refused,
	// timeout, dropped connection).
	SMTPCode int
	// EnhancedCode is the RFC 3463 status code of the reply, e.g. "4.7.1".
	EnhancedCode string
	// LatencyMS is how long the stage took.
	LatencyMS int
	// ObservedAt is when the attempt happened; zero means when it was received.
	ObservedAt time.Time
	// RouteID ties the report to the plan GET /route returned, if known.
	RouteID string
	// Reporter identifies the sender instance; it is filled by the HTTP
	// handler from the authenticated identity, never from the body, so one
	// client cannot vote as many.
	Reporter string
}

// FieldError is a validation failure of one report field. Field uses the
// JSON name of the field ("address", "smtp_code", ...), so a handler can
// point the client at it.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the report's fields against the current wall clock; see
// ValidateAt.
func (r Report) Validate() error { return r.ValidateAt(time.Now()) }

// ValidateAt checks the report's fields with now as the current time. The
// returned error is a *FieldError naming the first invalid field.
func (r Report) ValidateAt(now time.Time) error {
	switch {
	case !r.Address.IsValid():
		return fieldErr("address", "missing or not an IP address")
	case r.Address.Unmap().IsUnspecified():
		return fieldErr("address", "unspecified address %s", r.Address)
	}
	switch r.Outcome {
	case OutcomeSuccess, OutcomeFailure:
	case "":
		return fieldErr("outcome", "missing")
	default:
		return fieldErr("outcome", "%q is not success or failure", r.Outcome)
	}
	if !r.Stage.valid() {
		if r.Stage == "" {
			return fieldErr("stage", "missing")
		}
		return fieldErr("stage", "%q is not one of connect, tls, greeting, ehlo, mail, rcpt, data", r.Stage)
	}
	if r.SMTPCode != 0 && (r.SMTPCode < 200 || r.SMTPCode > 599) {
		return fieldErr("smtp_code", "%d is outside 200..599", r.SMTPCode)
	}
	if r.EnhancedCode != "" && !validEnhancedCode(r.EnhancedCode) {
		return fieldErr("enhanced_code", "%q is not class.subject.detail (e.g. 4.7.1)", r.EnhancedCode)
	}
	if r.LatencyMS < 0 {
		return fieldErr("latency_ms", "%d is negative", r.LatencyMS)
	}
	if !r.ObservedAt.IsZero() && r.ObservedAt.After(now.Add(MaxFutureSkew)) {
		return fieldErr("observed_at", "%s is more than %s in the future", r.ObservedAt.Format(time.RFC3339), MaxFutureSkew)
	}
	switch {
	case len(r.Host) > maxNameLen:
		return fieldErr("host", "longer than %d bytes", maxNameLen)
	case len(r.Domain) > maxNameLen:
		return fieldErr("domain", "longer than %d bytes", maxNameLen)
	case len(r.RouteID) > maxRouteIDLen:
		return fieldErr("route_id", "longer than %d bytes", maxRouteIDLen)
	case len(r.Reporter) > maxReporterLen:
		return fieldErr("reporter", "longer than %d bytes", maxReporterLen)
	}
	return nil
}

func (s Stage) valid() bool {
	switch s {
	case StageConnect, StageTLS, StageGreeting, StageEHLO, StageMail, StageRcpt, StageData:
		return true
	}
	return false
}

// validEnhancedCode matches ^[245]\.\d{1,3}\.\d{1,3}$ without a regexp: it
// runs for every report of every batch.
func validEnhancedCode(s string) bool {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return false
	}
	rest := s[2:]
	for part := 0; part < 2; part++ {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n < 1 || n > 3 {
			return false
		}
		rest = rest[n:]
		if part == 0 {
			if len(rest) == 0 || rest[0] != '.' {
				return false
			}
			rest = rest[1:]
		}
	}
	return len(rest) == 0
}

// normalAddr is the form addresses are keyed by: an IPv4-mapped IPv6
// address is the IPv4 host it maps to, and a zone names an interface of the
// sender, not the host.
func normalAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
