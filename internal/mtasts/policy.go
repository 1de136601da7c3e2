// Package mtasts fetches, parses and caches MTA-STS policies (RFC 8461) for
// the whole fleet, and hands the planner the policy in force for a domain.
//
// The parts, each in its own file:
//   - policy.go: the strict parsers of the _mta-sts TXT record (section
//     3.1) and of the policy file (section 3.2). A policy the parser does
//     not accept is no policy; an attacker cannot make a sender enforce
//     less by garbling it, because a cached policy stays in force.
//   - fetch.go: the HTTPS fetch of section 3.3, WebPKI-validated, no
//     redirects, a size cap, a timeout and the media type checked. It dials
//     only addresses a plan may dial: mta-sts.<domain> is resolved through
//     mxroute's own resolver and filtered by the same never-dial rules.
//   - cache.go: the fleet-wide cache (section 5.1). Policies live in a
//     shared Store (Redis when configured) so one replica fetches and the
//     others read; concurrent misses are collapsed within a process by
//     singleflight and across replicas by a short lock in the store. Each
//     replica keeps a local copy, so a cached plan costs no store round
//     trip. A cached policy keeps applying until max_age while fetches
//     fail; it is refreshed when the TXT id changes, and in the background
//     once half its max_age has passed.
package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute/mxroute/internal/routing"
)

// MaxMaxAge is the largest max_age RFC 8461 section 3.2 allows (about a
// year); larger values are clamped to it.
const MaxMaxAge = 31557600 * time.Second

// maxIDLen bounds the TXT record's id (section 3.1: 1 to 32 alphanumerics).
const maxIDLen = 32

// Policy is a parsed policy file.
type Policy struct {
	// Mode is enforce, testing or none.
	Mode routing.STSMode
	// MX holds the mx patterns, lower case, in file order.
	MX []string
	// MaxAge is how long the policy may be cached.
	MaxAge time.Duration
}

// ParseError says why a policy file or TXT record was rejected.
type ParseError struct {
	// Line is the 1-based line of the policy file; 0 for the file as a
	// whole or a TXT record.
	Line int
	// Msg explains the problem.
	Msg string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("mta-sts policy line %d: %s", e.Line, e.Msg)
	}
	return "mta-sts: " + e.Msg
}

func parseErr(line int, format string, args ...any) error {
	return &ParseError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses a policy file (RFC 8461 section 3.2). Lines end in CRLF or
// LF; each is "key: value". Unknown keys are ignored (extensions), version,
// mode and max_age must appear exactly once, and mx at least once unless
// the mode is none. Anything else is an error.
func Parse(b []byte) (Policy, error) {
	var p Policy
	var version, mode, maxAge bool
	text := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if text == "" {
		return Policy{}, parseErr(0, "empty policy")
	}
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		key, val, ok := strings.Cut(line, ":")
		if !ok || key == "" || !isFieldName(key) {
			return Policy{}, parseErr(n, "not a \"key: value\" line")
		}
		val = strings.Trim(val, " \t")
		if !isValue(val) {
			return Policy{}, parseErr(n, "invalid characters in the value of %s", key)
		}
		var err error
		switch key {
		case "version":
			err = once(&version, n, key, val == "STSv1", "version must be STSv1")
		case "mode":
			p.Mode = routing.STSMode(val)
			err = once(&mode, n, key, p.Mode == routing.STSEnforce || p.Mode == routing.STSTesting || p.Mode == routing.STSNone, "mode must be enforce, testing or none")
		case "max_age":
			var secs uint64
			secs, err = strconv.ParseUint(val, 10, 64)
			err = once(&maxAge, n, key, err == nil && len(val) <= 10, "max_age must be 1 to 10 digits")
			p.MaxAge = time.Duration(min(secs, uint64(MaxMaxAge/time.Second))) * time.Second
		case "mx":
			pat := strings.ToLower(val)
			if !validPattern(pat) {
				return Policy{}, parseErr(n, "mx %q is not a host name or *.host name", val)
			}
			p.MX = append(p.MX, pat)
		}
		if err != nil {
			return Policy{}, err
		}
	}
	switch {
	case !version:
		return Policy{}, parseErr(0, "no version field")
	case !mode:
		return Policy{}, parseErr(0, "no mode field")
	case !maxAge:
		return Policy{}, parseErr(0, "no max_age field")
	case len(p.MX) == 0 && p.Mode != routing.STSNone:
		return Policy{}, parseErr(0, "no mx field")
	}
	return p, nil
}

// once records that a single-valued field was seen, rejecting a second
// occurrence or an invalid value.
func once(seen *bool, line int, key string, valid bool, msg string) error {
	if *seen {
		return parseErr(line, "%s given twice", key)
	}
	if !valid {
		return parseErr(line, "%s", msg)
	}
	*seen = true
	return nil
}

// isFieldName: sts-policy-field-name = 1*32(ALPHA / DIGIT / "_" / "-" / ".").
func isFieldName(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isValue: printable ASCII and spaces, no control characters.
func isValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validPattern accepts a lower-case host name, optionally with a leading
// "*." wildcard label (section 3.2: "mx" values).
func validPattern(p string) bool {
	p = strings.TrimPrefix(p, "*.")
	if p == "" || len(p) > 253 || !strings.Contains(p, ".") {
		return false
	}
	for _, l := range strings.Split(p, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ErrNoRecord: no TXT record of the domain starts with v=STSv1.
var ErrNoRecord = errors.New("mta-sts: no v=STSv1 TXT record")

// ParseTXT returns the id of the domain's STS TXT record (RFC 8461 section
// 3.1) from the TXT records of _mta-sts.<domain>, each given as its
// strings joined. Records not starting with "v=STSv1" are ignored; none
// is ErrNoRecord, and more than one, or an invalid one, is a *ParseError
// (the section says to treat both as no record; callers treat any error
// so).
func ParseTXT(records []string) (string, error) {
	id, found := "", false
	for _, r := range records {
		if !strings.HasPrefix(r, "v=STSv1") {
			continue
		}
		if found {
			return "", parseErr(0, "more than one v=STSv1 TXT record")
		}
		found = true
		var err error
		if id, err = parseTXTRecord(r); err != nil {
			return "", err
		}
	}
	if !found {
		return "", ErrNoRecord
	}
	return id, nil
}

func parseTXTRecord(r string) (string, error) {
	fields := strings.Split(r, ";")
	if strings.TrimRight(fields[0], " \t") != "v=STSv1" {
		return "", parseErr(0, "TXT record must start with v=STSv1;")
	}
	id := ""
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return "", parseErr(0, "TXT field %q is not key=value", f)
		}
		if k != "id" {
			continue // extension fields are ignored
		}
		if id != "" {
			return "", parseErr(0, "TXT record has two ids")
		}
		if v == "" || len(v) > maxIDLen || strings.IndexFunc(v, func(c rune) bool { return c > 0x7f || !isAlnum(byte(c)) }) >= 0 {
			return "", parseErr(0, "TXT id %q must be 1 to 32 letters and digits", v)
		}
		id = v
	}
	if id == "" {
		return "", parseErr(0, "TXT record has no id")
	}
	return id, nil
}
