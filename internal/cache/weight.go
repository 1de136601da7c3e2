package cache

import "unsafe"

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
const entryOverhead = 320

func weigh(k key, e *entry) uint32 {
	a := &e.answer
	n := entryOverhead + len(k.name)
	n += len(a.MX) * int(unsafe.Sizeof(a.MX[0]))
	for _, mx := range a.MX {
		n += len(mx.Host)
	}
	n += len(a.Addrs) * int(unsafe.Sizeof(a.Addrs[0]))
	// A record kept whole (a type without a compact form): its struct,
	// owner name and data, roughly.
	n += len(a.Records) * 128
	for _, cn := range a.CNAMEs {
		n += int(unsafe.Sizeof(cn)) + len(cn)
	}
	return uint32(n)
}
