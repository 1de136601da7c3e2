package resolver

import (
	"net"
	"sync/atomic"
	"syscall"
)

// dialGuard vets every DNS dial of every Client before the socket
// connects. Production never sets it; tests do, through GuardDials, so
// that a test which would send DNS anywhere but loopback fails visibly
// instead of quietly leaking packets (dnstest.LoopbackOnly). It is the one
// piece of package-level state here, and it exists only for that guard.
var dialGuard atomic.Pointer[func(network, address string) error]

// GuardDials installs f to vet every later DNS dial (UDP and TCP) of every
// Client; an error from f fails the dial. nil removes the guard. For
// tests: see dnstest.LoopbackOnly.
func GuardDials(f func(network, address string) error) {
	if f == nil {
		dialGuard.Store(nil)
		return
	}
	dialGuard.Store(&f)
}

// newDialer returns the dialer of a dns.Client, with the guard's hook.
func newDialer() *net.Dialer {
	return &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		if f := dialGuard.Load(); f != nil {
			return (*f)(network, address)
		}
		return nil
	}}
}
