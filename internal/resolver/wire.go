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
	r, err := c.exchange(ctx, server, serverLabelAuthoritative, m)
	if err != nil {
		return nil, fmt.Errorf("query %s via %s: %w", describe(m), server, err)
	}
	return r, nil
}

// exchange is Exchange without the error context, which Lookup adds in its
// own words. label is the server's value of the metrics' server attribute.
func (c *Client) exchange(ctx context.Context, server, label string, m *dns.Msg) (*dns.Msg, error) {
	r, err := c.attempt(ctx, c.udp, "udp", server, label, m)
	if err != nil {
		return nil, err
	}
	if !r.Truncated {
		return r, nil
	}
	return c.attempt(ctx, c.tcp, "tcp", server, label, m)
}

// attempt is one query on the wire, with its span and metrics.
func (c *Client) attempt(ctx context.Context, dc *dns.Client, transport, server, label string, m *dns.Msg) (*dns.Msg, error) {
	var q dns.Question
	if len(m.Question) > 0 {
		q = m.Question[0]
	}
	start := time.Now()
	ctx, span := c.tel.startQuery(ctx, server, transport, q)
	r, err := c.roundTrip(ctx, dc, server, m)
	if err == nil {
		err = checkReply(m, r)
	}
	c.tel.endQuery(ctx, span, label, start, r, err)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// roundTrip is (*dns.Client).ExchangeContext spelled out: ExchangeContext
// obeys a context's deadline but not its cancellation, so a cancelled
// request would keep waiting for up to Timeout. Holding the connection lets
// cancellation close it at once.
func (c *Client) roundTrip(ctx context.Context, dc *dns.Client, server string, m *dns.Msg) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := dc.DialContext(actx, server)
	if err != nil {
		return nil, wireError(ctx, err)
	}
	defer conn.Close()
	// Close, not SetDeadline: ExchangeWithConnContext sets its own deadlines
	// and would undo an earlier one.
	stop := context.AfterFunc(actx, func() { conn.Close() })
	defer stop()
	r, _, err := dc.ExchangeWithConnContext(actx, m, conn)
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			// The attempt's deadline closed the connection before the
			// socket's own deadline fired.
			err = ErrTimeout
		}
		return nil, wireError(ctx, err)
	}
	return r, nil
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
