'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { FeedbackQueue, postFeedback, parseRetryAfter } = require('../lib/feedback')
const { normalize } = require('../lib/config')
const { startStub, closedUrl } = require('./helpers/stub')

function reports(n, from = 0) {
    return Array.from({ length: n }, (_, i) => ({
        address: `192.0.2.${from + i + 1}`,
        outcome: 'failure',
        stage: 'connect',
        observed_at: '2025-11-26T10:00:00.000Z',
    }))
}

function queueFor(url, opts = {}) {
    const cfg = normalize({ url, node_name: 'haraka-t', token: opts.token, timeout_ms: 30000 })
    const errors = []
    let clock = 1000
    const q = new FeedbackQueue({
        send: (batch, key) => postFeedback(cfg, batch, key),
        batchSize: opts.batchSize ?? 100,
        flushIntervalMs: opts.flushIntervalMs ?? 60000,
        queueMax: opts.queueMax ?? 1000,
        onError: (kind, message) => errors.push({ kind, message }),
        now: () => clock,
    })
    return { q, errors, advance: (ms) => (clock += ms) }
}

const accept = (req) => ({ status: 202, body: { accepted: req.body.reports.length } })

test('reports go out in batches of batch_size with the reporter identity', async (t) => {
    const stub = await startStub(accept)
    t.after(stub.close)
    const { q } = queueFor(stub.url, { batchSize: 3, token: 'tok' })
    q.push(reports(7))
    await q.flush()
    assert.deepEqual(
        stub.requests.map((r) => r.body.reports.length),
        [3, 3, 1],
    )
    const req = stub.requests[0]
    assert.equal(req.method, 'POST')
    assert.equal(req.url.pathname, '/feedback')
    assert.equal(req.headers['content-type'], 'application/json')
    assert.equal(req.headers['x-mxroute-reporter'], 'haraka-t')
    assert.equal(req.headers.authorization, 'Bearer tok')
    assert.deepEqual(
        stub.requests.flatMap((r) => r.body.reports.map((x) => x.address)),
        reports(7).map((x) => x.address),
    )
    assert.equal(q.stats.sent, 7)
    assert.equal(q.queue.length, 0)
})

test('a full batch is sent without waiting for the interval', async (t) => {
    let arrived
    const got = new Promise((resolve) => (arrived = resolve))
    const stub = await startStub((req) => {
        arrived(req.body.reports.length)
        return accept(req)
    })
    t.after(stub.close)
    const { q } = queueFor(stub.url, { batchSize: 2, flushIntervalMs: 3600000 })
    q.start()
    t.after(() => q.stop())
    q.push(reports(1))
    q.push(reports(1, 1))
    assert.equal(await got, 2)
})

test('the interval flushes a partial batch', async (t) => {
    let arrived
    const got = new Promise((resolve) => (arrived = resolve))
    const stub = await startStub((req) => {
        arrived(req.body.reports.length)
        return accept(req)
    })
    t.after(stub.close)
    const { q } = queueFor(stub.url, { batchSize: 100, flushIntervalMs: 20 })
    q.start()
    t.after(() => q.stop())
    q.push(reports(1))
    assert.equal(await got, 1)
})

test('the queue is bounded and drops its oldest reports', () => {
    const { q } = queueFor('http://127.0.0.1:9/', { queueMax: 5, batchSize: 100 })
    q.push(reports(8))
    assert.equal(q.queue.length, 5)
    assert.equal(q.stats.dropped, 3)
    assert.deepEqual(
        q.queue.map((r) => r.address),
        reports(5, 3).map((r) => r.address),
    )
})

for (const status of [429, 503]) {
    test(`${status} keeps the batch and waits for Retry-After`, async (t) => {
        let limited = true
        const stub = await startStub((req) =>
            limited ? { status, headers: { 'Retry-After': '2' }, body: { title: 'slow down' } } : accept(req),
        )
        t.after(stub.close)
        const { q, errors, advance } = queueFor(stub.url)
        q.push(reports(4))
        await q.flush()
        assert.equal(q.queue.length, 4)
        assert.equal(errors[0].kind, 'retry')
        limited = false
        await q.flush() // still within Retry-After: no request
        assert.equal(stub.requests.length, 1)
        advance(2000)
        await q.flush()
        assert.equal(stub.requests.length, 2)
        assert.equal(q.queue.length, 0)
        assert.equal(q.stats.sent, 4)
    })
}

