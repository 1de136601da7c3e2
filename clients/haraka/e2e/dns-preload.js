'use strict'

// Loaded with `node -r` before Haraka: points every DNS resolver Haraka
// creates at the test's DNS server (E2E_DNS_SERVER, host:port), so its own
// MX lookups never leave loopback. haraka-net-utils builds its Resolver from
// node:dns at load time, after this runs.

const dns = require('node:dns')

const servers = [process.env.E2E_DNS_SERVER]
if (!servers[0]) throw new Error('E2E_DNS_SERVER is not set')

dns.setServers(servers)
dns.promises.setServers(servers)

const PromiseResolver = dns.promises.Resolver
dns.promises.Resolver = class extends PromiseResolver {
    constructor(options) {
        super(options)
        this.setServers(servers)
    }
}

const CallbackResolver = dns.Resolver
dns.Resolver = class extends CallbackResolver {
    constructor(options) {
        super(options)
        this.setServers(servers)
    }
}
