'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { PlanStore, PLANNED, FALLBACK, REFUSED } = require('../lib/plans')
const { attachTrace } = require('../lib/trace')
const { fromDelivered, fromDeferred, fromBounce, validReport } = require('../lib/outcomes')
const { HMail, mx, wholeMessageReply, rcptReply, bounceError } = require('./helpers/haraka')

const ROUTE_ID = '0af7651916cd43dd8448eb211c80319c'
const NOW = Date.parse('2025-11-26T10:00:00Z')
const AT = new Date(NOW).toISOString()

const PLAN = {
    domain: 'e2e.test',
    disposition: 'deliver',
    reason: 'ok',
    route_id: ROUTE_ID,
    attempts: [
        { host: 'mx1.e2e.test', preference: 10, address: '127.0.0.2', family: 'ipv4', state: 'healthy' },
        { host: 'mx2.e2e.test', preference: 20, address: '127.0.0.3', family: 'ipv4', state: 'healthy' },
    ],
}
const MX1 = mx('127.0.0.2', 'mx1.e2e.test')
const MX2 = mx('127.0.0.3', 'mx2.e2e.test')

const SESSION = [
    'S: 220 sink ESMTP',
    'C: EHLO haraka.test',
    'S: 250 sink',
    'C: MAIL FROM:<sender@origin.test>',
    'S: 250 OK',
    'C: RCPT TO:<a@e2e.test>',
    'S: 250 OK',
    'C: DATA',
    'S: 354 go ahead',
    'C: .',
    'S: 250 2.0.0 queued',
]

/** attempt starts an attempt as get_mx does and returns [hmail, entry]. */
function attempt({ kind = PLANNED, plan = PLAN, rcpts = ['a@e2e.test'], inetPrefer, startedAt = NOW - 40 } = {}) {
    const store = new PlanStore()
    const hmail = new HMail({ domain: 'e2e.test', rcpts })
    const entry = store.start(hmail.todo.uuid, 'e2e.test', kind, kind === PLANNED ? plan : null, startedAt, inetPrefer)
    attachTrace(hmail, () => store.get(hmail.todo.uuid)?.trace)
    return [hmail, entry]
}

function connectFailure(address, host) {
    return { address, host, outcome: 'failure', stage: 'connect', domain: 'e2e.test', observed_at: AT, route_id: ROUTE_ID }
}

test('delivered at the second address: the first failed to connect', () => {
    const [hmail, entry] = attempt()
    hmail.converse(SESSION) // 127.0.0.2 refused the connection: nothing logged for it
    const params = ['mx2.e2e.test', '127.0.0.3', '2.0.0 queued', 0.4, 25, 'SMTP', hmail.todo.rcpt_to, false, false]
    assert.deepEqual(fromDelivered(entry, params, NOW), [
        connectFailure('127.0.0.2', 'mx1.e2e.test'),
        {
            address: '127.0.0.3',
            host: 'mx2.e2e.test',
            outcome: 'success',
            stage: 'data',
            domain: 'e2e.test',
            observed_at: AT,
            smtp_code: 250,
            route_id: ROUTE_ID,
        },
    ])
})

test('delivered at the first address carries the session latency', () => {
    const [hmail, entry] = attempt()
    hmail.converse(SESSION)
    const params = ['mx1.e2e.test', '127.0.0.2', '2.0.0 queued', 0.4, 25, 'SMTP', hmail.todo.rcpt_to, false, false]
    const got = fromDelivered(entry, params, NOW)
    assert.equal(got.length, 1)
    assert.equal(got[0].latency_ms, 40)
    assert.equal(got[0].outcome, 'success')
})

test('421 at greeting defers the message and is reported against that host', () => {
    const [hmail, entry] = attempt()
    hmail.converse(['S: 421 4.7.0 busy', 'C: QUIT'])
    const params = wholeMessageReply(hmail, MX1, '421', '4.7.0', 'busy')
    assert.deepEqual(fromDeferred(entry, hmail, params, NOW), [
        {
            address: '127.0.0.2',
            host: 'mx1.e2e.test',
            outcome: 'failure',
            stage: 'greeting',
            domain: 'e2e.test',
            observed_at: AT,
            smtp_code: 421,
            enhanced_code: '4.7.0',
            latency_ms: 40,
            route_id: ROUTE_ID,
        },
    ])
})

test('421 at the second address: the first failed to connect', () => {
    const [hmail, entry] = attempt()
    hmail.converse(['S: 421 busy', 'C: QUIT'])
    const params = wholeMessageReply(hmail, MX2, '421', undefined, 'busy')
    const got = fromDeferred(entry, hmail, params, NOW)
    assert.deepEqual(
        got.map((r) => [r.address, r.stage, r.smtp_code, r.enhanced_code, r.latency_ms]),
        [
            ['127.0.0.2', 'connect', undefined, undefined, undefined],
            ['127.0.0.3', 'greeting', 421, undefined, undefined],
        ],
    )
})

