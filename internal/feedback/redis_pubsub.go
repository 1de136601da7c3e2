package feedback

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
)

// wireTransition is a transition as published on the events channel.
type wireTransition struct {
	Address   string   `json:"a"`
	Kind      string   `json:"k"`
	From      string   `json:"f"`
	To        string   `json:"t"`
	At        int64    `json:"at"`
	Until     int64    `json:"u,omitempty"`
	Reporters []string `json:"r,omitempty"`
	Reason    string   `json:"re,omitempty"`
}

func encodeTransition(t Transition) string {
	w := wireTransition{Address: t.Address.String(), Kind: string(t.Kind), From: string(t.From), To: string(t.To),
		At: t.At.UnixMilli(), Reporters: t.Reporters, Reason: t.Reason}
	if !t.Until.IsZero() {
		w.Until = t.Until.UnixMilli()
	}
	b, _ := json.Marshal(w) // cannot fail: strings and integers only
	return string(b)
}

func decodeTransition(payload string) (Transition, bool) {
	var w wireTransition
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return Transition{}, false
	}
	addr, err := netip.ParseAddr(w.Address)
	to := State(w.To)
	if err != nil || !validState(to) {
		return Transition{}, false
	}
	t := Transition{Address: addr, Kind: TransitionKind(w.Kind), From: State(w.From), To: to,
		At: time.UnixMilli(w.At), Reporters: w.Reporters, Reason: w.Reason}
	if w.Until != 0 {
		t.Until = time.UnixMilli(w.Until)
	}
	return t, true
}

// Subscribe receives every replica's transitions until ctx is done.
// go-redis re-subscribes after a lost connection; each (re)subscription
// calls onResubscribe, so the Service resyncs what it may have missed.
// In Cluster, classic PUBLISH/SUBSCRIBE reaches every node's subscribers,
// so the subscription may live on any node: when its node dies, go-redis
// reconnects to the channel slot's master in its current slot map, which
// the client built by internal/redisconn reloads within about a second of
// a promotion. (Sharded SSUBSCRIBE would keep events inside one shard's
// nodes, but ties the subscription to that shard's failover; the fleet's
// event rate is a few messages per transition, which the cluster bus
// carries easily.)
// Messages that do not decode (another version's format) are skipped:
// the periodic resync covers them.
func (s *RedisStore) Subscribe(ctx context.Context, onTransition func(Transition), onResubscribe func()) {
	ps := s.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					onResubscribe()
				}
			case *redis.Message:
				if t, ok := decodeTransition(m.Payload); ok {
					onTransition(t)
				}
			}
		}
	}
}
