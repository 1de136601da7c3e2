package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"
)

// Exchange sends m to one server and returns its reply, whatever the rcode:
// over UDP first, again over TCP when the UDP reply is truncated. It is for
// callers that talk to a specific server, such as a domain's authoritative
// name servers, and so set m's flags (RD, EDNS0) themselves; without EDNS0
// in m the UDP reply is limited to 512 bytes and larger ones come over TCP.
// Each attempt is bounded by Config.Timeout and by ctx; Budget does not
// apply, nor does server health, which is kept for Config.Servers alone.
// Errors wrap ErrTimeout, ErrBadResponse, a context error or the network
// error.
//
// Its queries are counted in the metrics under server="authoritative",
// whatever the address: the servers come from DNS data that anyone who
// can ask for a check chooses, and one label value per address would let
// them grow the metric series without bound. The span keeps the address.
func (c *Client) Exchange(ctx context.Context, server string, m *dns.Msg) (*dns.Msg, error) {
	r, err := c.exchange(ctx, server, serverLabelAuthoritative, nil, m)
	if err != nil {
		return nil, fmt.Errorf("query %s via %s: %w", describe(m), server, err)
	}
	return r, nil
}

// exchange is Exchange without the error context, which Lookup adds in its
// own words. label is the server's value of the metrics' server attribute;
// pools are the server's idle connections, nil for a server that is not a
// configured upstream.
func (c *Client) exchange(ctx context.Context, server, label string, pools *pools, m *dns.Msg) (*dns.Msg, error) {
	var udp, tcp *connPool
	if pools != nil {
		udp, tcp = &pools.udp, &pools.tcp
	}
	r, err := c.attempt(ctx, c.udp, udp, "udp", server, label, m)
	if err != nil {
		return nil, err
	}
	if !r.Truncated {
		return r, nil
	}
	return c.attempt(ctx, c.tcp, tcp, "tcp", server, label, m)
}

// attempt is one query on the wire, with its span and metrics.
func (c *Client) attempt(ctx context.Context, dc *dns.Client, pool *connPool, transport, server, label string, m *dns.Msg) (*dns.Msg, error) {
	var q dns.Question
	if len(m.Question) > 0 {
		q = m.Question[0]
	}
	start := time.Now()
	ctx, span := c.tel.startQuery(ctx, server, transport, q)
	r, err := c.roundTrip(ctx, dc, pool, server, m)
	if err == nil {
		err = checkReply(m, r)
	}
	c.tel.endQuery(ctx, span, label, start, r, err)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// roundTrip is (*dns.Client).ExchangeContext spelled out, for two reasons.
// ExchangeContext obeys a context's deadline but not its cancellation, so
// a cancelled request would keep waiting for up to Timeout; holding the
// connection lets cancellation close it at once. And it dials per query,
// where a pooled connection saves the socket (see conns.go). A pooled
// connection that fails other than by timing out (the server closed an
// idle TCP connection, an ICMP error was queued on a UDP socket) is
// replaced by a fresh one once, within the same attempt.
func (c *Client) roundTrip(ctx context.Context, dc *dns.Client, pool *connPool, server string, m *dns.Msg) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	from := pool
	for {
		pc, reused, err := conn(actx, dc, from, server)
		if err != nil {
			return nil, wireError(ctx, err)
		}
		r, intact, err := exchangeOn(actx, dc, pc, m)
		switch {
		case err == nil && intact && pool != nil:
			pool.put(pc, time.Now())
		default:
			pc.Close()
		}
		if err == nil {
			return r, nil
		}
		if actx.Err() != nil && ctx.Err() == nil {
			// The attempt's deadline closed the connection before the
			// socket's own deadline fired.
			err = ErrTimeout
		}
		err = wireError(ctx, err)
		if !reused || actx.Err() != nil || isTimeout(err) || errors.Is(err, ErrBadResponse) {
			return nil, err
		}
		from = nil // the retry dials afresh
	}
}

// exchangeOn sends m on pc and reads the reply. Cancellation closes the
// connection (Close, not SetDeadline: ExchangeWithConnContext sets its own
// deadlines and would undo an earlier one); intact is false then, and the
// connection must not be reused.
func exchangeOn(ctx context.Context, dc *dns.Client, pc pooledConn, m *dns.Msg) (r *dns.Msg, intact bool, err error) {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	r, _, err = dc.ExchangeWithConnContext(ctx, m, pc.Conn)
	return r, stop(), err
}

// wireError classifies a failed round trip. ctx is the caller's context:
// when it is done, that is the cause whatever the socket reported.
func wireError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	var ne net.Error
	var de *dns.Error
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		// The socket deadline and ctx's timer race: a socket that timed
		// out at ctx's deadline is ctx's deadline, even before ctx knows.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
		}
		return ErrTimeout
	case errors.Is(err, dns.ErrId), errors.As(err, &de):
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return err
}

// ctxError reports a done context: an expired deadline (the Budget or the
// caller's) is a timeout like any other, a cancellation is the caller's.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// checkReply rejects a reply to another question. Some servers leave the
// question out of error replies, so an empty question section passes.
func checkReply(m, r *dns.Msg) error {
	if len(m.Question) == 0 || len(r.Question) == 0 {
		return nil
	}
	q, a := m.Question[0], r.Question[0]
	if q.Qtype != a.Qtype || q.Qclass != a.Qclass || !equalNames(q.Name, a.Name) {
		return fmt.Errorf("%w: reply for %s %s to a query for %s %s",
			ErrBadResponse, dns.Type(a.Qtype), a.Name, dns.Type(q.Qtype), q.Name)
	}
	return nil
}

// rcodeError maps the rcodes on which Lookup moves on to the next server.
func rcodeError(rcode int) error {
	switch rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return nil
	case dns.RcodeServerFailure:
		return ErrServFail
	case dns.RcodeRefused:
		return ErrRefused
	}
	return fmt.Errorf("%w: rcode %s", ErrBadResponse, rcodeName(rcode))
}

func isTimeout(err error) bool { return errors.Is(err, ErrTimeout) }

func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}

func describe(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return "(no question)"
	}
	return dns.Type(m.Question[0].Qtype).String() + " " + m.Question[0].Name
}

// equalNames compares domain names as DNS does: ASCII case-insensitively.
func equalNames(a, b string) bool { return dns.CanonicalName(a) == dns.CanonicalName(b) }
