// Package redisstore keeps the fleet's MTA-STS policies in Redis, on the
// client the health store uses, so that every replica reads the policy one
// replica fetched. It implements mtasts.Store and mtasts.Locker.
//
// An entry is one JSON string per domain, expiring with the policy's
// max_age, so Redis never holds a policy longer than it may be used. The
// fetch lock is SET NX PX with a random token, released only by its holder
// (a compare-and-delete script), so a slow holder whose lock expired never
// releases a lock another replica took since.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mxroute/mxroute/internal/mtasts"
)

// Store is the Redis-backed policy store.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	mu     sync.Mutex
	tokens map[string]string
}

var (
	_ mtasts.Store  = (*Store)(nil)
	_ mtasts.Locker = (*Store)(nil)
)

// New returns a Store on rdb whose keys start with namespace, the health
// store's (so one deployment's keys share a prefix):
// "<namespace>:mtasts:policy:<domain>" and "<namespace>:mtasts:lock:<domain>".
func New(rdb redis.UniversalClient, namespace string) *Store {
	return &Store{rdb: rdb, prefix: namespace + ":mtasts:", tokens: map[string]string{}}
}

func (s *Store) policyKey(domain string) string { return s.prefix + "policy:" + domain }
func (s *Store) lockKey(domain string) string   { return s.prefix + "lock:" + domain }

// Get reads domain's entry.
func (s *Store) Get(ctx context.Context, domain string) (mtasts.Entry, bool, error) {
	b, err := s.rdb.Get(ctx, s.policyKey(domain)).Bytes()
	if errors.Is(err, redis.Nil) {
		return mtasts.Entry{}, false, nil
	}
	if err != nil {
		return mtasts.Entry{}, false, fmt.Errorf("redis get policy: %w", err)
	}
	var e mtasts.Entry
	if err := json.Unmarshal(b, &e); err != nil {
		// An entry this version cannot read is as good as none.
		return mtasts.Entry{}, false, nil
	}
	return e, true, nil
}

// Put writes domain's entry, expiring when the policy does.
func (s *Store) Put(ctx context.Context, domain string, e mtasts.Entry) error {
	ttl := time.Until(e.ExpiresAt())
	if ttl <= 0 {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	if err := s.rdb.Set(ctx, s.policyKey(domain), b, ttl).Err(); err != nil {
		return fmt.Errorf("redis set policy: %w", err)
	}
	return nil
}

// Lock takes domain's fetch lock for ttl.
func (s *Store) Lock(ctx context.Context, domain string, ttl time.Duration) (bool, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	ok, err := s.rdb.SetNX(ctx, s.lockKey(domain), tok, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis lock: %w", err)
	}
	if ok {
		s.mu.Lock()
		s.tokens[domain] = tok
		s.mu.Unlock()
	}
	return ok, nil
}

var unlock = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Unlock releases domain's fetch lock if this Store still holds it.
func (s *Store) Unlock(ctx context.Context, domain string) error {
	s.mu.Lock()
	tok, ok := s.tokens[domain]
	delete(s.tokens, domain)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if err := unlock.Run(ctx, s.rdb, []string{s.lockKey(domain)}, tok).Err(); err != nil {
		return fmt.Errorf("redis unlock: %w", err)
	}
	return nil
}
