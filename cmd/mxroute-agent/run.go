package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
)

// side is one MTA the agent can serve.
type side struct {
	summary string
	// settings returns the side's own settings, bound to fresh storage,
	// and the function that runs the side with them.
	settings func() ([]setting, func(ctx context.Context, c *common, log *slog.Logger) error)
}

func sides() map[string]side {
	return map[string]side{
		"postfix": postfixSide(),
		"exim":    eximSide(),
	}
}

// run is the whole program; main only wires the process to it, so tests
// can run several agents in one process with their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	all := sides()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "-help" {
		fmt.Fprintf(stdout, "Usage: mxroute-agent {%s} [flags]\n", strings.Join(names, "|"))
		return nil
	}
	sd, ok := all[args[1]]
	if !ok {
		return fmt.Errorf("unknown MTA %q (want one of %s)", args[1], strings.Join(names, ", "))
	}
	var c common
	own, runSide := sd.settings()
	ss := append(commonSettings(&c), own...)
	rest, err := parseSettings("mxroute-agent "+args[1], ss, args[2:], getenv, stderr, sd.summary)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q", rest[0])
	}
	if err := c.token(); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	return runSide(ctx, &c, log)
}
