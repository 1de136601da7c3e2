'use strict'

// SMTP on loopback for the end-to-end test: sinks standing in for the
// destination MX hosts, and a plain client that injects mail into Haraka.

const net = require('node:net')
const tls = require('node:tls')
const { EventEmitter } = require('node:events')

/** lines calls onLine for every CRLF-terminated line read from socket. */
function lines(socket, onLine) {
    let buf = ''
    socket.on('data', (chunk) => {
        buf += chunk.toString('latin1')
        let i
        while ((i = buf.indexOf('\r\n')) >= 0) {
            const line = buf.slice(0, i)
            buf = buf.slice(i + 2)
            onLine(line)
        }
    })
}

/**
 * startSink listens on address:port. mode 'accept' takes every message;
 * 'greet421' answers the greeting with 421 and closes, as a host that is
 * shedding load does. With tls ({key, cert}, PEM) the sink offers STARTTLS.
 * Emits 'message' with {messageId, rcpts, secure}. Counts connections,
 * STARTTLS commands answered (starttls), handshakes completed
 * (handshakes), and MAIL FROM commands received in clear (clearMail).
 */
async function startSink(address, port, mode, { tls: tlsOpts } = {}) {
    const sink = new EventEmitter()
    sink.address = address
    sink.mode = mode
    sink.connections = 0
    sink.handshakes = 0
    sink.starttls = 0
    sink.clearMail = 0
    sink.messages = []
    const sockets = new Set()
    const server = net.createServer((socket) => {
        sink.connections++
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => {})
        if (sink.mode === 'greet421') {
            socket.end('421 4.7.0 mx busy, try again later\r\n')
            return
        }
        socket.write(`220 sink ${address} ESMTP\r\n`)
        session(sink, socket, tlsOpts)
    })
    await new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, address, resolve)
    })
    sink.close = () =>
        new Promise((resolve) => {
            for (const s of sockets) s.destroy()
            server.close(resolve)
        })
    return sink
}

/** session runs the SMTP dialogue on socket; STARTTLS continues it over TLS. */
function session(sink, socket, tlsOpts, secure = false) {
    const address = sink.address
    let data = null
    let rcpts = []
    lines(socket, (line) => {
        if (data !== null) {
            if (line !== '.') {
                data.push(line)
                return
            }
            const id = data.find((l) => /^message-id:/i.test(l))?.replace(/^message-id:\s*/i, '') || ''
            const msg = { messageId: id, rcpts, secure, at: Date.now() }
            sink.messages.push(msg)
            data = null
            rcpts = []
            socket.write('250 2.0.0 queued\r\n')
            sink.emit('message', msg)
            return
        }
        const verb = line.split(' ', 1)[0].toUpperCase()
        switch (verb) {
            case 'EHLO':
                socket.write(`250-sink ${address}\r\n${tlsOpts && !secure ? '250-STARTTLS\r\n' : ''}250 8BITMIME\r\n`)
                break
            case 'HELO':
                socket.write(`250 sink ${address}\r\n`)
                break
            case 'STARTTLS': {
                if (!tlsOpts || secure) {
                    socket.write('502 5.5.1 not offered\r\n')
                    break
                }
                sink.starttls++
                socket.removeAllListeners('data')
                socket.write('220 2.0.0 ready to start TLS\r\n')
                const tlsSocket = new tls.TLSSocket(socket, { isServer: true, key: tlsOpts.key, cert: tlsOpts.cert })
                tlsSocket.on('error', () => socket.destroy())
                tlsSocket.once('secure', () => sink.handshakes++)
                session(sink, tlsSocket, tlsOpts, true)
                return
            }
            case 'MAIL':
                if (!secure) sink.clearMail++
                socket.write('250 2.1.0 ok\r\n')
                break
            case 'RSET':
            case 'NOOP':
                socket.write('250 2.1.0 ok\r\n')
                break
            case 'RCPT':
                rcpts.push(line.slice(8))
                socket.write('250 2.1.5 ok\r\n')
                break
            case 'DATA':
                data = []
                socket.write('354 go ahead\r\n')
                break
            case 'QUIT':
                socket.end('221 2.0.0 bye\r\n')
                break
            default:
                socket.write('502 5.5.2 not implemented\r\n')
        }
    })
}

/** sendMail injects one message through SMTP and resolves with the final reply to DATA. */
function sendMail({ host, port, from, to, messageId, subject }) {
    return new Promise((resolve, reject) => {
        const socket = net.connect(port, host)
        const script = [
            ['', '220'],
            ['EHLO injector.e2e', '250'],
            [`MAIL FROM:<${from}>`, '250'],
            [`RCPT TO:<${to}>`, '250'],
            ['DATA', '354'],
            [
                [
                    `From: <${from}>`,
                    `To: <${to}>`,
                    `Subject: ${subject}`,
                    `Message-ID: ${messageId}`,
                    `Date: ${new Date().toUTCString()}`,
                    '',
                    'mxroute end-to-end test message',
                    '.',
                ].join('\r\n'),
                '250',
            ],
            ['QUIT', '221'],
        ]
        let step = 0
        let queued = ''
        const fail = (err) => {
            socket.destroy()
            reject(err)
        }
        socket.setTimeout(10000, () => fail(new Error(`SMTP client timeout at step ${step}`)))
        socket.on('error', fail)
        lines(socket, (line) => {
            if (line[3] === '-') return // continuation
            const want = script[step][1]
            if (!line.startsWith(want)) return fail(new Error(`after ${script[step][0] || 'connect'}: ${line}`))
            if (step === 5) queued = line
            step++
            if (step === script.length) {
                socket.end()
                return resolve(queued)
            }
            socket.write(`${script[step][0]}\r\n`)
        })
    })
}

module.exports = { startSink, sendMail }
