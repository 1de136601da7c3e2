'use strict'

// Sending outcome reports to POST /feedback without ever holding up delivery.
//
// Hooks only push onto an in-memory queue; a timer (and a full batch) drains
// it, one request at a time. The queue is bounded and drops its oldest
// reports first: recent outcomes say more about a host's health than old
// ones, and a Haraka node must not grow without bound while mxroute is down.
// Nothing is persisted: reports queued when Haraka exits without a graceful
// shutdown are lost, which costs mxroute some accuracy, never a message.

const { randomUUID } = require('node:crypto')

const { requestHeaders, problemDetail, describeFetchError } = require('./route')

/** The server's limit on reports per request. */
const MAX_BATCH = 1000
/** The longest pause after repeated server or network errors. */
const MAX_BACKOFF_MS = 60000

/**
 * postFeedback sends one batch and returns {status, accepted, retryAfterMs,
 * detail}; it throws only for network errors and timeouts. key is the
 * batch's Idempotency-Key: the same for every retry of the batch, so that
 * mxroute applies it once even when an earlier attempt got through but
 * its answer was lost.
 */
async function postFeedback(cfg, reports, key) {
    let res
    const extra = { 'Content-Type': 'application/json' }
    if (key) extra['Idempotency-Key'] = key
    try {
        res = await fetch(new URL('feedback', cfg.url), {
            method: 'POST',
            headers: requestHeaders(cfg, extra),
            body: JSON.stringify({ reports }),
            signal: AbortSignal.timeout(cfg.timeout_ms),
        })
    } catch (err) {
        throw new Error(`POST /feedback: ${describeFetchError(err)}`, { cause: err })
    }
    const text = await res.text().catch(() => '')
    const result = { status: res.status }
    if (res.status === 202 || res.status === 200) {
        try {
            result.accepted = JSON.parse(text).accepted
        } catch {
            result.accepted = undefined
        }
    } else {
        result.detail = problemDetail(text)
        if (res.status === 429 || res.status === 503) result.retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
    }
    return result
}

/** parseRetryAfter reads delay-seconds or an HTTP date; undefined if absent or unreadable. */
function parseRetryAfter(value, now = Date.now()) {
    if (!value) return undefined
    if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
    const at = Date.parse(value)
    return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** FeedbackQueue batches reports and hands them to send(). */
class FeedbackQueue {
    /**
     * @param {object} o
     * @param {(reports: object[], key: string) => Promise<{status:number, accepted?:number, retryAfterMs?:number, detail?:string}>} o.send
     *   key is the batch's Idempotency-Key, reused when the same batch is retried
     * @param {number} o.batchSize reports per request (at most 1000)
     * @param {number} o.flushIntervalMs how often the queue is drained
     * @param {number} o.queueMax reports kept while mxroute cannot take them
     * @param {(kind: string, message: string) => void} [o.onError] told about each failed request
     * @param {() => number} [o.now]
     */
    constructor({ send, batchSize, flushIntervalMs, queueMax, onError = () => {}, now = Date.now }) {
        this.send = send
        this.onError = onError
        this.now = now
        this.queue = []
        this.timer = null
        this.inflight = null
        this.pausedUntil = 0
        this.backoffMs = 0
        // The batch waiting to be retried at the front of the queue: its
        // first report, its length and its key, so the retry goes out
        // with the same key (unless trimming changed the batch).
        this.retry = null
        this.stats = { queued: 0, sent: 0, dropped: 0, rejected: 0, requests: 0 }
        this.configure({ batchSize, flushIntervalMs, queueMax })
    }

    /** configure applies new limits, restarting the timer if it runs. */
    configure({ batchSize, flushIntervalMs, queueMax }) {
        this.batchSize = Math.min(Math.max(1, batchSize), MAX_BATCH)
        this.queueMax = Math.max(1, queueMax)
        const restart = this.timer && flushIntervalMs !== this.flushIntervalMs
        this.flushIntervalMs = flushIntervalMs
        this.trim()
        if (restart) {
            this.stop()
            this.start()
        }
    }

    /** push queues reports; a full batch triggers a flush on the next tick. */
    push(reports) {
        if (!reports.length) return
        this.queue.push(...reports)
        this.stats.queued += reports.length
        this.trim()
        if (this.queue.length >= this.batchSize && !this.inflight && this.now() >= this.pausedUntil) {
            setImmediate(() => this.flush().catch(() => {}))
        }
    }

    trim() {
        const excess = this.queue.length - this.queueMax
        if (excess > 0) {
            this.queue.splice(0, excess)
            this.stats.dropped += excess
        }
    }

    start() {
        if (this.timer) return
        this.timer = setInterval(() => this.flush().catch(() => {}), this.flushIntervalMs)
        this.timer.unref()
    }

    stop() {
        if (this.timer) clearInterval(this.timer)
        this.timer = null
    }

    /**
     * flush drains the queue in batches until it is empty, mxroute asks us to
     * wait, or a request fails. force ignores a pause (used at shutdown).
     */
    flush({ force = false } = {}) {
        if (this.inflight) return this.inflight
        this.inflight = this.drain(force).finally(() => {
            this.inflight = null
        })
        return this.inflight
    }

    /** close stops the timer and makes one last attempt to send everything. */
    async close() {
        this.stop()
        if (this.inflight) await this.inflight
        await this.flush({ force: true })
    }

    async drain(force) {
        while (this.queue.length) {
            if (!force && this.now() < this.pausedUntil) return
            const key = this.keyFor()
            const batch = this.queue.splice(0, this.batchSize)
            this.stats.requests++
            let res
            try {
                res = await this.send(batch, key)
            } catch (err) {
                this.retryLater(batch, undefined, key)
                this.onError('unreachable', err.message)
                return
            }
            if (res.status === 202 || res.status === 200) {
                this.stats.sent += batch.length
                this.backoffMs = 0
                continue
            }
            if (res.status === 429 || res.status >= 500) {
                this.retryLater(batch, res.retryAfterMs, key)
                this.onError('retry', `POST /feedback: HTTP ${res.status}: ${res.detail || ''}`)
                return
            }
            // 400 rejects the whole batch for one bad report, 401/403 is a
            // configuration error: sending the same batch again cannot help.
            this.stats.rejected += batch.length
            this.onError('rejected', `POST /feedback: HTTP ${res.status}, ${batch.length} reports dropped: ${res.detail || ''}`)
        }
    }

    /**
     * keyFor returns the Idempotency-Key of the batch about to be taken from
     * the queue: the retried batch's key when that batch is still whole at
     * the front (and will be taken whole), else a new one.
     */
    keyFor() {
        const r = this.retry
        this.retry = null
        if (r && this.queue[0] === r.first && r.length === Math.min(this.batchSize, this.queue.length)) return r.key
        return randomUUID()
    }

    retryLater(batch, retryAfterMs, key) {
        this.queue.unshift(...batch)
        this.trim()
        this.retry = { first: batch[0], length: batch.length, key }
        if (retryAfterMs !== undefined) {
            this.pausedUntil = this.now() + retryAfterMs
            return
        }
        this.backoffMs = Math.min(Math.max(this.flushIntervalMs, this.backoffMs * 2), MAX_BACKOFF_MS)
        this.pausedUntil = this.now() + this.backoffMs
    }
}

module.exports = { FeedbackQueue, postFeedback, parseRetryAfter, MAX_BATCH }
