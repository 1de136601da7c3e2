package postfix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

var (
	digestA = strings.Repeat("ab", 32)
	digestB = strings.Repeat("0f", 32)
	fullEE  = "3082010a" // full-data (matching type 0) association data
)

func fpOf(hexData string) string {
	b, _ := hex.DecodeString(hexData)
	return colonHex(b)
}

func tlsPlans() *plans {
	p := testPlans()
	yes := true
	p.plans["sts.example"] = apigen.Plan{Domain: "sts.example", Disposition: apigen.Deliver, Ttl: 300, RouteId: "r2",
		Attempts: []apigen.Attempt{
			{Address: "127.0.0.10", Host: "mx1.sts.example", TlsRequired: true, TlsNames: &[]string{"mx1.sts.example"}},
			{Address: "2001:db8::10", Host: "mx2.sts.example", TlsRequired: true, TlsNames: &[]string{"MX2.sts.example.", "alt.sts.example"}},
			{Address: "127.0.0.11", Host: "plain.sts.example"},
		}}
	p.plans["dane.example"] = apigen.Plan{Domain: "dane.example", Disposition: apigen.Deliver, Ttl: 300, RouteId: "r3",
		Attempts: []apigen.Attempt{
			{Address: "127.0.0.20", Host: "ee.dane.example", Dane: &yes, Tlsa: &[]apigen.TLSA{
				{Usage: 3, Selector: 1, MatchingType: 1, Data: digestA},
				{Usage: 3, Selector: 0, MatchingType: 0, Data: fullEE}}},
			{Address: "127.0.0.21", Host: "ta.dane.example", Dane: &yes, Tlsa: &[]apigen.TLSA{
				{Usage: 3, Selector: 1, MatchingType: 1, Data: digestA},
				{Usage: 2, Selector: 0, MatchingType: 1, Data: digestB}}},
			{Address: "127.0.0.22", Host: "sha512.dane.example", Dane: &yes, Tlsa: &[]apigen.TLSA{
				{Usage: 3, Selector: 1, MatchingType: 2, Data: strings.Repeat("ab", 64)}}},
		}}
	return p
}

