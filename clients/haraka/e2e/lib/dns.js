'use strict'

// A minimal authoritative DNS server over UDP for Haraka's own MX lookups
// (its fallback path when mxroute is down). The sandbox has no resolver of
// its own worth asking, and Haraka's lookups must stay on loopback.

const dgram = require('node:dgram')

const TYPE = { A: 1, MX: 15, AAAA: 28 }

function encodeName(name) {
    const parts = name.replace(/\.$/, '').split('.')
    const bufs = parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')]))
    return Buffer.concat([...bufs, Buffer.from([0])])
}

function parseQuestion(msg) {
    let off = 12
    const labels = []
    while (msg[off] !== 0) {
        const len = msg[off]
        labels.push(msg.toString('ascii', off + 1, off + 1 + len))
        off += len + 1
    }
    off++
    return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), end: off + 4 }
}

function rr(type, ttl, rdata) {
    const head = Buffer.alloc(12)
    head.writeUInt16BE(0xc00c, 0) // pointer to the question name
    head.writeUInt16BE(type, 2)
    head.writeUInt16BE(1, 4) // IN
    head.writeUInt32BE(ttl, 6)
    head.writeUInt16BE(rdata.length, 10)
    return Buffer.concat([head, rdata])
}

/**
 * startDns answers from records: {name: {MX: [[pref, host]], A: ['1.2.3.4']}}.
 * Names it does not know get NXDOMAIN; known names without the type, NODATA.
 */
async function startDns(records) {
    const sock = dgram.createSocket('udp4')
    const queries = []
    sock.on('message', (msg, rinfo) => {
        if (msg.length < 17) return
        const q = parseQuestion(msg)
        queries.push(q)
        const known = records[q.name]
        const answers = []
        if (known && q.type === TYPE.MX) {
            for (const [pref, host] of known.MX || []) {
                const p = Buffer.alloc(2)
                p.writeUInt16BE(pref)
                answers.push(rr(TYPE.MX, 60, Buffer.concat([p, encodeName(host)])))
            }
        }
        if (known && q.type === TYPE.A) {
            for (const a of known.A || []) answers.push(rr(TYPE.A, 60, Buffer.from(a.split('.').map(Number))))
        }
        const head = Buffer.alloc(12)
        msg.copy(head, 0, 0, 2) // id
        const rd = msg[2] & 0x01
        head[2] = 0x84 | rd // QR, AA, RD as asked
        head[3] = 0x80 | (known ? 0 : 3) // RA, NOERROR or NXDOMAIN
        head.writeUInt16BE(1, 4)
        head.writeUInt16BE(answers.length, 6)
        sock.send(Buffer.concat([head, msg.subarray(12, q.end), ...answers]), rinfo.port, rinfo.address)
    })
    await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve))
    return {
        server: `127.0.0.1:${sock.address().port}`,
        queries,
        close: () => new Promise((resolve) => sock.close(resolve)),
    }
}

module.exports = { startDns }
