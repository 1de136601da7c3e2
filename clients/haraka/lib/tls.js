'use strict'

// Enforcing a plan's tls_required in Haraka 3.3 (outbound/hmail.js).
//
// Haraka decides per MX whether TLS is mandatory: try_deliver calls
// hmail.get_force_tls(mx) for each MX it is about to connect to, and a true
// answer makes STARTTLS mandatory and the certificate verified
// (rejectUnauthorized, servername = mx.from_dns, the plan's host name;
// Node's roots plus NODE_EXTRA_CA_CERTS: Haraka 3.3 passes tls.ini
// [outbound] ca to Node as PEM text, not a file). Haraka's own answer only
// consults tls.ini force_tls_hosts; an MX object from get_mx cannot carry a
// flag (haraka-net-utils HarakaMx copies a fixed list of fields). So, as for
// the protocol trace, an instance property shadows the prototype method for
// this one message: the plan's addresses with tls_required answer true,
// every other MX gets Haraka's own answer.
//
// What follows from Haraka's code:
// - a server that does not offer STARTTLS: Haraka defers the whole message
//   ("No TLS available but required by configuration."), it does not try
//   the next MX; the next attempt asks mxroute again;
// - a certificate that does not verify or does not name the host: Node
//   fails the handshake, Haraka logs it and tries the next MX. The error
//   reaches no hook, and Haraka's err.source === 'tls' is set on every
//   socket error, TLS or not (tls_socket.js pluggableStream.attach). The
//   plugin watches the handshake itself instead (observeHandshakes below),
//   so the failure is reported at stage tls. Haraka's own "Host failed TLS
//   verification" deferral below cannot happen with rejectUnauthorized
//   set; it is kept for Haraka versions that reach it;
// - the name checked is the plan's host name only (tls_names is [host] for
//   MTA-STS attempts);
// - DANE: Haraka cannot authenticate against TLSA records, and forcing
//   WebPKI verification would refuse DANE-EE hosts with certificates no CA
//   signed, so attempts with dane are not forced (opportunistic TLS).

/** requiredAddresses is the set of plan addresses Haraka must reach over verified TLS. */
function requiredAddresses(plan) {
    const out = new Set()
    for (const a of plan?.attempts || []) {
        if (a && a.tls_required === true && a.dane !== true) out.add(a.address)
    }
    return out
}

/**
 * enforceTLS makes hmail require verified TLS for the addresses in
 * required, and records on entry the MX Haraka decided for last (the one it
 * is connecting to), so a TLS deferral can name it. It returns false when
 * this Haraka has no get_force_tls to hook (then nothing is enforced).
 */
function enforceTLS(hmail, entry, required) {
    const base = hmail && Object.getPrototypeOf(hmail)?.get_force_tls
    if (typeof base !== 'function') return false
    hmail.get_force_tls = function (mx) {
        const own = base.call(this, mx)
        const forced = own || required.has(mx?.exchange)
        try {
            entry.currentMx = { exchange: mx?.exchange, from_dns: mx?.from_dns, forced }
        } catch {
            // Observing must never break delivery.
        }
        return forced
    }
    return true
}

/** Handshake states per address in entry.handshakes. */
const HANDSHAKE_STARTED = 'started'
const HANDSHAKE_DONE = 'done'

/**
 * observeHandshakes records in entry.handshakes, per address, that Haraka
 * started a STARTTLS handshake there and whether it completed. Haraka keeps
 * the socket and its errors to itself: try_deliver calls
 * this.try_deliver_host_on_socket(mx, host, port, socket) for every MX it
 * reached, and on the 220 reply to STARTTLS calls socket.upgrade(options,
 * cb), whose cb runs on secureConnect only (tls_socket.js connect). So an
 * instance property shadows that method for this message and wraps the
 * socket's upgrade. A handshake started and never completed is a TLS
 * failure whatever ended it: a certificate Node refused (wrong name,
 * unknown CA, expired), a TLS alert, a timeout or the peer closing during
 * the handshake. This is read from what happened, not from error texts or
 * codes, which Haraka only logs. Returns false when this Haraka has no such
 * method (then every transport failure stays stage connect).
 */
function observeHandshakes(hmail, entry) {
    const base = hmail && Object.getPrototypeOf(hmail)?.try_deliver_host_on_socket
    if (typeof base !== 'function') return false
    hmail.try_deliver_host_on_socket = function (mx, host, port, socket) {
        try {
            watchUpgrade(socket, entry.handshakes, mx?.exchange)
        } catch {
            // Observing must never break delivery.
        }
        return base.call(this, mx, host, port, socket)
    }
    return true
}

function watchUpgrade(socket, handshakes, address) {
    const upgrade = socket?.upgrade
    if (typeof upgrade !== 'function' || !address) return
    socket.upgrade = function (options, secured) {
        handshakes.set(address, HANDSHAKE_STARTED)
        return upgrade.call(this, options, function (...args) {
            handshakes.set(address, HANDSHAKE_DONE)
            return secured?.apply(this, args)
        })
    }
}

/** handshakeFailed says whether a TLS handshake with address started and did not complete. */
function handshakeFailed(entry, address) {
    return entry.handshakes?.get(address) === HANDSHAKE_STARTED
}

/** Haraka's deferral texts for a forced-TLS MX (outbound/hmail.js). */
const TLS_DEFERRALS = new Set([
    'No TLS available but required by configuration.',
    'Host failed TLS verification required by configuration.',
])

module.exports = { requiredAddresses, enforceTLS, observeHandshakes, handshakeFailed, TLS_DEFERRALS }
