// Package resolver looks up DNS records over the wire with
// github.com/miekg/dns, for the MX routing logic of mxroute.
//
// It does not use net.Resolver because mail routing must tell NXDOMAIN
// (no such domain: bounce) from NODATA (the domain exists without MX: use
// the implicit MX of RFC 5321 section 5.1), which Go's resolver reports as
// the same error, and because it needs the TTLs that a cache in front of it
// stores. Failures (SERVFAIL, REFUSED, timeouts) are errors and negative
// answers are Answers, so that a cache can store the one and not the other.
//
// Design trade-offs:
//
//   - Upstream servers are tried in order, one attempt each, within a
//     per-attempt Timeout and a per-Lookup Budget, as resolv.conf users
//     expect, with one exception learnt from CoreDNS's forward plugin: a
//     server that failed MaxFails times in a row goes after the others
//     for a Cooldown, so a dead first server does not cost every uncached
//     lookup a Timeout. Health is counted with atomics and evaluated
//     lazily against the clock when a lookup orders the servers; there is
//     no probe goroutine to start and stop. The price is that a failing
//     server is rediscovered by one real lookup per cool-down, which waits
//     a Timeout when the server is still dead. Servers are never skipped:
//     when all are failing, all are tried in order. Servers are not raced
//     either: a cache in front keeps the query rate low.
//   - Metrics carry the server address as a label only for the configured
//     upstreams, a bounded set the operator chose. Exchange, which queries
//     whatever authoritative servers a domain's NS records name, records
//     server="authoritative" instead; its spans keep the address.
//   - Connections to the configured upstreams are pooled, as CoreDNS's
//     forward plugin pools them: a socket per query costs a socket, bind
//     and connect (and for TCP a handshake) on every cache miss. A pooled
//     UDP socket keeps its random source port for at most ten seconds,
//     and every query a fresh random ID (see conns.go for the trade-off).
//     Authoritative servers reached through Exchange get a socket per
//     query: they are chosen by DNS data, so their number has no bound.
//   - CNAMEs are followed by the client, both inside one reply and across
//     replies, so the same code serves recursive upstreams (which send the
//     whole chain) and local zones or authoritative servers (which may stop
//     at a zone boundary).
//   - Local zones (Config.Local) override upstream for whole zones, not
//     single names: inside a local zone the local data is authoritative,
//     NXDOMAIN included, so an override cannot be half-merged with the
//     public data.
//   - Telemetry is per query on the wire (a "dns.query" span and metrics),
//     not per Lookup: what operators need to see is which upstream was slow
//     or failing, and local answers cost nothing worth tracing.
//
// The subpackage dnstest starts in-process authoritative servers for tests.
package resolver
