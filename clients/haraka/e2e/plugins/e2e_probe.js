// Test-only Haraka plugin for the mxroute end-to-end test: lets the
// injecting client relay, and records every outbound outcome with the
// number of earlier failed attempts, one JSON line each, in
// $HARAKA/probe.jsonl.

const fs = require('node:fs')
const path = require('node:path')

function record(event) {
    fs.appendFileSync(path.join(process.env.HARAKA, 'probe.jsonl'), `${JSON.stringify({ ...event, at: Date.now() })}\n`)
}

exports.hook_connect = function (next, connection) {
    connection.relaying = true
    next()
}

exports.hook_delivered = function (next, hmail, params) {
    record({ event: 'delivered', uuid: hmail.todo.uuid, ip: params[1], host: params[0], fails: hmail.num_failures })
    next()
}

exports.hook_deferred = function (next, hmail, params) {
    record({ event: 'deferred', uuid: hmail.todo.uuid, err: String(params.err), fails: hmail.num_failures })
    next()
}

exports.hook_bounce = function (next, hmail, err) {
    record({ event: 'bounce', uuid: hmail.todo.uuid, err: String(err.message), fails: hmail.num_failures })
    next()
}
