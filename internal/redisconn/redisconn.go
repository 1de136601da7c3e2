// Package redisconn builds the Redis client for the shared health store:
// standalone, Sentinel or Cluster, with the timeouts and failover
// behaviour the feedback service needs.
//
// The health store must follow a failover within about a second: while
// the client writes to a dead master, reports pile up in the replay
// buffer and other replicas' transitions stop arriving. Sentinel clients
// follow a promotion by themselves (go-redis listens for +switch-master).
// A Cluster client does not: go-redis reloads its slot map on MOVED, on a
// READONLY reply and every ClusterStateReloadInterval (60 s by default),
// but a dead master answers "connection refused", none of those. So the
// Cluster client here reloads on a short interval and, through a hook, as
// soon as a command fails on the connection rather than with a Redis
// error reply. Reloads are coalesced by go-redis (one at a time, 200 ms
// apart), so a burst of failures costs one CLUSTER SLOTS per node tried.
package redisconn

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultClusterReload is how often a Cluster client re-reads the slot
// map even when nothing failed: the bound on how long it can keep routing
// by an old map, e.g. after a manual failover whose old master stays up
// (it answers MOVED then, which reloads too).
const DefaultClusterReload = time.Second

// Config selects and tunes the client. Exactly one of URL, SentinelAddrs
// or ClusterAddrs is used, in the order ClusterAddrs, SentinelAddrs, URL.
type Config struct {
	URL            string
	SentinelAddrs  []string
	SentinelMaster string
	ClusterAddrs   []string
	// Password overrides the URL's; it is the only way to give one to
	// Sentinel and Cluster nodes.
	Password string
	// ClusterReload is the Cluster slot map's reload interval; 0 means
	// DefaultClusterReload.
	ClusterReload time.Duration
}

// New returns the client, or nil when no Redis is configured (the
// in-memory store). Timeouts are short: the health store must never hold
// up a sender's request, and a report that cannot be written is buffered
// and retried anyway.
func New(cfg Config) (redis.UniversalClient, error) {
	o := &redis.UniversalOptions{
		DialTimeout:  time.Second,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		PoolTimeout:  time.Second,
		MaxRetries:   1,
		// The feedback service bounds every store call with a context
		// deadline; go-redis honours it only with this set.
		ContextTimeoutEnabled: true,
	}
	switch {
	case len(cfg.ClusterAddrs) > 0:
		o.Addrs = cfg.ClusterAddrs
	case len(cfg.SentinelAddrs) > 0:
		o.Addrs = cfg.SentinelAddrs
		o.MasterName = cfg.SentinelMaster
	case cfg.URL != "":
		u, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		o.Addrs = []string{u.Addr}
		o.Username, o.Password, o.DB = u.Username, u.Password, u.DB
		o.TLSConfig = u.TLSConfig
	default:
		return nil, nil
	}
	if cfg.Password != "" {
		o.Password = cfg.Password
	}
	if len(cfg.ClusterAddrs) == 0 {
		return redis.NewUniversalClient(o), nil
	}
	co := o.Cluster()
	co.ClusterStateReloadInterval = cfg.ClusterReload
	if co.ClusterStateReloadInterval <= 0 {
		co.ClusterStateReloadInterval = DefaultClusterReload
	}
	c := redis.NewClusterClient(co)
	c.AddHook(reloadOnConnError{c})
	return c, nil
}

// reloadOnConnError asks the Cluster client to reload its slot map when a
// command or pipeline failed on the connection (refused, reset, timed
// out) rather than with a reply: the node may be a master that died, and
// the slot map is where its replica's promotion shows.
type reloadOnConnError struct{ c *redis.ClusterClient }

var _ redis.Hook = reloadOnConnError{}

// DialHook passes dials through: a failed dial surfaces as the
// command's error, which ProcessHook sees.
func (h reloadOnConnError) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnConnError) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(ctx, err)
		return err
	}
}

func (h reloadOnConnError) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.after(ctx, err)
		return err
	}
}

func (h reloadOnConnError) after(ctx context.Context, err error) {
	if connError(ctx, err) {
		h.c.ReloadState(ctx)
	}
}

// connError tells a failure of the connection from a Redis error reply
// (redis.Nil, WRONGTYPE, NOSCRIPT, MOVED: the node is alive) and from the
// caller giving up (its context is done).
func connError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var reply redis.Error
	return !errors.As(err, &reply)
}
