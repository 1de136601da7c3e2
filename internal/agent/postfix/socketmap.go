// Package postfix is the Postfix side of the mxroute agent: a socketmap
// server (socketmap_table(5)) that answers trivial-rewrite's transport_maps
// lookups with mxroute's plan as a next-hop list, and a parser that turns
// smtp(8) log lines into /feedback reports.
//
// Postfix queries a socketmap, like any pattern table, with the full
// recipient address only (never the domain or its parents: "Postfix will
// not generate partial search keys", socketmap_table(5)), plus the
// wildcard "*" every 30 seconds. So the domain is taken from the address,
// and every other key (the wildcard, a bare local part, an address
// literal) is NOTFOUND, leaving it to Postfix's own routing.
package postfix

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/agent/ratelog"
	"github.com/mxroute/mxroute/internal/apigen"
)

// Order is how often a domain's next-hop list may change.
type Order string

const (
	// OrderFresh asks mxroute for every recipient: each lookup gets the
	// plan's fresh shuffle of equal-preference hosts and the fleet's
	// latest health. Postfix keeps one queue per distinct next-hop string,
	// so one destination's mail is spread over as many queues as orders.
	OrderFresh Order = "fresh"
	// OrderStable answers a domain with the same list until the plan's TTL
	// (capped by StableFor) runs out: one queue and one concurrency window
	// per destination, at the price of load spread only across TTLs and
	// fleet demotions seen up to StableFor late.
	OrderStable Order = "stable"
)

// Defaults for MapConfig.
const (
	DefaultMapName   = "mxroute"
	DefaultTransport = "smtp"
	DefaultPort      = 25
	DefaultOrder     = OrderFresh
	DefaultStableFor = 60 * time.Second
	// DefaultBudget bounds one answer, mxroute's time included. Postfix's
	// socketmap client waits 100 s (DICT_SOCKMAP_DEF_TIMEOUT); each second
	// here is a second trivial-rewrite, and so the queue manager, is stuck
	// on this recipient, so the budget is short.
	DefaultBudget = 3 * time.Second
	// DefaultRepeatFor is how long the answer to one key is reused: Postfix
	// may look the same recipient up more than once (external and internal
	// address forms, the cleanup and queue manager's resolves), and one
	// recipient must cost one mxroute ask.
	DefaultRepeatFor = 2 * time.Second
	// MaxRequest is the largest request accepted: Postfix's own query
	// limit (DICT_SOCKMAP_DEF_MAX_QUERY).
	MaxRequest = 10000
	// MaxReply is Postfix's reply limit (socketmap_max_reply_size).
	MaxReply = 100000
	// maxMemo bounds each answer cache; past it, the cache is emptied.
	maxMemo = 100_000
)

// MapConfig is the socketmap's behaviour.
type MapConfig struct {
	Name      string // the map name in socketmap:...:NAME
	TLSName   string // the TLS policy table's map name (smtp_tls_policy_maps)
	Transport string // master.cf service of deliver answers
	Port      int    // port in next-hop entries
	FailOpen  bool   // mxroute unreachable: NOTFOUND (true) or TEMP
	Budget    time.Duration
	Order     Order
	StableFor time.Duration
	RepeatFor time.Duration
}

// Router asks mxroute for a plan; mxclient.Client is one.
type Router interface {
	Route(ctx context.Context, domain string) (apigen.Plan, error)
}

// Map answers socketmap requests.
type Map struct {
	cfg    MapConfig
	router Router
	log    *slog.Logger
	warn   *ratelog.Limiter
	now    func() time.Time
	flight singleflight.Group

	mu      sync.Mutex
	byKey   map[string]memo // OrderFresh: key -> answer, RepeatFor
	byDom   map[string]memo // OrderStable: domain -> answer, plan TTL
	planned map[string]attribution
	tls     map[string]tlsPolicy // address -> recent plans' TLS policy
}

type memo struct {
	reply   string
	expires time.Time
}

type attribution struct{ domain, routeID, host string }

// NewMap returns a Map; now may be nil.
func NewMap(cfg MapConfig, r Router, log *slog.Logger, now func() time.Time) *Map {
	if cfg.Name == "" {
		cfg.Name = DefaultMapName
	}
	if cfg.TLSName == "" {
		cfg.TLSName = DefaultTLSMapName
	}
	if cfg.Transport == "" {
		cfg.Transport = DefaultTransport
	}
	if cfg.Port <= 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Order == "" {
		cfg.Order = DefaultOrder
	}
	if cfg.StableFor <= 0 {
		cfg.StableFor = DefaultStableFor
	}
	if cfg.RepeatFor <= 0 {
		cfg.RepeatFor = DefaultRepeatFor
	}
	if now == nil {
		now = time.Now
	}
	return &Map{cfg: cfg, router: r, log: log, warn: ratelog.New(log, ratelog.DefaultInterval, now), now: now,
		byKey: map[string]memo{}, byDom: map[string]memo{}, planned: map[string]attribution{}, tls: map[string]tlsPolicy{}}
}

