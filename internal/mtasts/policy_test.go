package mtasts

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/routing"
)

func TestParse(t *testing.T) {
	good := []struct {
		name, text string
		want       Policy
	}{
		{"enforce, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\nmax_age: 86400\r\n",
			Policy{Mode: routing.STSEnforce, MX: []string{"mail.example.com", "*.example.net"}, MaxAge: 86400 * time.Second}},
		{"testing, LF, no final newline, extension", "version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 604800\nx-ext: anything",
			Policy{Mode: routing.STSTesting, MX: []string{"mx.example.org"}, MaxAge: 604800 * time.Second}},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 1\n", Policy{Mode: routing.STSNone, MaxAge: time.Second}},
		{"max_age clamped", "version:STSv1\nmode:enforce\nmx:a.example\nmax_age: 9999999999\n",
			Policy{Mode: routing.STSEnforce, MX: []string{"a.example"}, MaxAge: MaxMaxAge}},
	}
	for _, c := range good {
		got, err := Parse([]byte(c.text))
		if err != nil || got.Mode != c.want.Mode || got.MaxAge != c.want.MaxAge || !slices.Equal(got.MX, c.want.MX) {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	bad := map[string]string{
		"empty":             "",
		"no version":        "mode: enforce\nmx: a.example\nmax_age: 1\n",
		"wrong version":     "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"bad mode":          "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
		"no mode":           "version: STSv1\nmx: a.example\nmax_age: 1\n",
		"no max_age":        "version: STSv1\nmode: enforce\nmx: a.example\n",
		"negative max_age":  "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
		"11 digits":         "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n",
		"no mx in enforce":  "version: STSv1\nmode: enforce\nmax_age: 1\n",
		"mode twice":        "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"line without key":  "version: STSv1\nmode: enforce\nmx a.example\nmax_age: 1\n",
		"blank line":        "version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"bad pattern":       "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
		"bare wildcard":     "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n",
		"single label":      "version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 1\n",
		"control character": "version: STSv1\nmode: enforce\nmx: a.example\x00\nmax_age: 1\n",
		"html":              "<html><body>not found</body></html>",
	}
	for name, text := range bad {
		p, err := Parse([]byte(text))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %+v, %v; want a *ParseError", name, p, err)
		}
	}
}

func TestParseTXT(t *testing.T) {
	cases := []struct {
		recs []string
		id   string
		ok   bool
	}{
		{[]string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", true},
		{[]string{"v=STSv1;id=abc"}, "abc", true},
		{[]string{"some other record", "v=STSv1; ext=1; id=X1 "}, "X1", true},
		{[]string{"v=STSv1; id=a;", "v=STSv1; id=b;"}, "", false},
		{[]string{"v=STSv1; id=has-dash;"}, "", false},
		{[]string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", false},
		{[]string{"v=STSv1;"}, "", false},
		{[]string{"v=STSv10; id=a"}, "", false},
		{[]string{"id=a; v=STSv1"}, "", false},
		{nil, "", false},
	}
	for _, c := range cases {
		id, err := ParseTXT(c.recs)
		if id != c.id || (err == nil) != c.ok {
			t.Errorf("ParseTXT(%q) = %q, %v; want %q ok=%v", c.recs, id, err, c.id, c.ok)
		}
	}
	if _, err := ParseTXT([]string{"v=spf1 -all"}); !errors.Is(err, ErrNoRecord) {
		t.Errorf("no STS record: got %v, want ErrNoRecord", err)
	}
}

// FuzzParse: the parser never panics, and what it accepts is a policy the
// planner can use: a known mode, a bounded max_age, valid lower-case
// patterns, and mx present unless the mode is none.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n",
		"version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 604800",
		"version: STSv1\nmode: none\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
		"version:STSv1\nmode:enforce\nmx:A.EXAMPLE\nmax_age:9999999999\nfoo.bar: baz\n",
		"", "\n", ":", "version: STSv1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if p.Mode != routing.STSEnforce && p.Mode != routing.STSTesting && p.Mode != routing.STSNone {
			t.Fatalf("mode %q accepted", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("max_age %v accepted", p.MaxAge)
		}
		if len(p.MX) == 0 && p.Mode != routing.STSNone {
			t.Fatal("no mx accepted")
		}
		for _, m := range p.MX {
			if m != strings.ToLower(m) || !validPattern(m) {
				t.Fatalf("pattern %q accepted", m)
			}
		}
	})
}
