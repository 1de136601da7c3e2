// Command bare is the baseline for mxroute's /route throughput: a plain
// net/http server that answers every request with a fixed JSON body of
// the size of the demo example.com plan (580 bytes). It has no router, no
// middleware and does no work per request, so the ratio of mxroute's
// cached /route to it measures everything mxroute adds (chi, the strict
// server, telemetry middleware, the planner, JSON encoding) on the same
// machine, in the same run. The server timeouts match mxroute's so the
// connection handling is the same.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// plan is a captured answer of mxroute to GET /route?domain=example.com,
// so the baseline writes the same bytes on the wire.
const plan = `{"attempts":[{"address":"172.16.10.2","family":"ipv4","host":"mail2.example.com","preference":10,"state":"healthy"},{"address":"172.16.10.1","family":"ipv4","host":"mail1.example.com","preference":10,"state":"healthy"}],"disposition":"deliver","domain":"example.com","implicit_mx":false,"reason":"ok","route_id":"c3bf6d5757e447e15f3a1afe831561bb","skipped":[{"address":"172.16.10.1","host":"mail3.example.com","preference":20,"reason":"duplicate_address"},{"address":"172.16.10.2","host":"mail4.example.com","preference":30,"reason":"duplicate_address"}],"ttl":300,"warnings":[]}` + "\n"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18081", "HTTP listen address")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	body := []byte(plan)
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", length)
		w.Write(body)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(stdout, "bare listening on %s (%d-byte body)\n", ln.Addr(), len(body))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
