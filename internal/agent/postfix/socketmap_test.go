package postfix

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/apigen"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// plans is a Router answering from a table and counting asks.
type plans struct {
	mu    sync.Mutex
	asks  map[string]int
	plans map[string]apigen.Plan
	err   error
	delay time.Duration
}

func (p *plans) Route(ctx context.Context, domain string) (apigen.Plan, error) {
	p.mu.Lock()
	p.asks[domain]++
	p.mu.Unlock()
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return apigen.Plan{}, &mxclient.Error{Kind: mxclient.Unavailable, Err: ctx.Err()}
		}
	}
	if p.err != nil {
		return apigen.Plan{}, p.err
	}
	pl, ok := p.plans[domain]
	if !ok {
		return apigen.Plan{}, &mxclient.Error{Kind: mxclient.Rejected, Status: 400}
	}
	return pl, nil
}

func ptr[T any](v T) *T { return &v }

func testPlans() *plans {
	return &plans{asks: map[string]int{}, plans: map[string]apigen.Plan{
		"example.com": {Domain: "example.com", Disposition: apigen.Deliver, Ttl: 300, RouteId: "r1",
			Attempts: []apigen.Attempt{{Address: "127.0.0.2"}, {Address: "2001:db8::1"}, {Address: "::ffff:127.0.0.3", Host: "mx3.example.com"}}},
		"null.example": {Domain: "null.example", Disposition: apigen.PermanentFailure, Reason: "null_mx", EnhancedStatus: ptr("5.1.10")},
		"slow.example": {Domain: "slow.example", Disposition: apigen.TemporaryFailure, Reason: "dns_error", EnhancedStatus: ptr("4.4.3")},
	}}
}

