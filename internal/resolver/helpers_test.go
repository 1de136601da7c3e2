package resolver_test

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxroute/mxroute/internal/resolver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testZone is served by dnstest in most tests. TTLs differ so that the
// minimum along a chain is visible.
const testZone = `
example.com.            3600 IN SOA  ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300
example.com.            3600 IN NS   ns1.example.com.
example.com.             300 IN MX   10 mail1.example.com.
example.com.             300 IN MX   20 mail2.example.com.
example.com.             300 IN MX   20 mail3.example.com.
mail1.example.com.       300 IN A    192.0.2.3
mail1.example.com.       300 IN A    192.0.2.1
mail1.example.com.       300 IN A    192.0.2.2
mail1.example.com.       300 IN AAAA 2001:db8::1
mail2.example.com.       300 IN AAAA 2001:db8::2
a.ent.example.com.       300 IN TXT  "below an empty non-terminal"
www.example.com.         120 IN CNAME web.example.com.
web.example.com.         600 IN CNAME host.example.com.
host.example.com.        900 IN A    192.0.2.80
dangling.example.com.    200 IN CNAME missing.example.com.
away.example.com.        100 IN CNAME mx.other.test.
loop1.example.com.       300 IN CNAME loop2.example.com.
loop2.example.com.       300 IN CNAME loop1.example.com.
xloop.example.com.       300 IN CNAME xloop.other.test.

other.test.               30 IN SOA  ns.other.test. hostmaster.other.test. 1 7200 900 1209600 600
mx.other.test.            50 IN A    198.51.100.1
xloop.other.test.        300 IN CNAME xloop.example.com.
`

// newClient builds a Client with short timeouts so that failing tests fail
// fast; tests about timeouts set their own.
func newClient(t *testing.T, cfg resolver.Config) *resolver.Client {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	c, err := resolver.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deadAddr returns a loopback UDP address nobody listens on: queries to
// it fail at once with "connection refused".
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
