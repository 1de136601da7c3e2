package check

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// TestQuerierMemo: a lookup is made once per Run, except that an outcome
// cut short by its caller's deadline is asked again by the next caller.
func TestQuerierMemo(t *testing.T) {
	e := newEnv(t, zoneHead+"mail.example.com. 3600 IN A 192.0.2.1\n")
	q := newQuerier(e.res, 4)
	ctx := context.Background()

	e.srv.SetDelay("mail.example.com.", time.Minute)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := q.lookup(short, "mail.example.com", dns.TypeA); outcome(resolver.Answer{}, err).Outcome != OutcomeTimeout {
		t.Fatalf("delayed lookup: %v, want a timeout", err)
	}

	e.srv.SetDelay("mail.example.com.", 0)
	for range 2 {
		ans, err := q.lookup(ctx, "MAIL.example.com.", dns.TypeA)
		if err != nil || len(ans.Records) != 1 {
			t.Fatalf("lookup after the timeout: %v %v, want one record", ans.Records, err)
		}
	}
	if n := e.srv.Queries("mail.example.com.", dns.TypeA, dnstest.UDP); n != 2 {
		t.Errorf("%d queries, want 2 (the abandoned one and one shared answer)", n)
	}
}