test('whole-message rejections take the stage of the command they answer', () => {
    const cut = (line) => SESSION.slice(0, SESSION.indexOf(line) + 1)
    const cases = [
        { lines: [...cut('C: EHLO haraka.test'), 'S: 421 4.3.2 closing'], code: '421', extc: '4.3.2', stage: 'ehlo' },
        { lines: [...cut('C: MAIL FROM:<sender@origin.test>'), 'S: 451 4.3.0 later'], code: '451', extc: '4.3.0', stage: 'mail' },
        { lines: [...cut('C: .'), 'S: 452 4.3.1 full'], code: '452', extc: '4.3.1', stage: 'data' },
    ]
    for (const c of cases) {
        const [hmail, entry] = attempt()
        hmail.converse([...c.lines, 'C: QUIT'])
        const got = fromDeferred(entry, hmail, wholeMessageReply(hmail, MX1, c.code, c.extc, 'x'), NOW)
        assert.deepEqual(
            got.map((r) => [r.stage, r.smtp_code, r.enhanced_code]),
            [[c.stage, Number(c.code), c.extc]],
            c.lines.at(-1),
        )
    }
})

test('a 5xx bounce names the MX and the stage', () => {
    const [hmail, entry] = attempt()
    hmail.converse([...SESSION.slice(0, 4), 'S: 550 5.7.1 sender rejected', 'C: QUIT'])
    const err = wholeMessageReply(hmail, MX1, '550', '5.7.1', 'sender rejected')
    const got = fromBounce(entry, hmail, err, NOW)
    assert.deepEqual(
        got.map((r) => [r.address, r.outcome, r.stage, r.smtp_code, r.enhanced_code]),
        [['127.0.0.2', 'failure', 'mail', 550, '5.7.1']],
    )
})

test('without a protocol trace, 421 is a greeting failure and other codes stage mail', () => {
    const [h1, e1] = attempt() // nothing logged through logprotocol
    assert.equal(fromDeferred(e1, h1, wholeMessageReply(h1, MX1, '421', undefined, 'x'), NOW)[0].stage, 'greeting')
    const [h2, e2] = attempt()
    assert.equal(fromBounce(e2, h2, wholeMessageReply(h2, MX1, '554', undefined, 'x'), NOW)[0].stage, 'mail')
})

test('RCPT deferrals are one report per distinct code, stage rcpt', () => {
    const [hmail, entry] = attempt({ rcpts: ['a@e2e.test', 'b@e2e.test', 'c@e2e.test'] })
    const [a, b, c] = hmail.todo.rcpt_to
    const fail_recips = [
        rcptReply(a, MX2, '450', '4.2.1', 'mailbox busy'),
        rcptReply(b, MX2, '450', '4.2.1', 'mailbox busy'),
        rcptReply(c, MX2, '421', '4.7.0', 'closing'),
    ]
    const params = { delay: 5, err: 'Some recipients temp failed: <a@e2e.test>, <b@e2e.test>', fail_recips, mx: MX2 }
    assert.deepEqual(
        fromDeferred(entry, hmail, params, NOW).map((r) => [r.address, r.outcome, r.stage, r.smtp_code, r.enhanced_code]),
        [
            ['127.0.0.2', 'failure', 'connect', undefined, undefined],
            ['127.0.0.3', 'failure', 'rcpt', 450, '4.2.1'],
            ['127.0.0.3', 'failure', 'rcpt', 421, '4.7.0'],
        ],
    )
})

test('a delivery and a split-off deferral from one attempt report the connect failure once', () => {
    const [hmail, entry] = attempt({ rcpts: ['a@e2e.test', 'b@e2e.test'] })
    const [a, b] = hmail.todo.rcpt_to
    const delivered = fromDelivered(entry, ['mx2.e2e.test', '127.0.0.3', 'ok', 1, 25, 'SMTP', [a], false, false], NOW)
    const deferred = fromDeferred(
        entry,
        hmail,
        { delay: 5, err: 'x', fail_recips: [rcptReply(b, MX2, '452', '4.2.2', 'over quota')], mx: MX2 },
        NOW,
    )
    assert.deepEqual(
        [...delivered, ...deferred].map((r) => [r.address, r.stage, r.outcome]),
        [
            ['127.0.0.2', 'connect', 'failure'],
            ['127.0.0.3', 'data', 'success'],
            ['127.0.0.3', 'rcpt', 'failure'],
        ],
    )
})

test('RCPT rejections bounce with stage rcpt', () => {
    const [hmail, entry] = attempt()
    const [a] = hmail.todo.rcpt_to
    const err = bounceError('Some recipients failed: <a@e2e.test>', {
        bounce_recips: [rcptReply(a, MX1, '550', '5.1.1', 'no such user')],
        mx: MX1,
    })
    assert.deepEqual(
        fromBounce(entry, hmail, err, NOW).map((r) => [r.address, r.stage, r.smtp_code, r.enhanced_code]),
        [['127.0.0.2', 'rcpt', 550, '5.1.1']],
    )
})