// Answer returns the reply payload (before netstring framing) to one
// request "name key".
func (m *Map) Answer(ctx context.Context, req string) string {
	name, key, ok := strings.Cut(req, " ")
	if ok && name == m.cfg.TLSName {
		return m.answerTLS(strings.ToLower(key))
	}
	if !ok || name != m.cfg.Name {
		return "PERM unknown map name"
	}
	domain, ok := domainOf(key)
	if !ok {
		return "NOTFOUND "
	}
	key = strings.ToLower(key)
	now := m.now()
	if r, ok := m.cached(key, domain, now); ok {
		return r
	}
	v, _, _ := m.flight.Do(domain, func() (any, error) {
		return m.ask(ctx, domain), nil
	})
	reply := v.(string)
	m.remember(key, domain, reply, now)
	return reply
}

func (m *Map) cached(key, domain string, now time.Time) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok && now.Before(e.expires) {
		return e.reply, true
	}
	if e, ok := m.byDom[domain]; ok && now.Before(e.expires) {
		return e.reply, true
	}
	return "", false
}

func (m *Map) remember(key, domain, reply string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.byKey) >= maxMemo {
		clear(m.byKey)
	}
	m.byKey[key] = memo{reply, now.Add(m.cfg.RepeatFor)}
}

// ask asks mxroute within the budget and turns the plan into a reply.
func (m *Map) ask(ctx context.Context, domain string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.Budget)
	defer cancel()
	plan, err := m.router.Route(ctx, domain)
	if err != nil {
		return m.failed(ctx, domain, err)
	}
	reply, ok := m.reply(plan)
	if !ok {
		return m.failed(ctx, domain, errors.New("plan has no usable attempt"))
	}
	m.record(plan, reply)
	return reply
}

// failed is the answer when mxroute cannot give a plan. A request mxroute
// rejects (a domain it finds invalid) is left to Postfix either way.
func (m *Map) failed(ctx context.Context, domain string, err error) string {
	m.warn.Warn(ctx, "route", "mxroute lookup failed", "domain", domain, "err", err, "fail_open", m.cfg.FailOpen)
	if m.cfg.FailOpen || mxclient.KindOf(err) == mxclient.Rejected {
		return "NOTFOUND "
	}
	return "TEMP mxroute unavailable"
}

func (m *Map) record(plan apigen.Plan, reply string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Order == OrderStable {
		ttl := min(time.Duration(plan.Ttl)*time.Second, m.cfg.StableFor)
		if len(m.byDom) >= maxMemo {
			clear(m.byDom)
		}
		if ttl > 0 {
			m.byDom[plan.Domain] = memo{reply, m.now().Add(ttl)}
		}
	}
	if len(m.planned) >= maxMemo {
		clear(m.planned)
	}
	for _, a := range plan.Attempts {
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			m.planned[ip.Unmap().String()] = attribution{plan.Domain, plan.RouteId, a.Host}
		}
	}
	m.recordTLS(plan, m.now())
}

// Attribute implements Attributor: the plan that last listed addr.
func (m *Map) Attribute(addr string) (Attribution, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.planned[addr]
	return Attribution{Domain: a.domain, RouteID: a.routeID, Host: a.host}, ok
}

// reply renders a plan: a next-hop list (Postfix 3.5+), or the error(8)
// transport's "error:" and "retry:" forms, which bounce and defer the
// recipient with the plan's enhanced status.
func (m *Map) reply(p apigen.Plan) (string, bool) {
	switch p.Disposition {
	case apigen.PermanentFailure:
		return "OK error:" + status(p, "5.4.4") + " " + reasonText(p), true
	case apigen.TemporaryFailure:
		return "OK retry:" + status(p, "4.4.3") + " " + reasonText(p), true
	}
	var b strings.Builder
	b.WriteString("OK ")
	b.WriteString(m.cfg.Transport)
	b.WriteByte(':')
	n := 0
	for _, a := range p.Attempts {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		hop := nextHop(ip, m.cfg.Port)
		if b.Len()+len(hop)+2 > MaxReply {
			break
		}
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(hop)
		n++
	}
	return b.String(), n > 0
}

// nextHop is one next-hop list entry: an address in brackets, so Postfix
// connects to it without MX lookups, IPv6 with the RFC 5321 "ipv6:" tag
// that host_port(3) accepts.
func nextHop(ip netip.Addr, port int) string {
	ip = ip.Unmap()
	if ip.Is6() {
		return "[ipv6:" + ip.String() + "]:" + strconv.Itoa(port)
	}
	return "[" + ip.String() + "]:" + strconv.Itoa(port)
}

func status(p apigen.Plan, def string) string {
	if p.EnhancedStatus != nil && *p.EnhancedStatus != "" {
		return *p.EnhancedStatus
	}
	return def
}

// reasonText is the bounce or deferral text: mxroute's reason code with
// the domain, printable ASCII only (it ends up in a DSN).
func reasonText(p apigen.Plan) string {
	s := "mxroute: " + p.Domain + ": " + strings.ReplaceAll(string(p.Reason), "_", " ")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// domainOf is the domain a key asks for: the domain of a recipient
// address, or a bare domain. Address literals, the wildcard, local parts
// and parent-domain forms (".example.com") are not ours.
func domainOf(key string) (string, bool) {
	if at := strings.LastIndexByte(key, '@'); at >= 0 {
		key = key[at+1:]
	}
	key = strings.TrimSuffix(strings.ToLower(key), ".")
	if key == "" || len(key) > 253 || key[0] == '.' || key[0] == '[' || !strings.Contains(key, ".") {
		return "", false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c == '*' || c == '[' || c == ']' || c == '/' || c == '\\' || c == 0x7f {
			return "", false
		}
	}
	return key, true
}
