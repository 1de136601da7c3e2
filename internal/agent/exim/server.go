package exim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxroute/mxroute/internal/agent/accept"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/agent/ratelog"
	"github.com/mxroute/mxroute/internal/apigen"
)

// Defaults for ServerConfig.
const (
	// DefaultAnswerBudget bounds the time from request to answer. It stays
	// under the readsocket timeout docs/exim.md sets (5s), so Exim always
	// reads our fail-open or fail-closed answer rather than its own
	// failure string.
	DefaultAnswerBudget = 3 * time.Second
	// DefaultMaxConns bounds the requests answered at once; beyond it a
	// request gets the unavailable answer without asking mxroute, so a
	// burst of deliveries cannot pile up goroutines and connections.
	DefaultMaxConns = 512
	// readTimeout bounds reading the request line: Exim writes it at once.
	readTimeout = time.Second
	// maxRequest is the longest request line: a domain is at most 253
	// octets, and in UTF-8 (SMTPUTF8) a few times that.
	maxRequest = 1024
	// maxDrain bounds what is read and thrown away after answering.
	maxDrain = 64 << 10
)

// Router asks mxroute for a plan; mxclient.Client is one.
type Router interface {
	Route(ctx context.Context, domain string) (apigen.Plan, error)
}

// ServerConfig is the routing side's settings.
type ServerConfig struct {
	Port       int           // SMTP port on every address; DefaultPort when 0
	FailClosed bool          // defer instead of passing to Exim's dnslookup when mxroute is down
	Budget     time.Duration // DefaultAnswerBudget when 0
	MaxConns   int           // DefaultMaxConns when 0
}

// ServerStats are counters since start.
type ServerStats struct {
	Requests, Unavailable, Malformed, Overloaded uint64
}

// Server answers Exim's ${readsocket} routing requests.
type Server struct {
	cfg   ServerConfig
	route Router
	plans *Plans
	warn  *ratelog.Limiter // a down mxroute logs once a minute, not per message
	slots chan struct{}

	requests, unavailable, malformed, overloaded atomic.Uint64
}

// NewServer returns a server asking r; plans (may be nil) remembers what
// was served for the feedback side.
func NewServer(cfg ServerConfig, r Router, plans *Plans, log *slog.Logger) *Server {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultAnswerBudget
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	return &Server{cfg: cfg, route: r, plans: plans, warn: ratelog.New(log, ratelog.DefaultInterval, nil), slots: make(chan struct{}, cfg.MaxConns)}
}

// Stats returns the counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{s.requests.Load(), s.unavailable.Load(), s.malformed.Load(), s.overloaded.Load()}
}

// Serve answers on ln until ctx ends, then closes ln and waits for the
// requests in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return accept.Serve(ctx, ln, s.slots,
		func(c net.Conn) { s.handle(ctx, c) },
		func(c net.Conn) {
			s.overloaded.Add(1)
			s.reply(c, Unavailable(s.cfg.FailClosed))
		})
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	s.requests.Add(1)
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	domain, ok := readRequest(c)
	if !ok {
		s.malformed.Add(1)
		s.reply(c, AnswerPass)
		return
	}
	s.reply(c, s.Answer(ctx, domain))
}

// Answer is the answer for one domain.
func (s *Server) Answer(ctx context.Context, domain string) string {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Budget)
	defer cancel()
	plan, err := s.route.Route(ctx, domain)
	if err != nil {
		// A domain mxroute refuses (not a valid domain) is left to Exim's
		// own routing, which has its own way to fail it, whatever
		// FailClosed says: deferring it would only retry the same error.
		if mxclient.KindOf(err) == mxclient.Rejected {
			s.warn.Warn(ctx, "rejected", "mxroute rejected a routing request; answering pass", "domain", domain, "err", err)
			return AnswerPass
		}
		s.unavailable.Add(1)
		s.warn.Warn(ctx, "unavailable", "mxroute unavailable for routing; answering "+Unavailable(s.cfg.FailClosed), "err", err)
		return Unavailable(s.cfg.FailClosed)
	}
	if s.plans != nil && plan.Disposition == apigen.Deliver {
		s.plans.Remember(plan)
	}
	return Answer(plan, s.cfg.Port)
}

func (s *Server) reply(c net.Conn, answer string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(readTimeout))
	_, _ = io.WriteString(c, answer+"\n")
	// Read what is left of the request (an overlong one, or one not read
	// when overloaded): closing with unread input resets the connection,
	// and the client could lose the answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(c, maxDrain))
}

// readRequest reads one line (or everything up to EOF: Exim shuts down its
// side after the request) holding one domain.
func readRequest(c net.Conn) (string, bool) {
	r := bufio.NewReaderSize(io.LimitReader(c, maxRequest+1), 256)
	line, err := r.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || len(line) > maxRequest) {
		return "", false
	}
	domain := strings.TrimSpace(line)
	if domain == "" || strings.ContainsFunc(domain, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", false
	}
	return domain, true
}
