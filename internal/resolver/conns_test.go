package resolver_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// peerServer is a real miekg/dns server on loopback UDP and TCP that
// answers every A query with 192.0.2.1 and records the client's source
// address of each query and how many TCP connections it accepted. reply,
// when set, answers in its place.
type peerServer struct {
	addr     string
	mu       sync.Mutex
	peers    []string
	accepted int
	reply    func(w dns.ResponseWriter, req *dns.Msg) bool
	big      bool // answers too large for UDP, so clients retry over TCP
}

func newPeerServer(t *testing.T, idle time.Duration) *peerServer {
	t.Helper()
	s := &peerServer{}
	// The same port for UDP and TCP: a free UDP port may be taken for TCP
	// by another test, so try a few, as dnstest does.
	var (
		pc  net.PacketConn
		l   net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.mu.Lock()
		s.peers = append(s.peers, w.RemoteAddr().String())
		reply, big := s.reply, s.big
		s.mu.Unlock()
		if reply != nil && reply(w, req) {
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		n := 1
		if big {
			n = 60
		}
		for i := range n {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(1+i))})
		}
		if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP && big {
			m.Answer, m.Truncated = nil, true
		}
		w.WriteMsg(m)
	})
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: countingListener{l, s}, Handler: h, IdleTimeout: func() time.Duration { return idle }}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return s
}

type countingListener struct {
	net.Listener
	s *peerServer
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.accepted++
		l.s.mu.Unlock()
	}
	return c, err
}

func (s *peerServer) stats() (peers map[string]int, accepted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	peers = map[string]int{}
	for _, p := range s.peers {
		peers[p]++
	}
	return peers, s.accepted
}

func lookupA(t *testing.T, c *resolver.Client, name string, want int) {
	t.Helper()
	ans, err := c.Lookup(t.Context(), name, dns.TypeA)
	if err != nil || len(ans.Records) != want {
		t.Fatalf("Lookup(%s) = %d records, %v; want %d records", name, len(ans.Records), err, want)
	}
}

// TestUDPSocketReused: sequential lookups to an upstream go out from one
// socket (one source port), and every query still carries its own ID.
func TestUDPSocketReused(t *testing.T) {
	s := newPeerServer(t, time.Minute)
	var mu sync.Mutex
	ids := map[uint16]bool{}
	s.mu.Lock()
	s.reply = func(_ dns.ResponseWriter, req *dns.Msg) bool {
		mu.Lock()
		ids[req.Id] = true
		mu.Unlock()
		return false
	}
	s.mu.Unlock()
	c := newClient(t, resolver.Config{Servers: []string{s.addr}})
	for i := range 20 {
		lookupA(t, c, "h"+string(rune('a'+i))+".example.", 1)
	}
	peers, _ := s.stats()
	if len(peers) != 1 {
		t.Errorf("20 sequential lookups came from %d source ports (%v), want 1", len(peers), peers)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) < 19 { // 16-bit random IDs: one collision in 20 is possible, two are not plausible
		t.Errorf("20 queries carried %d distinct IDs, want a fresh random ID per query", len(ids))
	}
}

// TestStrayReplyIgnored: a reply with another query's ID on a reused
// socket (a late answer to an earlier query) is skipped; the lookup gets
// the reply to its own query.
func TestStrayReplyIgnored(t *testing.T) {
	s := newPeerServer(t, time.Minute)
	c := newClient(t, resolver.Config{Servers: []string{s.addr}})
	lookupA(t, c, "first.example.", 1)
	s.mu.Lock()
	s.reply = func(w dns.ResponseWriter, req *dns.Msg) bool {
		stray := new(dns.Msg)
		stray.SetReply(req)
		stray.Id = req.Id + 1
		stray.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(203, 0, 113, 66)}}
		w.WriteMsg(stray)
		return false // then the real answer
	}
	s.mu.Unlock()
	ans, err := c.Lookup(t.Context(), "second.example.", dns.TypeA)
	if err != nil || len(ans.Records) != 1 || !ans.Records[0].(*dns.A).A.Equal(net.IPv4(192, 0, 2, 1)) {
		t.Fatalf("Lookup after a stray reply = %v, %v; want 192.0.2.1", ans.Records, err)
	}
}

// TestTimedOutSocketNotReused: after a query times out, its socket is
// closed, so a late reply cannot be read as the answer to the next query
// on it: the next lookup comes from another source port.
func TestTimedOutSocketNotReused(t *testing.T) {
	s := newPeerServer(t, time.Minute)
	c := newClient(t, resolver.Config{Servers: []string{s.addr}, Timeout: 100 * time.Millisecond})
	lookupA(t, c, "first.example.", 1)
	s.mu.Lock()
	s.reply = func(dns.ResponseWriter, *dns.Msg) bool { return true } // silence
	s.mu.Unlock()
	if _, err := c.Lookup(t.Context(), "lost.example.", dns.TypeA); err == nil {
		t.Fatal("Lookup to a silent server: nil error")
	}
	s.mu.Lock()
	s.reply = nil
	s.mu.Unlock()
	lookupA(t, c, "third.example.", 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.peers); s.peers[n-1] == s.peers[n-2] {
		t.Errorf("the lookup after a timeout came from the timed-out socket %s", s.peers[n-1])
	}
}

// TestTCPConnectionReused: truncated answers are fetched over TCP, and
// sequential ones share one TCP connection.
func TestTCPConnectionReused(t *testing.T) {
	s := newPeerServer(t, time.Minute)
	s.mu.Lock()
	s.big = true
	s.mu.Unlock()
	c := newClient(t, resolver.Config{Servers: []string{s.addr}})
	for i := range 5 {
		lookupA(t, c, "big"+string(rune('a'+i))+".example.", 60)
	}
	if _, accepted := s.stats(); accepted != 1 {
		t.Errorf("5 lookups over TCP opened %d connections, want 1", accepted)
	}
}

// TestClosedTCPConnectionRedialled: a pooled TCP connection that the
// server closed while idle costs no failure: the lookup dials afresh.
func TestClosedTCPConnectionRedialled(t *testing.T) {
	s := newPeerServer(t, 20*time.Millisecond)
	s.mu.Lock()
	s.big = true
	s.mu.Unlock()
	c := newClient(t, resolver.Config{Servers: []string{s.addr}})
	lookupA(t, c, "big1.example.", 60)
	time.Sleep(100 * time.Millisecond) // the server's idle timeout closes it
	lookupA(t, c, "big2.example.", 60)
	if _, accepted := s.stats(); accepted != 2 {
		t.Errorf("TCP connections accepted: %d, want 2 (the closed one replaced)", accepted)
	}
	if h := c.Health()[0]; h.ConsecutiveFailures != 0 || h.LastError != nil {
		t.Errorf("server health after a redial: %+v, want no failure recorded", h)
	}
}
