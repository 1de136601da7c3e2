// Package dnstest runs in-process authoritative DNS servers for tests: one
// miekg/dns server listening on a free loopback port over both UDP and TCP,
// serving master-file text given by the test, with knobs to make it fail,
// stall or truncate, and counters of the queries it received.
//
// It parses zones itself rather than reuse package resolver's, so that a
// bug in the code under test is not mirrored by the server testing it.
//
// Serving rules, close to a real authoritative server:
//   - Each SOA record in the text roots a zone. Names under no SOA belong to
//     an implicit root zone with the SOA ". 60 IN SOA ns.dnstest. hostmaster.dnstest. 1 3600 600 86400 60",
//     so a test needs no SOA for plain data such as a reverse-zone PTR.
//   - Replies are authoritative (AA). A CNAME is followed inside the same
//     zone, adding the target's records; a target in another zone is left
//     for the client to ask about (the reply is NOERROR with the CNAMEs only).
//   - A name that has no records and no descendants is NXDOMAIN; otherwise
//     an empty answer is NODATA. Both carry the zone's SOA in the authority
//     section.
//   - Replies over UDP are truncated (TC set) when larger than the client's
//     EDNS0 buffer, or 512 bytes without EDNS0.
package dnstest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Any, given as the name to a knob, applies it to every name.
const Any = ""

// Transports, as given to Queries.
const (
	UDP = "udp"
	TCP = "tcp"
)

// HandlerFunc answers one query in place of the zone data. Returning nil
// sends no reply at all (the client times out).
type HandlerFunc func(req *dns.Msg) *dns.Msg

// Server is a running test DNS server. Its methods are safe to call while
// it serves.
type Server struct {
	addr   string
	zones  *zoneData
	udp    *dns.Server
	tcp    *dns.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	rcodes   map[string]int
	delays   map[string]time.Duration
	truncate map[string]bool
	handlers map[handlerKey]HandlerFunc
	counts   map[countKey]int
}

type handlerKey struct {
	name  string
	qtype uint16
}

type countKey struct {
	name      string
	qtype     uint16
	transport string
}

// NewServer parses zone (RFC 1035 master-file text with absolute names or
// $ORIGIN) and serves it on 127.0.0.1 over UDP and TCP on one port until
// the test ends. A parse error fails the test at once.
func NewServer(t testing.TB, zone string) *Server {
	t.Helper()
	zd, err := parseZone(zone)
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s := &Server{
		zones:    zd,
		closed:   make(chan struct{}),
		rcodes:   map[string]int{},
		delays:   map[string]time.Duration{},
		truncate: map[string]bool{},
		handlers: map[handlerKey]HandlerFunc{},
		counts:   map[countKey]int{},
	}
	pc, l, err := listenPair()
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	s.addr = pc.LocalAddr().String()

	var started sync.WaitGroup
	started.Add(2)
	notify := func() { started.Done() }
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
	errs := make(chan error, 2)
	go func() { errs <- s.udp.ActivateAndServe() }()
	go func() { errs <- s.tcp.ActivateAndServe() }()
	started.Wait()
	t.Cleanup(func() {
		s.Close()
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("dnstest: serve: %v", err)
			}
		}
	})
	return s
}

// listenPair binds UDP and TCP on the same free loopback port. The UDP port
// is picked by the kernel and may be taken for TCP by someone else, so a
// few ports are tried.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, lastErr
}

// FreePort returns a port that was free on 127.0.0.1 for both UDP and TCP
// when asked, for a server the test starts in another process (unbound).
func FreePort() (int, error) {
	pc, l, err := listenPair()
	if err != nil {
		return 0, err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	l.Close()
	return port, nil
}

// Addr returns the server's address, "127.0.0.1:port", the same for UDP
// and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server early, for a test of a server going away; later
// queries get no answer (UDP) or a refused connection (TCP). The test's
// cleanup calls it too; calling it twice is harmless.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed) // releases handlers held by SetDelay
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.udp.ShutdownContext(ctx)
		s.tcp.ShutdownContext(ctx)
	})
}

// SetRcode makes every query for name (or Any) be answered with rcode and
// no records, e.g. dns.RcodeServerFailure or dns.RcodeRefused.
// dns.RcodeSuccess restores normal answers.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.rcodes, canonical(name))
		return
	}
	s.rcodes[canonical(name)] = rcode
}

// SetDelay holds each reply for name (or Any) for d before sending it, to
// play a slow or (with a long d) dead server. Zero removes the delay.
func (s *Server) SetDelay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, canonical(name))
		return
	}
	s.delays[canonical(name)] = d
}

// SetTruncate makes UDP replies for name (or Any) carry TC and no records,
// so that the client must retry over TCP, where the full answer comes.
func (s *Server) SetTruncate(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !on {
		delete(s.truncate, canonical(name))
		return
	}
	s.truncate[canonical(name)] = true
}

// Handle answers queries for name (or Any) and qtype (0 for every type)
// with fn instead of the zone data. SetDelay still applies, SetRcode and
// SetTruncate do not. A nil fn removes the handler.
func (s *Server) Handle(name string, qtype uint16, fn HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := handlerKey{canonical(name), qtype}
	if fn == nil {
		delete(s.handlers, k)
		return
	}
	s.handlers[k] = fn
}

// Queries returns how many queries for name (or Any) and qtype (0 for
// every type) arrived over transport (UDP, TCP, or "" for both).
func (s *Server) Queries(name string, qtype uint16, transport string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonical(name)
	n := 0
	for k, c := range s.counts {
		if (name == Any || k.name == name) && (qtype == 0 || k.qtype == qtype) &&
			(transport == "" || k.transport == transport) {
			n += c
		}
	}
	return n
}

// TotalQueries returns how many queries arrived, over both transports.
func (s *Server) TotalQueries() int { return s.Queries(Any, 0, "") }

// ResetCounts forgets the queries counted so far.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

// serve is the dns.Handler of both listeners.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		reply := new(dns.Msg)
		reply.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(reply)
		return
	}
	q := req.Question[0]
	name := canonical(q.Name)
	transport := w.LocalAddr().Network()

	s.mu.Lock()
	s.counts[countKey{name, q.Qtype, transport}]++
	delay := lookupKnob(s.delays, name)
	rcode := lookupKnob(s.rcodes, name)
	trunc := lookupKnob(s.truncate, name) && transport == UDP
	fn := s.handlers[handlerKey{name, q.Qtype}]
	for _, k := range []handlerKey{{name, 0}, {Any, q.Qtype}, {Any, 0}} {
		if fn == nil {
			fn = s.handlers[k]
		}
	}
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closed:
			return
		}
	}

	var reply *dns.Msg
	switch {
	case fn != nil:
		if reply = fn(req); reply == nil {
			return
		}
	case rcode != dns.RcodeSuccess:
		reply = new(dns.Msg)
		reply.SetRcode(req, rcode)
	default:
		reply = s.zones.reply(req)
		if trunc {
			reply.Answer, reply.Ns, reply.Extra = nil, nil, nil
			reply.Truncated = true
		}
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		if reply.IsEdns0() == nil {
			reply.SetEdns0(opt.UDPSize(), false)
		}
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if transport == UDP {
		reply.Truncate(size)
	}
	w.WriteMsg(reply)
}

// lookupKnob returns the setting for name, else the one for Any.
func lookupKnob[V any](m map[string]V, name string) V {
	if v, ok := m[name]; ok {
		return v
	}
	return m[Any]
}

func canonical(name string) string {
	if name == Any {
		return Any
	}
	return dns.CanonicalName(name)
}
