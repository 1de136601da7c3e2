'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { loadPlugin, callHook, HMail, wholeMessageReply, mx } = require('./helpers/haraka')
const { startStub, closedUrl } = require('./helpers/stub')

const { OK, DENY, DENYSOFT } = require('haraka-constants')
const ROUTE_ID = '5b8aa5a2d2c872e8321cf37308d69df2'

const DELIVER = {
    domain: 'e2e.test',
    disposition: 'deliver',
    reason: 'ok',
    implicit_mx: false,
    ttl: 300,
    route_id: ROUTE_ID,
    attempts: [
        { host: 'mx1.e2e.test', preference: 10, address: '127.0.0.2', family: 'ipv4', state: 'healthy' },
        { host: 'mx2.e2e.test', preference: 20, address: '127.0.0.3', family: 'ipv4', state: 'healthy' },
    ],
    skipped: [],
    warnings: [],
}

function failure(disposition, reason, enhanced_status) {
    return { domain: 'x.test', disposition, reason, enhanced_status, route_id: ROUTE_ID, attempts: [], skipped: [], warnings: [] }
}

async function mxrouteStub(t, routes = {}) {
    const stub = await startStub((req) => {
        if (req.url.pathname === '/feedback') return { status: 202, body: { accepted: req.body.reports.length } }
        const domain = req.url.searchParams.get('domain')
        const r = routes[domain] ?? DELIVER
        return typeof r === 'function' ? r(req) : { body: r }
    })
    t.after(stub.close)
    return stub
}

function plugin(t, ini) {
    const p = loadPlugin({ node_name: 'haraka-a', flush_interval_ms: 3600000, timeout_ms: 30000, ...ini })
    t.after(() => p.shutdown())
    return p
}

test('deliver: get_mx answers OK with the plan as MX objects', async (t) => {
    const stub = await mxrouteStub(t)
    const p = plugin(t, { url: stub.url, smtp_port: 2525 })
    const hmail = new HMail({ domain: 'e2e.test' })
    const [retval, mxs] = await callHook(p, 'hook_get_mx', hmail, 'e2e.test')
    assert.equal(retval, OK)
    assert.deepEqual(mxs, [
        { exchange: '127.0.0.2', port: 2525, priority: 10, from_dns: 'mx1.e2e.test' },
        { exchange: '127.0.0.3', port: 2525, priority: 20, from_dns: 'mx2.e2e.test' },
    ])
    assert.equal(p.plans.get(hmail.todo.uuid).routeId, ROUTE_ID)
    assert.equal(stub.requests[0].headers['x-mxroute-reporter'], 'haraka-a')
    assert.ok(Object.hasOwn(hmail, 'logprotocol'), 'protocol trace attached')
})

test('failures map to DENY and DENYSOFT; null MX to the RFC 7505 record', async (t) => {
    const stub = await mxrouteStub(t, {
        'nx.test': failure('permanent_failure', 'nxdomain', '5.1.2'),
        'loop.test': failure('permanent_failure', 'mx_loops_to_self', '5.4.6'),
        'servfail.test': failure('temporary_failure', 'dns_error', '4.4.3'),
        'null.test': failure('permanent_failure', 'null_mx', '5.1.10'),
    })
    const p = plugin(t, { url: stub.url })
    const cases = [
        ['nx.test', DENY, '5.1.2 nxdomain'],
        ['loop.test', DENY, '5.4.6 mx_loops_to_self'],
        ['servfail.test', DENYSOFT, '4.4.3 dns_error'],
        ['null.test', OK, [{ exchange: '', priority: 0 }]],
    ]
    for (const [domain, want, msg] of cases) {
        const [retval, got] = await callHook(p, 'hook_get_mx', new HMail({ domain }), domain)
        assert.equal(retval, want, domain)
        assert.deepEqual(got, msg, domain)
    }
    assert.equal(p.stats.refused, 4)
})

test('fail open: an unreachable or broken mxroute lets Haraka use DNS, logged once per interval', async (t) => {
    const stub = await mxrouteStub(t, {
        'e500.test': () => ({ status: 500, body: { title: 'boom' } }),
        'json.test': () => ({ body: '<html>' }),
        'auth.test': () => ({ status: 401, headers: { 'Content-Type': 'application/problem+json' }, body: { title: 'unauthorized' } }),
    })
    const down = plugin(t, { url: await closedUrl(), log_interval_ms: 60000 })
    let clock = 0
    down.failOpenLog.now = () => clock
    for (let i = 0; i < 5; i++) {
        const [retval, msg] = await callHook(down, 'hook_get_mx', new HMail({ domain: 'e2e.test' }), 'e2e.test')
        assert.equal(retval, undefined)
        assert.equal(msg, undefined)
        clock += 1000
    }
    assert.equal(down.stats.fail_open, 5)
    let warnings = down.logs.filter((l) => l.level === 'warn')
    assert.equal(warnings.length, 1)
    assert.match(warnings[0].msg, /mxroute unavailable, falling back to DNS: GET \/route for e2e.test: .*ECONNREFUSED/)
    clock = 61000
    await callHook(down, 'hook_get_mx', new HMail({ domain: 'e2e.test' }), 'e2e.test')
    warnings = down.logs.filter((l) => l.level === 'warn')
    assert.equal(warnings.length, 2)
    assert.match(warnings[1].msg, /\(5 times since the last report\)/)

    const broken = plugin(t, { url: stub.url })
    for (const domain of ['e500.test', 'json.test', 'auth.test']) {
        const [retval] = await callHook(broken, 'hook_get_mx', new HMail({ domain }), domain)
        assert.equal(retval, undefined, domain)
    }
    assert.equal(broken.stats.fail_open, 3)
})