func TestAnswer(t *testing.T) {
	for _, tc := range []struct{ req, want string }{
		{"mxroute user@example.com", "OK smtp:[127.0.0.2]:2525, [ipv6:2001:db8::1]:2525, [127.0.0.3]:2525"},
		{"mxroute User+ext@Example.COM.", "OK smtp:[127.0.0.2]:2525, [ipv6:2001:db8::1]:2525, [127.0.0.3]:2525"},
		{"mxroute example.com", "OK smtp:[127.0.0.2]:2525, [ipv6:2001:db8::1]:2525, [127.0.0.3]:2525"},
		{"mxroute a@null.example", "OK error:5.1.10 mxroute: null.example: null mx"},
		{"mxroute a@slow.example", "OK retry:4.4.3 mxroute: slow.example: dns error"},
		{"mxroute *", "NOTFOUND "},
		{"mxroute .example.com", "NOTFOUND "},
		{"mxroute postmaster", "NOTFOUND "},
		{"mxroute user@[127.0.0.1]", "NOTFOUND "},
		{"mxroute user@", "NOTFOUND "},
		{"mxroute a@invalid-per-mxroute.example", "NOTFOUND "}, // 400 from mxroute: Postfix decides
		{"other user@example.com", "PERM unknown map name"},
		{"mxroute", "PERM unknown map name"},
	} {
		m := NewMap(MapConfig{Port: 2525}, testPlans(), quiet, nil)
		if got := m.Answer(context.Background(), tc.req); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestOneAskPerRecipient(t *testing.T) {
	p := testPlans()
	m := NewMap(MapConfig{}, p, quiet, nil)
	ctx := context.Background()
	// Postfix asks the external and internal forms, and resolves twice.
	for range 3 {
		m.Answer(ctx, "mxroute a@example.com")
	}
	m.Answer(ctx, "mxroute b@example.com")
	if p.asks["example.com"] != 2 {
		t.Errorf("asks %d, want 2 (one per recipient)", p.asks["example.com"])
	}
}

func TestStableOrderReusesUntilTTL(t *testing.T) {
	p := testPlans()
	now := time.Unix(1000, 0)
	m := NewMap(MapConfig{Order: OrderStable, StableFor: 60 * time.Second}, p, quiet, func() time.Time { return now })
	ctx := context.Background()
	m.Answer(ctx, "mxroute a@example.com")
	now = now.Add(59 * time.Second)
	m.Answer(ctx, "mxroute b@example.com")
	if p.asks["example.com"] != 1 {
		t.Fatalf("asks %d within StableFor, want 1", p.asks["example.com"])
	}
	now = now.Add(2 * time.Second)
	m.Answer(ctx, "mxroute c@example.com")
	if p.asks["example.com"] != 2 {
		t.Errorf("asks %d after StableFor, want 2", p.asks["example.com"])
	}
}

func TestFailOpenAndClosed(t *testing.T) {
	down := &plans{asks: map[string]int{}, err: &mxclient.Error{Kind: mxclient.Unavailable}}
	open := NewMap(MapConfig{FailOpen: true}, down, quiet, nil)
	if got := open.Answer(context.Background(), "mxroute a@example.com"); got != "NOTFOUND " {
		t.Errorf("fail open: %q", got)
	}
	closed := NewMap(MapConfig{FailOpen: false}, down, quiet, nil)
	if got := closed.Answer(context.Background(), "mxroute a@example.com"); !strings.HasPrefix(got, "TEMP ") {
		t.Errorf("fail closed: %q", got)
	}
}

func TestBudgetBoundsSlowMxroute(t *testing.T) {
	slow := &plans{asks: map[string]int{}, delay: 5 * time.Second}
	m := NewMap(MapConfig{FailOpen: true, Budget: 100 * time.Millisecond}, slow, quiet, nil)
	start := time.Now()
	got := m.Answer(context.Background(), "mxroute a@example.com")
	if got != "NOTFOUND " || time.Since(start) > time.Second {
		t.Errorf("got %q after %v, want NOTFOUND within the budget", got, time.Since(start))
	}
}

func TestAttribution(t *testing.T) {
	m := NewMap(MapConfig{}, testPlans(), quiet, nil)
	m.Answer(context.Background(), "mxroute a@example.com")
	if a, ok := m.Attribute("127.0.0.3"); !ok || a != (Attribution{"example.com", "r1", "mx3.example.com"}) {
		t.Errorf("attribute: %+v %v", a, ok)
	}
	// A connect failure (no recipient in the line) gets the plan's domain,
	// route id and host name.
	p := NewParser(time.UTC, nil, m)
	r := p.Parse([]byte("Dec 06 11:42:12 pf-a postfix/smtp[1]: connect to 127.0.0.3[127.0.0.3]:25: Connection refused"))
	if len(r) != 1 || r[0].Domain == nil || *r[0].Domain != "example.com" || r[0].RouteId == nil || *r[0].RouteId != "r1" ||
		r[0].Host == nil || *r[0].Host != "mx3.example.com" {
		t.Errorf("attributed report %+v", r)
	}
}

// dial starts a server and returns a connection to it.
func dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	return dialMap(t, NewMap(MapConfig{Port: 25}, testPlans(), quiet, nil))
}

// dialMap serves m and returns a connection to it.
func dialMap(t *testing.T, m *Map) (net.Conn, *bufio.Reader) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := NewServer(m, quiet, 0, 0)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func TestServerSpeaksNetstrings(t *testing.T) {
	c, r := dial(t)
	// Two requests in one write: both answered in order on one connection.
	c.Write(appendNetstring(appendNetstring(nil, "mxroute a@null.example"), "mxroute *"))
	for _, want := range []string{"OK error:5.1.10 mxroute: null.example: null mx", "NOTFOUND "} {
		got, err := readNetstring(r, MaxReply)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestServerMalformedGetsPERM(t *testing.T) {
	for _, bad := range []string{"abc", "5:mxroute", "99999999:x", "3:abc;", "01:a,"} {
		c, r := dial(t)
		io.WriteString(c, bad)
		if cw, ok := c.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		got, err := readNetstring(r, MaxReply)
		if err != nil || !strings.HasPrefix(string(got), "PERM ") {
			t.Errorf("%q: got %q, %v; want PERM", bad, got, err)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection not closed after PERM: %v", bad, err)
		}
	}
}