func TestTLSPolicyAnswers(t *testing.T) {
	full := sha256.Sum256([]byte{0x30, 0x82, 0x01, 0x0a})
	fpFull := colonHex(full[:])
	m := NewMap(MapConfig{Port: 25}, tlsPlans(), quiet, nil)
	ctx := context.Background()
	for _, r := range []string{"mxroute a@sts.example", "mxroute a@dane.example", "mxroute a@example.com"} {
		if got := m.Answer(ctx, r); !strings.HasPrefix(got, "OK smtp:") {
			t.Fatalf("%s: %q", r, got)
		}
	}
	wantEE := "OK fingerprint match=" + strings.Join(union(nil, []string{fpOf(digestA), fpFull}), "|")
	for _, tc := range []struct{ req, want string }{
		// MTA-STS enforce: the plan's names, literally.
		{"mxroute-tls [127.0.0.10]:25", "OK secure match=mx1.sts.example"},
		{"mxroute-tls [127.0.0.10]", "OK secure match=mx1.sts.example"},
		{"mxroute-tls [ipv6:2001:db8::10]:25", "OK secure match=mx2.sts.example:alt.sts.example"},
		{"mxroute-tls [IPV6:2001:DB8::10]:25", "OK secure match=mx2.sts.example:alt.sts.example"},
		// No policy: Postfix's own smtp_tls_security_level.
		{"mxroute-tls [127.0.0.11]:25", "NOTFOUND "},
		{"mxroute-tls [127.0.0.2]:25", "NOTFOUND "},
		// DANE: pinned DANE-EE digests, else mandatory encryption.
		{"mxroute-tls [127.0.0.20]:25", wantEE},
		{"mxroute-tls [127.0.0.21]:25", "OK encrypt"},
		{"mxroute-tls [127.0.0.22]:25", "OK encrypt"},
		// Not the agent's next-hops.
		{"mxroute-tls [127.0.0.10]:2525", "NOTFOUND "},
		{"mxroute-tls [127.0.0.99]:25", "NOTFOUND "},
		{"mxroute-tls sts.example", "NOTFOUND "},
		{"mxroute-tls 127.0.0.10", "NOTFOUND "},
		{"mxroute-tls [mx1.sts.example]:25", "NOTFOUND "},
		{"mxroute-tls [127.0.0.10]:25x", "NOTFOUND "},
		{"mxroute-tls *", "NOTFOUND "},
	} {
		if got := m.Answer(ctx, tc.req); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestTLSPolicyCustomName(t *testing.T) {
	m := NewMap(MapConfig{TLSName: "pol", Port: 2525}, tlsPlans(), quiet, nil)
	m.Answer(context.Background(), "mxroute a@sts.example")
	if got := m.Answer(context.Background(), "pol [127.0.0.10]:2525"); got != "OK secure match=mx1.sts.example" {
		t.Errorf("custom name and port: %q", got)
	}
	if got := m.Answer(context.Background(), "mxroute-tls [127.0.0.10]:2525"); got != "PERM unknown map name" {
		t.Errorf("default name after renaming: %q", got)
	}
}

// One address in plans of two domains: the stricter policy holds within
// tlsMergeFor, and a later plan alone decides after it.
func TestTLSPolicyMergeAndReplace(t *testing.T) {
	p := tlsPlans()
	p.plans["other.example"] = apigen.Plan{Domain: "other.example", Disposition: apigen.Deliver, Ttl: 300,
		Attempts: []apigen.Attempt{{Address: "127.0.0.10", Host: "mx1.sts.example", TlsRequired: true, TlsNames: &[]string{"mx.other.example"}}}}
	p.plans["plain.example"] = apigen.Plan{Domain: "plain.example", Disposition: apigen.Deliver, Ttl: 300,
		Attempts: []apigen.Attempt{{Address: "127.0.0.10", Host: "mx1.sts.example"}}}
	now := time.Unix(1000, 0)
	m := NewMap(MapConfig{}, p, quiet, func() time.Time { return now })
	ctx := context.Background()
	m.Answer(ctx, "mxroute a@sts.example")
	m.Answer(ctx, "mxroute a@other.example")
	m.Answer(ctx, "mxroute a@plain.example")
	if got := m.Answer(ctx, "mxroute-tls [127.0.0.10]:25"); got != "OK secure match=mx.other.example:mx1.sts.example" {
		t.Errorf("merged: %q", got)
	}
	now = now.Add(tlsMergeFor + time.Second)
	m.Answer(ctx, "mxroute b@plain.example")
	if got := m.Answer(ctx, "mxroute-tls [127.0.0.10]:25"); got != "NOTFOUND " {
		t.Errorf("after the merge window a plan without policy decides: %q", got)
	}
}

func TestTLSPolicyBadNamesDropped(t *testing.T) {
	for _, n := range []string{"", "hostname", "nexthop", "a:b.example", "a b.example", "x|y.example", "a=b.example", "\x00.example"} {
		if validMatchName(n) {
			t.Errorf("%q accepted as a match name", n)
		}
	}
	if !validMatchName("mx.example.") {
		t.Error("trailing dot rejected")
	}
	pol := attemptTLS(apigen.Attempt{TlsRequired: true, TlsNames: &[]string{"nexthop"}}, time.Time{})
	if got := pol.answer(); got != "OK encrypt" {
		t.Errorf("required without usable names: %q", got)
	}
}

func TestTLSPolicyOverSocketmap(t *testing.T) {
	c, r := dialMap(t, NewMap(MapConfig{Port: 25}, tlsPlans(), quiet, nil))
	c.Write(appendNetstring(appendNetstring(appendNetstring(nil,
		"mxroute u@sts.example"), "mxroute-tls [127.0.0.10]:25"), "mxroute-tls [127.0.0.11]:25"))
	for _, want := range []string{
		"OK smtp:[127.0.0.10]:25, [ipv6:2001:db8::10]:25, [127.0.0.11]:25",
		"OK secure match=mx1.sts.example",
		"NOTFOUND ",
	} {
		got, err := readNetstring(r, MaxReply)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
