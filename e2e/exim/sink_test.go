//go:build exim_e2e

package exime2e

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkMode is how a sink answers.
type sinkMode int

const (
	accept   sinkMode = iota // takes every message
	greet421                 // 421 at the greeting, then hangs up
	data421                  // 421 after the message's final dot, then hangs up
	badTLS                   // offers STARTTLS, then answers the handshake with garbage
)

// received is one message a sink took.
type received struct {
	sink, messageID string
	rcpts           []string
}

// sinks are SMTP servers on loopback addresses, all on one port.
type sinks struct {
	mu   sync.Mutex
	got  []received
	lns  []net.Listener
	port int
}

// startSinks listens on every address in modes on one free port.
func startSinks(t *testing.T, modes map[string]sinkMode) *sinks {
	t.Helper()
	s := &sinks{}
	for try := 0; try < 20 && s.port == 0; try++ {
		s.tryListen(t, modes)
	}
	if s.port == 0 {
		t.Fatal("no port free on every sink address")
	}
	t.Cleanup(func() {
		for _, ln := range s.lns {
			ln.Close()
		}
	})
	return s
}

func (s *sinks) tryListen(t *testing.T, modes map[string]sinkMode) {
	port := 0
	var lns []net.Listener
	for addr, mode := range modes {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return
		}
		port = ln.Addr().(*net.TCPAddr).Port
		lns = append(lns, ln)
		go s.serve(ln, addr, mode)
	}
	s.lns, s.port = lns, port
}

func (s *sinks) serve(ln net.Listener, addr string, mode sinkMode) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.session(c, addr, mode)
	}
}

func (s *sinks) session(c net.Conn, addr string, mode sinkMode) {
	defer c.Close()
	tp := textproto.NewConn(c)
	if mode == greet421 {
		_ = tp.PrintfLine("421 4.3.2 %s is shutting down", addr)
		return
	}
	_ = tp.PrintfLine("220 %s ESMTP sink", addr)
	var cur received
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO") && mode == badTLS:
			_ = tp.PrintfLine("250-%s\r\n250-PIPELINING\r\n250 STARTTLS", addr)
		case verb == "STARTTLS" && mode == badTLS:
			_ = tp.PrintfLine("220 2.0.0 go ahead")
			_ = tp.PrintfLine("%s", strings.Repeat("this is not a TLS record ", 8))
			time.Sleep(200 * time.Millisecond) // let the client read it before the close
			return
		case strings.HasPrefix(verb, "EHLO"):
			_ = tp.PrintfLine("250-%s\r\n250 PIPELINING", addr)
		case strings.HasPrefix(verb, "MAIL"):
			cur = received{sink: addr}
			_ = tp.PrintfLine("250 2.1.0 ok")
		case strings.HasPrefix(verb, "RCPT"):
			cur.rcpts = append(cur.rcpts, strings.Trim(line[len("RCPT TO:"):], "<> "))
			_ = tp.PrintfLine("250 2.1.5 ok")
		case verb == "DATA":
			_ = tp.PrintfLine("354 go ahead")
			cur.messageID = readBody(tp.R)
			if mode == data421 {
				_ = tp.PrintfLine("421 4.3.0 %s is closing after the data", addr)
				return
			}
			s.mu.Lock()
			s.got = append(s.got, cur)
			n := len(s.got)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 2.0.0 queued as %s-%d", addr, n)
		case verb == "QUIT":
			_ = tp.PrintfLine("221 2.0.0 bye")
			return
		case verb == "RSET" || verb == "NOOP":
			_ = tp.PrintfLine("250 2.0.0 ok")
		default:
			_ = tp.PrintfLine("502 5.5.2 not here")
		}
	}
}

// readBody reads a message up to the dot and returns its Message-ID.
func readBody(r *bufio.Reader) string {
	id := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return id
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "." {
			return id
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "message-id:"); ok && id == "" {
			id = strings.TrimSpace(line[len(line)-len(v):])
		}
	}
}

// messages returns a copy of what the sinks took.
func (s *sinks) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}
