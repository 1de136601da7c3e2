//go:build postfix_e2e

package postfixe2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

type fixture struct {
	mx     *mxroute
	nodes  []*node
	a, b   *node
	s2, s3 *sink
	tls    *tlsWorld
}

func setup(t *testing.T) *fixture {
	requireNamespace(t)
	root := env(t, "E2E_POSTFIX_ROOT")
	bin := env(t, "E2E_BIN")
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/postfix")); err != nil {
		t.Fatalf("postfix is not unpacked in %s: %v", root, err)
	}
	base, err := os.MkdirTemp("", "postfix-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0o755) // Postfix's unprivileged daemons must reach their directories
	t.Cleanup(func() {
		if out := os.Getenv("E2E_CORPUS_OUT"); out != "" {
			writeCorpus(t, out, base)
		}
		os.RemoveAll(base)
	})
	startDNS(t, zone, "tempfail.test.")
	f := &fixture{
		s2:  newSink(t, fmt.Sprintf("127.0.0.2:%d", sinkPort)),
		s3:  newSink(t, fmt.Sprintf("127.0.0.3:%d", sinkPort)),
		tls: startTLSWorld(t, base),
	}
	f.mx = &mxroute{t: t, bin: filepath.Join(bin, "mxroute"), port: freePort(t), redis: redistest.StartServer(t),
		env: f.tls.mxrouteEnv()}
	f.mx.start()
	for i, name := range []string{"pf-a", "pf-b"} {
		n := &node{t: t, name: name, root: root, dir: filepath.Join(base, name), smtpdPort: freePort(t), queuePort: freePort(t),
			agentPort: freePort(t), agentBin: filepath.Join(bin, "mxroute-agent"), mx: f.mx, caFile: f.tls.caFile,
			failOpen: i == 0} // pf-a fails open, pf-b fails closed
		n.setup()
		n.startAgent()
		n.startPostfix()
		f.nodes = append(f.nodes, n)
	}
	f.a, f.b = f.nodes[0], f.nodes[1]
	return f
}

// writeCorpus keeps the smtp(8) lines of this run for the parser's tests.
func writeCorpus(t *testing.T, out, base string) {
	var lines []string
	for _, name := range []string{"pf-a", "pf-b"} {
		for _, f := range []string{"maillog.1", "maillog.0", "maillog"} {
			b, err := os.ReadFile(filepath.Join(base, name, f))
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "/smtp[") || strings.Contains(l, "/error[") || strings.Contains(l, "/qmgr[") {
					lines = append(lines, l)
				}
			}
		}
	}
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Error(err)
	}
}

