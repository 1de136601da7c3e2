package cache

import (
	"net/netip"
	"unsafe"

	"github.com/mxroute/mxroute/internal/resolver"
)

// The cache is bounded by memory (Config.MaxBytes), not by a count of
// entries: an MX answer with twenty hosts and a NODATA answer differ by
// an order of magnitude, and what an operator sizes is the container's
// memory. Otter weighs each entry once, when it is stored, with weigh.
//
// weigh estimates what an entry keeps alive: the strings and slices it
// owns plus a fixed overhead per entry for otter's node and hash table
// slot, the key and the entry struct, calibrated by filling a cache with a
// million domains and reading the heap (bench/cachefill). It is an
// estimate, not an accounting: the Go heap adds its own slack (up to
// GOGC percent of the live heap between collections), which the operator
// bounds with GOMEMLIMIT.

// entryOverhead is the fixed cost of one entry in bytes.
const entryOverhead = 280

func weigh(k key, e *entry) uint32 {
	n := entryOverhead + len(k.name)
	n += len(e.mx) * int(unsafe.Sizeof(resolver.MX{}))
	for _, mx := range e.mx {
		n += len(mx.Host)
	}
	n += len(e.addrs) * int(unsafe.Sizeof(netip.Addr{}))
	if r := e.rare; r != nil {
		n += int(unsafe.Sizeof(*r))
		// A record kept whole (a type without a compact form): its
		// struct, owner name and data, roughly.
		n += len(r.records) * 128
		for _, cn := range r.cnames {
			n += int(unsafe.Sizeof(cn)) + len(cn)
		}
	}
	return uint32(n)
}
