package mtasts

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mxroute/mxroute/internal/routing"
)

// Entry is a policy as the fleet caches it: the policy, the TXT id it was
// fetched under, and when.
type Entry struct {
	ID        string    `json:"id"`
	Policy    Policy    `json:"policy"`
	FetchedAt time.Time `json:"fetched_at"`
}

// ExpiresAt is when the entry stops applying: fetched at plus max_age.
func (e Entry) ExpiresAt() time.Time { return e.FetchedAt.Add(e.Policy.MaxAge) }

// Store holds the fleet's policies. Get reports found=false for an absent
// entry; errors are the store's own (Redis down), never "not found".
type Store interface {
	Get(ctx context.Context, domain string) (e Entry, found bool, err error)
	Put(ctx context.Context, domain string, e Entry) error
}

// Locker collapses concurrent fetches of one domain across replicas: Lock
// takes a lock that expires by itself after ttl (so a replica dying while
// it holds one delays the others by ttl at most) and reports whether this
// caller got it.
type Locker interface {
	Lock(ctx context.Context, domain string, ttl time.Duration) (bool, error)
	Unlock(ctx context.Context, domain string) error
}

// PolicyFetcher fetches a domain's policy; *Fetcher satisfies it.
type PolicyFetcher interface {
	Fetch(ctx context.Context, domain string) (Policy, error)
}

// TXT is the outcome of the _mta-sts.<domain> TXT lookup.
type TXT struct {
	// ID of the v=STSv1 record; empty when there is none, it is invalid or
	// the lookup failed.
	ID string
}

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Store is the fleet's store; nil: a MemoryStore (this replica only).
	Store Store
	// Locker is the fleet's lock; nil: no cross-replica collapsing (the
	// in-process singleflight still applies).
	Locker Locker
	// MaxLocal bounds the policies kept in this replica's memory. Default
	// DefaultMaxLocal.
	MaxLocal int
	// LockTTL is how long a fetch lock lasts, and how long a replica waits
	// for another one's fetch; it also bounds one fetch. Default
	// DefaultFetchTimeout plus DefaultLockMargin.
	LockTTL time.Duration
	// RetryAfter is how long a failed fetch of an id is not retried.
	// Default DefaultRetryAfter.
	RetryAfter time.Duration
	// Logger receives store errors. Nil: discarded.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults of CacheConfig.
const (
	DefaultMaxLocal   = 10000
	DefaultRetryAfter = time.Minute
	// DefaultLockMargin is what a lock outlasts the fetch timeout by, so
	// the holder's result reaches the store before the lock expires.
	DefaultLockMargin = time.Second
	// lockPoll is how often a replica waiting on another's fetch reads
	// the store.
	lockPoll = 25 * time.Millisecond
	// refreshQueue bounds the background refreshes waiting to run; more
	// are dropped and requested again by the next plan.
	refreshQueue = 256
)

// Cache answers "which policy is in force for this domain" for the planner.
type Cache struct {
	fetch   PolicyFetcher
	store   Store
	locker  Locker
	cfg     CacheConfig
	flight  singleflight.Group
	refresh chan refreshReq

	mu    sync.Mutex
	local map[string]*localEntry
}

type localEntry struct {
	e Entry
	// failedID and failedAt remember the last failed fetch, so a broken
	// policy host is not asked again on every plan.
	failedID  string
	failedAt  time.Time
	failedErr string
	// refreshing is set while a background refresh is queued or running.
	refreshing bool
}

type refreshReq struct{ domain, id string }

