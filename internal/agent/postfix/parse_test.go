package postfix

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

var testNow = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func parser() *Parser { return NewParser(time.UTC, func() time.Time { return testNow }, nil) }

// want is a report in short form.
type want struct {
	addr, host, domain, outcome, stage, ecode string
	code                                      int
}

func short(r apigen.Report) want {
	w := want{addr: r.Address, outcome: string(r.Outcome), stage: string(r.Stage)}
	if r.Host != nil {
		w.host = *r.Host
	}
	if r.Domain != nil {
		w.domain = *r.Domain
	}
	if r.SmtpCode != nil {
		w.code = *r.SmtpCode
	}
	if r.EnhancedCode != nil {
		w.ecode = *r.EnhancedCode
	}
	return w
}

const pre = "Dec  6 11:23:46 node-a postfix/smtp[4711]: "

func TestParseLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want *want
	}{
		{pre + "connect to mx1.example.com[127.0.0.2]:2525: Connection refused",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "connect"}},
		{pre + "connect to mx1.example.com[2001:db8::1]:25: Connection timed out",
			&want{addr: "2001:db8::1", host: "mx1.example.com", outcome: "failure", stage: "connect"}},
		{pre + "3F2A1C0D2E: host mx1.example.com[127.0.0.2] refused to talk to me: 421 4.3.2 Service shutting down",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "greeting", code: 421, ecode: "4.3.2"}},
		{pre + "3F2A1C0D2E: host mx1.example.com[127.0.0.2] said: 421 too busy (in reply to RCPT TO command)",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "rcpt", code: 421}},
		{pre + "3F2A1C0D2E: host mx1.example.com[127.0.0.2] said: 451 4.7.1 greylisted (in reply to end of DATA command)",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "data", code: 451, ecode: "4.7.1"}},
		{pre + "3F2A1C0D2E: host mx1.example.com[127.0.0.2] said: 452 4.3.1 full (in reply to MAIL FROM command)",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "mail", code: 452, ecode: "4.3.1"}},
		{pre + "3F2A1C0D2E: lost connection with mx1.example.com[127.0.0.2] while receiving the initial server greeting",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "greeting"}},
		{pre + "3F2A1C0D2E: conversation with mx1.example.com[127.0.0.2] timed out while sending RCPT TO",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "rcpt"}},
		{pre + "3F2A1C0D2E: lost connection with mx1.example.com[127.0.0.2] while performing the EHLO handshake",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "ehlo"}},
		{pre + "3F2A1C0D2E: lost connection with mx1.example.com[127.0.0.2] while sending end of data -- message may be sent more than once",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "data"}},
		{pre + "3F2A1C0D2E: to=<u@example.com>, relay=127.0.0.3[127.0.0.3]:2525, delay=0.05, delays=0.01/0.01/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 42)",
			&want{addr: "127.0.0.3", domain: "example.com", outcome: "success", stage: "data", code: 250, ecode: "2.0.0"}},
		{pre + "3F2A1C0D2E: to=<u@Example.com>, orig_to=<v@example.com>, relay=mx2.example.com[127.0.0.3]:2525, conn_use=2, delay=0.05, delays=0/0/0/0, dsn=2.0.0, status=sent (250 Ok)",
			&want{addr: "127.0.0.3", host: "mx2.example.com", domain: "example.com", outcome: "success", stage: "data", code: 250}},
		{pre + "3F2A1C0D2E: to=<u@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=1, delays=0/0/1/0, dsn=4.0.0, status=deferred (host mx2.example.com[127.0.0.3] said: 421 4.4.2 bye (in reply to RCPT TO command))",
			&want{addr: "127.0.0.3", host: "mx2.example.com", domain: "example.com", outcome: "failure", stage: "rcpt", code: 421, ecode: "4.4.2"}},
		{pre + "3F2A1C0D2E: to=<u@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=1, delays=0/0/1/0, dsn=5.1.1, status=bounced (host mx2.example.com[127.0.0.3] said: 550 5.1.1 <u@example.com>: unknown (in reply to RCPT TO command))",
			&want{addr: "127.0.0.3", host: "mx2.example.com", domain: "example.com", outcome: "failure", stage: "rcpt", code: 550, ecode: "5.1.1"}},
		{pre + "3F2A1C0D2E: to=<u@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=1, delays=0/0/1/0, dsn=4.4.2, status=deferred (lost connection with mx2.example.com[127.0.0.3] while receiving the initial server greeting)",
			&want{addr: "127.0.0.3", host: "mx2.example.com", domain: "example.com", outcome: "failure", stage: "greeting"}},
		{pre + "3F2A1C0D2E: to=<u@example.com>, relay=mx2.example.com[127.0.0.3]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)",
			&want{addr: "127.0.0.3", host: "mx2.example.com", domain: "example.com", outcome: "failure", stage: "tls"}},
		{pre + "SSL_connect error to mx2.example.com[127.0.0.3]:25: lost connection",
			&want{addr: "127.0.0.3", host: "mx2.example.com", outcome: "failure", stage: "tls"}},
		{pre + "3F2A1C0D2E: TLS is required, but was not offered by host mx2.example.com[127.0.0.3]",
			&want{addr: "127.0.0.3", host: "mx2.example.com", outcome: "failure", stage: "tls"}},
		{pre + "3F2A1C0D2E: TLS is required, but host mx2.example.com[127.0.0.3] refused to start TLS: 454 4.7.0 no",
			&want{addr: "127.0.0.3", host: "mx2.example.com", outcome: "failure", stage: "tls", code: 454, ecode: "4.7.0"}},
		{"2026-12-06T11:23:46.123456+00:00 node-a postfix-out/smtp[4711]: connect to mx1.example.com[127.0.0.2]:2525: Connection refused",
			&want{addr: "127.0.0.2", host: "mx1.example.com", outcome: "failure", stage: "connect"}},
		// Not attempts.
		{pre + "3F2A1C0D2E: to=<u@example.com>, relay=none, delay=0.1, delays=0/0/0.1/0, dsn=4.4.1, status=deferred (connect to mx1.example.com[127.0.0.2]:2525: Connection refused)", nil},
		{pre + "3F2A1C0D2E: to=<u@null.example>, relay=none, delay=0.1, delays=0/0/0/0, dsn=5.1.10, status=bounced (mxroute: null.example: null mx)", nil},
		{pre + "3F2A1C0D2E: Cannot start TLS: handshake failure", nil},
		{pre + "warning: host mx1.example.com[127.0.0.2] said: 250 ok (in reply to QUIT command)", nil},
		{pre + "3F2A1C0D2E: lost connection with mx1.example.com[127.0.0.2] while sending RSET probe", nil},
		{"Dec  6 11:23:46 node-a postfix/qmgr[99]: 3F2A1C0D2E: removed", nil},
		{"garbage", nil},
		{pre + "something new in Postfix 3.12", nil},
	} {
		got := parser().Parse([]byte(tc.line))
		switch {
		case tc.want == nil && len(got) != 0:
			t.Errorf("%s\n got %+v, want nothing", tc.line, short(got[0]))
		case tc.want != nil && len(got) != 1:
			t.Errorf("%s\n got %d reports, want %+v", tc.line, len(got), *tc.want)
		case tc.want != nil && short(got[0]) != *tc.want:
			t.Errorf("%s\n got  %+v\n want %+v", tc.line, short(got[0]), *tc.want)
		}
		if tc.want != nil && len(got) == 1 {
			if at := got[0].ObservedAt; at == nil || !at.Equal(time.Date(2026, 12, 6, 11, 23, 46, at.Nanosecond(), time.UTC)) {
				t.Errorf("%s\n observed_at %v", tc.line, at)
			}
			if _, err := json.Marshal(got[0]); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestParseCountsAndRepeats(t *testing.T) {
	p := parser()
	status := pre + "3F2A1C0D2E: to=<%s@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 Ok)"
	n := 0
	for _, l := range []string{
		// One transaction, two recipients: one attempt.
		"Dec  6 11:23:46 node-a postfix/smtp[4711]: 3F2A1C0D2E: to=<a@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 Ok)",
		"Dec  6 11:23:46 node-a postfix/smtp[4711]: 3F2A1C0D2E: to=<b@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 Ok)",
		"Dec  6 11:23:46 node-a postfix/qmgr[99]: 3F2A1C0D2E: removed",
		"not a log line",
		pre + "brand new text",
	} {
		n += len(p.Parse([]byte(l)))
	}
	_ = status
	c := p.Counts()
	if n != 1 || c.Lines != 5 || c.Reports != 1 || c.Skipped != 1 || c.Other != 1 || c.Unknown != 2 {
		t.Errorf("reports %d, counts %+v", n, c)
	}
}

func TestTraditionalStampYear(t *testing.T) {
	jan := time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)
	p := NewParser(time.UTC, func() time.Time { return jan }, nil)
	r := p.Parse([]byte("Dec 31 23:59:59 node-a postfix/smtp[1]: connect to a[127.0.0.2]:25: Connection refused"))
	if len(r) != 1 || r[0].ObservedAt.Year() != 2026 {
		t.Fatalf("got %+v", r)
	}
}

func BenchmarkParse(b *testing.B) {
	lines := [][]byte{
		[]byte(pre + "3F2A1C0D2E: to=<u@example.com>, relay=mx2.example.com[127.0.0.3]:2525, delay=0.05, delays=0.01/0.01/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 42)"),
		[]byte(pre + "connect to mx1.example.com[127.0.0.2]:2525: Connection refused"),
		[]byte("Dec  6 11:23:46 node-a postfix/qmgr[99]: 3F2A1C0D2E: from=<s@example.org>, size=312, nrcpt=1 (queue active)"),
		[]byte("Dec  6 11:23:46 node-a postfix/cleanup[98]: 3F2A1C0D2E: message-id=<x@example.org>"),
	}
	p := parser()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Parse(lines[i%len(lines)])
	}
}
