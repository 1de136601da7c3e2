package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// run is the whole program; main only wires the process to it, so tests
// can run several servers in one process with their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name, rest := "mxroute", args[1:]
	cmd := "serve"
	if len(rest) > 0 && (rest[0] == "route" || rest[0] == "check" || rest[0] == "serve") {
		cmd, rest = rest[0], rest[1:]
	}
	cfg, rest, err := parseConfig(name+" "+cmd, rest, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch cmd {
	case "route":
		return routeCommand(ctx, cfg, rest, stdout)
	case "check":
		return checkCommand(ctx, cfg, rest, stdout)
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q (commands: route, check; see --help)", rest[0])
	}
	return serve(ctx, cfg, getenv, stdout, stderr)
}
