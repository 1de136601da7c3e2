package gather

import (
	"sync"
	"time"

	"github.com/mxroute/mxroute/internal/routing"
)

// The gathered DNS data of a domain is kept for a short while, so that a
// warm plan costs one map lookup and routing.Build instead of a cache
// lookup per record set (nine for a domain with four MX hosts, each
// reading the clock and counting a metric). What is kept is the planner's
// input, never its output: Build still runs on every request, with a fresh
// shuffle of equal preferences and the fleet's current health.
//
// An input is kept no longer than the earliest expiry of the answers it was
// built from, so it never says more than the DNS cache itself would; one
// holding a stale answer or a failure is not kept at all, so that the next
// request asks the DNS cache again and sees the upstream recover.

// defaultMaxInputs is the default Config.MaxInputs: a few thousand
// recipient domains cover the busy ones of most senders, at about a
// kilobyte each.
const defaultMaxInputs = 4096

type inputKey struct {
	domain string
	family routing.Family
}

// inputEntry is one domain's gathered data. lookups is how many DNS cache
// lookups it stands for, counted as hits when it answers.
type inputEntry struct {
	in      routing.Input
	at      time.Time
	until   time.Time
	lookups int
}

// inputCache is a map bounded by max. It is not an LRU: when full, expired
// entries go first, then arbitrary ones, an eighth of the map at a time so
// that inserting into a full map is not a full scan each time. Entries
// live seconds to minutes, so a popular domain evicted by chance is back
// after one gather.
type inputCache struct {
	mu  sync.RWMutex
	m   map[inputKey]*inputEntry
	max int
}

func newInputCache(max int) *inputCache {
	return &inputCache{m: make(map[inputKey]*inputEntry), max: max}
}

// get returns the entry for k if it is still valid at now.
func (c *inputCache) get(k inputKey, now time.Time) (*inputEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e, true
}

func (c *inputCache) put(k inputKey, e *inputEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evict(e.at)
	}
	c.m[k] = e
}

// evict makes room: every expired entry, and at least an eighth of the map.
func (c *inputCache) evict(now time.Time) {
	n := max(c.max/8, 1)
	for k, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, k)
			n--
		}
	}
	for k := range c.m {
		if n <= 0 {
			return
		}
		delete(c.m, k)
		n--
	}
}

// len is the number of entries held, expired ones included.
func (c *inputCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
