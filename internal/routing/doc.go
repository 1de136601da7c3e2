// Package routing builds RFC 5321 delivery plans. It is the pure core of
// mxroute: resolved DNS data, a health view and a source of randomness go in,
// a plan comes out, and nothing here does I/O.
//
// Keeping the planner pure is the main design choice. Every rule of RFC 5321
// section 5.1, RFC 1123 5.3.4 and RFC 7505 can be tested with a table and a
// seeded random source, the fuzz target can throw arbitrary DNS answers at it,
// and the HTTP path pays for DNS only through the cache in front of it. Build
// never modifies its Input, so cached answers can be shared between requests.
//
// The rules, in the order Build applies them:
//   - A temporary MX lookup failure is a temporary failure; NXDOMAIN is
//     permanent; MX records that all name the root (RFC 7505), or a single MX
//     to the unspecified address, are a null MX; no MX records means the
//     domain itself is the mail host (implicit MX) when it has addresses.
//     MX records that exist but are all unusable are an error, never a
//     reason to fall back to the domain's own addresses.
//   - MX hosts are sorted by ascending preference after a Fisher-Yates
//     shuffle, so hosts of equal preference come out in a fresh, uniformly
//     random order on every call (RFC 5321 MUST; the standard library's
//     net.byPref does the same).
//   - Each host's addresses keep the order the resolver presented them (RFC
//     5321 MUST), IPv4 before IPv6, unless the operator asks for a shuffle.
//     IPv4-mapped AAAA records are treated as the IPv4 address they map.
//   - Hosts at or after the local host's own preference are discarded (RFC
//     5321 5.1 self-loop rule). If that leaves nothing, the local host was
//     the best MX (permanent, 5.4.6) or a backup whose better hosts are all
//     unusable, which is temporary (4.4.4, as Postfix does): a backup MX
//     holds mail until the primary is fixed rather than bounce it.
//   - Addresses that must never be dialled are skipped, and so is any later
//     copy of an address: each address is tried once, at its most preferred
//     position, so duplicates do not eat into the attempt limit.
//   - The attempt limit then cuts the tail, in RFC order: which preference
//     tiers make the plan never depends on health, so a fleet-wide outage
//     of the primary MX moves it back without dropping it (RFC 1123
//     requires trying the lowest-preference MX). Within the one tier the
//     limit cuts through, hosts are interchangeable (RFC 5321 leaves their
//     order to chance), so the tier's healthy addresses are the ones kept.
//   - Health reorders but never drops: within a preference tier healthy
//     addresses lead, tiers with no healthy address move behind tiers with
//     one, and when nothing is healthy the plain RFC order stands.
//   - A plan with no attempts is temporary when a lookup it needed failed
//     temporarily, and permanent otherwise (5.4.4).
//
// Every address DNS returned for a host the plan considered appears either
// in the attempts or in the skipped list with a reason, including those of
// the family a sender did not ask for.
package routing
