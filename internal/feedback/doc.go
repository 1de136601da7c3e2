// Package feedback turns delivery reports from the fleet of mail senders
// into a per-address health state that the route planner consults.
//
// # Model
//
// Each report is classified (Classify) as a host failure, a host success
// or neutral. Per (address, reporter) the store counts consecutive host
// failures; after Policy.VoteFailures of them a reporter votes the address
// down, and the vote lasts Policy.VoteTTL after its last failure. With
// Policy.QuorumReporters distinct votes the address is demoted, unless the
// healthy veto holds (most reporters in the window saw it serve after
// their last failure) or the budget is exhausted (too many addresses
// demoted already: a broken reporter network must not demote the world).
// A demotion lasts BaseDemotion × multiplier ± jitter, the multiplier
// growing with each re-demotion and decaying when quiet; it ends early when
// Policy.RecoveryReporters distinct reporters see the host serve. A
// demotion's votes are used up by it: a re-demotion needs failures after
// the previous demotion began. Operators drain and undrain addresses; a
// drain wins over, and replaces, a demotion.
//
// The state machine runs on event times (ObservedAt, or the receipt time),
// not on the time a report reaches the store, so reports replayed after an
// outage give the state they would have given on time. Reports older than
// the vote window count only as "seen".
//
// # Stores
//
// MemoryStore runs the state machine in Go under one mutex (a single
// instance). RedisStore shares it across replicas: each batch is grouped by
// address and each address is updated by one EVALSHA of apply.lua, whose
// keys share a hash tag so that Cluster can run it; the script is a
// line-for-line twin of record.go and a conformance suite runs the same
// behaviour table against both stores. Every key carries a TTL, and the
// memory store prunes by the same rule, so state never outlives its use.
//
// The budget needs fleet-wide counts (addresses confirmed, addresses
// demoted) that live in keys of other Cluster slots, which a script may
// not touch. They are kept in separate sorted sets, updated by plain
// commands in the batch's pipeline, and read at most once per second; the
// script receives "budget exhausted" as an argument. The price: replicas
// demoting in the same second can overshoot the budget by what they demote
// in that second. The memory store's budget is exact. The fleet-wide keys
// share one hash tag (one Cluster slot); when they cannot be read, Apply
// fails open: it goes on with the last verdict read, so that one master
// down does not stop the writes to every other master's addresses (the
// call still reports the error, and only what failed is handed back).
//
// # Bounds
//
// Reports come from clients, and in development mode (no tokens) from
// anyone, so what they can make the stores keep is bounded. Per report:
// the validated fields, names of at most 255 bytes. Per address: a
// reporter entry per reporter, six counters, the last failure. In count:
// Policy.MaxAddresses addresses. Reports about addresses no plan can
// contain (Options.Undialable: the planner's never-dial filter) are
// refused, so they take no room. At the bound, a new address evicts the
// least recently reported tracked address that is neither confirmed (a
// quorum of reporters signalling within BudgetWindow) nor demoted nor
// drained: what several reporters agree on is kept, what one reporter
// alone speaks of goes first. Each reporter may make room so for at most
// Policy.ReporterNewAddresses new addresses per BudgetWindow; beyond that,
// and when nothing is evictable, its reports about new addresses are shed
// (counted, reported by Status, never refused). So one sender flooding
// the store with addresses fills the bound once, then only churns its own
// addresses, and the fleet's reports about a real host still get in. The
// memory store counts exactly (memory_bound.go); the Redis store counts
// its seen set, read with the budget, asks Redis which addresses of a
// batch are known only when the count leaves too little room for the
// batch, and evicts with one script over the fleet-wide keys (one slot)
// that also keeps each reporter's quota, fleet-wide.
//
// The budget's denominator counts an address only once as many distinct
// reporters as could demote it (Policy.QuorumReporters) sent host signals
// about it within the vote window, so one reporter cannot raise the budget
// by reporting on thousands of addresses nobody else uses. The Redis script
// says when an address is confirmed; its reply cannot reach the confirmed
// set in the same round trip, so the replica writes it with its next
// pipeline (the next batch, budget read or resync), a lag of a second or
// two that the budget, read once a second, barely notices.
//
// # Routing view
//
// Routing must not wait for Redis. Each Service keeps a local view of the
// non-healthy addresses behind an atomic pointer (StateOf does no I/O and
// takes no lock). Its own transitions update it at once; the Redis store
// publishes every transition so other replicas apply it within
// milliseconds; a periodic resync replaces the view from the store's index
// and heals pushes missed during reconnects. A view not resynced for
// Options.ViewStaleAfter is ignored (every address healthy, plain RFC
// order): routing on stale demotions is worse than not demoting.
//
// # Faults
//
// Every store call is bounded by Options.StoreTimeout (more for a call
// carrying many reports). Every Submit puts its reports in a bounded ring
// and waits while they go to the store in one call with whatever other
// Submits put there meanwhile (group commit, commit.go): Redis sees one
// script call per address per call, whatever the report rate. When the
// store fails, the reports stay in the ring (oldest dropped and counted,
// or spooled) and Submit returns success; Run replays the ring in order
// once the store answers, and Flush does the same at shutdown. When
// reports arrive faster than the store takes them, Submit turns batches
// away (OverloadedError, a 503 with Retry-After) once half the ring waits,
// so senders keep them instead of the ring dropping them; only a store
// that answered nothing for Options.OutageAfter is down, and then the
// whole ring (and the spool) takes reports. Failing calls alone cannot
// tell slow from down: go-redis retries a refused dial until the deadline,
// so both end in a timeout.
//
// A call that timed out may still be applied: against a stalled or slow
// Redis the command was already written to the connection, and Redis runs
// it when it resumes, before or after the replay. Counting it twice would
// double consecutive-failure counts and let a reporter vote, or an address
// be demoted, on fewer real failures than the policy asks. So the ring
// stamps each report with a sequence number (Observation.Seq) of this
// Service instance (Batch.Origin), and only one caller at a time sends the
// ring to the store, oldest first, putting back in front whatever failed:
// each address sees an origin's reports in Seq order, without gaps. The
// Redis store keeps, per address and origin, the highest Seq it applied (a
// watermark) and skips reports at or below it: each report counts once
// per address (except one that timed out in a call that ran, and then
// went to the spool: spool.go), and the record holds one field per replica instance that
// reported on it within the vote window, whatever the report rate. A
// watermark is forgotten when all its reports have left the vote window;
// replayed later, they only count as "seen", which is idempotent too.
package feedback
