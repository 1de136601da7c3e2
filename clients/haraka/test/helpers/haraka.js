'use strict'

// Objects shaped the way Haraka 3.3 builds them, for unit tests that do not
// load Haraka itself (the e2e test does). Field names and assignments follow
// Haraka's outbound/hmail.js, outbound/todo.js and plugins.js.

const path = require('node:path')

/** loadPlugin does what plugins.js does for a folder plugin: copy the module's exports onto a Plugin. */
function loadPlugin(ini = {}, { outbound = {} } = {}) {
    // haraka-config keeps one reload callback per file name.
    const reloaders = new Map()
    const logs = []
    const plugin = {
        name: 'mxroute',
        config: {
            files: { 'mxroute.ini': { main: ini }, 'outbound.ini': { main: outbound } },
            get(name, opts, cb) {
                if (typeof opts === 'function') cb = opts
                if (cb) reloaders.set(name, cb)
                return this.files[name]
            },
        },
        logs,
        reload(newIni) {
            this.config.files['mxroute.ini'] = { main: newIni }
            reloaders.get('mxroute.ini')?.()
        },
    }
    for (const level of ['debug', 'info', 'notice', 'warn', 'error', 'crit']) {
        plugin[`log${level}`] = (msg) => logs.push({ level, msg: String(msg) })
    }
    const mod = require(path.join(__dirname, '..', '..'))
    for (const k in mod) plugin[k] = mod[k]
    plugin.register()
    return plugin
}

/** callHook runs a hook the way plugins.run_next_hook does and resolves with [retval, msg]. */
function callHook(plugin, method, object, params) {
    return new Promise((resolve) => {
        plugin[method].call(plugin, (retval, msg) => resolve([retval, msg]), object, params)
    })
}

/** rcpt mimics @haraka/email-address's Address as used in todo.rcpt_to. */
function rcpt(address) {
    const [user, host] = address.split('@')
    return {
        user,
        host,
        original: `<${address}>`,
        address,
        format() {
            return `<${address}>`
        },
        toString() {
            return `<${address}>`
        },
    }
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
