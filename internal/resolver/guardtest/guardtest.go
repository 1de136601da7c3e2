// Package guardtest keeps tests' DNS on loopback. The project's rule is
// that tests send traffic only to 127.0.0.0/8 and ::1; a test that would
// resolve through the machine's resolvers, or /check a zone whose name
// servers are elsewhere, breaks it silently, since a DNS failure is a
// normal outcome to the code under test. LoopbackOnly makes it loud: every
// DNS dial of every resolver.Client outside loopback is refused and
// recorded, and the test binary fails listing them.
package guardtest

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/mxroute/mxroute/internal/resolver"
)

// LoopbackOnly runs m with the guard installed and returns the exit code
// for os.Exit: m's, or 1 when any dial left loopback. Use it from
// TestMain, around goleak's VerifyTestMain or m.Run.
func LoopbackOnly(m *testing.M, run func(*testing.M) int) int {
	var (
		mu   sync.Mutex
		seen []string
	)
	resolver.GuardDials(func(network, address string) error {
		if Loopback(address) {
			return nil
		}
		mu.Lock()
		seen = append(seen, network+" "+address)
		mu.Unlock()
		return fmt.Errorf("guardtest: %s dial to %s refused: tests send DNS only to loopback", network, address)
	})
	defer resolver.GuardDials(nil)
	code := run(m)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d DNS dials outside 127.0.0.0/8 and ::1 (refused by guardtest): %v\n", len(seen), seen)
		return 1
	}
	return code
}

// Loopback reports whether address (host:port) is in 127.0.0.0/8 or ::1.
func Loopback(address string) bool {
	ap, err := netip.ParseAddrPort(address)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
