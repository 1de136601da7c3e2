'use strict'

// TLS for the end-to-end test: a test CA made at test time with the
// openssl command line (Node cannot issue certificates), certificates it
// issues, and the loopback HTTPS server that serves MTA-STS policies to
// mxroute.

const fs = require('node:fs')
const https = require('node:https')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

function openssl(dir, args) {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/**
 * makeCA creates a CA (P-256, valid a day) in dir/<name>: returns
 * {dir, pemFile, issue(names) -> {key, cert}}, key and cert as PEM text.
 */
function makeCA(dir, name) {
    const caDir = path.join(dir, name)
    fs.mkdirSync(caDir, { recursive: true })
    openssl(caDir, [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ])
    let serial = 1
    return {
        pemFile: path.join(caDir, 'ca.pem'),
        /** issue returns a certificate for names (the first is the file name). */
        issue(...names) {
            const base = `${names[0]}-${serial}`
            fs.writeFileSync(
                path.join(caDir, `${base}.ext`),
                `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
            )
            openssl(caDir, [
                'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${names[0]}`,
            ])
            openssl(caDir, [
                'x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
                '-set_serial', String(++serial), '-days', '1', '-extfile', `${base}.ext`, '-out', `${base}.pem`,
            ])
            return {
                key: fs.readFileSync(path.join(caDir, `${base}.key`), 'utf8'),
                cert: fs.readFileSync(path.join(caDir, `${base}.pem`), 'utf8'),
            }
        },
    }
}

/**
 * startPolicyServer serves MTA-STS policies over HTTPS on 127.0.0.1:port:
 * policies maps a domain to its policy text, answered for Host
 * mta-sts.<domain> at /.well-known/mta-sts.txt; requests counts them per
 * host.
 */
async function startPolicyServer({ port, key, cert, policies }) {
    const requests = {}
    const server = https.createServer({ key, cert }, (req, res) => {
        const host = String(req.headers.host || '').replace(/:\d+$/, '')
        requests[host] = (requests[host] || 0) + 1
        const text = host.startsWith('mta-sts.') && policies[host.slice('mta-sts.'.length)]
        if (!text || req.url !== '/.well-known/mta-sts.txt') {
            res.writeHead(404).end()
            return
        }
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(text)
    })
    await new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', resolve)
    })
    return {
        requests,
        close: () => new Promise((resolve) => server.close(resolve)),
    }
}

module.exports = { makeCA, startPolicyServer }
