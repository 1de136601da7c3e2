package feedback

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/redis/go-redis/v9"
)

func newRedisClient(t testing.TB, addrs ...string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// checkTTLs fails the test if a key under prefix has no TTL.
func checkTTLs(t *testing.T, c redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := context.Background()
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for iter.Next(ctx) {
			ttl, err := c.PTTL(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			if ttl <= 0 {
				t.Errorf("key %s has no TTL (%s)", iter.Val(), ttl)
			}
		}
		return iter.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatalf("scan keys: %v", err)
	}
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	var n atomic.Int64
	runConformance(t, func(t *testing.T) Store {
		prefix := fmt.Sprintf("t%d", n.Add(1))
		t.Cleanup(func() { checkTTLs(t, client, prefix) })
		return NewRedisStore(client, RedisOptions{Prefix: prefix})
	})
	keys, err := client.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys = %v, %v; the suite wrote nothing?", keys, err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "t") {
			t.Errorf("unexpected key %s", k)
		}
	}
}

// TestRedisFleetKeysFailOpen: when the fleet-wide keys cannot be read (in
// Cluster, their master is down; here, the demoted index holds a value of
// the wrong type, so every read of it fails in real Redis), reports still
// reach the addresses' own records and demote on the last budget verdict,
// rather than waiting for the fleet slot.
func TestRedisFleetKeysFailOpen(t *testing.T) {
	srv := redistest.StartServer(t)
	client := newRedisClient(t, srv.Addr())
	store := NewRedisStore(client, RedisOptions{Prefix: "fo"})
	h := newHarness(t, store, testPolicy())
	h.allowBuffer = true
	if err := client.Set(context.Background(), store.demotedKey, "not a sorted set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h.advance(2 * time.Second) // the cached budget is stale: the next Apply reads it, and fails
	h.fail("192.0.2.10", 3, "r1", "r2")
	if st := h.host("192.0.2.10"); st.RecentFailures != 6 || st.State != StateDemoted {
		t.Fatalf("with the fleet keys failing: %+v, want 6 failures and demoted", st)
	}
	if st := h.svc.Status(); !st.Degraded {
		t.Fatalf("status = %+v, want degraded (the fleet keys fail)", st)
	}
}
