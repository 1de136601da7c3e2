// Package accept is the agent's connection loop, shared by the Postfix
// socketmap server and the Exim readsocket server: both answer a local
// MTA on a bounded number of connections and stop with their context.
package accept

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Serve accepts on ln until ctx ends, then closes ln and waits for every
// connection's handler. At most cap(slots) connections run handle at
// once; a connection beyond that goes to over instead, on its own
// goroutine, so the loop never waits on a client.
func Serve(ctx context.Context, ln net.Listener, slots chan struct{}, handle, over func(net.Conn)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-slots }()
				handle(c)
			})
		default:
			wg.Go(func() { over(c) })
		}
	}
}
