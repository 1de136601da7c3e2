'use strict'

// Starting and stopping the processes of the end-to-end test: the mxroute
// binary and Haraka instances, each with its log in the scratch folder.

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')


/** freePort finds a TCP port free on every one of addresses. */
async function freePort(addresses) {
    for (let tries = 0; tries < 50; tries++) {
        const probe = net.createServer()
        await new Promise((resolve) => probe.listen(0, addresses[0], resolve))
        const { port } = probe.address()
        const held = [probe]
        let ok = true
        for (const a of addresses.slice(1)) {
            const s = net.createServer()
            const bound = await new Promise((resolve) => {
                s.once('error', () => resolve(false))
                s.listen(port, a, () => resolve(true))
            })
            if (!bound) {
                ok = false
                break
            }
            held.push(s)
        }
        await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))))
        if (ok) return port
    }
    throw new Error(`no port free on all of ${addresses.join(', ')}`)
}

/** waitFor polls check() until it returns a truthy value or deadlineMs passes. */
async function waitFor(what, check, deadlineMs = 15000, everyMs = 100) {
    const until = Date.now() + deadlineMs
    let last
    for (;;) {
        try {
            last = await check()
            if (last) return last
        } catch (err) {
            last = err
        }
        if (Date.now() > until) throw new Error(`timed out waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`)
        await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
}

// Children still running when the test process exits (a timeout, a crash)
// are killed rather than left behind.
const live = new Set()
process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL')
})

/** Proc is a child process whose output goes to a log file. */
class Proc {
    constructor(name, cmd, args, { env, logFile, cwd }) {
        this.name = name
        this.logFile = logFile
        const out = fs.openSync(logFile, 'a')
        this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out], cwd })
        fs.closeSync(out)
        live.add(this.child)
        this.exited = new Promise((resolve) =>
            this.child.once('exit', (code, signal) => {
                live.delete(this.child)
                resolve({ code, signal })
            }),
        )
    }

    log() {
        return fs.readFileSync(this.logFile, 'utf8')
    }

    /** stop sends SIGTERM, then SIGKILL if the process has not exited after graceMs. */
    async stop(graceMs = 5000) {
        if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited
        this.child.kill('SIGTERM')
        const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
        const res = await this.exited
        clearTimeout(timer)
        return res
    }
}

/**
 * startMxroute runs the mxroute binary on 127.0.0.1:port with a local zone
 * file; extraEnv adds settings (the MTA-STS test settings).
 */
async function startMxroute({ bin, port, zoneFile, logFile, extraEnv = {} }) {
    const env = {
        ...extraEnv,
        MXROUTE_LISTEN: `127.0.0.1:${port}`,
        MXROUTE_ZONE_FILES: zoneFile,
        // Everything but loopback: the test's MX hosts live on 127.0.0.0/8.
        MXROUTE_IGNORE_NETWORKS: '0.0.0.0/8,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4',
        MXROUTE_DNS_SERVERS: '127.0.0.1:1',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
    }
    const proc = new Proc('mxroute', bin, [], { env, logFile })
    const url = `http://127.0.0.1:${port}/`
    await waitFor('mxroute /healthz', async () => {
        if (proc.child.exitCode !== null) throw new Error(`mxroute exited: ${proc.log()}`)
        const res = await fetch(new URL('healthz', url))
        return res.status === 200
    })
    proc.url = url
    return proc
}

/**
 * makeHarakaDir writes a Haraka folder: Haraka's default config, the
 * mxroute plugin as npm installed it (node_modules/haraka-plugin-mxroute,
 * from run.sh's npm pack + npm install), the e2e probe plugin, and the
 * given config files on top.
 */
function makeHarakaDir(dir, harakaModule, files) {
    // What `haraka -i` does: start from Haraka's own default config files
    // (connection.ini's [message] section, for one, has no built-in default).
    fs.cpSync(path.join(harakaModule, 'config'), path.join(dir, 'config'), { recursive: true })
    fs.mkdirSync(path.join(dir, 'plugins'), { recursive: true })
    fs.symlinkSync(process.env.E2E_PLUGIN_MODULES, path.join(dir, 'node_modules'))
    fs.copyFileSync(path.join(__dirname, '..', 'plugins', 'e2e_probe.js'), path.join(dir, 'plugins', 'e2e_probe.js'))
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'config', name), text)
}

/**
 * startHaraka runs Haraka on dir and waits for its SMTP greeting; env adds
 * environment variables (NODE_EXTRA_CA_CERTS).
 */
async function startHaraka({ harakaModule, dir, port, dnsServer, logFile, name, env = {} }) {
    const bin = path.join(harakaModule, 'bin', 'haraka')
    const preload = path.join(__dirname, '..', 'dns-preload.js')
    const proc = new Proc(name, process.execPath, ['-r', preload, bin, '-c', dir], {
        env: { ...env, E2E_DNS_SERVER: dnsServer },
        logFile,
        cwd: dir,
    })
    await waitFor(`${name} SMTP greeting`, async () => {
        if (proc.child.exitCode !== null) throw new Error(`${name} exited: ${proc.log().slice(-3000)}`)
        return greets(port)
    })
    proc.dir = dir
    proc.port = port
    return proc
}

function greets(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1')
        s.once('data', (d) => {
            s.end('QUIT\r\n')
            resolve(d.toString().startsWith('220'))
        })
        s.once('error', () => resolve(false))
    })
}

module.exports = { freePort, waitFor, startMxroute, makeHarakaDir, startHaraka, Proc }