// NewCache returns a Cache fetching with f.
func NewCache(f PolicyFetcher, cfg CacheConfig) *Cache {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.MaxLocal <= 0 {
		cfg.MaxLocal = DefaultMaxLocal
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = DefaultFetchTimeout + DefaultLockMargin
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{fetch: f, store: cfg.Store, locker: cfg.Locker, cfg: cfg,
		refresh: make(chan refreshReq, refreshQueue), local: map[string]*localEntry{}}
}

// Policy returns the policy in force for domain given its TXT lookup.
// Without a TXT id a cached policy still applies (RFC 8461 section 5.1:
// removing the record must not downgrade a sender before max_age); with an
// id the cached policy is used if it was fetched under that id, else the
// policy is fetched (once for the fleet).
func (c *Cache) Policy(ctx context.Context, domain string, txt TXT) routing.STSInput {
	now := c.cfg.Now()
	local, ok := c.localGet(domain, now)
	if txt.ID == "" {
		if ok {
			return input(local, routing.SourceCached, "")
		}
		return routing.STSInput{}
	}
	if ok && local.ID == txt.ID {
		if now.After(local.FetchedAt.Add(local.Policy.MaxAge / 2)) {
			c.requestRefresh(domain, txt.ID)
		}
		return input(local, routing.SourceCached, "")
	}
	v, _, _ := c.flight.Do(domain+"\x00"+txt.ID, func() (any, error) {
		return c.resolve(context.WithoutCancel(ctx), domain, txt.ID), nil
	})
	return v.(routing.STSInput)
}

// resolve finds the policy for id: in the store, else by fetching.
func (c *Cache) resolve(ctx context.Context, domain, id string) routing.STSInput {
	if e, ok := c.shared(ctx, domain, id); ok {
		return input(e, routing.SourceCached, "")
	}
	if why, failed := c.recentFailure(domain, id); failed {
		return c.fallback(domain, why)
	}
	e, err := c.fetchOnce(ctx, domain, id)
	if err != nil {
		c.noteFailure(domain, id, err)
		return c.fallback(domain, Outcome(err))
	}
	return input(e, routing.SourceFresh, "")
}

// errOtherFetch: another replica held the fetch lock and stored nothing
// in time.
var errOtherFetch = errors.New("mta-sts: the fetch by another replica did not complete in time")

// fetchOnce fetches under the fleet lock; a replica that does not get the
// lock waits for the holder's result in the store, and fetches itself
// only if none arrives in time.
func (c *Cache) fetchOnce(ctx context.Context, domain, id string) (Entry, error) {
	if c.locker != nil {
		got, err := c.locker.Lock(ctx, domain, c.cfg.LockTTL)
		if err != nil {
			c.cfg.Logger.Warn("mta-sts lock unavailable; fetching without it", "domain", domain, "err", err)
		}
		if err == nil && !got {
			// Another replica is fetching: wait for its result rather
			// than fetch a second time.
			if e, ok := c.waitShared(ctx, domain, id); ok {
				return e, nil
			}
			return Entry{}, errOtherFetch
		}
		if got {
			defer func() {
				if err := c.locker.Unlock(context.WithoutCancel(ctx), domain); err != nil {
					c.cfg.Logger.Warn("mta-sts unlock", "domain", domain, "err", err)
				}
			}()
		}
	}
	fctx, cancel := context.WithTimeout(ctx, c.cfg.LockTTL)
	defer cancel()
	p, err := c.fetch.Fetch(fctx, domain)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{ID: id, Policy: p, FetchedAt: c.cfg.Now()}
	if err := c.store.Put(ctx, domain, e); err != nil {
		c.cfg.Logger.Warn("mta-sts policy not stored for the fleet", "domain", domain, "err", err)
	}
	c.localPut(domain, e)
	return e, nil
}

// shared reads the store for an unexpired entry fetched under id, and
// keeps it locally.
func (c *Cache) shared(ctx context.Context, domain, id string) (Entry, bool) {
	e, found, err := c.store.Get(ctx, domain)
	if err != nil {
		c.cfg.Logger.Warn("mta-sts store read failed", "domain", domain, "err", err)
		return Entry{}, false
	}
	if !found || e.ID != id || !c.cfg.Now().Before(e.ExpiresAt()) {
		return Entry{}, false
	}
	c.localPut(domain, e)
	return e, true
}

// waitShared polls the store while another replica holds the lock.
func (c *Cache) waitShared(ctx context.Context, domain, id string) (Entry, bool) {
	wctx, cancel := context.WithTimeout(ctx, c.cfg.LockTTL)
	defer cancel()
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			return Entry{}, false
		case <-t.C:
			if e, ok := c.shared(ctx, domain, id); ok {
				return e, true
			}
		}
	}
}

// fallback is the answer when no current policy could be had: the cached
// one while it is unexpired (stale), else none; either way with the reason.
func (c *Cache) fallback(domain, why string) routing.STSInput {
	if e, ok := c.localGet(domain, c.cfg.Now()); ok {
		return input(e, routing.SourceStale, why)
	}
	return routing.STSInput{FetchFailed: why}
}

func input(e Entry, src routing.PolicySource, failed string) routing.STSInput {
	return routing.STSInput{Policy: &routing.STSPolicy{
		Mode: e.Policy.Mode, ID: e.ID, MaxAge: e.Policy.MaxAge, MX: e.Policy.MX,
		ExpiresAt: e.ExpiresAt().UTC(), Source: src,
	}, FetchFailed: failed}
}

// Run performs background refreshes until ctx is done.
func (c *Cache) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-c.refresh:
			e, err := c.fetchOnce(ctx, r.domain, r.id)
			c.mu.Lock()
			if l := c.local[r.domain]; l != nil {
				l.refreshing = false
			}
			c.mu.Unlock()
			if err != nil {
				c.noteFailure(r.domain, r.id, err)
				c.cfg.Logger.Info("mta-sts background refresh failed; the cached policy stays in force", "domain", r.domain, "err", err)
				continue
			}
			c.cfg.Logger.Debug("mta-sts policy refreshed", "domain", r.domain, "id", e.ID)
		}
	}
}

func (c *Cache) requestRefresh(domain, id string) {
	c.mu.Lock()
	l := c.local[domain]
	if l == nil || l.refreshing || l.failedID == id && c.cfg.Now().Sub(l.failedAt) < c.cfg.RetryAfter {
		c.mu.Unlock()
		return
	}
	l.refreshing = true
	c.mu.Unlock()
	select {
	case c.refresh <- refreshReq{domain, id}:
	default:
		c.mu.Lock()
		l.refreshing = false
		c.mu.Unlock()
	}
}

func (c *Cache) localGet(domain string, now time.Time) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.local[domain]
	if l == nil || l.e.ID == "" || !now.Before(l.e.ExpiresAt()) {
		return Entry{}, false
	}
	return l.e, true
}

func (c *Cache) localPut(domain string, e Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.entry(domain)
	l.e = e
	l.failedID = ""
}

// entry returns domain's local entry, making room when the map is full.
// Must be called with c.mu held.
func (c *Cache) entry(domain string) *localEntry {
	if l := c.local[domain]; l != nil {
		return l
	}
	if len(c.local) >= c.cfg.MaxLocal {
		n := max(c.cfg.MaxLocal/8, 1)
		for k := range c.local {
			if n == 0 {
				break
			}
			delete(c.local, k)
			n--
		}
	}
	l := &localEntry{}
	c.local[domain] = l
	return l
}

func (c *Cache) noteFailure(domain, id string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.entry(domain)
	l.failedID, l.failedAt, l.failedErr = id, c.cfg.Now(), Outcome(err)
}

func (c *Cache) recentFailure(domain, id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.local[domain]
	if l == nil || l.failedID != id || c.cfg.Now().Sub(l.failedAt) >= c.cfg.RetryAfter {
		return "", false
	}
	return l.failedErr, true
}
