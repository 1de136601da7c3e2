'use strict'

// Asking mxroute for a delivery plan and turning it into what Haraka's
// get_mx hook answers.
//
// Haraka 3.3 (outbound/hmail.js get_mx_respond) wraps every object handed to
// next(OK, list) in haraka-net-utils' HarakaMx, which copies exchange, port,
// priority and from_dns among others, resolves hostnames (IP literals are
// kept as they are) and then tries the list in the order given: it sorts by
// priority only on its own DNS path. We still make priorities non-decreasing
// along the plan so that any stable sort by priority (a future Haraka, another
// plugin) keeps mxroute's order, including demoted hosts moved to the end.

const net = require('node:net')

const DISPOSITIONS = new Set(['deliver', 'permanent_failure', 'temporary_failure'])

/** RouteError is any reason the plan could not be used; the caller fails open. */
class RouteError extends Error {
    constructor(message, { cause, status } = {}) {
        super(message, { cause })
        this.name = 'RouteError'
        this.status = status
    }
}

/**
 * requestHeaders builds the headers every mxroute request carries: the bearer
 * token when one is configured, and the node name as reporter identity, which
 * the server uses when it runs without authentication.
 */
function requestHeaders(cfg, extra = {}) {
    const headers = { Accept: 'application/json', ...extra }
    if (cfg.token) headers.Authorization = `Bearer ${cfg.token}`
    if (cfg.node_name) headers['X-Mxroute-Reporter'] = cfg.node_name
    return headers
}

/**
 * fetchRoute asks GET /route?domain=D and returns the validated plan.
 * Every failure (network, timeout, non-200, malformed body) is a RouteError.
 */
async function fetchRoute(cfg, domain) {
    const url = new URL('route', cfg.url)
    url.searchParams.set('domain', domain)
    let res
    try {
        res = await fetch(url, {
            headers: requestHeaders(cfg),
            signal: AbortSignal.timeout(cfg.timeout_ms),
        })
    } catch (err) {
        throw new RouteError(`GET /route for ${domain}: ${describeFetchError(err)}`, { cause: err })
    }
    let body
    try {
        body = await res.text()
    } catch (err) {
        throw new RouteError(`GET /route for ${domain}: reading body: ${describeFetchError(err)}`, { cause: err })
    }
    if (res.status !== 200) {
        throw new RouteError(`GET /route for ${domain}: HTTP ${res.status}: ${problemDetail(body)}`, {
            status: res.status,
        })
    }
    let plan
    try {
        plan = JSON.parse(body)
    } catch (err) {
        throw new RouteError(`GET /route for ${domain}: invalid JSON: ${err.message}`, { cause: err })
    }
    const problem = validatePlan(plan)
    if (problem) throw new RouteError(`GET /route for ${domain}: ${problem}`)
    return plan
}

/** validatePlan returns a description of what is wrong with a plan, or '' when it is usable. */
function validatePlan(plan) {
    if (!plan || typeof plan !== 'object') return 'plan is not an object'
    if (!DISPOSITIONS.has(plan.disposition)) return `unknown disposition ${JSON.stringify(plan.disposition)}`
    if (plan.disposition !== 'deliver') return ''
    if (!Array.isArray(plan.attempts) || plan.attempts.length === 0) return 'deliver plan without attempts'
    for (const [i, a] of plan.attempts.entries()) {
        if (!a || !net.isIP(a.address)) return `attempt ${i} has no IP address`
        if (!Number.isInteger(a.preference) || a.preference < 0) return `attempt ${i} has no preference`
    }
    return ''
}

/**
 * toMxList maps plan attempts to the objects Haraka's get_mx accepts, in plan
 * order: {exchange: address, port, priority, from_dns: host}.
 */
function toMxList(plan, port) {
    let floor = 0
    return plan.attempts.map((a) => {
        floor = Math.max(floor, a.preference)
        const mx = { exchange: a.address, port, priority: floor }
        if (a.host) mx.from_dns = a.host
        return mx
    })
}

/**
 * decide turns a plan into the get_mx answer:
 *   {action: 'mx', mxs}            deliver (next(OK, mxs))
 *   {action: 'deny', message}      permanent failure (next(DENY, message))
 *   {action: 'denysoft', message}  temporary failure (next(DENYSOFT, message))
 * A null MX is answered with RFC 7505's null MX record rather than DENY:
 * Haraka recognises it (found_mx) and bounces with 5.1.10, while DENY would
 * always bounce with 5.1.2.
 */
function decide(plan, port) {
    switch (plan.disposition) {
        case 'deliver':
            return { action: 'mx', mxs: toMxList(plan, port) }
        case 'permanent_failure':
            if (plan.reason === 'null_mx') {
                return { action: 'mx', mxs: [{ exchange: '', priority: 0 }], message: denyMessage(plan, '5.1.10') }
            }
            return { action: 'deny', message: denyMessage(plan, '5.1.2') }
        default:
            return { action: 'denysoft', message: denyMessage(plan, '4.4.3') }
    }
}

function denyMessage(plan, fallbackStatus) {
    return `${plan.enhanced_status || fallbackStatus} ${plan.reason || plan.disposition}`
}

function problemDetail(body) {
    try {
        const p = JSON.parse(body)
        return [p.title, p.detail].filter(Boolean).join(': ') || body.slice(0, 200)
    } catch {
        return body.slice(0, 200)
    }
}

function describeFetchError(err) {
    if (err?.name === 'TimeoutError') return 'timed out'
    const cause = err?.cause
    if (cause?.code) return `${err.message} (${cause.code})`
    return err?.message || String(err)
}

module.exports = {
    RouteError,
    fetchRoute,
    validatePlan,
    toMxList,
    decide,
    requestHeaders,
    problemDetail,
    describeFetchError,
}
