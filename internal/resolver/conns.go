package resolver

import (
	"context"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Connections to the configured upstreams are kept between queries, the
// way CoreDNS's forward plugin keeps them: a small pool of idle sockets per
// upstream and transport, each used by one query at a time, so no reply
// needs routing to its query beyond the ID check miekg/dns already makes
// (over UDP it skips replies whose ID is not the query's, such as a late
// reply to an earlier query). A socket goes back to the pool only after a
// clean exchange; any error closes it, so no pooled socket has a query
// outstanding.
//
// Reuse saves a socket, a bind and a connect per query, and for TCP the
// handshake. The price is source-port randomisation: a pooled UDP socket
// keeps its (kernel-chosen, random) port for its lifetime. The lifetime is
// therefore short (connMaxAge) and every query still gets a fresh random
// ID, so an off-path attacker has a few seconds of one port to aim at, and
// then a new one. Queries to servers that are not configured upstreams
// (Exchange: a domain's authoritative servers, chosen by DNS data) are
// never pooled: their number is unbounded.

// Pool bounds. connMaxAge is CoreDNS forward's default expire; connMaxIdle
// covers the concurrency of cold plans on a busy replica (a plan has up to
// 16 lookups in flight) without keeping hundreds of sockets open.
const (
	connMaxAge  = 10 * time.Second
	connMaxIdle = 64
)

// pools are one upstream's idle connections, per transport.
type pools struct{ udp, tcp connPool }

func (p *pools) close() {
	p.udp.close()
	p.tcp.close()
}

// pooledConn is a connection and when it was dialled.
type pooledConn struct {
	*dns.Conn
	born time.Time
}

// connPool holds idle connections to one server over one transport.
type connPool struct {
	mu     sync.Mutex
	idle   []pooledConn
	closed bool
}

// get returns an idle connection younger than connMaxAge, most recently
// used first, closing the expired ones it passes.
func (p *connPool) get(now time.Time) (pooledConn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		pc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(pc.born) < connMaxAge {
			return pc, true
		}
		pc.Close()
	}
	return pooledConn{}, false
}

// put returns pc for reuse, or closes it when it is too old, the pool is
// full or closed.
func (p *connPool) put(pc pooledConn, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= connMaxIdle || now.Sub(pc.born) >= connMaxAge {
		pc.Close()
		return
	}
	p.idle = append(p.idle, pc)
}

// close closes the idle connections; later puts close theirs.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, pc := range p.idle {
		pc.Close()
	}
	p.idle = nil
}

// conn returns a pooled connection to server, or dials one when pool is
// nil or has none idle. reused tells which.
func conn(ctx context.Context, dc *dns.Client, pool *connPool, server string) (pc pooledConn, reused bool, err error) {
	now := time.Now()
	if pool != nil {
		if pc, ok := pool.get(now); ok {
			return pc, true, nil
		}
	}
	co, err := dc.DialContext(ctx, server)
	if err != nil {
		return pooledConn{}, false, err
	}
	return pooledConn{Conn: co, born: now}, false, nil
}
