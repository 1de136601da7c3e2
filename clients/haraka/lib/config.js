'use strict'

// Reading config/mxroute.ini into the settings the plugin uses. DEFAULTS
// is the one place the defaults live: config/mxroute.ini only documents
// them, in comments a test compares with DEFAULTS.

const os = require('node:os')

/** The booleans Haraka's ini reader must parse as such ("+" means default true). */
const BOOLEANS = ['+main.fail_open', '+main.protocol_trace']

const DEFAULTS = {
    url: 'http://127.0.0.1:8080',
    token: '',
    node_name: '',
    timeout_ms: 2000,
    smtp_port: 25,
    batch_size: 100,
    flush_interval_ms: 1000,
    queue_max: 10000,
    log_interval_ms: 60000,
    fail_open: true,
    protocol_trace: true,
}

function positiveInt(value, fallback) {
    const n = Number(value)
    return Number.isInteger(n) && n > 0 ? n : fallback
}

/** ConfigError names the setting and the value that cannot be used. */
class ConfigError extends Error {
    constructor(key, value, why) {
        super(`mxroute.ini [main] ${key}: ${JSON.stringify(value)} ${why}`)
        this.name = 'ConfigError'
        this.key = key
    }
}

/**
 * baseUrl checks mxroute's URL when the configuration loads: a mistyped
 * one would otherwise only show as a failed lookup at the first message.
 */
function baseUrl(raw) {
    const url = String(raw || DEFAULTS.url).trim()
    let u
    try {
        u = new URL(url)
    } catch {
        throw new ConfigError('url', raw, 'is not a URL (want e.g. http://mxroute:8080)')
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
        throw new ConfigError('url', raw, 'must be an http:// or https:// URL with a host')
    }
    if (u.search || u.hash || u.username || u.password) {
        throw new ConfigError('url', raw, 'must not carry a query, fragment or credentials (use token)')
    }
    return url.endsWith('/') ? url : `${url}/`
}

/**
 * normalize turns the [main] section (strings, or absent) into typed
 * settings; invalid numbers fall back to their defaults, and an unusable
 * url throws a ConfigError.
 */
function normalize(main = {}) {
    return {
        url: baseUrl(main.url),
        token: String(main.token || '').trim(),
        node_name: String(main.node_name || '').trim() || os.hostname(),
        timeout_ms: positiveInt(main.timeout_ms, DEFAULTS.timeout_ms),
        smtp_port: positiveInt(main.smtp_port, DEFAULTS.smtp_port),
        batch_size: Math.min(positiveInt(main.batch_size, DEFAULTS.batch_size), 1000),
        flush_interval_ms: positiveInt(main.flush_interval_ms, DEFAULTS.flush_interval_ms),
        queue_max: positiveInt(main.queue_max, DEFAULTS.queue_max),
        log_interval_ms: positiveInt(main.log_interval_ms, DEFAULTS.log_interval_ms),
        fail_open: main.fail_open !== false,
        protocol_trace: main.protocol_trace !== false,
    }
}

module.exports = { BOOLEANS, DEFAULTS, normalize, ConfigError }
