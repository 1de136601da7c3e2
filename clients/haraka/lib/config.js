'use strict'

// Reading config/mxroute.ini into the settings the plugin uses, with the
// defaults documented in config/mxroute.ini.

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

/**
 * normalize turns the [main] section (strings, or absent) into typed
 * settings; invalid numbers fall back to their defaults.
 */
function normalize(main = {}) {
    const url = String(main.url || DEFAULTS.url).trim()
    return {
        url: url.endsWith('/') ? url : `${url}/`,
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

module.exports = { BOOLEANS, DEFAULTS, normalize }
