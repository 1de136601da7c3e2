package exim

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the corpus")

// TestCorpus parses every line Exim 4.96 wrote in real runs (the e2e's
// scenarios and the failure modes in TestParseLine) and compares what
// became a report with the reviewed golden file.
func TestCorpus(t *testing.T) {
	for _, name := range []string{"exim-4.96-mainlog.txt", "exim-4.96-e2e-a-mainlog.txt", "exim-4.96-e2e-b-mainlog.txt"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got strings.Builder
			kinds := map[Kind]int{}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				a, k := ParseLine(sc.Bytes(), time.UTC)
				kinds[k]++
				if k == Reported {
					fmt.Fprintln(&got, golden(a))
				}
			}
			if kinds[Malformed] != 0 {
				t.Errorf("%d malformed lines in a real Exim log", kinds[Malformed])
			}
			path := "testdata/" + strings.TrimSuffix(name, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("reports differ from %s (go test -run TestCorpus -update, then review the diff)\ngot:\n%s", path, got.String())
			}
			t.Logf("%v", kinds)
		})
	}
}

func golden(a Attempt) string {
	return fmt.Sprintf("%s %s %-7s %-10s %-8s %3d %-6s %s", a.At.Format("15:04:05.000"), a.Event, a.Outcome, a.Stage, a.Address, a.Code, a.Status, a.Domain)
}

