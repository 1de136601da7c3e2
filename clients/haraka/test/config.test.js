'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { normalize, DEFAULTS, ConfigError } = require('../lib/config')
const { loadPlugin } = require('./helpers/haraka')
const { PlanStore, orderLikeHaraka, PLANNED } = require('../lib/plans')
const { IntervalLog } = require('../lib/ratelog')

test('normalize fills defaults and types the ini strings', () => {
    const got = normalize({})
    assert.equal(got.url, 'http://127.0.0.1:8080/')
    assert.equal(got.node_name, os.hostname())
    assert.equal(got.timeout_ms, DEFAULTS.timeout_ms)
    assert.equal(got.smtp_port, 25)
    assert.equal(got.fail_open, true)

    const set = normalize({
        url: 'http://mxroute.internal:8080',
        token: ' abc ',
        node_name: 'edge-1',
        timeout_ms: '500',
        smtp_port: '2525',
        batch_size: '5000',
        flush_interval_ms: 'soon',
        queue_max: '-3',
        fail_open: false,
        protocol_trace: false,
    })
    assert.equal(set.url, 'http://mxroute.internal:8080/')
    assert.equal(set.token, 'abc')
    assert.equal(set.node_name, 'edge-1')
    assert.equal(set.timeout_ms, 500)
    assert.equal(set.smtp_port, 2525)
    assert.equal(set.batch_size, 1000)
    assert.equal(set.flush_interval_ms, DEFAULTS.flush_interval_ms)
    assert.equal(set.queue_max, DEFAULTS.queue_max)
    assert.equal(set.fail_open, false)
    assert.equal(set.protocol_trace, false)
})

test('PlanStore keeps the newest attempts only', () => {
    const store = new PlanStore(2)
    const plan = { route_id: 'r', attempts: [{ address: '192.0.2.1', host: 'a', preference: 10 }] }
    store.start('u1', 'a.test', PLANNED, plan, 0)
    store.start('u2', 'a.test', PLANNED, plan, 0)
    store.start('u1', 'a.test', PLANNED, plan, 1) // a retry refreshes u1
    store.start('u3', 'a.test', PLANNED, plan, 0)
    assert.equal(store.size, 2)
    assert.equal(store.get('u2'), undefined)
    assert.equal(store.get('u1').startedAt, 1)
})

test('orderLikeHaraka is a stable partition by family', () => {
    const a = [{ address: '2001:db8::1' }, { address: '192.0.2.1' }, { address: '2001:db8::2' }, { address: '192.0.2.2' }]
    const ip = (l) => l.map((x) => x.address)
    assert.deepEqual(ip(orderLikeHaraka(a, 'default')), ip(a))
    assert.deepEqual(ip(orderLikeHaraka(a, 'v4')), ['192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'])
    assert.deepEqual(ip(orderLikeHaraka(a, 'v6')), ['2001:db8::1', '2001:db8::2', '192.0.2.1', '192.0.2.2'])
})

test('IntervalLog logs the first event and then one line per interval', () => {
    const lines = []
    let now = 0
    const log = new IntervalLog(1000, (l) => lines.push(l), () => now)
    assert.equal(log.note('down'), true)
    now = 10
    assert.equal(log.note('down'), false)
    now = 999
    assert.equal(log.note('down'), false)
    now = 1000
    assert.equal(log.note('still down'), true)
    assert.deepEqual(lines, ['down', 'still down (3 times since the last report)'])
    assert.equal(log.total, 4)
})

test('an unusable url is refused when the configuration loads, naming the setting and the value', () => {
    for (const bad of ['not a url', 'ftp://mxroute:21', 'http://', 'mxroute:8080', 'http://mxroute:8080/?x=1', 'http://user:pw@mxroute']) {
        assert.throws(
            () => normalize({ url: bad }),
            (err) => err instanceof ConfigError && err.message.startsWith('mxroute.ini [main] url: ') && err.message.includes(JSON.stringify(bad)),
            bad,
        )
    }
    assert.equal(normalize({ url: 'https://mxroute.example/prefix' }).url, 'https://mxroute.example/prefix/')
})

test('the plugin refuses to load with a bad url, and keeps its configuration on a bad reload', (t) => {
    assert.throws(() => loadPlugin({ url: 'garbage' }), /mxroute\.ini \[main\] url: "garbage"/)
    const p = loadPlugin({ url: 'http://127.0.0.1:9/', flush_interval_ms: 3600000 })
    t.after(() => p.shutdown())
    p.reload({ url: 'http//typo' })
    assert.equal(p.cfg.url, 'http://127.0.0.1:9/')
    assert.ok(p.logs.some((l) => l.level === 'error' && l.msg.includes('mxroute.ini [main] url: "http//typo"')), JSON.stringify(p.logs))
})

test('config/mxroute.ini documents exactly the defaults in DEFAULTS', () => {
    const ini = fs.readFileSync(path.join(__dirname, '..', 'config', 'mxroute.ini'), 'utf8')
    const documented = {}
    for (const m of ini.matchAll(/^;([a-z_]+)=(.*)$/gm)) documented[m[1]] = m[2]
    assert.deepEqual(Object.keys(documented).sort(), Object.keys(DEFAULTS).sort())
    for (const [k, v] of Object.entries(DEFAULTS)) {
        assert.equal(documented[k], String(v), `mxroute.ini documents ${k}=${documented[k]}, DEFAULTS has ${v}`)
    }
    assert.doesNotMatch(ini, /^[a-z_]+=/m, 'a setting is set in the shipped file; defaults belong in DEFAULTS only')
})
