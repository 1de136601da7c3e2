'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { fetchRoute, toMxList, decide, validatePlan, RouteError } = require('../lib/route')
const { normalize } = require('../lib/config')
const { startStub, closedUrl } = require('./helpers/stub')

const ROUTE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'

function plan(overrides = {}) {
    return {
        domain: 'example.com',
        disposition: 'deliver',
        reason: 'ok',
        implicit_mx: false,
        ttl: 300,
        route_id: ROUTE_ID,
        attempts: [
            { host: 'mail2.example.com', preference: 10, address: '172.16.10.2', family: 'ipv4', state: 'healthy' },
            { host: 'mail1.example.com', preference: 10, address: '172.16.10.1', family: 'ipv4', state: 'healthy' },
            { host: 'mail1.example.com', preference: 10, address: '2001:db8::1', family: 'ipv6', state: 'healthy' },
            { host: 'mail3.example.com', preference: 20, address: '172.16.10.3', family: 'ipv4', state: 'healthy' },
        ],
        skipped: [],
        warnings: [],
        ...overrides,
    }
}

test('toMxList keeps plan order and maps fields', () => {
    const got = toMxList(plan(), 2525)
    assert.deepEqual(got, [
        { exchange: '172.16.10.2', port: 2525, priority: 10, from_dns: 'mail2.example.com' },
        { exchange: '172.16.10.1', port: 2525, priority: 10, from_dns: 'mail1.example.com' },
        { exchange: '2001:db8::1', port: 2525, priority: 10, from_dns: 'mail1.example.com' },
        { exchange: '172.16.10.3', port: 2525, priority: 20, from_dns: 'mail3.example.com' },
    ])
})

test('toMxList priorities never decrease, so a stable sort keeps a demoted host last', () => {
    const p = plan({
        attempts: [
            { host: 'mx2.example.com', preference: 20, address: '10.0.0.3', family: 'ipv4', state: 'healthy' },
            { host: 'mx1.example.com', preference: 10, address: '10.0.0.2', family: 'ipv4', state: 'demoted' },
        ],
    })
    const got = toMxList(p, 25)
    assert.deepEqual(
        got.map((m) => [m.exchange, m.priority]),
        [
            ['10.0.0.3', 20],
            ['10.0.0.2', 20],
        ],
    )
    const sorted = [...got].sort((a, b) => a.priority - b.priority)
    assert.deepEqual(
        sorted.map((m) => m.exchange),
        ['10.0.0.3', '10.0.0.2'],
    )
})

test('decide maps dispositions to get_mx answers', () => {
    const cases = [
        { p: plan(), want: { action: 'mx' } },
        {
            p: plan({ disposition: 'permanent_failure', reason: 'nxdomain', enhanced_status: '5.1.2', attempts: [] }),
            want: { action: 'deny', message: '5.1.2 nxdomain' },
        },
        {
            p: plan({ disposition: 'permanent_failure', reason: 'mx_loops_to_self', enhanced_status: '5.4.6', attempts: [] }),
            want: { action: 'deny', message: '5.4.6 mx_loops_to_self' },
        },
        {
            p: plan({ disposition: 'temporary_failure', reason: 'dns_error', enhanced_status: '4.4.3', attempts: [] }),
            want: { action: 'denysoft', message: '4.4.3 dns_error' },
        },
        {
            p: plan({ disposition: 'temporary_failure', reason: 'dns_error', attempts: [] }),
            want: { action: 'denysoft', message: '4.4.3 dns_error' },
        },
    ]
    for (const { p, want } of cases) {
        const got = decide(p, 25)
        assert.equal(got.action, want.action, `${p.disposition}/${p.reason}`)
        if (want.message) assert.equal(got.message, want.message)
    }
})

test('decide answers a null MX with the RFC 7505 record Haraka bounces with 5.1.10', () => {
    const got = decide(plan({ disposition: 'permanent_failure', reason: 'null_mx', enhanced_status: '5.1.10', attempts: [] }), 25)
    assert.equal(got.action, 'mx')
    assert.deepEqual(got.mxs, [{ exchange: '', priority: 0 }])
})

test('validatePlan rejects what cannot be delivered to', () => {
    assert.equal(validatePlan(plan()), '')
    assert.match(validatePlan(null), /not an object/)
    assert.match(validatePlan(plan({ disposition: 'maybe' })), /unknown disposition/)
    assert.match(validatePlan(plan({ attempts: [] })), /without attempts/)
    assert.match(validatePlan(plan({ attempts: [{ host: 'x', preference: 10, address: 'x.example' }] })), /no IP/)
    assert.match(validatePlan(plan({ attempts: [{ host: 'x', address: '192.0.2.1' }] })), /no preference/)
})

test('fetchRoute sends the domain, token and reporter name', async (t) => {
    const stub = await startStub(() => ({ body: plan() }))
    t.after(stub.close)
    const cfg = normalize({ url: stub.url, token: 's3cret', node_name: 'haraka-a' })
    const got = await fetchRoute(cfg, 'example.com')
    assert.equal(got.route_id, ROUTE_ID)
    const req = stub.requests[0]
    assert.equal(req.method, 'GET')
    assert.equal(req.url.pathname, '/route')
    assert.equal(req.url.searchParams.get('domain'), 'example.com')
    assert.equal(req.headers.authorization, 'Bearer s3cret')
    assert.equal(req.headers['x-mxroute-reporter'], 'haraka-a')
})

test('fetchRoute without a token sends no Authorization header', async (t) => {
    const stub = await startStub(() => ({ body: plan() }))
    t.after(stub.close)
    await fetchRoute(normalize({ url: stub.url, node_name: 'n1' }), 'example.com')
    assert.equal(stub.requests[0].headers.authorization, undefined)
    assert.equal(stub.requests[0].headers['x-mxroute-reporter'], 'n1')
})

test('fetchRoute keeps a path prefix in the base URL', async (t) => {
    const stub = await startStub(() => ({ body: plan() }))
    t.after(stub.close)
    await fetchRoute(normalize({ url: `${stub.url}mxroute` }), 'example.com')
    assert.equal(stub.requests[0].url.pathname, '/mxroute/route')
})

test('fetchRoute turns every failure into a RouteError', async (t) => {
    const stub = await startStub((req) => {
        switch (req.url.searchParams.get('domain')) {
            case 'bad.example':
                return {
                    status: 400,
                    headers: { 'Content-Type': 'application/problem+json' },
                    body: { title: 'invalid domain', detail: 'label too long' },
                }
            case 'garbage.example':
                return { body: '{"disposition":' }
            case 'slow.example':
                return null
            default:
                return { status: 503, body: { title: 'unavailable' } }
        }
    })
    t.after(stub.close)
    // Generous except for the request the stub never answers: a loaded
    // machine must not turn the other cases into timeouts.
    const cfg = normalize({ url: stub.url, timeout_ms: 30000 })
    await assert.rejects(fetchRoute(cfg, 'bad.example'), (err) => {
        assert.ok(err instanceof RouteError)
        assert.equal(err.status, 400)
        assert.match(err.message, /HTTP 400: invalid domain: label too long/)
        return true
    })
    await assert.rejects(fetchRoute(cfg, 'garbage.example'), /invalid JSON/)
    await assert.rejects(fetchRoute({ ...cfg, timeout_ms: 100 }, 'slow.example'), /timed out/)
    await assert.rejects(fetchRoute(cfg, 'other.example'), /HTTP 503/)
    await assert.rejects(fetchRoute(normalize({ url: await closedUrl() }), 'example.com'), /ECONNREFUSED/)
})