func TestParseLine(t *testing.T) {
	at := time.Date(2026, 12, 6, 11, 34, 20, 458_000_000, time.UTC)
	for _, tc := range []struct {
		name, line string
		kind       Kind
		want       Attempt
	}{
		{"refused", "2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:host:defer ip=127.0.0.2 port=2525 host=127.0.0.2 errno=111 domain=split.test data=Connection refused",
			Reported, Attempt{At: at, Event: "msg:host:defer", Address: "127.0.0.2", Host: "127.0.0.2", Domain: "split.test", Outcome: apigen.Failure, Stage: apigen.Connect}},
		{"greeting 421", "2026-12-06 11:34:20.458 1xaAVY-0000s3-2h mxroute-event v=1 ev=msg:host:defer ip=127.0.0.4 port=2525 host=127.0.0.4 errno=0 domain=g421.test data=SMTP error from remote mail server after initial connection: 421 4.3.2 go away",
			Reported, Attempt{At: at, Event: "msg:host:defer", Address: "127.0.0.4", Host: "127.0.0.4", Domain: "g421.test", Outcome: apigen.Failure, Stage: apigen.Greeting, Code: 421, Status: "4.3.2"}},
		{"EHLO 421 then HELO", "2026-12-06 11:34:20.458 1xaAVZ-0000se-1c mxroute-event v=1 ev=msg:host:defer ip=127.0.0.6 port=2525 host=127.0.0.6 errno=-18 domain=e.test data=Remote host closed connection in response to HELO node-a.e2e.invalid (EHLO response was: 421 4.7.0 too busy for EHLO)",
			Reported, Attempt{At: at, Event: "msg:host:defer", Address: "127.0.0.6", Host: "127.0.0.6", Domain: "e.test", Outcome: apigen.Failure, Stage: apigen.Ehlo, Code: 421, Status: "4.7.0"}},
		{"TLS", "2026-12-06 11:34:20.458 1xaAVc-0000ul-0h mxroute-event v=1 ev=msg:host:defer ip=127.0.0.12 port=2525 host=127.0.0.12 errno=-37 domain=tls.test data=TLS session: (gnutls_handshake): An unexpected TLS packet was received.",
			Reported, Attempt{At: at, Event: "msg:host:defer", Address: "127.0.0.12", Host: "127.0.0.12", Domain: "tls.test", Outcome: apigen.Failure, Stage: apigen.Tls}},
		{"timeout at greeting", "2026-12-06 11:34:20.458 1xaAVd-0000vr-0E mxroute-event v=1 ev=msg:host:defer ip=127.0.0.14 port=2525 host=127.0.0.14 errno=110 domain=s.test data=SMTP timeout after initial connection: Connection timed out",
			Reported, Attempt{At: at, Event: "msg:host:defer", Address: "127.0.0.14", Host: "127.0.0.14", Domain: "s.test", Outcome: apigen.Failure, Stage: apigen.Greeting}},
		{"success IPv6 with zone in timestamp", "2026-12-06 12:34:20.458 +0100 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:delivery ip=2001:db8::25 port=25 host=mx.example.net errno=0 domain=example.net data=250 2.0.0 Ok: queued as 4Q2",
			Reported, Attempt{At: at, Event: "msg:delivery", Address: "2001:db8::25", Host: "mx.example.net", Domain: "example.net", Outcome: apigen.Success, Stage: apigen.Data, Code: 250, Status: "2.0.0"}},
		{"RCPT 550 takes $host, not the stale $host_address", "2026-12-06 11:34:20.458 1xaAVa-0000tG-1X mxroute-event v=1 ev=msg:fail:delivery ip=127.0.0.3 port=2525 host=127.0.0.8 errno=0 domain=d.test data=SMTP error from remote mail server after RCPT TO:<rej@d.test>: 550 5.1.1 no such user",
			Reported, Attempt{At: at, Event: "msg:fail:delivery", Address: "127.0.0.8", Host: "127.0.0.8", Domain: "d.test", Outcome: apigen.Failure, Stage: apigen.Rcpt, Code: 550, Status: "5.1.1"}},
		{"fail with a host name: address unknown", "2026-12-06 11:34:20.458 1xaAVa-0000tG-1X mxroute-event v=1 ev=msg:fail:delivery ip=127.0.0.3 port=25 host=mx.d.test errno=0 domain=d.test data=SMTP error from remote mail server after RCPT TO:<rej@d.test>: 550 5.1.1 no such user",
			Skipped, Attempt{}},
		{"retry timeout is no attempt", "2026-12-06 11:34:20.458 1xaAVa-0000tG-1X mxroute-event v=1 ev=msg:fail:delivery ip=127.0.0.3 port=25 host=127.0.0.3 errno=0 domain=d.test data=retry timeout exceeded",
			Skipped, Attempt{}},
		{"DATA 451 at a host: Exim's own line", "2026-12-06 11:34:20.458 1xaAVa-0000tG-1X H=127.0.0.8 [127.0.0.8]:2525: SMTP error from remote mail server after pipelined DATA: 451 4.3.0 not now",
			Reported, Attempt{At: at, Event: "log", Address: "127.0.0.8", Host: "127.0.0.8", Outcome: apigen.Failure, Stage: apigen.Data, Code: 451, Status: "4.3.0"}},
		{"MAIL 421 at a host, no outgoing_port", "2026-12-06 11:34:20.458 1xaAVc-0000vX-2I H=mx.d.test [127.0.0.13]: SMTP error from remote mail server after MAIL FROM:<sender@origin.e2e> SIZE=1234: 421 4.4.2 closing",
			Reported, Attempt{At: at, Event: "log", Address: "127.0.0.13", Host: "mx.d.test", Outcome: apigen.Failure, Stage: apigen.Mail, Code: 421, Status: "4.4.2"}},
		{"lost after the dot", "2026-12-06 11:34:20.458 1xaAVb-0000uT-2Q H=127.0.0.11 [127.0.0.11]:2525: Remote host closed connection in response to end of data",
			Reported, Attempt{At: at, Event: "log", Address: "127.0.0.11", Host: "127.0.0.11", Outcome: apigen.Failure, Stage: apigen.Data}},
		{"host-level H= line: the event reports it", "2026-12-06 11:34:20.458 1xaAVY-0000s3-2h H=127.0.0.4 [127.0.0.4]:2525: SMTP error from remote mail server after initial connection: 421 4.3.2 go away",
			Skipped, Attempt{}},
		{"message-level event: the H= line reports it", "2026-12-06 11:34:20.458 1xaAVY-0000s3-2h mxroute-event v=1 ev=msg:host:defer ip=127.0.0.4 port=2525 host=127.0.0.4 errno=-45 domain=g.test data=SMTP error from remote mail server after MAIL FROM:<a@b>: 452 4.3.1 full",
			Skipped, Attempt{}},
		{"a reply code outside 200..599 is read as none", "2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:delivery ip=2001:db8::25 port=25 host=mx.example.net errno=0 domain=example.net data=999 2.0.0 odd",
			Reported, Attempt{At: at, Event: "msg:delivery", Address: "2001:db8::25", Host: "mx.example.net", Domain: "example.net", Outcome: apigen.Success, Stage: apigen.Data}},
		{"refused H= line", "2026-12-06 11:34:20.458 1xaAVY-0000rq-1I H=127.0.0.2 [127.0.0.2]:2525 Connection refused", Other, Attempt{}},
		{"delivery line", `2026-12-06 11:34:20.572 1xaAVY-0000rq-1I => user@split.test R=mxroute T=mxroute_smtp H=127.0.0.3 [127.0.0.3]:2525 C="250 2.0.0 queued as Xok"`, Other, Attempt{}},
		{"other event", "2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:defer ip=127.0.0.2 port=2525 host=127.0.0.2 errno=111 domain=split.test data=Connection refused", Skipped, Attempt{}},
		{"unknown version", "2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=2 ev=msg:delivery", Malformed, Attempt{}},
		{"bad errno", "2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:delivery ip=1.2.3.4 errno=x data=250", Malformed, Attempt{}},
		{"garbage", "mxroute-event v=1 ev=msg:delivery", Other, Attempt{}},
		{"empty", "", Other, Attempt{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, kind := ParseLine([]byte(tc.line), time.UTC)
			if kind != tc.kind || got != tc.want {
				t.Errorf("got %v %+v, want %v %+v", kind, got, tc.kind, tc.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte("2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:host:defer ip=127.0.0.2 port=2525 host=127.0.0.2 errno=111 domain=split.test data=Connection refused"))
	f.Add([]byte("2026-12-06 11:34:20.458 1xaAVa-0000tG-1X H=127.0.0.8 [127.0.0.8]:2525: SMTP error from remote mail server after pipelined DATA: 451 4.3.0 not now"))
	f.Fuzz(func(t *testing.T, line []byte) {
		a, kind := ParseLine(line, time.UTC)
		if kind == Reported && (a.Address == "" || !a.Outcome.Valid() || !a.Stage.Valid() || (a.Code != 0 && (a.Code < 200 || a.Code > 599))) {
			t.Fatalf("reported an invalid attempt %+v from %q", a, line)
		}
	})
}

func TestFeedCounts(t *testing.T) {
	f := NewFeed(nil, time.UTC)
	for _, l := range []string{
		"2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=1 ev=msg:host:defer ip=127.0.0.2 port=2525 host=127.0.0.2 errno=111 domain=split.test data=Connection refused",
		"2026-12-06 11:34:20.458 1xaAVY-0000s3-2h H=127.0.0.4 [127.0.0.4]:2525: SMTP error from remote mail server after initial connection: 421 4.3.2 go away",
		"2026-12-06 11:34:20.458 1xaAVY-0000rq-1I mxroute-event v=2 ev=msg:delivery",
		"2026-12-06 11:34:20.458 1xaAVY-0000rq-1I Completed",
	} {
		f.Line([]byte(l))
	}
	if st := f.Stats(); st != (FeedStats{Reported: 1, Skipped: 1, Malformed: 1}) {
		t.Errorf("stats %+v", st)
	}
}