// delivered waits until every token arrived, then checks each arrived
// exactly once in total across both sinks.
func (f *fixture) delivered(t *testing.T, tokens []string) {
	t.Helper()
	waitFor(t, 90*time.Second, fmt.Sprintf("%d messages delivered", len(tokens)), func() bool {
		for _, tok := range tokens {
			if f.s2.count(tok)+f.s3.count(tok) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond)
	for _, tok := range tokens {
		if n := f.s2.count(tok) + f.s3.count(tok); n != 1 {
			t.Errorf("%s delivered %d times, want once", tok, n)
		}
	}
}

func (f *fixture) sendBoth(t *testing.T, scenario string, perNode int, domain string) []string {
	var tokens []string
	for i := range perNode {
		for _, n := range f.nodes {
			tok := fmt.Sprintf("%s-%s-%d", scenario, n.name, i)
			n.send(fmt.Sprintf("u%d@%s", i, domain), tok)
			tokens = append(tokens, tok)
		}
	}
	return tokens
}

func (f *fixture) waitDemoted(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h := f.mx.host(addr); h.State != "demoted"; h = f.mx.host(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not demoted: %+v; greeting refusals per node: pf-a %d, pf-b %d", addr, h,
				countLines([]*node{f.a}, "refused to talk to me"), countLines([]*node{f.b}, "refused to talk to me"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// successes is mxroute's count of host successes for the two sinks.
func (f *fixture) successes() (int, int) {
	return f.mx.host("127.0.0.2").RecentSuccesses, f.mx.host("127.0.0.3").RecentSuccesses
}

// reset starts a scenario from clean health state, once the agents have
// posted what the previous scenario left (they post every 200 ms).
func (f *fixture) reset(t *testing.T) {
	time.Sleep(1500 * time.Millisecond)
	f.mx.reset()
	f.s2.setMode(accept)
	f.s3.setMode(accept)
	f.s2.reset()
	f.s3.reset()
	for _, s := range f.tls.sinks() {
		s.setMode(accept)
		s.reset()
	}
}

func TestPostfix(t *testing.T) {
	f := setup(t)
	t.Run("a_both_accept", f.bothAccept)
	t.Run("b_refused_host_demoted", f.refusedHost)
	t.Run("c_421_greeting", f.greeting421)
	t.Run("d_null_mx_and_tempfail", f.nullMX)
	t.Run("e_mxroute_down", f.mxrouteDown)
	t.Run("f_restart_and_rotation", f.restartAndRotation)
	t.Run("g_session_failures", f.sessionFailures)
	t.Run("h_mta_sts_enforce", f.mtaSTSEnforce)
	t.Run("i_mta_sts_bad_certificate", f.mtaSTSBadCertificate)
	t.Run("j_dane", f.dane)
}

// (a) Both sinks accept: every message is delivered once, split across
// both hosts, and mxroute counts one success per delivery.
func (f *fixture) bothAccept(t *testing.T) {
	f.reset(t)
	tokens := f.sendBoth(t, "a", 20, "e2e.test")
	f.delivered(t, tokens)
	d2, _ := f.s2.totals()
	d3, _ := f.s3.totals()
	if d2 == 0 || d3 == 0 {
		t.Errorf("deliveries 127.0.0.2=%d 127.0.0.3=%d: mail not split across both hosts", d2, d3)
	}
	waitFor(t, 15*time.Second, "success reports", func() bool {
		s2, s3 := f.successes()
		return s2+s3 >= len(tokens)
	})
	time.Sleep(time.Second)
	if s2, s3 := f.successes(); s2 != d2 || s3 != d3 {
		t.Errorf("mxroute successes 127.0.0.2=%d 127.0.0.3=%d, sinks delivered %d and %d", s2, s3, d2, d3)
	}
}

// (b) 127.0.0.2 refuses connections: everything goes through 127.0.0.3;
// once both instances have reported, 127.0.0.2 is demoted and plans lead
// with 127.0.0.3, in mxroute and in the agents' socketmap answers.
func (f *fixture) refusedHost(t *testing.T) {
	f.reset(t)
	f.s2.setMode(refuse)
	tokens := f.sendBoth(t, "b", 16, "e2e.test")
	f.delivered(t, tokens)
	if d2, _ := f.s2.totals(); d2 != 0 {
		t.Errorf("refusing host received %d", d2)
	}
	f.waitDemoted(t, "127.0.0.2")
	h := f.mx.host("127.0.0.2")
	refused := countLines(f.nodes, "/smtp[", "connect to ", "[127.0.0.2]:2525: Connection refused")
	waitFor(t, 10*time.Second, "all refusals reported", func() bool { return f.mx.host("127.0.0.2").RecentFailures >= refused })
	time.Sleep(time.Second)
	if h = f.mx.host("127.0.0.2"); h.RecentFailures != refused || h.Reporters != 2 {
		t.Errorf("127.0.0.2: %d failures from %d reporters; the logs have %d refusals from 2 instances", h.RecentFailures, h.Reporters, refused)
	}
	for i := range 10 {
		if p := f.mx.route("e2e.test"); len(p.Attempts) == 0 || p.Attempts[0].Address != "127.0.0.3" {
			t.Fatalf("plan %d leads with %+v, want 127.0.0.3", i, p.Attempts)
		}
		if got := socketmap(t, f.a.agentPort, fmt.Sprintf("x%d@e2e.test", i)); !strings.HasPrefix(got, "OK smtp:[127.0.0.3]:2525, [127.0.0.2]:2525") {
			t.Fatalf("socketmap answer %q, want the healthy host first", got)
		}
	}
}

// (c) 127.0.0.2 answers 421 at the greeting: Postfix moves on to
// 127.0.0.3 in the same attempt, nothing is lost, and 127.0.0.2 is
// demoted with one failure reported per 421 the sink gave.
func (f *fixture) greeting421(t *testing.T) {
	f.reset(t)
	f.s2.setMode(greet421)
	tokens := f.sendBoth(t, "c", 16, "e2e.test")
	f.delivered(t, tokens)
	f.waitDemoted(t, "127.0.0.2")
	_, greetings := f.s2.totals()
	waitFor(t, 10*time.Second, "all 421s reported", func() bool { return f.mx.host("127.0.0.2").RecentFailures >= greetings })
	time.Sleep(time.Second)
	h := f.mx.host("127.0.0.2")
	if h.RecentFailures != greetings {
		t.Errorf("127.0.0.2: %d failures reported, the sink answered %d greetings with 421", h.RecentFailures, greetings)
	}
	if h.LastFailure == nil || h.LastFailure.Stage != "greeting" || h.LastFailure.SmtpCode == nil || *h.LastFailure.SmtpCode != 421 {
		t.Errorf("last failure %+v, want a 421 at the greeting", h.LastFailure)
	}
	if n := countLines(f.nodes, "refused to talk to me: 421"); n != greetings {
		t.Errorf("logs show %d greeting refusals, sink gave %d", n, greetings)
	}
}

// (d) Null MX: smtpd rejects the recipient at RCPT with the plan's text
// (smtpd maps 5.1.10 to its recipient class, 5.1.0); mail already queued
// bounces with 5.1.10. A domain whose DNS fails is deferred with 4.4.3
// through the retry: answer.
func (f *fixture) nullMX(t *testing.T) {
	f.reset(t)
	err := f.a.submitError("u@null.test")
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "null mx") {
		t.Errorf("submitting to a null MX domain: %v, want a 550 naming the null MX", err)
	}
	f.a.queue("u@null.test", "d-null")
	f.a.queue("u@tempfail.test", "d-temp")
	waitFor(t, 30*time.Second, "null MX bounce", func() bool {
		return countLines([]*node{f.a}, "to=<u@null.test>", "dsn=5.1.10", "status=bounced") == 1
	})
	waitFor(t, 30*time.Second, "tempfail deferral", func() bool {
		return countLines([]*node{f.a}, "to=<u@tempfail.test>", "dsn=4.4.3", "status=deferred") >= 1
	})
	// The bounce goes back to the sender, through mxroute's plan for sender.test.
	waitFor(t, 30*time.Second, "the DSN at the sender's sink", func() bool { return f.s3.bodyContaining("5.1.10") })
	if out, err := f.a.command("postsuper", "-d", "ALL"); err != nil {
		t.Fatalf("postsuper: %v %s", err, out)
	}
}

// (e) mxroute stopped: pf-a (fail open) delivers through Postfix's own
// MX lookups; pf-b (fail closed) defers, and delivers after mxroute is
// back. Nothing bounces and nothing is delivered twice.
func (f *fixture) mxrouteDown(t *testing.T) {
	f.reset(t)
	f.mx.stop()
	var open, closed []string
	for i := range 5 {
		open = append(open, fmt.Sprintf("e-open-%d", i))
		f.a.send(fmt.Sprintf("e%d@e2e.test", i), open[i])
		closed = append(closed, fmt.Sprintf("e-closed-%d", i))
		f.b.queue(fmt.Sprintf("e%d@e2e.test", i), closed[i])
	}
	f.delivered(t, open)
	waitFor(t, 30*time.Second, "pf-b deferring", func() bool {
		return countLines([]*node{f.b}, "e2e.test>", "status=deferred") > 0 || strings.Contains(strings.Join(f.b.logLines(), "\n"), "transport_maps")
	})
	for _, tok := range closed {
		if f.s2.count(tok)+f.s3.count(tok) != 0 {
			t.Fatalf("%s delivered by the fail-closed instance while mxroute was down", tok)
		}
	}
	f.mx.start()
	if out, err := f.b.command("postqueue", "-f"); err != nil {
		t.Logf("postqueue -f: %v %s", err, out)
	}
	f.delivered(t, closed)
	if n := countLines(f.nodes, "e2e.test>", "status=bounced"); n != 0 {
		t.Errorf("%d bounces while mxroute was down", n)
	}
	// The reports queued while mxroute was down arrive after it is back
	// (after the agents' backoff), each once.
	d2, _ := f.s2.totals()
	d3, _ := f.s3.totals()
	waitFor(t, 45*time.Second, "reports queued during the outage", func() bool {
		s2, s3 := f.successes()
		return s2+s3 >= d2+d3
	})
	time.Sleep(time.Second)
	if s2, s3 := f.successes(); s2 != d2 || s3 != d3 {
		t.Errorf("mxroute successes 127.0.0.2=%d 127.0.0.3=%d, sinks delivered %d and %d", s2, s3, d2, d3)
	}
}

// (f) The agent is restarted and the log rotated (rename-and-create while
// it is down, copytruncate while it runs) in the middle of a run: mxroute
// counts exactly one success per delivery. While the agent is down its
// socketmap is too, so Postfix defers new mail ("address resolver
// failure"; smtpd answers 451 at RCPT where it resolves recipients) and
// delivers it once the agent is back.
func (f *fixture) restartAndRotation(t *testing.T) {
	f.reset(t)
	a := f.a
	var all []string
	submit := func(k int) []string {
		var toks []string
		for i := range 10 {
			tok := fmt.Sprintf("f-%d-%d", k, i)
			// The queueing smtpd: the other resolves recipients at RCPT
			// and answers 451 while the socketmap is down.
			a.queue(fmt.Sprintf("f%d@e2e.test", i), tok)
			toks = append(toks, tok)
		}
		all = append(all, toks...)
		return toks
	}
	restartAgent := func() {
		a.startAgent()
		if out, err := a.command("postqueue", "-f"); err != nil {
			t.Fatalf("postqueue -f: %v %s", err, out)
		}
	}
	f.delivered(t, submit(1))
	a.agent.stop(t)
	submit(2) // queued and deferred while the agent is down
	if err := os.Rename(a.maillog(), a.maillog()+".1"); err != nil {
		t.Fatal(err)
	}
	if out, err := a.postfix("reload"); err != nil { // postlogd reopens: a new maillog
		t.Fatalf("postfix reload: %v %s", err, out)
	}
	submit(3)
	restartAgent()
	f.delivered(t, all)
	// copytruncate, as logrotate does it, while the agent runs and no
	// mail flows (lines written between the copy and the truncation are
	// lost by design of copytruncate).
	time.Sleep(time.Second)
	b, err := os.ReadFile(a.maillog())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.maillog()+".0", b, 0o644)
	if err := os.Truncate(a.maillog(), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	f.delivered(t, submit(4))
	a.agent.stop(t)
	restartAgent()
	f.delivered(t, submit(5))
	d2, _ := f.s2.totals()
	d3, _ := f.s3.totals()
	if d2+d3 != len(all) {
		t.Fatalf("sinks got %d+%d, sent %d", d2, d3, len(all))
	}
	waitFor(t, 20*time.Second, "success reports", func() bool {
		s2, s3 := f.successes()
		return s2+s3 >= len(all)
	})
	time.Sleep(2 * time.Second)
	if s2, s3 := f.successes(); s2 != d2 || s3 != d3 {
		t.Errorf("mxroute successes 127.0.0.2=%d 127.0.0.3=%d, sinks delivered %d and %d", s2, s3, d2, d3)
	}
}

// (g) Failures inside the session: a 421 to RCPT TO and a connection
// dropped at MAIL FROM are host failures Postfix moves on from, reported
// once each with their stage; a 450 to RCPT TO is a mailbox problem that
// mxroute counts as neutral, never as a host failure.
func (f *fixture) sessionFailures(t *testing.T) {
	for _, tc := range []struct {
		mode, logText string
		stage         string
		code          int
		hostFailure   bool
	}{
		{rcpt421, "said: 421 4.7.0 try later (in reply to RCPT TO command)", "rcpt", 421, true},
		{dropMail, "while sending MAIL FROM", "mail", 0, true},
		{rcpt450, "said: 450 4.2.0 mailbox busy (in reply to RCPT TO command)", "", 0, false},
	} {
		f.reset(t)
		f.s2.setMode(tc.mode)
		tokens := f.sendBoth(t, "g-"+tc.mode, 6, "e2e.test")
		f.delivered(t, tokens)
		if d2, _ := f.s2.totals(); d2 != 0 {
			t.Errorf("%s: %d delivered to the failing host", tc.mode, d2)
		}
		want := countLines(f.nodes, "/smtp[", "[127.0.0.2]", tc.logText)
		if want == 0 {
			t.Fatalf("%s: no %q line in the logs", tc.mode, tc.logText)
		}
		if !tc.hostFailure {
			time.Sleep(2 * time.Second)
			if h := f.mx.host("127.0.0.2"); h.RecentFailures != 0 || h.State != "healthy" {
				t.Errorf("%s: a neutral reply counted against the host: %+v", tc.mode, h)
			}
			continue
		}
		waitFor(t, 15*time.Second, tc.mode+" failures reported", func() bool { return f.mx.host("127.0.0.2").RecentFailures >= want })
		time.Sleep(time.Second)
		h := f.mx.host("127.0.0.2")
		if h.RecentFailures != want {
			t.Errorf("%s: %d failures reported, the logs have %d", tc.mode, h.RecentFailures, want)
		}
		if lf := h.LastFailure; lf == nil || lf.Stage != tc.stage || (tc.code != 0 && (lf.SmtpCode == nil || *lf.SmtpCode != tc.code)) {
			t.Errorf("%s: last failure %+v, want stage %s code %d", tc.mode, lf, tc.stage, tc.code)
		}
	}
}