test('fail_open=false defers instead', async (t) => {
    const p = plugin(t, { url: await closedUrl(), fail_open: false })
    const [retval, msg] = await callHook(p, 'hook_get_mx', new HMail(), 'example.com')
    assert.equal(retval, DENYSOFT)
    assert.equal(msg, '4.4.3 mxroute unavailable')
})

test('outcomes reach POST /feedback with the route id, and hooks never wait for it', async (t) => {
    const stub = await mxrouteStub(t)
    const p = plugin(t, { url: stub.url, node_name: 'haraka-b' })
    const hmail = new HMail({ domain: 'e2e.test' })
    await callHook(p, 'hook_get_mx', hmail, 'e2e.test')
    hmail.converse(['S: 220 hi', 'C: EHLO h', 'S: 250 ok', 'C: MAIL FROM:<s@o.test>', 'S: 250 ok'])
    hmail.converse(['C: RCPT TO:<a@e2e.test>', 'S: 250 ok', 'C: DATA', 'S: 354 go', 'C: .', 'S: 250 2.0.0 queued'])
    const params = ['mx2.e2e.test', '127.0.0.3', '2.0.0 queued', 0.2, 25, 'SMTP', hmail.todo.rcpt_to, false, false]
    const [retval] = await callHook(p, 'hook_delivered', hmail, params)
    assert.equal(retval, undefined, 'delivered continues to the next plugin')
    assert.equal(stub.requests.length, 1, 'nothing sent yet: reports wait for the batch or interval')

    await p.feedback.flush()
    const post = stub.requests.find((r) => r.url.pathname === '/feedback')
    assert.equal(post.headers['x-mxroute-reporter'], 'haraka-b')
    assert.deepEqual(
        post.body.reports.map((r) => [r.address, r.host, r.outcome, r.stage, r.smtp_code, r.route_id, r.domain]),
        [
            ['127.0.0.2', 'mx1.e2e.test', 'failure', 'connect', undefined, ROUTE_ID, 'e2e.test'],
            ['127.0.0.3', 'mx2.e2e.test', 'success', 'data', 250, ROUTE_ID, 'e2e.test'],
        ],
    )
    for (const r of post.body.reports) assert.ok(!Number.isNaN(Date.parse(r.observed_at)))
})

test('deferred and bounce hooks report and continue', async (t) => {
    const stub = await mxrouteStub(t)
    const p = plugin(t, { url: stub.url })
    const hmail = new HMail({ domain: 'e2e.test' })
    await callHook(p, 'hook_get_mx', hmail, 'e2e.test')
    hmail.converse(['S: 421 4.7.0 busy', 'C: QUIT'])
    const [retval] = await callHook(p, 'hook_deferred', hmail, wholeMessageReply(hmail, mx('127.0.0.2', 'mx1.e2e.test'), '421', '4.7.0', 'busy'))
    assert.equal(retval, undefined)
    const [bret] = await callHook(p, 'hook_bounce', hmail, new Error('No MX for e2e.test'))
    assert.equal(bret, undefined)
    assert.deepEqual(
        p.feedback.queue.map((r) => [r.address, r.stage, r.smtp_code]),
        [['127.0.0.2', 'greeting', 421]],
    )
})

test('a broken hook argument never stops Haraka', async (t) => {
    const stub = await mxrouteStub(t)
    const p = plugin(t, { url: stub.url })
    const hmail = new HMail({ domain: 'e2e.test' })
    await callHook(p, 'hook_get_mx', hmail, 'e2e.test')
    for (const [hook, arg] of [
        ['hook_delivered', null],
        ['hook_deferred', null],
        ['hook_bounce', null],
        ['hook_delivered', 'nonsense'],
    ]) {
        const [retval] = await callHook(p, hook, hmail, arg)
        assert.equal(retval, undefined, hook)
    }
})

test('config reloads take effect without a restart', async (t) => {
    const stub = await mxrouteStub(t)
    const p = plugin(t, { url: await closedUrl() })
    const [before] = await callHook(p, 'hook_get_mx', new HMail({ domain: 'e2e.test' }), 'e2e.test')
    assert.equal(before, undefined)
    p.reload({ url: stub.url, smtp_port: 587, batch_size: 7, node_name: 'renamed' })
    const [after, mxs] = await callHook(p, 'hook_get_mx', new HMail({ domain: 'e2e.test' }), 'e2e.test')
    assert.equal(after, OK)
    assert.equal(mxs[0].port, 587)
    assert.equal(p.feedback.batchSize, 7)
    assert.equal(stub.requests[0].headers['x-mxroute-reporter'], 'renamed')
})

test('shutdown sends the queued reports', async (t) => {
    const stub = await mxrouteStub(t)
    const p = loadPlugin({ url: stub.url, flush_interval_ms: 3600000, timeout_ms: 30000 })
    const hmail = new HMail({ domain: 'e2e.test' })
    await callHook(p, 'hook_get_mx', hmail, 'e2e.test')
    await callHook(p, 'hook_deferred', hmail, { delay: 5, err: 'Tried all MXs' })
    assert.equal(p.feedback.queue.length, 2)
    await p.shutdown()
    const post = stub.requests.find((r) => r.url.pathname === '/feedback')
    assert.equal(post.body.reports.length, 2)
})
