package mtasts

import (
	"context"
	"sync"
)

// MemoryStore is a Store for one replica, used without Redis. It holds at
// most DefaultMaxLocal entries, dropping arbitrary ones when full.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Entry
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string]Entry{}} }

// Get returns domain's entry.
func (s *MemoryStore) Get(_ context.Context, domain string) (Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[domain]
	return e, ok, nil
}

// Put stores domain's entry.
func (s *MemoryStore) Put(_ context.Context, domain string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[domain]; !ok && len(s.m) >= DefaultMaxLocal {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[domain] = e
	return nil
}
