'use strict'

// A small real HTTP server standing in for mxroute in unit tests: it records
// every request and answers with whatever the test put in `routes`.

const http = require('node:http')

/**
 * startStub listens on a free loopback port. handler(req, body) returns
 * {status, headers, body} (body an object is sent as JSON) or a promise of it.
 */
async function startStub(handler) {
    const requests = []
    const server = http.createServer((req, res) => {
        const chunks = []
        req.on('data', (c) => chunks.push(c))
        req.on('end', async () => {
            const text = Buffer.concat(chunks).toString()
            const record = {
                method: req.method,
                url: new URL(req.url, 'http://stub'),
                headers: req.headers,
                body: text ? JSON.parse(text) : undefined,
            }
            requests.push(record)
            let out
            try {
                out = await handler(record)
            } catch (err) {
                out = { status: 500, body: { title: String(err) } }
            }
            if (out === null) return // leave the request hanging (timeouts)
            const body = typeof out.body === 'string' ? out.body : JSON.stringify(out.body ?? {})
            res.writeHead(out.status ?? 200, { 'Content-Type': 'application/json', ...(out.headers || {}) })
            res.end(body)
        })
    })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address()
    return {
        url: `http://127.0.0.1:${port}/`,
        requests,
        close: () =>
            new Promise((resolve) => {
                server.closeAllConnections()
                server.close(resolve)
            }),
    }
}

/** freeClosedUrl returns the URL of a loopback port nothing listens on. */
async function closedUrl() {
    const server = http.createServer()
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address()
    await new Promise((resolve) => server.close(resolve))
    return `http://127.0.0.1:${port}/`
}

module.exports = { startStub, closedUrl }
