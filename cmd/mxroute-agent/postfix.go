package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mxroute/mxroute/internal/agent/logtail"
	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/agent/postfix"
)

// postfixConfig is the Postfix side's settings.
type postfixConfig struct {
	Listen    string
	Map       postfix.MapConfig
	Maillog   string
	StateFile string
	FromStart bool
}

// DefaultPostfixListen is where the socketmap listens.
const DefaultPostfixListen = "inet:127.0.0.1:7325"

func postfixSide() side {
	return side{
		summary: "Serve Postfix: a socketmap for transport_maps (socketmap:inet:HOST:PORT:mxroute or\n" +
			"socketmap:unix:PATH:mxroute), the same socketmap for smtp_tls_policy_maps (...:mxroute-tls),\n" +
			"and a follower of its maillog_file that reports every attempt.",
		settings: func() ([]setting, func(context.Context, *common, *slog.Logger) error) {
			p := &postfixConfig{}
			order := string(postfix.DefaultOrder)
			ss := []setting{
				{"listen", "MXROUTE_AGENT_LISTEN", DefaultPostfixListen, "socketmap endpoint: inet:HOST:PORT or unix:PATH", func(v string) error { p.Listen = v; return nil }},
				{"map-name", "MXROUTE_AGENT_MAP_NAME", postfix.DefaultMapName, "the name in socketmap:...:NAME", func(v string) error { p.Map.Name = v; return nil }},
				{"tls-map-name", "MXROUTE_AGENT_TLS_MAP_NAME", postfix.DefaultTLSMapName, "the name of the TLS policy table (smtp_tls_policy_maps) on the same socketmap", func(v string) error { p.Map.TLSName = v; return nil }},
				{"transport", "MXROUTE_AGENT_TRANSPORT", postfix.DefaultTransport, "master.cf service named in next-hop answers", func(v string) error { p.Map.Transport = v; return nil }},
				{"port", "MXROUTE_AGENT_PORT", strconv.Itoa(postfix.DefaultPort), "TCP port in next-hop answers", intSetter(&p.Map.Port, 1, 65535)},
				{"order", "MXROUTE_AGENT_ORDER", order, "fresh: a plan per recipient; stable: one answer per domain until the plan's TTL (capped by -stable-for)", func(v string) error {
					if v != string(postfix.OrderFresh) && v != string(postfix.OrderStable) {
						return errors.New("must be fresh or stable")
					}
					p.Map.Order = postfix.Order(v)
					return nil
				}},
				{"stable-for", "MXROUTE_AGENT_STABLE_FOR", postfix.DefaultStableFor.String(), "longest reuse of a domain's answer with -order=stable", durationSetter(&p.Map.StableFor)},
				{"reply-budget", "MXROUTE_AGENT_REPLY_BUDGET", postfix.DefaultBudget.String(), "longest time to answer one lookup, mxroute included", durationSetter(&p.Map.Budget)},
				{"maillog", "MXROUTE_AGENT_MAILLOG", "", "Postfix log to follow (maillog_file, or a syslog file); empty: routing only", func(v string) error { p.Maillog = v; return nil }},
				{"state-file", "MXROUTE_AGENT_STATE_FILE", "", "where the log position is kept across restarts (default: -maillog + .mxroute-agent.state)", func(v string) error { p.StateFile = v; return nil }},
				{"from-start", "MXROUTE_AGENT_FROM_START", "false", "with no state file, read an existing log from its start rather than its end", boolSetter(&p.FromStart)},
			}
			return ss, func(ctx context.Context, c *common, log *slog.Logger) error { return runPostfix(ctx, c, p, log) }
		},
	}
}

func runPostfix(ctx context.Context, c *common, p *postfixConfig, log *slog.Logger) error {
	if c.Client.RouteTimeout >= p.Map.Budget {
		return fmt.Errorf("MXROUTE_AGENT_ROUTE_TIMEOUT (%v) must be shorter than MXROUTE_AGENT_REPLY_BUDGET (%v)", c.Client.RouteTimeout, p.Map.Budget)
	}
	if p.Map.Name == p.Map.TLSName {
		return fmt.Errorf("MXROUTE_AGENT_TLS_MAP_NAME must differ from MXROUTE_AGENT_MAP_NAME (%q)", p.Map.Name)
	}
	client, err := mxclient.New(c.Client, nil)
	if err != nil {
		return err
	}
	p.Map.FailOpen = c.FailOpen
	m := postfix.NewMap(p.Map, client, log, nil)
	ln, err := listen(p.Listen)
	if err != nil {
		return err
	}
	log.Info("socketmap listening", "addr", ln.Addr().String(), "map", p.Map.Name, "tls_map", p.Map.TLSName, "order", p.Map.Order, "fail_open", c.FailOpen)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return postfix.NewServer(m, log, 0, 0).Serve(ctx, ln) })
	if p.Maillog != "" {
		state := p.StateFile
		if state == "" {
			state = p.Maillog + ".mxroute-agent.state"
		}
		parser := postfix.NewParser(time.Local, nil, m)
		stats := func() []any {
			n := parser.Counts()
			return []any{"lines", n.Lines, "reports", n.Reports, "other_lines", n.Other, "skipped_lines", n.Skipped, "unknown_lines", n.Unknown}
		}
		lt := logtail.Config{Path: p.Maillog, StatePath: state, FromStart: p.FromStart}
		g.Go(func() error { return feed(ctx, c, lt, parser.Parse, client, log, stats) })
	}
	return g.Wait()
}

// listen opens "inet:HOST:PORT", "unix:PATH" or a bare HOST:PORT. A stale
// unix socket is replaced; the new one is writable by Postfix's
// trivial-rewrite, which runs as another user.
func listen(spec string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(spec, "unix:"); ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o666); err != nil {
			ln.Close()
			return nil, err
		}
		return ln, nil
	}
	return net.Listen("tcp", strings.TrimPrefix(spec, "inet:"))
}
