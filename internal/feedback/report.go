package feedback

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
	case r.Address.Zone() != "":
		// A zone names an interface of the sender: the same link-local
		// address behind two interfaces is two hosts, and one key for both
		// would mix their health.
		return fieldErr("address", "%s has a zone; a zone names the sender's interface, not the host", r.Address)
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
	if err := r.checkCodes(); err != nil {
		return err
	}
	if reason := checkName(r.Host); reason != "" {
		return fieldErr("host", "%s", reason)
	}
	if reason := checkName(r.Domain); reason != "" {
		return fieldErr("domain", "%s", reason)
	}
	switch {
	case len(r.RouteID) > maxRouteIDLen:
		return fieldErr("route_id", "longer than %d bytes", maxRouteIDLen)
	case len(r.Reporter) > maxReporterLen:
		return fieldErr("reporter", "longer than %d bytes", maxReporterLen)
	}
	return nil
}

// checkCodes rejects a report whose reply code, enhanced code and outcome
// contradict each other. Which one is wrong cannot be told, and each
// reading would classify the report differently (a success with a 550 at
// EHLO would count for the host or against it): the sender must fix it.
// The error names the code, not the outcome, because the code is what the
// host said and the outcome the sender's reading of it.
func (r Report) checkCodes() error {
	code := r.SMTPCode
	switch {
	case code >= 400 && r.Outcome == OutcomeSuccess:
		return fieldErr("smtp_code", "%d is a negative reply, which contradicts outcome %q", code, r.Outcome)
	case code != 0 && code < 400 && r.Outcome == OutcomeFailure:
		return fieldErr("smtp_code", "%d is a positive reply, which contradicts outcome %q", code, r.Outcome)
	}
	if r.EnhancedCode == "" {
		return nil
	}
	// RFC 3463: the class of the enhanced code is the first digit of the
	// reply code; there is no class 3, so a 3xx reply carries none.
	class := r.EnhancedCode[0]
	switch {
	case code != 0 && class != byte('0'+code/100):
		return fieldErr("enhanced_code", "class %c disagrees with smtp_code %d", class, code)
	case code == 0 && class != '2' && r.Outcome == OutcomeSuccess:
		return fieldErr("enhanced_code", "class %c contradicts outcome %q", class, r.Outcome)
	case code == 0 && class == '2' && r.Outcome == OutcomeFailure:
		return fieldErr("enhanced_code", "class %c contradicts outcome %q", class, r.Outcome)
	}
	return nil
}

// checkName says why s is not empty or a plausible DNS name, or "" if it
// is one. Host and domain are only shown to operators (the last failure of
// an address), so the check is lenient: any case, a trailing dot, and
// underscores (seen in real host names) pass, and so do the non-ASCII
// letters, digits and marks of an internationalised name in its Unicode
// form, which a sender with SMTPUTF8 may report. What it keeps out is what
// no name holds: control characters (a NUL), spaces, punctuation, markup,
// empty labels and invalid UTF-8.
func checkName(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > maxNameLen {
		return fmt.Sprintf("longer than %d bytes", maxNameLen)
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	name := strings.TrimSuffix(s, ".")
	if name == "" {
		return fmt.Sprintf("%q is not a DNS name", s)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return fmt.Sprintf("%q has an empty label", s)
		}
		ascii := true
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			case c >= utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.IsMark(c)):
				ascii = false
			default:
				return fmt.Sprintf("%q holds %q: a DNS name has letters, digits, hyphens, underscores and dots", s, c)
			}
		}
		// A Unicode label's limit applies to its A-label form, which
		// is not worth computing here.
		if ascii && len(label) > 63 {
			return fmt.Sprintf("%q has a label longer than 63 bytes", s)
		}
	}
	return ""
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
// address is the IPv4 host it maps to. Reports with a zone are rejected
// (ValidateAt); routing's lookups drop it, as a plan never holds one.
func normalAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
