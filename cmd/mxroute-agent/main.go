// Command mxroute-agent is the companion that runs beside each MTA of a
// fleet: it answers the MTA's routing lookups with mxroute's plans and
// reports every delivery attempt it finds in the MTA's log to /feedback.
//
//	mxroute-agent postfix [flags]   socketmap for transport_maps + maillog follower
//
// Every setting is a flag and an MXROUTE_AGENT_* environment variable;
// see `mxroute-agent postfix --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mxroute-agent:", err)
		os.Exit(1)
	}
}
