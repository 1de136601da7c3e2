package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/mxroute/mxroute/internal/agent/mxclient"
	"github.com/mxroute/mxroute/internal/agent/reports"
)

// common is what every side of the agent shares: how to reach mxroute,
// who we are, and how reports are queued.
type common struct {
	Client        mxclient.Config
	TokenFile     string
	FailOpen      bool
	QueueMax      int
	BatchInterval time.Duration
	ShutdownGrace time.Duration
	LogLevel      slog.Level
}

// setting is one knob: a flag, an environment variable and a default,
// with the parser that stores it.
type setting struct {
	flag, env, def, usage string
	set                   func(v string) error
}

// DefaultShutdownGrace is how long a stopping agent keeps posting reports.
const DefaultShutdownGrace = 5 * time.Second

func commonSettings(c *common) []setting {
	host, _ := os.Hostname()
	return []setting{
		{"url", "MXROUTE_AGENT_URL", "http://127.0.0.1:8080/", "mxroute's base URL", func(v string) error { c.Client.URL = v; return nil }},
		{"token-file", "MXROUTE_AGENT_TOKEN_FILE", "", "file holding the bearer token (first line); empty: dev mode, identified by -reporter", func(v string) error { c.TokenFile = v; return nil }},
		{"reporter", "MXROUTE_AGENT_REPORTER", host, "node name sent as X-Mxroute-Reporter (the reporter identity when mxroute runs without tokens)", func(v string) error { c.Client.Reporter = v; return nil }},
		{"route-timeout", "MXROUTE_AGENT_ROUTE_TIMEOUT", mxclient.DefaultRouteTimeout.String(), "timeout of one GET /route", durationSetter(&c.Client.RouteTimeout)},
		{"feedback-timeout", "MXROUTE_AGENT_FEEDBACK_TIMEOUT", mxclient.DefaultFeedbackTimeout.String(), "timeout of one POST /feedback", durationSetter(&c.Client.FeedbackTimeout)},
		{"fail-open", "MXROUTE_AGENT_FAIL_OPEN", "true", "when mxroute cannot answer: true lets the MTA route by itself, false defers the mail", boolSetter(&c.FailOpen)},
		{"queue-max", "MXROUTE_AGENT_QUEUE_MAX", strconv.Itoa(reports.DefaultMaxQueued), "reports kept while mxroute is unreachable; the oldest are dropped beyond it", intSetter(&c.QueueMax, 1, 10_000_000)},
		{"batch-interval", "MXROUTE_AGENT_BATCH_INTERVAL", reports.DefaultInterval.String(), "how often queued reports are posted", durationSetter(&c.BatchInterval)},
		{"shutdown-grace", "MXROUTE_AGENT_SHUTDOWN_GRACE", DefaultShutdownGrace.String(), "how long a stopping agent keeps posting queued reports", durationSetter(&c.ShutdownGrace)},
		{"log-level", "MXROUTE_AGENT_LOG_LEVEL", "info", "debug, info, warn or error", func(v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	}
}

// token reads the token file, if any.
func (c *common) token() error {
	if c.TokenFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	for i, ch := range b {
		if ch == '\n' || ch == '\r' {
			b = b[:i]
			break
		}
	}
	if len(b) == 0 {
		return fmt.Errorf("token file %s is empty", c.TokenFile)
	}
	c.Client.Token = string(b)
	return nil
}

// parseSettings applies defaults, then the environment, then flags.
func parseSettings(name string, ss []setting, args []string, getenv func(string) string, stderr io.Writer, summary string) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range ss {
		if err := s.set(s.def); err != nil {
			return nil, fmt.Errorf("default of -%s: %w", s.flag, err)
		}
	}
	for _, s := range ss {
		if v := getenv(s.env); v != "" {
			if err := s.set(v); err != nil {
				return nil, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
	}
	for _, s := range ss {
		fs.Func(s.flag, fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def), s.set)
	}
	fs.Usage = func() { usage(stderr, name, summary, ss) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

func usage(w io.Writer, name, summary string, ss []setting) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n%s\n\nEvery setting is a flag and an environment variable; a flag wins.\n\n", name, summary)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, s := range ss {
		fmt.Fprintf(tw, "-%s\t%s\t%s\t%s\n", s.flag, s.env, s.def, s.usage)
	}
	tw.Flush()
}

func durationSetter(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be positive")
		}
		*p = d
		return nil
	}
}

func intSetter(p *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer between %d and %d", lo, hi)
		}
		*p = n
		return nil
	}
}

func boolSetter(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*p = b
		return nil
	}
}
