package routing

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnaProfile converts user-supplied domains to A-labels with UTS #46
// non-transitional processing: IDNA 2008's A-label encoding with the UTS 46
// mapping for lookup (case folding, width mapping, the ideographic full
// stop as a dot) and UTS 46's table of valid code points. That table is
// wider than IDNA 2008's own (RFC 5892): symbols such as emoji are valid
// in it, so "\U0001F600.example" becomes "xn--e28h.example" rather than an
// error. The choice follows the senders: Postfix (ICU's UTS 46 API), Exim
// with libidn2's default and every browser resolve such names, and mail to
// them is delivered; a router that refused them would turn deliverable
// mail into a 400. Strict IDNA 2008 registration rules are the registry's
// business, not the router's. Hyphen placement is left to
// checkHostname: IDNA forbids "--" in positions 3 and 4 of a U-label, but
// an ASCII name like "ab--c.example" is valid LDH, and mail to it must not
// be refused.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.CheckHyphens(false),
	idna.StrictDomainName(true),
	idna.Transitional(false),
)

// ErrInvalidDomain matches (errors.Is) every *DomainError.
var ErrInvalidDomain = errors.New("invalid domain")

// DomainError is a domain that cannot be routed, with the reason a client
// can act on. Handlers map it to a 400 naming the parameter with
// errors.As; nothing needs to read its text.
type DomainError struct {
	// Reason says what is wrong, e.g. "empty label".
	Reason string
}

// Error implements error.
func (e *DomainError) Error() string { return ErrInvalidDomain.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidDomain) hold.
func (e *DomainError) Is(target error) bool { return target == ErrInvalidDomain }

func domainErr(reason string) error { return &DomainError{Reason: reason} }

// NormalizeDomain turns a recipient domain into the form plans and caches use:
// A-labels, lower case, no trailing dot. It enforces LDH syntax and the RFC
// 1035 length limits (63 octets a label, 253 for the name without its dot),
// and rejects single-label names and names that look like IPv4 addresses.
// The result is a fixed point: NormalizeDomain(out) returns out.
func NormalizeDomain(s string) (string, error) {
	if s == "" {
		return "", domainErr("empty")
	}
	if len(s) > 1024 {
		return "", domainErr("longer than 1024 characters")
	}
	if !utf8.ValidString(s) {
		// The IDNA mapping would turn bad bytes into U+FFFD and encode that.
		return "", domainErr("not UTF-8")
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", domainErr(err.Error())
	}
	// The trailing dot is trimmed after mapping, so that a trailing
	// ideographic full stop counts as one too.
	a = strings.TrimSuffix(strings.ToLower(a), ".")
	if err := checkHostname(a); err != nil {
		return "", domainErr(err.Error())
	}
	return a, nil
}

// checkHostname enforces LDH syntax on an A-label name without trailing dot.
// The IDNA profile already checks most of this for Unicode input, but ASCII
// input passes through it largely unchecked, and MX targets from DNS never
// go through IDNA at all.
func checkHostname(s string) error {
	if len(s) == 0 {
		return errors.New("empty name")
	}
	if len(s) > 253 {
		return errors.New("longer than 253 octets")
	}
	// Walk the labels without strings.Split: this runs for every MX target
	// of every plan, and the split would be its only allocation.
	labels, tld := 0, ""
	for rest := s; ; {
		l, after, more := strings.Cut(rest, ".")
		if len(l) == 0 {
			return errors.New("empty label")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q longer than 63 octets", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z') {
				return fmt.Errorf("label %q has a character outside letters, digits and hyphen", l)
			}
		}
		labels, tld = labels+1, l
		if !more {
			break
		}
		rest = after
	}
	if labels < 2 {
		return errors.New("not a fully qualified domain (needs at least two labels)")
	}
	if strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return errors.New("top-level label is numeric (an address, not a domain)")
	}
	return nil
}
