package feedback

// Signal is what a report says about the health of the host (the address)
// rather than about the message or the recipient.
type Signal string

// The signals a report can carry.
const (
	// SignalHostFailure: the host did not serve the session (refused,
	// timed out, failed TLS, rejected the greeting or EHLO, said 421, or
	// dropped the connection mid-transaction).
	SignalHostFailure Signal = "host_failure"
	// SignalHostSuccess: the host answered in a way that shows it serves.
	SignalHostSuccess Signal = "host_success"
	// SignalNeutral: a reply about the envelope or the message (550 user
	// unknown, 451 4.7.1 greylisting, 552 too big, ...). Counted for
	// telemetry; it never demotes and never restores.
	SignalNeutral Signal = "neutral"
)

// Classify maps a report to the signal it carries about its host:
//
//	SMTP code 421, any stage, any outcome         host_failure (service closing)
//	connect, tls: failure                         host_failure
//	greeting, ehlo: failure, or a 4xx/5xx code    host_failure
//	mail, rcpt, data: failure without a code      host_failure (dropped, timeout)
//	mail, rcpt, data: failure with a code         neutral
//	any other success                             host_success
//
// Report.ValidateAt rejects a success with a 4xx/5xx code, so Submit never
// classifies one; should a caller classify one anyway, the code wins at
// greeting and EHLO: the reply is what the host said, the outcome the
// sender's reading of it.
func Classify(r Report) Signal {
	if r.SMTPCode == 421 {
		return SignalHostFailure
	}
	switch r.Stage {
	case StageConnect, StageTLS:
		if r.Outcome == OutcomeFailure {
			return SignalHostFailure
		}
	case StageGreeting, StageEHLO:
		if r.Outcome == OutcomeFailure || r.SMTPCode >= 400 {
			return SignalHostFailure
		}
	default: // mail, rcpt, data
		if r.Outcome == OutcomeFailure {
			if r.SMTPCode == 0 {
				return SignalHostFailure
			}
			return SignalNeutral
		}
	}
	if r.Outcome == OutcomeSuccess {
		return SignalHostSuccess
	}
	return SignalNeutral
}
