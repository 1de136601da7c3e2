'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { loadPlugin, callHook, HMail, mx } = require('./helpers/haraka')
const { startStub } = require('./helpers/stub')
const { requiredAddresses, enforceTLS } = require('../lib/tls')

const { OK } = require('haraka-constants')

// An MTA-STS enforce plan: two matching hosts must be reached over verified
// TLS; a DANE host is left to opportunistic TLS (Haraka cannot use TLSA).
const STS = {
    domain: 'sts.test',
    disposition: 'deliver',
    reason: 'ok',
    ttl: 300,
    route_id: '5b8aa5a2d2c872e8321cf37308d69df2',
    attempts: [
        { host: 'mx1.sts.test', preference: 10, address: '127.0.0.2', tls_required: true, tls_names: ['mx1.sts.test'] },
        { host: 'mx2.sts.test', preference: 20, address: '127.0.0.3', tls_required: true, tls_names: ['mx2.sts.test'] },
        { host: 'dane.sts.test', preference: 30, address: '127.0.0.4', tls_required: true, tls_names: ['dane.sts.test'], dane: true },
        { host: 'plain.sts.test', preference: 40, address: '127.0.0.5', tls_required: false },
    ],
    skipped: [],
    warnings: [],
}

async function stsPlugin(t) {
    const stub = await startStub((req) => {
        if (req.url.pathname === '/feedback') return { status: 202, body: { accepted: req.body.reports.length } }
        return { body: STS }
    })
    t.after(stub.close)
    const p = loadPlugin({ url: stub.url, node_name: 'haraka-a', flush_interval_ms: 3600000, timeout_ms: 30000 })
    t.after(() => p.shutdown())
    return p
}

test('requiredAddresses: tls_required attempts without dane', () => {
    assert.deepEqual([...requiredAddresses(STS)], ['127.0.0.2', '127.0.0.3'])
    assert.equal(requiredAddresses({ attempts: [{ address: '127.0.0.2', tls_required: 'yes' }] }).size, 0)
    assert.equal(requiredAddresses(null).size, 0)
})

test('get_mx makes Haraka force verified TLS for the plan addresses that require it', async (t) => {
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    hmail.todo.notes.force_tls_hosts = ['127.0.0.5'] // tls.ini force_tls_hosts still applies
    const [retval] = await callHook(p, 'hook_get_mx', hmail, 'sts.test')
    assert.equal(retval, OK)
    assert.ok(Object.hasOwn(hmail, 'get_force_tls'), 'hook installed on this hmail only')
    assert.equal(hmail.get_force_tls(mx('127.0.0.2', 'mx1.sts.test')), true)
    assert.equal(hmail.get_force_tls(mx('127.0.0.3', 'mx2.sts.test')), true)
    assert.equal(hmail.get_force_tls(mx('127.0.0.4', 'dane.sts.test')), false)
    assert.equal(hmail.get_force_tls(mx('127.0.0.5', 'plain.sts.test')), true)
    assert.equal(hmail.get_force_tls(mx('127.0.0.9', 'other.test')), false)
    assert.equal(new HMail().get_force_tls(mx('127.0.0.2')), false, 'other messages unaffected')
})

test('a forced-TLS deferral is reported at stage tls for the MX Haraka was connecting to', async (t) => {
    for (const err of ['No TLS available but required by configuration.', 'Host failed TLS verification required by configuration.']) {
        const p = await stsPlugin(t)
        const hmail = new HMail({ domain: 'sts.test' })
        await callHook(p, 'hook_get_mx', hmail, 'sts.test')
        // 127.0.0.2 refused the connection; 127.0.0.3 answered without STARTTLS.
        hmail.get_force_tls(mx('127.0.0.2', 'mx1.sts.test'))
        hmail.get_force_tls(mx('127.0.0.3', 'mx2.sts.test'))
        hmail.converse(['S: 220 hi', 'C: EHLO haraka.test', 'S: 250 mx2', 'C: QUIT'])
        await callHook(p, 'hook_deferred', hmail, { delay: 5, err })
        assert.deepEqual(
            p.feedback.queue.map((r) => [r.address, r.host, r.outcome, r.stage, r.smtp_code]),
            [
                ['127.0.0.2', 'mx1.sts.test', 'failure', 'connect', undefined],
                ['127.0.0.3', 'mx2.sts.test', 'failure', 'tls', undefined],
            ],
            err,
        )
    }
})

test('a TLS deferral text for an MX that was not forced is not blamed on a host', async (t) => {
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    await callHook(p, 'hook_get_mx', hmail, 'sts.test')
    hmail.get_force_tls(mx('127.0.0.4', 'dane.sts.test'))
    await callHook(p, 'hook_deferred', hmail, { delay: 5, err: 'No TLS available but required by configuration.' })
    assert.deepEqual(p.feedback.queue, [])
})

test('without get_force_tls (another Haraka) nothing is hooked and delivery goes on', () => {
    const bare = Object.create(null)
    assert.equal(enforceTLS(bare, {}, new Set(['127.0.0.2'])), false)
    assert.equal(Object.hasOwn(bare, 'get_force_tls'), false)
})
