'use strict'

// What the plugin remembers about each delivery attempt between get_mx and
// the outcome hooks.
//
// Keyed by hmail.todo.uuid: Haraka gives each per-domain queue file its own
// uuid ("<transaction uuid>.<n>") and copies it into the files it splits off
// for deferred or bounced recipients, so the split's hook still finds the
// attempt that produced it. Entries are replaced at every get_mx (every retry
// asks for a new plan) and dropped oldest-first past a bound, never on an
// outcome: a delivery and the deferral of a split-off recipient can both
// follow the same attempt.

const net = require('node:net')
const { Trace } = require('./trace')

/** Attempt kinds. */
const PLANNED = 'planned' // mxroute answered deliver: the plan is known
const FALLBACK = 'fallback' // mxroute failed: Haraka used its own DNS
const REFUSED = 'refused' // mxroute said permanent/temporary failure: no host contacted

/**
 * orderLikeHaraka applies outbound.ini inet_prefer the way Haraka's found_mx
 * does (a stable partition), so "addresses before the one that answered"
 * means the ones Haraka really tried first.
 */
function orderLikeHaraka(attempts, inetPrefer) {
    if (inetPrefer !== 'v4' && inetPrefer !== 'v6') return attempts.slice()
    const first = inetPrefer === 'v4' ? net.isIPv4 : net.isIPv6
    return [...attempts.filter((a) => first(a.address)), ...attempts.filter((a) => !first(a.address))]
}

/** PlanStore is a bounded map from todo uuid to the current attempt. */
class PlanStore {
    constructor(max = 10000) {
        this.max = max
        this.entries = new Map()
    }

    /**
     * start records a new attempt and returns it. plan is the mxroute plan
     * (PLANNED) or null.
     */
    start(uuid, domain, kind, plan, now, inetPrefer) {
        const entry = {
            uuid,
            domain,
            kind,
            routeId: plan?.route_id || '',
            attempts: kind === PLANNED ? orderLikeHaraka(plan.attempts, inetPrefer) : [],
            startedAt: now,
            // Transport failures of addresses before the one that answered
            // are reported once per attempt, whichever hook learns it first.
            transportReported: false,
            // address -> STARTTLS handshake state (lib/tls.js observeHandshakes).
            handshakes: new Map(),
            trace: new Trace(),
        }
        this.entries.delete(uuid)
        this.entries.set(uuid, entry)
        while (this.entries.size > this.max) {
            this.entries.delete(this.entries.keys().next().value)
        }
        return entry
    }

    get(uuid) {
        return this.entries.get(uuid)
    }

    get size() {
        return this.entries.size
    }
}

module.exports = { PlanStore, orderLikeHaraka, PLANNED, FALLBACK, REFUSED }
