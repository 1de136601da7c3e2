package resolver_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// adZone has a chain whose first hop a validating upstream vouches for
// and whose second it does not.
const adZone = `
example.com.        300 IN SOA  ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300
mx.example.com.     300 IN A    192.0.2.1
alias.example.com.  300 IN CNAME target.example.org.
example.org.        300 IN SOA  ns1.example.org. hostmaster.example.org. 1 7200 900 1209600 300
target.example.org. 300 IN A    192.0.2.2
`

// adServer serves adZone and sets AD in replies for names under
// example.com, as a validating resolver does for a signed zone; it counts
// the queries that asked for AD.
func adServer(t *testing.T) (*dnstest.Server, *atomic.Int64) {
	t.Helper()
	srv := dnstest.NewServer(t, adZone)
	plain := dnstest.NewServer(t, adZone)
	var asked atomic.Int64
	srv.Handle(dnstest.Any, 0, func(req *dns.Msg) *dns.Msg {
		if req.AuthenticatedData {
			asked.Add(1)
		}
		c := new(dns.Client)
		q := req.Copy()
		q.AuthenticatedData = false
		r, _, err := c.Exchange(q, plain.Addr())
		if err != nil {
			t.Errorf("inner exchange: %v", err)
			return nil
		}
		r.Id = req.Id
		r.AuthenticatedData = strings.HasSuffix(req.Question[0].Name, "example.com.")
		return r
	})
	return srv, &asked
}

func TestLookupSecure(t *testing.T) {
	srv, asked := adServer(t)
	ctx := context.Background()
	t.Run("validating upstream, AD set", func(t *testing.T) {
		c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Validating: true})
		before := asked.Load()
		ans, err := c.Lookup(ctx, "mx.example.com", dns.TypeA)
		if err != nil || !ans.Secure {
			t.Fatalf("Secure %v err %v, want a secure answer", ans.Secure, err)
		}
		if asked.Load() != before+1 {
			t.Errorf("the query did not set AD (RFC 6840 section 5.7)")
		}
	})
	t.Run("validating upstream, AD clear", func(t *testing.T) {
		c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Validating: true})
		if ans, err := c.Lookup(ctx, "target.example.org", dns.TypeA); err != nil || ans.Secure {
			t.Fatalf("Secure %v err %v, want an insecure answer", ans.Secure, err)
		}
	})
	t.Run("a chain is secure only if every hop is", func(t *testing.T) {
		c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Validating: true})
		ans, err := c.Lookup(ctx, "alias.example.com", dns.TypeA)
		if err != nil || len(ans.CNAMEs) != 1 || len(ans.Records) != 1 || ans.Secure {
			t.Fatalf("CNAMEs %v records %v Secure %v err %v, want the chain followed and insecure", ans.CNAMEs, ans.Records, ans.Secure, err)
		}
	})
	t.Run("AD ignored without Validating", func(t *testing.T) {
		c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
		before := asked.Load()
		if ans, err := c.Lookup(ctx, "mx.example.com", dns.TypeA); err != nil || ans.Secure {
			t.Fatalf("Secure %v err %v, want AD ignored", ans.Secure, err)
		}
		if asked.Load() != before {
			t.Errorf("a client that does not trust AD asked for it")
		}
	})
	t.Run("local zones are never secure", func(t *testing.T) {
		z, err := resolver.ParseZones("test", strings.NewReader(adZone))
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Validating: true, Local: z})
		if ans, err := c.Lookup(ctx, "mx.example.com", dns.TypeA); err != nil || ans.Secure || ans.Server != resolver.ServerZone {
			t.Fatalf("Server %q Secure %v err %v, want an insecure local answer", ans.Server, ans.Secure, err)
		}
	})
}
