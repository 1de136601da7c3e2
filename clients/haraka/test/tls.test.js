'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { loadPlugin, callHook, HMail, mx } = require('./helpers/haraka')
const { startStub } = require('./helpers/stub')
const { requiredAddresses, enforceTLS, observeHandshakes } = require('../lib/tls')

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

// STARTTLS handshakes against a real TLS server on loopback, with
// certificates from a test CA made at test time (openssl, as the e2e does).
// The socket is shaped like Haraka 3.3's tls_socket.connect(): a TCP
// connection whose upgrade(options, cb) starts TLS on it, calls cb on
// secureConnect only and forwards the TLS socket's errors.
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const tls = require('node:tls')
const { EventEmitter, once } = require('node:events')
const { makeCA } = require('../e2e/lib/tls')

function testCAs(t) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxroute-haraka-tls-'))
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
    const ca = makeCA(dir, 'test-ca')
    const other = makeCA(dir, 'other-ca')
    return { ca, other, caPem: fs.readFileSync(ca.pemFile, 'utf8') }
}

/** tlsServer accepts TLS on 127.0.0.1 with key/cert and closes each session once secured. */
async function tlsServer(t, { key, cert }) {
    const server = tls.createServer({ key, cert }, (s) => s.end())
    server.on('tlsClientError', () => {})
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => new Promise((resolve) => server.close(resolve)))
    return server.address().port
}

/** upgradeable connects to 127.0.0.1:port like Haraka's tls_socket.connect. */
async function upgradeable(port) {
    const raw = net.connect({ host: '127.0.0.1', port })
    await once(raw, 'connect')
    const socket = new EventEmitter()
    socket.upgrade = (options, cb) => {
        const cleartext = tls.connect({ ...options, socket: raw })
        cleartext.on('error', (err) => {
            err.source = 'tls'
            socket.emit('error', err)
        })
        cleartext.once('secureConnect', () => cb?.(cleartext.authorized, cleartext.authorizationError))
        cleartext.on('close', () => socket.emit('close'))
    }
    return socket
}

/** handshake connects hmail to mx at port and upgrades with Haraka's forced-TLS options; resolves with the error, if any. */
async function handshake(hmail, m, port, ca) {
    const socket = await upgradeable(port)
    hmail.get_force_tls(m)
    hmail.try_deliver_host_on_socket(m, m.exchange, m.port, socket)
    const ended = new Promise((resolve) => {
        socket.once('error', resolve)
        socket.once('close', () => resolve(null))
    })
    socket.upgrade({ ca, servername: m.from_dns, rejectUnauthorized: true }, () => {})
    return ended
}

