'use strict'

// Logging a recurring condition once per interval instead of once per
// message: when mxroute is down every delivery attempt fails open, and a log
// line per message would bury everything else.

/** IntervalLog counts events and logs at most one line per interval. */
class IntervalLog {
    /**
     * @param {number} intervalMs minimum time between two log lines
     * @param {(line: string) => void} log where lines go
     * @param {() => number} now clock, replaceable in tests
     */
    constructor(intervalMs, log, now = Date.now) {
        this.intervalMs = intervalMs
        this.log = log
        this.now = now
        this.total = 0
        this.sinceLast = 0
        this.lastLogAt = -Infinity
    }

    /**
     * note counts one event; it logs message (with the number of events since
     * the previous line) if the interval has passed, and says whether it did.
     */
    note(message) {
        this.total++
        this.sinceLast++
        const now = this.now()
        if (now - this.lastLogAt < this.intervalMs) return false
        const n = this.sinceLast
        this.sinceLast = 0
        this.lastLogAt = now
        this.log(n > 1 ? `${message} (${n} times since the last report)` : message)
        return true
    }
}

module.exports = { IntervalLog }
