package postfix

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCorpus parses the log lines captured from real Postfix 3.7.11 runs of
// the e2e (make postfix-e2e with E2E_CORPUS_OUT): every smtp(8) line is
// understood, and each attempt line yields the report its text implies.
func TestCorpus(t *testing.T) {
	f, err := os.Open("testdata/postfix-3.7.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := NewParser(time.UTC, func() time.Time { return time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC) }, nil)
	kinds := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		got := p.Parse([]byte(line))
		var want string
		switch {
		case strings.Contains(line, "/smtp[") && strings.Contains(line, "status=sent"):
			want = "success/data"
		case strings.Contains(line, "/smtp[") && strings.Contains(line, "refused to talk to me: 421"):
			want = "failure/greeting"
		case strings.Contains(line, "/smtp[") && strings.Contains(line, ": Connection refused"):
			want = "failure/connect"
		case strings.Contains(line, "/smtp[") && strings.Contains(line, "(in reply to RCPT TO command)"):
			want = "failure/rcpt"
		case strings.Contains(line, "/smtp[") && strings.Contains(line, "lost connection with") && strings.Contains(line, "while sending MAIL FROM"):
			want = "failure/mail"
		}
		if want == "" {
			if len(got) != 0 {
				t.Errorf("%s\n gave %+v, want no report", line, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s\n gave %d reports, want one %s", line, len(got), want)
			continue
		}
		r := got[0]
		if k := string(r.Outcome) + "/" + string(r.Stage); k != want {
			t.Errorf("%s\n gave %s, want %s", line, k, want)
		}
		if !strings.Contains(line, "["+r.Address+"]") || r.ObservedAt == nil || r.ObservedAt.Year() != 2026 {
			t.Errorf("%s\n address %q observed_at %v", line, r.Address, r.ObservedAt)
		}
		if want == "failure/greeting" && (r.SmtpCode == nil || *r.SmtpCode != 421 || r.EnhancedCode == nil || *r.EnhancedCode != "4.3.2") {
			t.Errorf("%s\n codes %v %v", line, r.SmtpCode, r.EnhancedCode)
		}
		if want == "failure/rcpt" && (r.SmtpCode == nil || r.EnhancedCode == nil || !strings.Contains(line, "said: "+strconv.Itoa(*r.SmtpCode)+" "+*r.EnhancedCode+" ")) {
			t.Errorf("%s\n codes %v %v", line, r.SmtpCode, r.EnhancedCode)
		}
		if want == "failure/mail" && r.SmtpCode != nil {
			t.Errorf("%s\n code %v for a dropped connection", line, *r.SmtpCode)
		}
		if want == "success/data" && (r.Domain == nil || !strings.Contains(line, "@"+*r.Domain+">")) {
			t.Errorf("%s\n domain %v", line, r.Domain)
		}
		kinds[want]++
	}
	c := p.Counts()
	if c.Unknown != 0 {
		t.Errorf("%d lines not understood", c.Unknown)
	}
	for _, k := range []string{"success/data", "failure/greeting", "failure/connect", "failure/rcpt", "failure/mail"} {
		if kinds[k] == 0 {
			t.Errorf("corpus has no %s line", k)
		}
	}
	t.Logf("counts %+v, kinds %v", c, kinds)
}
