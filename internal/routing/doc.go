// Package routing builds RFC 5321 delivery plans. It is the pure core of
// mxroute: resolved DNS data, a health view and a source of randomness go in,
// a plan comes out, and nothing here does I/O.
//
// Keeping the planner pure is the main design choice. Every rule of RFC 5321
// section 5.1, RFC 1123 5.3.4 and RFC 7505 can be tested with a table and a
// seeded random source, the fuzz target can throw arbitrary DNS answers at it,
// and the HTTP path pays for DNS only through the cache in front of it.
//
// The rules, in the order Plan applies them:
//   - A temporary MX lookup failure is a temporary failure; NXDOMAIN is
//     permanent; a single MX of "." (RFC 7505) or of the unspecified address
//     is a null MX; no MX records means the domain itself is the mail host
//     (implicit MX) when it has addresses.
//   - MX hosts are sorted by ascending preference after a Fisher-Yates
//     shuffle, so hosts of equal preference come out in a fresh, uniformly
//     random order on every call (RFC 5321 MUST; the standard library's
//     net.byPref does the same).
//   - Each host's addresses keep the order the resolver presented them (RFC
//     5321 MUST), IPv4 before IPv6, unless the operator asks for a shuffle.
//   - An address is tried once, at its most preferred position; later copies
//     are listed as skipped, so they do not eat into the attempt limit.
//   - Addresses that must never be dialled are skipped, as are hosts at or
//     after the local host's own preference (RFC 5321 5.1 self-loop rule).
//   - Health reorders but never drops: within a preference tier healthy
//     addresses lead, tiers with no healthy address move behind tiers with
//     one, and when nothing is healthy the plain RFC order stands.
package routing
