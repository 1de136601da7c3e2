'use strict'

// Inferring the SMTP stage of a reply from Haraka's protocol log.
//
// Haraka fires no hook per SMTP command and keeps the command it was waiting
// on in a closure (outbound/hmail.js try_deliver_host_on_socket). What it does
// do, unconditionally, is call hmail.logprotocol('C: <line>') for every
// command it sends and hmail.logprotocol('S: <line>') for every reply line it
// reads, whatever the log level. An instance property shadowing the prototype
// method sees that stream and passes every call through unchanged.
//
// A final reply that arrives when no command is outstanding is a greeting.
// Limit: if an earlier MX dropped the connection while a command was
// outstanding, the next MX's greeting looks like the reply to that command.

const TRACED = Symbol.for('mxroute.trace')

const COMMAND_STAGE = {
    EHLO: 'ehlo',
    HELO: 'ehlo',
    LHLO: 'ehlo',
    AUTH: 'ehlo',
    STARTTLS: 'tls',
    MAIL: 'mail',
    RCPT: 'rcpt',
    DATA: 'data',
    '.': 'data',
}

const REPLY = /^([2345]\d\d)([ -])#?(?:(\d\.\d{1,3}\.\d{1,3})\s)?/

/** Trace follows one delivery attempt's SMTP conversation. */
class Trace {
    constructor() {
        this.stage = ''
        this.verb = ''
        this.outstanding = 0
        /** The last final reply: {code, extc, stage} or null. */
        this.lastReply = null
    }

    /** sent records a command line Haraka wrote. */
    sent(line) {
        const verb = line === '.' ? '.' : line.split(' ', 1)[0].toUpperCase()
        // AUTH continuation lines (base64) and QUIT/RSET keep the stage.
        if (COMMAND_STAGE[verb]) this.stage = COMMAND_STAGE[verb]
        this.verb = verb
        this.outstanding++
    }

    /** received records a reply line Haraka read. */
    received(line) {
        const m = REPLY.exec(line)
        if (!m || m[2] !== ' ') return
        const greeting = this.outstanding === 0
        if (this.outstanding > 0) this.outstanding--
        // The reply to QUIT or RSET says nothing about the delivery.
        if (!greeting && (this.verb === 'QUIT' || this.verb === 'RSET')) return
        const stage = greeting ? 'greeting' : this.stage || 'greeting'
        this.lastReply = { code: Number(m[1]), extc: m[3] || '', stage }
    }

    /** pendingStage is the stage of the command awaiting a reply: 'greeting' if none. */
    pendingStage() {
        return this.outstanding > 0 && this.stage ? this.stage : 'greeting'
    }

    /** replyFor returns the last final reply if it carried this SMTP code. */
    replyFor(code) {
        if (this.lastReply && this.lastReply.code === Number(code)) return this.lastReply
        return null
    }
}

/**
 * attachTrace makes hmail feed its protocol log to current(), looked up on
 * every line so that each new delivery attempt gets a fresh Trace. Installing
 * twice on the same hmail is a no-op.
 */
function attachTrace(hmail, current) {
    if (!hmail || hmail[TRACED] || typeof hmail.logprotocol !== 'function') return
    const original = hmail.logprotocol
    hmail[TRACED] = true
    hmail.logprotocol = function (msg, ...rest) {
        try {
            const trace = current()
            if (trace && typeof msg === 'string') {
                if (msg.startsWith('C: ')) trace.sent(msg.slice(3))
                else if (msg.startsWith('S: ')) trace.received(msg.slice(3))
            }
        } catch {
            // Observing must never break delivery.
        }
        return original.call(this, msg, ...rest)
    }
}

module.exports = { Trace, attachTrace }
