// Command mxroute is the MX routing service shared by a fleet of mail
// senders, and a CLI for asking it the same questions from a terminal:
//
//	mxroute [flags]                 serve HTTP (GET /route, POST /feedback, ...)
//	mxroute route [flags] DOMAIN    print a delivery plan
//	mxroute check [flags] DOMAIN    grade a domain's MX layout
//
// Every setting is a flag and an MXROUTE_* environment variable; see
// `mxroute --help`.
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
		fmt.Fprintln(os.Stderr, "mxroute:", err)
		os.Exit(1)
	}
}
