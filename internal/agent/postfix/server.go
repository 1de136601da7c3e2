package postfix

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/mxroute/mxroute/internal/agent/accept"
)

// Defaults for ServerConfig.
const (
	// DefaultMaxConns bounds concurrent socketmap connections. Each
	// trivial-rewrite process holds one; a handful is normal.
	DefaultMaxConns = 256
	// DefaultIdle closes a connection with no request for this long;
	// Postfix closes its own idle ones after 10 s and reconnects.
	DefaultIdle = time.Minute
)

// Server speaks the socketmap protocol on a listener.
type Server struct {
	m        *Map
	log      *slog.Logger
	maxConns int
	idle     time.Duration
	sem      chan struct{}
}

// NewServer serves m; maxConns and idle of 0 take the defaults.
func NewServer(m *Map, log *slog.Logger, maxConns int, idle time.Duration) *Server {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	if idle <= 0 {
		idle = DefaultIdle
	}
	return &Server{m: m, log: log, maxConns: maxConns, idle: idle, sem: make(chan struct{}, maxConns)}
}

// Serve accepts connections until ctx ends, then closes ln and waits for
// the connections to finish their current request.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return accept.Serve(ctx, ln, s.sem,
		func(c net.Conn) { s.serveConn(ctx, c) },
		func(c net.Conn) {
			// Over the limit: Postfix sees a lookup error and retries.
			s.log.Warn("socketmap: too many connections", "max", s.maxConns)
			c.Close()
		})
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReaderSize(c, 4096)
	out := make([]byte, 0, 512)
	for {
		c.SetReadDeadline(time.Now().Add(s.idle))
		req, err := readNetstring(r, MaxRequest)
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				// The framing is lost: say why and hang up.
				s.log.Warn("socketmap: malformed request", "err", err)
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write(appendNetstring(out[:0], "PERM malformed request"))
			} else if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					s.log.Debug("socketmap: read", "err", err)
				}
			}
			return
		}
		reply := s.m.Answer(ctx, string(req))
		out = appendNetstring(out[:0], reply)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
