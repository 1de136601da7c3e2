package routing

import (
	"errors"
	"strings"
	"testing"
)

var normalizeCases = []struct {
	in   string
	want string // "" means an error is wanted
}{
	// Case, trailing dot.
	{"example.com", "example.com"},
	{"EXAMPLE.COM", "example.com"},
	{"Example.Com.", "example.com"},
	{"mail.sub.example.co.uk", "mail.sub.example.co.uk"},
	// Unicode to A-labels (UTS 46 non-transitional: ß stays ß).
	// UTS 46 admits symbols IDNA 2008 alone would refuse, as Postfix and
	// browsers do (see idnaProfile).
	{"\U0001F600.example", "xn--e28h.example"},
	{"i\u2764.ws", "xn--i-7iq.ws"},
	{"Bücher.example", "xn--bcher-kva.example"},
	{"bücher.example.", "xn--bcher-kva.example"},
	{"ÉXAMPLE.com", "xn--xample-9ua.com"},
	{"éxample.com", "xn--xample-9ua.com"},
	{"ß.de", "xn--zca.de"},
	{"mail.例え.jp", "mail.xn--r8jz45g.jp"},
	{"ＥＸＡＭＰＬＥ.com", "example.com"},  // full-width letters map
	{"example。com", "example.com"},  // ideographic full stop separates labels
	{"example.com。", "example.com"}, // ... and is a trailing dot too
	{"xn--bcher-kva.example", "xn--bcher-kva.example"},
	{"XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"},
	// LDH edge cases that are valid.
	{"a-b.example", "a-b.example"},
	{"ab--c.example", "ab--c.example"}, // LDH, though not a valid IDNA label
	{"1.2.3.com", "1.2.3.com"},
	{"123.example", "123.example"},
	{"x.y", "x.y"},
	{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com"},
	{name253(), name253()},
	{name253() + ".", name253()},

	// Rejected.
	{"", ""},
	{".", ""},
	{"..", ""},
	{"a..b", ""},
	{".example.com", ""},
	{"example.com..", ""},
	{"-a.com", ""},
	{"a-.com", ""},
	{"a.-com", ""},
	{"a_b.com", ""},
	{"_dmarc.example.com", ""},
	{"1.2.3.4", ""},
	{"192.0.2.1.", ""},
	{"example.123", ""},
	{"2001:db8::1", ""},
	{"[192.0.2.1]", ""},
	{"localhost", ""},
	{"localhost.", ""},
	{"com", ""},
	{"a b.com", ""},
	{" example.com", ""},
	{"example.com ", ""},
	{"\texample.com", ""},
	{"example.com\n", ""},
	{"a@b.com", ""},
	{"user@example.com", ""},
	{"a:b.com", ""},
	{"example.com:25", ""},
	{"exa/mple.com", ""},
	{"a\x00b.com", ""},
	{"\xff.com", ""},
	{strings.Repeat("a", 64) + ".com", ""},
	{name253() + "x", ""},
	{strings.Repeat("ü", 60) + ".com", ""}, // A-label longer than 63
	{"xn--abc.com", ""},                    // not valid punycode for a U-label
	{"xn--ss-.com", ""},                    // decodes to ASCII
	{"xn--.com", ""},
	{"exa\u200dmple.com", ""}, // zero-width joiner outside its context
	{"ex\u00adample.com", "example.com"},
	{strings.Repeat("a.", 600) + "com", ""},
}

// name253 is a name of exactly 253 octets, the longest allowed.
func name253() string {
	return strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
}

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range normalizeCases {
		got, err := NormalizeDomain(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("NormalizeDomain(%q) = %q, want an error", tc.in, got)
		case tc.want == "" && !errors.Is(err, ErrInvalidDomain):
			t.Errorf("NormalizeDomain(%q) error %v, want it to wrap ErrInvalidDomain", tc.in, err)
		case tc.want == "" && (!errors.As(err, new(*DomainError)) || strings.HasPrefix(err.(*DomainError).Reason, ErrInvalidDomain.Error())):
			t.Errorf("NormalizeDomain(%q) error %#v, want a *DomainError with a bare reason", tc.in, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// checkNormalized fails unless s is what NormalizeDomain may return: lower
// case LDH A-labels, at least two, within the length limits, with a
// non-numeric top label.
func checkNormalized(s string) error {
	if len(s) > 253 {
		return errors.New("longer than 253")
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return errors.New("fewer than two labels")
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("bad label " + l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("not lower-case LDH: " + l)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("numeric top label")
	}
	return nil
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, tc := range normalizeCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeDomain(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDomain) {
				t.Fatalf("NormalizeDomain(%q) error %v does not wrap ErrInvalidDomain", s, err)
			}
			return
		}
		if err := checkNormalized(out); err != nil {
			t.Fatalf("NormalizeDomain(%q) = %q: %v", s, out, err)
		}
		again, err := NormalizeDomain(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: NormalizeDomain(%q) = %q, then %q, %v", s, out, again, err)
		}
	})
}
