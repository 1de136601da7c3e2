'use strict'

// The plugin loaded through haraka-test-fixtures, and the outbound objects
// the fixtures do not provide (an HMailItem needs Haraka's outbound module),
// shaped the way Haraka 3.3 builds them: field names and assignments follow
// Haraka's outbound/hmail.js and outbound/todo.js. The e2e test runs the
// real Haraka.

const fixtures = require('haraka-test-fixtures')
const { Address } = require('@haraka/email-address')

/**
 * loadPlugin loads the plugin the way Haraka does, through
 * haraka-test-fixtures' Plugin (Haraka's own loader, logger and constants),
 * with mxroute.ini's [main] section replaced by ini. reload(newIni) swaps
 * it and fires the reload callback the plugin registered, as haraka-config
 * does when the file changes.
 */
function loadPlugin(ini = {}, { outbound = {} } = {}) {
    const plugin = new fixtures.plugin('index')
    const files = { 'mxroute.ini': { main: ini }, 'outbound.ini': { main: outbound } }
    const reloaders = new Map()
    const real = plugin.config
    plugin.config = {
        get(name, opts, cb) {
            if (!(name in files)) return real.get(name, opts, cb)
            if (typeof opts === 'function') cb = opts
            if (cb) reloaders.set(name, cb)
            return files[name]
        },
    }
    const logs = []
    for (const level of ['debug', 'info', 'notice', 'warn', 'error', 'crit']) {
        plugin[`log${level}`] = (msg) => logs.push({ level, msg: String(msg) })
    }
    plugin.logs = logs
    plugin.reload = (newIni) => {
        files['mxroute.ini'] = { main: newIni }
        reloaders.get('mxroute.ini')?.()
    }
    plugin.register()
    return plugin
}

/** callHook runs a hook the way plugins.run_next_hook does and resolves with [retval, msg]. */
function callHook(plugin, method, object, params) {
    return new Promise((resolve) => {
        plugin[method].call(plugin, (retval, msg) => resolve([retval, msg]), object, params)
    })
}

/** rcpt is a recipient as todo.rcpt_to holds it. */
function rcpt(address) {
    return new Address(`<${address}>`)
}

/** HMail mimics an HMailItem after read_todo(): prototype log methods, a todo. */
class HMail {
    constructor({ uuid = 'D5B3C7E1-0F3A-4E2B-9C41-5A6B7C8D9E0F.1', domain = 'example.com', rcpts = ['a@example.com'] } = {}) {
        this.name = 'outbound'
        this.filename = `1700000000000_1700000000000_0_${process.pid}_abc_1_host`
        this.num_failures = 0
        this.protocol = []
        this.todo = {
            queue_time: Date.now(),
            domain,
            rcpt_to: rcpts.map(rcpt),
            mail_from: rcpt('sender@origin.test'),
            notes: {},
            uuid,
            force_tls: false,
        }
    }

    /** converse replays an SMTP conversation through logprotocol as hmail.js logs it. */
    converse(lines) {
        for (const l of lines) this.logprotocol(l)
    }
}
// get_force_tls as Haraka 3.3 answers it with tls.ini force_tls_hosts:
// here, the hosts listed in todo.notes.force_tls_hosts.
HMail.prototype.get_force_tls = function (mx) {
    return (this.todo.notes.force_tls_hosts || []).includes(mx.exchange)
}
// try_deliver_host_on_socket is where Haraka 3.3 takes over the socket it
// connected to an MX; on the 220 reply to STARTTLS it calls
// socket.upgrade(options, cb). Here it only keeps the socket, and the test
// upgrades it as Haraka would.
HMail.prototype.try_deliver_host_on_socket = function (mx, host, port, socket) {
    this.sockets = [...(this.sockets || []), socket]
}
for (const level of ['protocol', 'debug', 'info', 'notice', 'warn', 'error', 'crit']) {
    HMail.prototype[`log${level}`] = function (msg) {
        if (level === 'protocol') this.protocol.push(msg)
    }
}

/** mx is what HarakaMx holds after get_mx_respond wrapped our object. */
function mx(exchange, from_dns, port = 25, priority = 10) {
    return { exchange, from_dns, port, priority, bind_helo: 'haraka.test' }
}

/**
 * wholeMessageReply does what hmail.js does on a 4xx/5xx reply outside RCPT:
 * every recipient gets the DSN fields; it returns the deferred params (4xx)
 * or the bounce Error (5xx) Haraka hands to the hooks.
 */
function wholeMessageReply(hmail, m, code, extc, text) {
    const temp = code.startsWith('4')
    for (const r of hmail.todo.rcpt_to) {
        r.dsn_action = temp ? 'delayed' : 'failed'
        r.dsn_smtp_code = code
        r.dsn_smtp_extc = extc
        r.dsn_status = extc
        r.dsn_smtp_response = text
        r.dsn_remote_mta = m.exchange
    }
    if (temp) return { delay: 5, err: `Upstream error: ${code} ${extc ? `${extc} ` : ''}${text}` }
    const err = new Error(`${code} ${extc ? `${extc} ` : ''}${text}`)
    err.mx = m
    err.deferred_rcpt = undefined
    err.bounced_rcpt = undefined
    return err
}

/** rcptReply does what hmail.js does when RCPT TO for r is refused. */
function rcptReply(r, m, code, extc, text) {
    r.reason = `${code} ${extc ? `${extc} ` : ''}${text}`
    r.dsn_action = code.startsWith('4') ? 'delayed' : 'failed'
    r.dsn_smtp_code = code
    r.dsn_smtp_extc = extc
    r.dsn_status = extc
    r.dsn_smtp_response = text
    r.dsn_remote_mta = m.exchange
    return r
}

/** bounceError builds the Error _bounce() hands to the bounce hook. */
function bounceError(message, opts) {
    const err = new Error(message)
    if (opts) {
        err.mx = opts.mx
        err.deferred_rcpt = opts.fail_recips
        err.bounced_rcpt = opts.bounce_recips
    }
    return err
}

module.exports = { loadPlugin, callHook, HMail, rcpt, mx, wholeMessageReply, rcptReply, bounceError }
