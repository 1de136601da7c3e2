'use strict'

const test = require('node:test')
const assert = require('node:assert')
const outcomes = require('../lib/outcomes')

test('extcFits keeps enhanced codes that agree with the reply and outcome', () => {
    assert.strictEqual(outcomes.extcFits('failure', 550, '5.1.1'), true)
    assert.strictEqual(outcomes.extcFits('failure', 550, '4.7.1'), false)
    assert.strictEqual(outcomes.extcFits('success', 250, '2.0.0'), true)
    assert.strictEqual(outcomes.extcFits('success', 250, '5.1.1'), false)
    assert.strictEqual(outcomes.extcFits('failure', undefined, '4.4.1'), true)
    assert.strictEqual(outcomes.extcFits('failure', undefined, '2.0.0'), false)
    assert.strictEqual(outcomes.extcFits('failure', 421, 'x.y.z'), false)
})

test('dnsName accepts DNS names and rejects junk', () => {
    for (const ok of ['mx.example.com', 'MX.Example.COM.', 'a_b.example', 'bücher.example']) {
        assert.strictEqual(outcomes.dnsName(ok), true, ok)
    }
    for (const bad of ['', 'a..b', 'bad name.example', 'nul\u0000.example', '<script>', 'x'.repeat(64) + '.example']) {
        assert.strictEqual(outcomes.dnsName(bad), false, bad)
    }
})
