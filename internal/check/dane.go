package check

import (
	"fmt"
	"strings"
)

// DANE findings (RFC 7672). They are gathered only when Options.DANE is
// set, which the caller does only when its resolver's AD bit is trusted:
// otherwise every TLSA answer would look unvalidated.
const (
	// CodeDANELookupFailed (error): the TLSA lookup failed for an MX host
	// whose addresses are DNSSEC-validated; DANE senders must not deliver
	// to it until the lookup answers (RFC 7672 section 2.2).
	CodeDANELookupFailed = "DANE_TLSA_LOOKUP_FAILED"
	// CodeDANEUnvalidated (warning): TLSA records for MX hosts whose
	// answer is not DNSSEC-validated; senders ignore them, so they
	// protect nothing.
	CodeDANEUnvalidated = "DANE_TLSA_UNVALIDATED"
)

// TLSAData is the TLSA lookup of an MX host (_25._tcp.<host>).
type TLSAData struct {
	// Lookup is how the query ended.
	Lookup Lookup
	// Records is how many TLSA records the answer held.
	Records int
	// Secure reports that the answer was DNSSEC-validated.
	Secure bool
}

// gradeDANE adds the DANE findings.
func (g *grader) gradeDANE() {
	var unvalidated, failed []string
	for _, h := range g.d.Hosts {
		t := h.TLSA
		switch {
		case t == nil:
		case t.Lookup.Outcome == OutcomeOK && t.Records > 0 && !t.Secure:
			unvalidated = append(unvalidated, h.Host)
		case t.Lookup.Outcome != OutcomeUnchecked && !t.Lookup.Outcome.definitive() && h.Secure:
			failed = append(failed, h.Host)
		}
	}
	if len(failed) > 0 {
		g.add(CodeDANELookupFailed, LevelError, fmt.Sprintf("the TLSA lookup failed for MX hosts in a DNSSEC-signed zone; DANE senders defer mail to them (RFC 7672 section 2.2): %s", strings.Join(failed, ", ")), failed, nil)
	}
	if len(unvalidated) > 0 {
		g.add(CodeDANEUnvalidated, LevelWarning, fmt.Sprintf("TLSA records are published but not DNSSEC-validated, so senders ignore them: %s", strings.Join(unvalidated, ", ")), unvalidated, nil)
	}
}
