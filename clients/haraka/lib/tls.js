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
// - a certificate that does not verify or does not name the host: the
//   handshake fails, Haraka logs it and tries the next MX (no hook), so it
//   is reported as a transport failure (connect); Haraka's own "Host
//   failed TLS verification" deferral below cannot happen with
//   rejectUnauthorized set, it is kept for Haraka versions that reach it;
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

/** Haraka's deferral texts for a forced-TLS MX (outbound/hmail.js). */
const TLS_DEFERRALS = new Set([
    'No TLS available but required by configuration.',
    'Host failed TLS verification required by configuration.',
])

module.exports = { requiredAddresses, enforceTLS, TLS_DEFERRALS }
