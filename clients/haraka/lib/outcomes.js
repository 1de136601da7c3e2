'use strict'

// Turning what Haraka's outbound hooks say into mxroute feedback reports.
//
// What Haraka 3.3 tells a plugin, and what it does not (outbound/hmail.js):
// - A connection that is refused, times out, fails TLS or closes mid-session
//   fires no hook: Haraka logs it and moves to the next MX. The plugin only
//   learns it afterwards: when a later address answers (delivered, or a
//   deferral/bounce that names the MX), every address before it in the plan
//   failed at transport level; when every address failed, Haraka defers with
//   "Tried all MXs". These are reported as stage "connect", except where
//   the plugin saw a STARTTLS handshake start and not complete
//   (lib/tls.js observeHandshakes): stage "tls". Haraka does not say which
//   of a refused connection, a timeout or an early close it was.
// - A reply that rejects the whole message (greeting, EHLO, MAIL, DATA)
//   defers or bounces it without trying the next MX. The code and enhanced
//   code are on every recipient (dsn_smtp_code, dsn_smtp_extc,
//   dsn_remote_mta) and in the error text; the command it answered is not,
//   so the stage comes from the protocol trace (lib/trace.js).
// - A reply to RCPT splits the recipient off: deferred gets fail_recips and
//   mx, bounce gets err.bounced_rcpt (or err.deferred_rcpt once retries are
//   exhausted) and err.mx. Reported as stage "rcpt", one report per distinct
//   code rather than per recipient.
// - Errors that involve no host (DNS, the plugin's own DENY/DENYSOFT) are
//   not reported. A deferral because TLS was required (lib/tls.js) but not
//   offered or not verified names no host either; the plugin knows the MX
//   Haraka was connecting to from its get_force_tls hook and reports it at
//   stage "tls".

const net = require('node:net')
const { PLANNED, FALLBACK } = require('./plans')
const { TLS_DEFERRALS, handshakeFailed } = require('./tls')

const STAGES = new Set(['connect', 'tls', 'greeting', 'ehlo', 'mail', 'rcpt', 'data'])
const OUTCOMES = new Set(['success', 'failure'])

const UPSTREAM = /^Upstream error: (\d{3}) (?:(\d\.\d{1,3}\.\d{1,3}) )?/
const REPLY = /^(\d{3}) (?:(\d\.\d{1,3}\.\d{1,3}) )?/
const TOO_MANY = /^Too many failures \((.*)\)$/s

/** validReport says whether mxroute would accept r (it rejects a whole batch for one bad report). */
function validReport(r) {
    if (!r || !net.isIP(r.address) || !OUTCOMES.has(r.outcome) || !STAGES.has(r.stage)) return false
    if (r.smtp_code !== undefined && !(Number.isInteger(r.smtp_code) && r.smtp_code >= 200 && r.smtp_code <= 599)) {
        return false
    }
    return true
}

/** dnsName says whether s is a plausible DNS name, as mxroute checks it. */
function dnsName(s) {
    if (typeof s !== 'string' || s === '' || s.length > 255) return false
    const labels = s.replace(/\.$/, '').split('.')
    return labels.every((l) => l.length > 0 && l.length <= 63 && /^[\p{L}\p{N}_-]+$/u.test(l))
}

/** codeFits: a success has a 2xx/3xx reply, a failure a 4xx/5xx one. */
function codeFits(outcome, code) {
    return outcome === 'success' ? code < 400 : code >= 400
}

/** extcFits: an enhanced code's class agrees with the reply and the outcome. */
function extcFits(outcome, code, extc) {
    if (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(extc)) return false
    const cls = Number(extc[0])
    if (code !== undefined) return cls === Math.floor(code / 100)
    return outcome === 'success' ? cls === 2 : cls !== 2
}

function reported(entry) {
    return entry && (entry.kind === PLANNED || entry.kind === FALLBACK)
}

function hostOf(entry, address) {
    return entry.attempts.find((a) => a.address === address)?.host
}

function build(entry, fields, now) {
    const r = {
        address: fields.address,
        outcome: fields.outcome,
        stage: fields.stage,
        domain: entry.domain,
        observed_at: new Date(now).toISOString(),
    }
    // mxroute rejects a whole batch for one contradictory or malformed
    // field, so a field that would not pass is left out rather than sent:
    // a reply code that disagrees with the outcome, an enhanced code whose
    // class disagrees with the reply, a name that is not a DNS name.
    const host = fields.host || hostOf(entry, fields.address)
    if (host && !net.isIP(host) && dnsName(host)) r.host = host
    if (!dnsName(r.domain)) delete r.domain
    const code = Number(fields.code)
    if (Number.isInteger(code) && code >= 200 && code <= 599 && codeFits(fields.outcome, code)) r.smtp_code = code
    if (fields.extc && extcFits(fields.outcome, r.smtp_code, String(fields.extc))) r.enhanced_code = String(fields.extc)
    if (fields.latencyMs !== undefined) r.latency_ms = Math.max(0, Math.round(fields.latencyMs))
    if (entry.routeId) r.route_id = entry.routeId
    return r
}

/**
 * transportFailures reports the plan's addresses before `address` (all of
 * them when address is null) as failures at stage connect, or tls where a
 * handshake started there and did not complete, once per attempt.
 */
