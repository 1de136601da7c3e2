'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Trace, attachTrace } = require('../lib/trace')
const { HMail } = require('./helpers/haraka')

// Conversations as Haraka 3.3 logs them through hmail.logprotocol.
const GREETING_421 = ['S: 421 4.7.0 mx1.e2e.test busy, try later', 'C: QUIT']
const DELIVERY = [
    'S: 220 mx2.e2e.test ESMTP',
    'C: EHLO haraka.test',
    'S: 250-mx2.e2e.test',
    'S: 250-PIPELINING',
    'S: 250 8BITMIME',
    'C: MAIL FROM:<sender@origin.test>',
    'S: 250 2.1.0 OK',
    'C: RCPT TO:<a@example.com>',
    'S: 250 2.1.5 OK',
    'C: DATA',
    'S: 354 go ahead',
    'C: .',
    'S: 250 2.0.0 queued as 1234',
]

function traced(lines) {
    const hmail = new HMail()
    const trace = new Trace()
    attachTrace(hmail, () => trace)
    hmail.converse(lines)
    return { hmail, trace }
}

test('a reply before any command is a greeting', () => {
    const { trace } = traced(GREETING_421)
    assert.deepEqual(trace.replyFor(421), { code: 421, extc: '4.7.0', stage: 'greeting' })
})

test('each reply is attributed to the command it answers', () => {
    const upTo = (line) => DELIVERY.slice(0, DELIVERY.indexOf(line) + 1)
    const cases = [
        { lines: [...upTo('C: EHLO haraka.test'), 'S: 421 4.3.2 shutting down'], code: 421, stage: 'ehlo' },
        { lines: [...upTo('C: MAIL FROM:<sender@origin.test>'), 'S: 451 4.3.0 try later'], code: 451, stage: 'mail' },
        { lines: [...upTo('C: RCPT TO:<a@example.com>'), 'S: 550 5.1.1 unknown'], code: 550, stage: 'rcpt' },
        { lines: [...upTo('C: DATA'), 'S: 554 5.6.0 no'], code: 554, stage: 'data' },
        { lines: [...upTo('C: .'), 'S: 552 5.3.4 too big'], code: 552, stage: 'data' },
        { lines: [...upTo('S: 250 8BITMIME'), 'C: STARTTLS', 'S: 454 4.7.0 TLS not available'], code: 454, stage: 'tls' },
    ]
    for (const c of cases) {
        const { trace } = traced(c.lines)
        assert.equal(trace.replyFor(c.code)?.stage, c.stage, c.lines.at(-1))
    }
})

test('a full delivery ends on the reply to the final dot', () => {
    const { trace } = traced([...DELIVERY, 'C: QUIT', 'S: 221 bye'])
    assert.deepEqual(trace.lastReply, { code: 250, extc: '2.0.0', stage: 'data' })
    assert.equal(trace.replyFor(221), null)
})

test('the wrapper passes every line through to Haraka and installs once', () => {
    const { hmail } = traced(DELIVERY)
    assert.deepEqual(hmail.protocol, DELIVERY)
    const before = hmail.logprotocol
    attachTrace(hmail, () => null)
    assert.equal(hmail.logprotocol, before)
})

test('a failing trace lookup never breaks logging', () => {
    const hmail = new HMail()
    attachTrace(hmail, () => {
        throw new Error('boom')
    })
    hmail.converse(['S: 220 hi'])
    assert.deepEqual(hmail.protocol, ['S: 220 hi'])
})

test('pendingStage names the command awaiting a reply', () => {
    const trace = new Trace()
    assert.equal(trace.pendingStage(), 'greeting')
    trace.received('220 hi')
    trace.sent('STARTTLS')
    assert.equal(trace.pendingStage(), 'tls')
})
