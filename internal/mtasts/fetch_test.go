package mtasts_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/mtasts/mtaststest"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
	"github.com/mxroute/mxroute/internal/routing"
)

const policyText = "version: STSv1\r\nmode: enforce\r\nmx: *.mail.example.com\r\nmax_age: 86400\r\n"

// testZone points every mta-sts host at loopback, except one at an address
// plans never dial and one that does not resolve.
const testZone = `
example.com.                  60 IN SOA ns.example.com. h.example.com. 1 60 60 60 60
mta-sts.example.com.          60 IN A 127.0.0.1
mta-sts.other.example.com.    60 IN A 127.0.0.1
mta-sts.linklocal.example.com. 60 IN A 169.254.1.1
`

// env is a real DNS server, a real resolver and a loopback HTTPS server
// with a certificate from a test CA.
type env struct {
	ca       *mtaststest.CA
	srv      *mtaststest.Server
	policies *mtaststest.Policies
	dns      *resolver.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := dnstest.NewServer(t, testZone)
	rc, err := resolver.New(resolver.Config{Servers: []string{d.Addr()}, Timeout: time.Second, Budget: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ca: mtaststest.NewCA(t), policies: mtaststest.NewPolicies(), dns: rc}
	e.policies.Set("example.com", policyText)
	e.srv = mtaststest.NewServer(t, e.ca.Valid(t, "mta-sts.example.com", "mta-sts.linklocal.example.com"), e.policies)
	return e
}

// allowLoopback is the test setting: the production rules, plus loopback.
func allowLoopback(a netip.Addr) bool { return a.IsLoopback() || dialable(a) }

// dialable is the production rule: what a plan with the default options may contain.
func dialable(a netip.Addr) bool {
	o := routing.DefaultOptions()
	return !o.NeverDials(a)
}

func (e *env) fetcher(mod func(*mtasts.FetchConfig)) *mtasts.Fetcher {
	cfg := mtasts.FetchConfig{Resolver: mtasts.DNSAddrs{DNS: e.dns}, Dialable: allowLoopback, RootCAs: e.ca.Pool(), Port: e.srv.Port(), Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	return mtasts.NewFetcher(cfg)
}

func TestFetch(t *testing.T) {
	e := newEnv(t)
	p, err := e.fetcher(nil).Fetch(context.Background(), "example.com")
	if err != nil || p.Mode != routing.STSEnforce || p.MaxAge != 86400*time.Second || len(p.MX) != 1 {
		t.Fatalf("got %+v, %v; want the enforce policy", p, err)
	}
	if n := e.srv.Requests("mta-sts.example.com"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFetchFailures(t *testing.T) {
	e := newEnv(t)
	serve := func(h http.HandlerFunc) func() { return func() { e.srv.SetHandler(h) } }
	text := func(ct, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write([]byte(body))
		}
	}
	cases := []struct {
		name   string
		domain string
		setup  func()
		cfg    func(*mtasts.FetchConfig)
		want   mtasts.FetchErrorKind
	}{
		{name: "untrusted CA", domain: "example.com", cfg: func(c *mtasts.FetchConfig) { c.RootCAs = mtaststest.NewCA(t).Pool() }, want: mtasts.FetchTLS},
		{name: "certificate for another name", domain: "other.example.com", want: mtasts.FetchTLS},
		{name: "redirect", domain: "example.com", setup: serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://mta-sts.other.example.com/.well-known/mta-sts.txt", http.StatusFound)
		}), want: mtasts.FetchRedirect},
		{name: "oversized", domain: "example.com", setup: serve(text("text/plain", policyText+"x-pad: "+strings.Repeat("a", 70<<10)+"\r\n")), want: mtasts.FetchTooLarge},
		{name: "malformed", domain: "example.com", setup: serve(text("text/plain", "version: STSv1\nmode: enforce\n")), want: mtasts.FetchInvalid},
		{name: "media type", domain: "example.com", setup: serve(text("text/html", policyText)), want: mtasts.FetchMedia},
		{name: "not found", domain: "example.com", setup: serve(http.NotFound), want: mtasts.FetchHTTP},
		{name: "address never dialled", domain: "linklocal.example.com", want: mtasts.FetchForbidden},
		{name: "loopback without the test setting", domain: "example.com", cfg: func(c *mtasts.FetchConfig) { c.Dialable = dialable }, want: mtasts.FetchForbidden},
		{name: "no such host", domain: "missing.example.com", want: mtasts.FetchDNS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.srv.SetHandler(e.policies)
			if c.setup != nil {
				c.setup()
			}
			p, err := e.fetcher(c.cfg).Fetch(context.Background(), c.domain)
			var fe *mtasts.FetchError
			if !errors.As(err, &fe) || fe.Kind != c.want {
				t.Errorf("got %+v, %v; want a %s FetchError", p, err, c.want)
			}
		})
	}
}
