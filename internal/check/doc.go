// Package check grades a domain's MX layout for load balancing and
// failover (issue 6): whether senders spread mail over several servers,
// how many distinct addresses and networks they can fall back to, and what
// in the DNS data gets in the way.
//
// The work is split in two. Gather talks to DNS: the MX set, A and AAAA of
// every target, PTR of every address with forward confirmation of the PTR
// names, and, to catch servers serving different zones, the MX set as each
// authoritative server of the zone answers it directly. Grade is a pure
// function from the gathered Data to a Report, so the rules are tested with
// tables and fuzzed without a network, and Run is Gather then Grade.
//
// Trade-offs:
//   - Time is bounded, not completeness. The whole check has a budget (4 s
//     by default); reverse DNS and the authoritative comparison have their
//     own smaller ones (2 s), since slow reverse zones and dead name servers
//     are common and must not starve the MX lookup. What does not finish is
//     reported as an info finding (PTR_UNCHECKED, CONSISTENCY_UNCHECKED),
//     never guessed either way.
//   - "Strong" load balancing means two MX names at the lowest preference
//     with disjoint address sets. RFC 5321 makes senders pick at random
//     among equal preferences, but the addresses of one name are tried in
//     the order presented, and nothing requires a resolver to shuffle them;
//     only disjoint names guarantee that the random pick reaches different
//     servers. The seed document's third layout (two names, each with both
//     addresses) is therefore weak.
//   - Failover counts usable addresses only: unroutable ones (loopback,
//     link-local, ...) are dropped, private ones kept, because a sender
//     inside that network can still use them. A network is a /24 for IPv4
//     and a /48 for IPv6, and a sender tries at most MaxSenderAddresses.
//   - An MX TTL read through a caching resolver counts down, so it is
//     called low only when it came from an authoritative answer: the MX
//     answer itself with AA, or a direct query to an authoritative server.
//   - Authoritative servers are compared address by address, but an NS name
//     counts as unchecked only when none of its addresses answered: a host
//     without IPv6 would otherwise flag every name server's AAAA.
//   - A valid null MX grades pass and B: nothing to balance, nothing wrong.
package check
