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
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// go-redis logs dial failures through a process-wide logger of its own;
	// process-wide setup belongs here, not in run, which tests call many
	// times at once.
	redis.SetLogger(redisLog{slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mxroute:", err)
		os.Exit(1)
	}
}

// redisLog turns go-redis's printf lines into JSON log records, so a
// Redis outage shows in the same log stream as everything else.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