test('Tried all MXs: every planned address failed to connect', () => {
    const [hmail, entry] = attempt()
    // Stale DSN fields from an earlier attempt must not be taken for this one.
    wholeMessageReply(hmail, MX1, '421', '4.7.0', 'busy')
    const got = fromDeferred(entry, hmail, { delay: 5, err: 'Tried all MXs' }, NOW)
    assert.deepEqual(got, [connectFailure('127.0.0.2', 'mx1.e2e.test'), connectFailure('127.0.0.3', 'mx2.e2e.test')])
})

test('retries exhausted: the bounce is read like the deferral it replaces', () => {
    const [hmail, entry] = attempt()
    hmail.converse(['S: 421 4.7.0 busy', 'C: QUIT'])
    const inner = wholeMessageReply(hmail, MX1, '421', '4.7.0', 'busy').err
    const got = fromBounce(entry, hmail, bounceError(`Too many failures (${inner})`), NOW)
    assert.deepEqual(
        got.map((r) => [r.address, r.stage, r.smtp_code]),
        [['127.0.0.2', 'greeting', 421]],
    )
    const [, entry2] = attempt()
    assert.equal(fromBounce(entry2, hmail, bounceError('Too many failures (Tried all MXs)'), NOW).length, 2)
})

test('an unparseable reply is a failure at the stage awaiting a reply', () => {
    const [hmail, entry] = attempt()
    hmail.converse(['S: 220 hi', 'C: EHLO haraka.test', 'S: garbage'])
    const err = bounceError('Unrecognized response from upstream server: garbage', { mx: MX1 })
    assert.deepEqual(
        fromBounce(entry, hmail, err, NOW).map((r) => [r.address, r.stage, r.smtp_code]),
        [['127.0.0.2', 'ehlo', undefined]],
    )
})

test('inet_prefer changes which addresses came first', () => {
    const plan = {
        ...PLAN,
        attempts: [
            { host: 'mx1.e2e.test', preference: 10, address: '2001:db8::2', family: 'ipv6', state: 'healthy' },
            { host: 'mx1.e2e.test', preference: 10, address: '192.0.2.2', family: 'ipv4', state: 'healthy' },
            { host: 'mx2.e2e.test', preference: 20, address: '192.0.2.3', family: 'ipv4', state: 'healthy' },
        ],
    }
    const [hmail, entry] = attempt({ plan, inetPrefer: 'v4' })
    const got = fromDelivered(entry, ['mx1.e2e.test', '2001:db8::2', 'ok', 1, 25, 'SMTP', hmail.todo.rcpt_to], NOW)
    assert.deepEqual(
        got.map((r) => [r.address, r.outcome]),
        [
            ['192.0.2.2', 'failure'],
            ['192.0.2.3', 'failure'],
            ['2001:db8::2', 'success'],
        ],
    )
})

test('fallback attempts report what Haraka names, without route_id or guesses', () => {
    const [hmail, entry] = attempt({ kind: FALLBACK })
    const got = fromDelivered(entry, ['mx2.e2e.test', '127.0.0.3', 'ok', 1, 25, 'SMTP', hmail.todo.rcpt_to], NOW)
    assert.deepEqual(got, [
        { address: '127.0.0.3', host: 'mx2.e2e.test', outcome: 'success', stage: 'data', domain: 'e2e.test', observed_at: AT },
    ])
    assert.deepEqual(fromDeferred(entry, hmail, { delay: 5, err: 'Tried all MXs' }, NOW), [])
    assert.deepEqual(fromDeferred(entry, hmail, { delay: 5, err: 'DNS lookup failure: Error: queryMx ESERVFAIL' }, NOW), [])
})

test('nothing is reported for attempts the plugin did not route or that reached no host', () => {
    const [hmail, refused] = attempt({ kind: REFUSED })
    const delivered = ['mx2.e2e.test', '127.0.0.3', 'ok', 1, 25, 'SMTP', hmail.todo.rcpt_to]
    assert.deepEqual(fromDelivered(undefined, delivered, NOW), [])
    assert.deepEqual(fromDelivered(refused, delivered, NOW), [])
    assert.deepEqual(fromBounce(refused, hmail, bounceError('No MX for e2e.test'), NOW), [])
    const [, planned] = attempt()
    assert.deepEqual(fromBounce(planned, hmail, bounceError('No MX for e2e.test'), NOW), [])
    assert.deepEqual(fromDeferred(planned, hmail, { delay: 5, err: 'No TLS available but required by configuration.' }, NOW), [])
    assert.deepEqual(fromDelivered(planned, ['localhost', '/run/lmtp.sock', 'ok', 1, 24, 'LMTP', []], NOW), [])
})

test('validReport accepts what mxroute accepts', () => {
    const ok = { address: '172.16.10.1', outcome: 'failure', stage: 'connect' }
    assert.ok(validReport(ok))
    assert.ok(validReport({ ...ok, smtp_code: 421 }))
    assert.ok(!validReport({ ...ok, address: 'mail1.example.com' }))
    assert.ok(!validReport({ ...ok, outcome: 'deferred' }))
    assert.ok(!validReport({ ...ok, stage: 'quit' }))
    assert.ok(!validReport({ ...ok, smtp_code: 42 }))
})
