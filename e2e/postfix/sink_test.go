//go:build postfix_e2e

package postfixe2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sink modes.
const (
	accept   = "accept"
	refuse   = "refuse"   // no listener: connection refused
	greet421 = "greet421" // 421 at the greeting, then close
	rcpt421  = "rcpt421"  // 421 to RCPT TO, then close
	rcpt450  = "rcpt450"  // 450 to RCPT TO (a mailbox problem, not the host's)
	dropMail = "dropMail" // close the connection on MAIL FROM
)

// sink is an SMTP server on one loopback address that records what it
// receives: the ground truth the e2e compares mxroute's counters with.
type sink struct {
	t    *testing.T
	addr string // host:port

	mu         sync.Mutex
	mode       string
	ln         net.Listener
	delivered  map[string]int // Subject -> times received
	greetings  int            // connections answered with 421
	bodies     []string
	deliveries int
	sessions   int // connections accepted
	active     int
	maxActive  int // most connections open at once

	// With tlsConf the sink offers STARTTLS with its certificate.
	tlsConf       *tls.Config
	handshakes    int // STARTTLS handshakes completed
	tlsFailures   int // STARTTLS handshakes the client broke off
	clearMail     int // MAIL FROM received without TLS
	tlsDeliveries int // messages received over TLS
}

func newSink(t *testing.T, addr string) *sink {
	s := &sink{t: t, addr: addr, delivered: map[string]int{}}
	s.setMode(accept)
	t.Cleanup(func() { s.setMode(refuse) })
	return s
}

// setMode switches behaviour; refuse closes the listener.
func (s *sink) setMode(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
	if mode == refuse {
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
		}
		return
	}
	if s.ln == nil {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			s.t.Fatalf("sink %s: %v", s.addr, err)
		}
		s.ln = ln
		go s.serve(ln)
	}
}

// newTLSSink is a sink that offers STARTTLS with cert.
func newTLSSink(t *testing.T, addr string, cert tls.Certificate) *sink {
	s := &sink{t: t, addr: addr, delivered: map[string]int{},
		tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	s.setMode(accept)
	t.Cleanup(func() { s.setMode(refuse) })
	return s
}

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered, s.greetings, s.bodies, s.deliveries = map[string]int{}, 0, nil, 0
	s.sessions, s.maxActive = 0, s.active
	s.handshakes, s.tlsFailures, s.clearMail, s.tlsDeliveries = 0, 0, 0, 0
}

func (s *sink) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *sink) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	s.mu.Lock()
	mode := s.mode
	if mode == greet421 {
		s.greetings++
	}
	s.sessions++
	s.active++
	s.maxActive = max(s.maxActive, s.active)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.active--; s.mu.Unlock() }()
	w := bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n"); w.Flush() }
	if mode == greet421 {
		say("421 4.3.2 sink shutting down")
		return
	}
	say("220 sink ESMTP")
	r := bufio.NewReader(c)
	secure := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-sink")
			if s.tlsConf != nil && !secure {
				say("250-STARTTLS")
			}
			say("250 8BITMIME")
		case cmd == "STARTTLS" && s.tlsConf != nil && !secure:
			say("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, s.tlsConf)
			if err := tc.Handshake(); err != nil {
				s.count1(&s.tlsFailures)
				return
			}
			s.count1(&s.handshakes)
			secure = true
			defer tc.Close()
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case strings.HasPrefix(cmd, "MAIL") && mode == dropMail:
			return
		case strings.HasPrefix(cmd, "MAIL") && !secure:
			s.count1(&s.clearMail)
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT") && mode == rcpt421:
			say("421 4.7.0 try later")
			return
		case strings.HasPrefix(cmd, "RCPT") && mode == rcpt450:
			say("450 4.2.0 mailbox busy")
		case strings.HasPrefix(cmd, "HELO"), strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"),
			strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				body.WriteString(l)
			}
			s.record(body.String(), secure)
			say("250 2.0.0 ok: queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func (s *sink) count1(n *int) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

func (s *sink) record(body string, secure bool) {
	subject := ""
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject = strings.TrimSpace(v)
			break
		}
	}
	s.mu.Lock()
	s.delivered[subject]++
	s.deliveries++
	if secure {
		s.tlsDeliveries++
	}
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
}

// count returns how many times subject arrived, and the sink's totals.
func (s *sink) count(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered[subject]
}

func (s *sink) totals() (deliveries, greetings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries, s.greetings
}

// connections returns the connections accepted and the most open at once.
func (s *sink) connections() (sessions, maxActive int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions, s.maxActive
}

// tlsTotals returns the STARTTLS handshakes completed and broken off, the
// MAIL FROM commands received in clear and the messages received over TLS.
func (s *sink) tlsTotals() (handshakes, failures, clearMail, tlsDeliveries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handshakes, s.tlsFailures, s.clearMail, s.tlsDeliveries
}

func (s *sink) bodyContaining(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bodies {
		if strings.Contains(b, sub) {
			return true
		}
	}
	return false
}

func (s *sink) String() string { return fmt.Sprintf("sink %s", s.addr) }
