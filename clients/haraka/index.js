'use strict'

// Haraka plugin: ask mxroute where to deliver each outbound message
// (get_mx) and report what happened at every host (delivered, deferred,
// bounce) back to it.
//
// Design choices:
// - Fail open. mxroute is an optimisation of delivery, not a dependency of
//   it: when it cannot be asked, Haraka looks up MX records itself, and the
//   condition is logged once per interval rather than once per message.
//   (fail_open=false defers instead.)
// - Never slow delivery down for reporting. Outcome hooks only queue
//   reports; a timer sends them in batches (lib/feedback.js).
// - Haraka's hooks say less than mxroute would like (no hook for a refused
//   connection, no SMTP stage on rejections); lib/outcomes.js infers what
//   can be inferred from the plan and says what cannot.
//
// This is a packaged plugin (npm install haraka-plugin-mxroute) because
// Haraka runs single-file plugins in a vm sandbox that lacks URL and
// AbortSignal.

const { normalize, BOOLEANS } = require('./lib/config')
const { fetchRoute, decide } = require('./lib/route')
const { PlanStore, PLANNED, FALLBACK, REFUSED } = require('./lib/plans')
const { attachTrace } = require('./lib/trace')
const { fromDelivered, fromDeferred, fromBounce, validReport } = require('./lib/outcomes')
const { FeedbackQueue, postFeedback } = require('./lib/feedback')
const { IntervalLog } = require('./lib/ratelog')
const { requiredAddresses, enforceTLS, observeHandshakes } = require('./lib/tls')

const constants = require('haraka-constants')

function attemptKey(hmail) {
    return hmail?.todo?.uuid || hmail?.filename || ''
}

exports.register = function () {
    this.plans = new PlanStore()
    this.stats = { routed: 0, refused: 0, fail_open: 0, reports: 0, invalid_reports: 0 }
    this.load_config()
    this.feedback = new FeedbackQueue({
        send: (reports, key) => postFeedback(this.cfg, reports, key),
        batchSize: this.cfg.batch_size,
        flushIntervalMs: this.cfg.flush_interval_ms,
        queueMax: this.cfg.queue_max,
        onError: (kind, message) => this.feedbackLog.note(`mxroute feedback ${kind}: ${message}`),
    })
    this.feedback.start()
}

// load_config reads mxroute.ini. At start an unusable value throws, so
// Haraka refuses to load the plugin and says why; on a reload it is logged
// and the running configuration stays.
exports.load_config = function () {
    const ini = this.config.get('mxroute.ini', { booleans: BOOLEANS }, () => this.reload_config())
    this.cfg = normalize(ini?.main)
    const warn = (line) => this.logwarn(line)
    if (!this.failOpenLog) this.failOpenLog = new IntervalLog(this.cfg.log_interval_ms, warn)
    if (!this.feedbackLog) this.feedbackLog = new IntervalLog(this.cfg.log_interval_ms, warn)
    this.failOpenLog.intervalMs = this.cfg.log_interval_ms
    this.feedbackLog.intervalMs = this.cfg.log_interval_ms
    this.feedback?.configure({
        batchSize: this.cfg.batch_size,
        flushIntervalMs: this.cfg.flush_interval_ms,
        queueMax: this.cfg.queue_max,
    })
}

exports.reload_config = function () {
    try {
        this.load_config()
    } catch (err) {
        this.logerror(`${err.message}; keeping the previous configuration`)
    }
}

/** inetPrefer reads outbound.ini the way Haraka does, to know the order it will try addresses in. */
exports.inetPrefer = function () {
    try {
        return this.config.get('outbound.ini')?.main?.inet_prefer || 'default'
    } catch {
        return 'default'
    }
}

exports.hook_get_mx = function (next, hmail, domain) {
    let answered = false
    const answer = (retval, msg) => {
        answered = true
        next(retval, msg)
    }
    this.route(hmail, domain)
        .then(([retval, msg]) => answer(retval, msg))
        .catch((err) => {
            // A bug here must not cost a message: let Haraka use DNS.
            this.logerror(`mxroute get_mx: ${err.stack || err}`)
            if (!answered) answer()
        })
}

/** route asks mxroute and returns the get_mx answer as [retval, msg]. */
exports.route = async function (hmail, domain) {
    const key = attemptKey(hmail)
    let plan
    try {
        plan = await fetchRoute(this.cfg, domain)
    } catch (err) {
        this.stats.fail_open++
        const action = this.cfg.fail_open ? 'falling back to DNS' : 'deferring'
        this.failOpenLog.note(`mxroute unavailable, ${action}: ${err.message}`)
        if (!this.cfg.fail_open) {
            this.plans.start(key, domain, REFUSED, null, Date.now())
            return [constants.DENYSOFT, '4.4.3 mxroute unavailable']
        }
        this.plans.start(key, domain, FALLBACK, null, Date.now())
        this.trace(hmail, key)
        return [undefined, undefined]
    }

    const decision = decide(plan, this.cfg.smtp_port)
    if (plan.disposition === 'deliver') {
        this.stats.routed++
        const entry = this.plans.start(key, domain, PLANNED, plan, Date.now(), this.inetPrefer())
        this.trace(hmail, key)
        const required = requiredAddresses(plan)
        if (!enforceTLS(hmail, entry, required) && required.size > 0) {
            this.failOpenLog.note(`mxroute: this Haraka has no get_force_tls; tls_required is not enforced for ${domain}`)
        }
        observeHandshakes(hmail, entry)
        hmail.loginfo?.(
            `mxroute route ${plan.route_id || '-'} for ${domain}: ${decision.mxs.map((m) => m.exchange).join(', ')}`,
        )
        return [constants.OK, decision.mxs]
    }

    this.stats.refused++
    this.plans.start(key, domain, REFUSED, plan, Date.now())
    hmail.loginfo?.(`mxroute route ${plan.route_id || '-'} for ${domain}: ${plan.disposition} ${decision.message}`)
    if (decision.action === 'mx') return [constants.OK, decision.mxs] // RFC 7505 null MX
    return [decision.action === 'deny' ? constants.DENY : constants.DENYSOFT, decision.message]
}

exports.trace = function (hmail, key) {
    if (this.cfg.protocol_trace) attachTrace(hmail, () => this.plans.get(key)?.trace)
}

exports.hook_delivered = function (next, hmail, params) {
    try {
        this.report(fromDelivered(this.plans.get(attemptKey(hmail)), params, Date.now()))
    } finally {
        next()
    }
}

exports.hook_deferred = function (next, hmail, params) {
    try {
        this.report(fromDeferred(this.plans.get(attemptKey(hmail)), hmail, params, Date.now()))
    } finally {
        next()
    }
}

exports.hook_bounce = function (next, hmail, err) {
    try {
        this.report(fromBounce(this.plans.get(attemptKey(hmail)), hmail, err, Date.now()))
    } finally {
        next()
    }
}

exports.report = function (reports) {
    const valid = reports.filter(validReport)
    this.stats.invalid_reports += reports.length - valid.length
    this.stats.reports += valid.length
    this.feedback.push(valid)
}

exports.shutdown = function () {
    // Haraka does not wait for this; with graceful_shutdown the pending
    // request keeps the process alive until it completes or times out.
    return this.feedback?.close().catch((err) => this.logerror(`mxroute feedback at shutdown: ${err.message}`))
}
