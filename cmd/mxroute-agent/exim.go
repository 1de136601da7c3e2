package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mxroute/mxroute/internal/agent/exim"
	"github.com/mxroute/mxroute/internal/agent/logtail"
	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/apigen"
)

// eximConfig is the Exim side's settings.
type eximConfig struct {
	Listen    string
	Server    exim.ServerConfig
	Mainlog   string
	StateFile string
	FromStart bool
}

// DefaultEximListen is where the readsocket server listens; docs/exim.md's
// MXROUTE_SOCKET macro names the same path.
const DefaultEximListen = "unix:/run/mxroute-agent/exim.sock"

func eximSide() side {
	return side{
		summary: "Serve Exim: answer ${readsocket} routing requests (a manualroute host list in plan order)\n" +
			"and follow Exim's main log for the mxroute-event lines its event_action writes (docs/exim.md).",
		settings: func() ([]setting, func(context.Context, *common, *slog.Logger) error) {
			e := &eximConfig{}
			ss := []setting{
				{"listen", "MXROUTE_AGENT_LISTEN", DefaultEximListen, "readsocket endpoint: unix:PATH or inet:HOST:PORT", func(v string) error { e.Listen = v; return nil }},
				{"port", "MXROUTE_AGENT_PORT", strconv.Itoa(exim.DefaultPort), "TCP port put on every address of a host list", intSetter(&e.Server.Port, 1, 65535)},
				{"reply-budget", "MXROUTE_AGENT_REPLY_BUDGET", exim.DefaultAnswerBudget.String(), "longest time to answer one request, mxroute included; keep it under MXROUTE_TIMEOUT in Exim's configuration", durationSetter(&e.Server.Budget)},
				{"max-conns", "MXROUTE_AGENT_MAX_CONNS", strconv.Itoa(exim.DefaultMaxConns), "requests answered at once; beyond it the fail-open or fail-closed answer is given at once", intSetter(&e.Server.MaxConns, 1, 1_000_000)},
				{"mainlog", "MXROUTE_AGENT_MAINLOG", "", "Exim's main log to follow (log_file_path with %s = main); empty: routing only", func(v string) error { e.Mainlog = v; return nil }},
				{"state-file", "MXROUTE_AGENT_STATE_FILE", "", "where the log position is kept across restarts (default: -mainlog + .mxroute-agent.state)", func(v string) error { e.StateFile = v; return nil }},
				{"from-start", "MXROUTE_AGENT_FROM_START", "false", "with no state file, read an existing log from its start rather than its end", boolSetter(&e.FromStart)},
			}
			return ss, func(ctx context.Context, c *common, log *slog.Logger) error { return runExim(ctx, c, e, log) }
		},
	}
}

func runExim(ctx context.Context, c *common, e *eximConfig, log *slog.Logger) error {
	if c.Client.RouteTimeout >= e.Server.Budget {
		return fmt.Errorf("MXROUTE_AGENT_ROUTE_TIMEOUT (%v) must be shorter than MXROUTE_AGENT_REPLY_BUDGET (%v)", c.Client.RouteTimeout, e.Server.Budget)
	}
	client, err := mxclient.New(c.Client, nil)
	if err != nil {
		return err
	}
	e.Server.FailClosed = !c.FailOpen
	plans := exim.NewPlans(0, 0, nil)
	srv := exim.NewServer(e.Server, client, plans, log)
	ln, err := listen(e.Listen)
	if err != nil {
		return err
	}
	log.Info("exim readsocket server listening", "addr", ln.Addr().String(), "port", e.Server.Port, "fail_open", c.FailOpen)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ctx, ln) })
	if e.Mainlog != "" {
		state := e.StateFile
		if state == "" {
			state = e.Mainlog + ".mxroute-agent.state"
		}
		f := exim.NewFeed(plans, time.Local)
		parse := func(line []byte) []apigen.Report {
			if r, ok := f.Line(line); ok {
				return []apigen.Report{r}
			}
			return nil
		}
		stats := func() []any {
			fs, ss := f.Stats(), srv.Stats()
			return []any{"reports", fs.Reported, "skipped_lines", fs.Skipped, "malformed_lines", fs.Malformed,
				"route_requests", ss.Requests, "route_unavailable", ss.Unavailable, "route_malformed", ss.Malformed, "route_overloaded", ss.Overloaded}
		}
		lt := logtail.Config{Path: e.Mainlog, StatePath: state, FromStart: e.FromStart}
		g.Go(func() error { return feed(ctx, c, lt, parse, client, log, stats) })
	}
	return g.Wait()
}