function transportFailures(entry, address, now) {
    if (entry.kind !== PLANNED || entry.transportReported) return []
    let upTo = entry.attempts.length
    if (address !== null) {
        upTo = entry.attempts.findIndex((a) => a.address === address)
        if (upTo < 0) return []
    }
    entry.transportReported = true
    return entry.attempts
        .slice(0, upTo)
        .map((a) => {
            const stage = handshakeFailed(entry, a.address) ? 'tls' : 'connect'
            return build(entry, { address: a.address, host: a.host, outcome: 'failure', stage }, now)
        })
}

/**
 * latency is the time from plan to outcome, given only when the answering
 * address was the first one tried, so that it covers that host's session
 * alone (Haraka exposes no per-connection timing).
 */
function latency(entry, address, now) {
    if (entry.kind !== PLANNED || entry.attempts[0]?.address !== address) return undefined
    return now - entry.startedAt
}

/**
 * fromDelivered handles the delivered hook; params are Haraka 3.3's
 * [host, ip, response, delay, port, mode, ok_recips, secured, authenticated],
 * where ip is the MX's exchange and host its name (from_dns) when known.
 */
function fromDelivered(entry, params, now) {
    if (!reported(entry) || !Array.isArray(params)) return []
    const [host, ip] = params
    if (!net.isIP(ip)) return [] // a unix socket (mx.path) is not a host
    const reply = entry.trace.lastReply
    const code = reply && reply.stage === 'data' && reply.code < 300 ? reply.code : undefined
    return [
        ...transportFailures(entry, ip, now),
        build(
            entry,
            { address: ip, host, outcome: 'success', stage: 'data', code, latencyMs: latency(entry, ip, now) },
            now,
        ),
    ]
}

/** fromDeferred handles the deferred hook; params are {delay, err, fail_recips?, mx?}. */
function fromDeferred(entry, hmail, params, now) {
    if (!reported(entry) || !params) return []
    if (params.fail_recips?.length && params.mx) {
        return fromRecipients(entry, params.mx, params.fail_recips, now)
    }
    return fromMessageError(entry, hmail, String(params.err ?? ''), params.mx, now)
}

/** fromBounce handles the bounce hook; err is Haraka's Error with mx, bounced_rcpt, deferred_rcpt. */
function fromBounce(entry, hmail, err, now) {
    if (!reported(entry) || !err) return []
    const recips = err.bounced_rcpt?.length ? err.bounced_rcpt : err.deferred_rcpt
    if (recips?.length && err.mx) return fromRecipients(entry, err.mx, recips, now)
    return fromMessageError(entry, hmail, String(err.message ?? err), err.mx, now)
}

function fromRecipients(entry, mx, recips, now) {
    const address = mx.exchange
    if (!net.isIP(address)) return []
    const reports = transportFailures(entry, address, now)
    const seen = new Set()
    for (const rcpt of recips) {
        const key = `${rcpt.dsn_smtp_code}/${rcpt.dsn_smtp_extc}`
        if (seen.has(key)) continue
        seen.add(key)
        reports.push(
            build(
                entry,
                {
                    address,
                    host: mx.from_dns,
                    outcome: 'failure',
                    stage: 'rcpt',
                    code: rcpt.dsn_smtp_code,
                    extc: rcpt.dsn_smtp_extc,
                },
                now,
            ),
        )
    }
    return reports
}

function fromMessageError(entry, hmail, message, mx, now) {
    const inner = TOO_MANY.exec(message)
    if (inner) message = inner[1]

    if (message === 'Tried all MXs') return transportFailures(entry, null, now)
    if (TLS_DEFERRALS.has(message)) return tlsFailure(entry, now)

    const unrecognized = message.startsWith('Unrecognized response from upstream server')
    const m = UPSTREAM.exec(message) || (mx ? REPLY.exec(message) : null)
    if (!m && !unrecognized) return []

    // Haraka sets dsn_remote_mta on every recipient right before deferring
    // or bouncing for a whole-message reply; mx is passed only on bounces.
    const address = mx?.exchange || hmail?.todo?.rcpt_to?.find((r) => r.dsn_remote_mta)?.dsn_remote_mta
    if (!net.isIP(address)) return []

    const code = m ? Number(m[1]) : undefined
    const stage = code
        ? entry.trace.replyFor(code)?.stage || fallbackStage(code)
        : entry.trace.pendingStage() // an unparseable reply answers the outstanding command
    return [
        ...transportFailures(entry, address, now),
        build(
            entry,
            {
                address,
                host: mx?.from_dns,
                outcome: 'failure',
                stage,
                code,
                extc: m?.[2],
                latencyMs: latency(entry, address, now),
            },
            now,
        ),
    ]
}

/** tlsFailure reports the forced-TLS MX Haraka gave up on (lib/tls.js). */
function tlsFailure(entry, now) {
    const mx = entry.currentMx
    if (!mx?.forced || !net.isIP(mx.exchange)) return []
    return [
        ...transportFailures(entry, mx.exchange, now),
        build(entry, { address: mx.exchange, host: mx.from_dns, outcome: 'failure', stage: 'tls' }, now),
    ]
}

/**
 * fallbackStage is used when the protocol trace is off or saw nothing: 421
 * is a host going away (the server counts it against the host whatever the
 * stage), anything else is attributed to the envelope rather than the host.
 */
function fallbackStage(code) {
    return code === 421 ? 'greeting' : 'mail'
}

module.exports = {
    validReport,
    dnsName,
    extcFits,
    transportFailures,
    fromDelivered,
    fromDeferred,
    fromBounce,
    fallbackStage,
    STAGES,
}
