package feedback

import (
	"net/netip"
	"testing"
)

// TestClassify is the classification table of issue 3, as resolved in the
// package: successes show a serving host, failures before MAIL (or with no
// reply at all) blame the host, replies to MAIL/RCPT/DATA other than 421
// blame the message or recipient.
func TestClassify(t *testing.T) {
	f, s := OutcomeFailure, OutcomeSuccess
	tests := []struct {
		stage   Stage
		outcome Outcome
		code    int
		want    Signal
	}{
		{StageConnect, f, 0, SignalHostFailure},    // refused or timed out
		{StageConnect, s, 0, SignalHostSuccess},    // TCP up
		{StageTLS, f, 0, SignalHostFailure},        // handshake failed
		{StageTLS, s, 0, SignalHostSuccess},        //
		{StageGreeting, f, 554, SignalHostFailure}, // 554 no service
		{StageGreeting, f, 450, SignalHostFailure}, //
		{StageGreeting, f, 0, SignalHostFailure},   // greeting timeout
		{StageGreeting, s, 220, SignalHostSuccess}, //
		{StageGreeting, s, 554, SignalHostFailure}, // the code wins over the outcome
		{StageEHLO, f, 500, SignalHostFailure},     //
		{StageEHLO, f, 0, SignalHostFailure},       //
		{StageEHLO, s, 250, SignalHostSuccess},     //
		{StageMail, s, 250, SignalHostSuccess},     // any later reply shows it serves
		{StageMail, f, 553, SignalNeutral},         // sender rejected
		{StageMail, f, 0, SignalHostFailure},       // dropped mid-transaction
		{StageRcpt, f, 550, SignalNeutral},         // user unknown
		{StageRcpt, f, 451, SignalNeutral},         // greylisting 451 4.7.1
		{StageRcpt, s, 250, SignalHostSuccess},     //
		{StageData, f, 552, SignalNeutral},         // message too big
		{StageData, f, 0, SignalHostFailure},       // timeout after DATA
		{StageData, s, 250, SignalHostSuccess},     //
		{StageConnect, f, 421, SignalHostFailure},  // 421 anywhere
		{StageGreeting, f, 421, SignalHostFailure}, //
		{StageEHLO, s, 421, SignalHostFailure},     //
		{StageMail, f, 421, SignalHostFailure},     //
		{StageRcpt, f, 421, SignalHostFailure},     //
		{StageData, f, 421, SignalHostFailure},     //
	}
	for _, tt := range tests {
		r := Report{Address: netip.MustParseAddr("192.0.2.1"), Stage: tt.stage, Outcome: tt.outcome, SMTPCode: tt.code}
		if got := Classify(r); got != tt.want {
			t.Errorf("Classify(%s %s %d) = %s, want %s", tt.stage, tt.outcome, tt.code, got, tt.want)
		}
	}
}
