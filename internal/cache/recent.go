package cache

import (
	"container/list"
	"sync"
	"time"
)

// RecentShare is the part of Config.MaxBytes kept for the answers stored
// most recently, in LRU order, beside otter's W-TinyLFU.
//
// Why: under a steady stream of domains seen once (the long tail of
// recipient domains), W-TinyLFU admits a new entry into its main space
// only when the sketch counts it more often than the entry it would
// evict, and a tie keeps the old one. Once the cache is full of one-hit
// domains a new domain therefore lives only in otter's small window, and
// a domain fetched again a few minutes later has been dropped (issue 10:
// "a re-fetch within minutes of first fetch hits the cache"). The recent
// tier keeps every stored answer for as long as its share holds the
// stream: minutes at a hundred new domains a second. A larger share
// reaches further back but holds fewer domains in all, since an entry in
// both places is weighed twice and the tier adds its own bookkeeping. A
// hit there stores the entry in otter once more, so that its sketch
// counts the second use and tends to admit it over the one-hit entries.
const RecentShare = 8 // an eighth of MaxBytes

// recentTier is a byte-bounded LRU of the entries stored or used last.
// Only lookups that miss otter reach it, so a cache hit costs what it did.
type recentTier struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order list.List // of *recentItem, newest first
	items map[key]*list.Element
}

type recentItem struct {
	k      key
	e      *entry
	weight int64
}

func newRecentTier(maxBytes int64) *recentTier {
	return &recentTier{max: maxBytes, items: make(map[key]*list.Element)}
}

// put stores e as k's newest entry and drops the oldest entries beyond
// the bound. An entry heavier than the whole tier is not kept.
func (r *recentTier) put(k key, e *entry) {
	w := int64(weigh(k, e))
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.items[k]; ok {
		r.size -= el.Value.(*recentItem).weight
		r.order.Remove(el)
		delete(r.items, k)
	}
	if w > r.max {
		return
	}
	r.items[k] = r.order.PushFront(&recentItem{k: k, e: e, weight: w})
	r.size += w
	for r.size > r.max {
		old := r.order.Back()
		it := old.Value.(*recentItem)
		r.order.Remove(old)
		delete(r.items, it.k)
		r.size -= it.weight
	}
}

// get returns k's entry while it is of use at now (fresh, stale or
// remembering a failure), as the newest, and drops it once it is not.
func (r *recentTier) get(k key, now time.Time) (*entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.items[k]
	if !ok {
		return nil, false
	}
	it := el.Value.(*recentItem)
	if !now.Before(it.e.keepUntil()) {
		r.order.Remove(el)
		delete(r.items, k)
		r.size -= it.weight
		return nil, false
	}
	r.order.MoveToFront(el)
	return it.e, true
}
