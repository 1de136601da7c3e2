package feedback

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

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