test('a certificate Node refuses is reported at stage tls, once per attempt', async (t) => {
    const { ca, other, caPem } = testCAs(t)
    const wrongName = await tlsServer(t, ca.issue('other.sts.test'))
    const unknownCA = await tlsServer(t, other.issue('mx2.sts.test'))
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    await callHook(p, 'hook_get_mx', hmail, 'sts.test')

    const e1 = await handshake(hmail, mx('127.0.0.2', 'mx1.sts.test'), wrongName, caPem)
    assert.equal(e1?.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
    const e2 = await handshake(hmail, mx('127.0.0.3', 'mx2.sts.test'), unknownCA, caPem)
    assert.equal(e2?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    // 127.0.0.4 and 127.0.0.5 refused the connection (no socket): connect.
    await callHook(p, 'hook_deferred', hmail, { delay: 5, err: 'Tried all MXs' })
    await callHook(p, 'hook_deferred', hmail, { delay: 5, err: 'Tried all MXs' })
    assert.deepEqual(
        p.feedback.queue.map((r) => [r.address, r.host, r.outcome, r.stage, r.smtp_code]),
        [
            ['127.0.0.2', 'mx1.sts.test', 'failure', 'tls', undefined],
            ['127.0.0.3', 'mx2.sts.test', 'failure', 'tls', undefined],
            ['127.0.0.4', 'dane.sts.test', 'failure', 'connect', undefined],
            ['127.0.0.5', 'plain.sts.test', 'failure', 'connect', undefined],
        ],
    )
})

test('a completed handshake and a later delivery elsewhere: the TLS host failed at connect, not tls', async (t) => {
    const { ca, caPem } = testCAs(t)
    const good = await tlsServer(t, ca.issue('mx1.sts.test'))
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    await callHook(p, 'hook_get_mx', hmail, 'sts.test')
    // The handshake completes, then the server drops the session.
    assert.equal(await handshake(hmail, mx('127.0.0.2', 'mx1.sts.test'), good, caPem), null)
    hmail.get_force_tls(mx('127.0.0.3', 'mx2.sts.test'))
    await callHook(p, 'hook_delivered', hmail, ['mx2.sts.test', '127.0.0.3', 'ok', 1, 25, 'SMTP', [], true, false])
    assert.deepEqual(
        p.feedback.queue.map((r) => [r.address, r.outcome, r.stage]),
        [
            ['127.0.0.2', 'failure', 'connect'],
            ['127.0.0.3', 'success', 'data'],
        ],
    )
})

test('a handshake refused at one MX, delivery at the next: stage tls for the first', async (t) => {
    const { other } = testCAs(t)
    const untrusted = await tlsServer(t, other.issue('mx1.sts.test'))
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    await callHook(p, 'hook_get_mx', hmail, 'sts.test')
    // Node's roots only: the other CA is unknown.
    const err = await handshake(hmail, mx('127.0.0.2', 'mx1.sts.test'), untrusted, undefined)
    assert.equal(err?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    hmail.get_force_tls(mx('127.0.0.3', 'mx2.sts.test'))
    await callHook(p, 'hook_delivered', hmail, ['mx2.sts.test', '127.0.0.3', 'ok', 1, 25, 'SMTP', [], true, false])
    assert.deepEqual(
        p.feedback.queue.map((r) => [r.address, r.stage, r.smtp_code]),
        [
            ['127.0.0.2', 'tls', undefined],
            ['127.0.0.3', 'data', undefined],
        ],
    )
})

test('a new get_mx starts a new attempt: an earlier handshake failure is not carried over', async (t) => {
    const { other } = testCAs(t)
    const bad = await tlsServer(t, other.issue('mx1.sts.test'))
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    await callHook(p, 'hook_get_mx', hmail, 'sts.test')
    await handshake(hmail, mx('127.0.0.2', 'mx1.sts.test'), bad, undefined)
    await callHook(p, 'hook_get_mx', hmail, 'sts.test') // Haraka's retry asks again
    hmail.get_force_tls(mx('127.0.0.2', 'mx1.sts.test')) // refused this time
    await callHook(p, 'hook_deferred', hmail, { delay: 5, err: 'Tried all MXs' })
    assert.deepEqual(
        p.feedback.queue.map((r) => [r.address, r.stage]),
        [
            ['127.0.0.2', 'connect'],
            ['127.0.0.3', 'connect'],
            ['127.0.0.4', 'connect'],
            ['127.0.0.5', 'connect'],
        ],
    )
})

test('without try_deliver_host_on_socket (another Haraka) nothing is hooked', () => {
    const bare = Object.create(null)
    assert.equal(observeHandshakes(bare, { handshakes: new Map() }), false)
    assert.equal(Object.hasOwn(bare, 'try_deliver_host_on_socket'), false)
})

test('a server that drops the connection mid-handshake is a tls failure too', async (t) => {
    // Reads the ClientHello and hangs up: no certificate, no alert.
    const server = net.createServer((s) => s.once('data', () => s.destroy()))
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => new Promise((resolve) => server.close(resolve)))
    const p = await stsPlugin(t)
    const hmail = new HMail({ domain: 'sts.test' })
    await callHook(p, 'hook_get_mx', hmail, 'sts.test')
    const err = await handshake(hmail, mx('127.0.0.2', 'mx1.sts.test'), server.address().port, undefined)
    assert.equal(err?.code, 'ECONNRESET')
    hmail.get_force_tls(mx('127.0.0.3', 'mx2.sts.test'))
    await callHook(p, 'hook_delivered', hmail, ['mx2.sts.test', '127.0.0.3', 'ok', 1, 25, 'SMTP', [], true, false])
    assert.deepEqual(
        p.feedback.queue.map((r) => [r.address, r.stage]),
        [
            ['127.0.0.2', 'tls'],
            ['127.0.0.3', 'data'],
        ],
    )
})