test('400 drops the batch and goes on with the next', async (t) => {
    const stub = await startStub((req) =>
        req.body.reports[0].address === '192.0.2.1'
            ? {
                  status: 400,
                  headers: { 'Content-Type': 'application/problem+json' },
                  body: { title: 'invalid report', detail: 'reports[1].stage' },
              }
            : accept(req),
    )
    t.after(stub.close)
    const { q, errors } = queueFor(stub.url, { batchSize: 2 })
    q.push(reports(4))
    await q.flush()
    assert.equal(q.stats.rejected, 2)
    assert.equal(q.stats.sent, 2)
    assert.match(errors[0].message, /HTTP 400, 2 reports dropped: invalid report: reports\[1\]\.stage/)
})

test('server errors and an unreachable server keep reports and back off', async (t) => {
    const stub = await startStub(() => ({ status: 503, body: { title: 'down' } }))
    t.after(stub.close)
    const { q, errors, advance } = queueFor(stub.url, { flushIntervalMs: 1000 })
    q.push(reports(3))
    await q.flush()
    assert.equal(q.queue.length, 3)
    await q.flush()
    assert.equal(stub.requests.length, 1, 'paused after a 5xx')
    advance(1000)
    await q.flush()
    assert.equal(stub.requests.length, 2)
    assert.equal(q.backoffMs, 2000, 'backoff doubles')

    const down = queueFor(await closedUrl())
    down.q.push(reports(2))
    await down.q.flush()
    assert.equal(down.q.queue.length, 2)
    assert.equal(down.errors[0].kind, 'unreachable')
    assert.match(down.errors[0].message, /ECONNREFUSED/)
    assert.equal(errors.length, 2)
})

test('close sends what is left, even while paused', async (t) => {
    let n = 0
    const stub = await startStub((req) => (n++ === 0 ? { status: 503, body: {} } : accept(req)))
    t.after(stub.close)
    const { q } = queueFor(stub.url)
    q.start()
    q.push(reports(2))
    await q.flush()
    assert.equal(q.queue.length, 2)
    await q.close()
    assert.equal(q.queue.length, 0)
    assert.equal(q.stats.sent, 2)
    assert.equal(q.timer, null)
})

test('configure clamps the batch size to the server limit and trims the queue', () => {
    const { q } = queueFor('http://127.0.0.1:9/', { queueMax: 10 })
    q.push(reports(10))
    q.configure({ batchSize: 5000, flushIntervalMs: 1000, queueMax: 4 })
    assert.equal(q.batchSize, 1000)
    assert.equal(q.queue.length, 4)
})

test('parseRetryAfter reads seconds and HTTP dates', () => {
    const now = Date.parse('2025-11-26T10:00:00Z')
    assert.equal(parseRetryAfter('7', now), 7000)
    assert.equal(parseRetryAfter('Wed, 26 Nov 2025 10:00:30 GMT', now), 30000)
    assert.equal(parseRetryAfter('', now), undefined)
    assert.equal(parseRetryAfter('soon', now), undefined)
})

test('each batch carries an Idempotency-Key, reused when that batch is retried', async (t) => {
    let failing = 2
    const stub = await startStub((req) => (failing-- > 0 ? { status: 503, body: { title: 'down' } } : accept(req)))
    t.after(stub.close)
    const { q, advance } = queueFor(stub.url, { batchSize: 2, flushIntervalMs: 1000 })
    q.push(reports(4))
    await q.flush() // 503
    advance(1000)
    await q.flush() // 503 again
    advance(2000)
    await q.flush() // both batches accepted
    const keys = stub.requests.map((r) => r.headers['idempotency-key'])
    assert.equal(stub.requests.length, 4)
    assert.ok(keys.every((k) => /^[!-~]{1,128}$/.test(k)), `keys ${keys}`)
    assert.equal(keys[0], keys[1], 'a retry reuses its key')
    assert.equal(keys[1], keys[2], 'a second retry too')
    assert.notEqual(keys[2], keys[3], 'the next batch has a key of its own')
    assert.deepEqual(stub.requests[3].body.reports, reports(2, 2))
})

test('a retried batch that trimming cut gets a new key', async (t) => {
    let failing = 1
    const stub = await startStub((req) => (failing-- > 0 ? { status: 503, body: { title: 'down' } } : accept(req)))
    t.after(stub.close)
    const { q, advance } = queueFor(stub.url, { batchSize: 2, flushIntervalMs: 1000, queueMax: 3 })
    q.push(reports(2))
    await q.flush() // 503: the batch goes back to the front
    q.push(reports(2, 2)) // the queue holds 3: the batch's first report is dropped
    advance(1000)
    await q.flush()
    const keys = stub.requests.map((r) => r.headers['idempotency-key'])
    assert.notEqual(keys[0], keys[1])
})
