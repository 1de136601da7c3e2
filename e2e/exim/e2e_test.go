//go:build exim_e2e

package exime2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// The zone every part of the test resolves: mxroute asks it directly, and
// Exim's own dnslookup router (the fail-open path) through 127.0.0.1:53.
// Each scenario has its own addresses so that one's health state stays out
// of another's.
const zone = `$TTL 60
$ORIGIN split.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
@    IN MX 10 mx2
mx1  IN A 127.0.0.2
mx2  IN A 127.0.0.3
$ORIGIN refuse.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
@    IN MX 20 mx2
mx1  IN A 127.0.0.4
mx2  IN A 127.0.0.5
$ORIGIN greet.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
@    IN MX 20 mx2
mx1  IN A 127.0.0.6
mx2  IN A 127.0.0.7
$ORIGIN dot.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
@    IN MX 20 mx2
mx1  IN A 127.0.0.10
mx2  IN A 127.0.0.11
$ORIGIN tls.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
mx1  IN A 127.0.0.12
$ORIGIN null.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 0 .
$ORIGIN outage.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
mx1  IN A 127.0.0.8
$ORIGIN restart.e2e.
@    IN SOA ns.e2e. hostmaster.e2e. 1 3600 600 86400 60
@    IN MX 10 mx1
mx1  IN A 127.0.0.9
`

// retryGap spaces messages to a failing host past the test's Exim retry
// rule (F,1h,1s), so each one tries the plan's first host again.
const retryGap = 1200 * time.Millisecond

func TestExim(t *testing.T) {
	isolated(t)
	eximBin := os.Getenv("MXROUTE_EXIM")
	if eximBin == "" {
		t.Fatal("MXROUTE_EXIM is not set: run `make exim-e2e`, which installs Exim 4.96 and sets it")
	}
	if out, err := exec.Command(eximBin, "-C", "/dev/null", "-bV").CombinedOutput(); err != nil || !strings.Contains(string(out), "Exim version 4.96") {
		t.Fatalf("%s -bV: %v\n%s", eximBin, err, out)
	}
	work := os.Getenv("MXROUTE_E2E_DIR")
	if work == "" {
		work = t.TempDir()
	} else if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	// Exim's delivery processes run as Debian-exim and re-execute the
	// binary: they must reach the configuration, spool and agent socket.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("work folder %s", work)
	mxBin, agentBin := binaries(t)

	dns := dnstest.NewServer(t, zone)
	resolvThrough(t, work, dns.Addr())
	snk := startSinks(t, map[string]sinkMode{
		"127.0.0.2": accept, "127.0.0.3": accept, "127.0.0.5": accept,
		"127.0.0.6": greet421, "127.0.0.7": accept, "127.0.0.8": accept, "127.0.0.9": accept,
		"127.0.0.10": data421, "127.0.0.11": accept, "127.0.0.12": badTLS,
	})
	redis := redistest.StartServer(t)
	mx := startMxroute(t, mxBin, work, dns.Addr(), redis.Addr())

	// exim-a fails open (mxroute or its agent down: Exim routes by DNS),
	// exim-b fails closed (the address is deferred).
	nodes := map[string]*eximNode{}
	for _, spec := range []struct {
		name, down string
		failClosed bool
	}{
		{"exim-a", "pass", false},
		{"exim-b", ":defer: 4.4.3 mxroute agent unreachable", true},
	} {
		dir := filepath.Join(work, spec.name)
		n := newEximNode(t, spec.name, dir, eximBin, snk.port, spec.down)
		n.agentBin = agentBin
		n.agentEnv = []string{
			"MXROUTE_AGENT_URL=" + mx.url,
			"MXROUTE_AGENT_REPORTER=" + spec.name,
			fmt.Sprintf("MXROUTE_AGENT_FAIL_OPEN=%v", !spec.failClosed),
			"MXROUTE_AGENT_LISTEN=unix:" + n.socket(),
			"MXROUTE_AGENT_MAINLOG=" + n.mainlog(),
			"MXROUTE_AGENT_STATE_FILE=" + filepath.Join(dir, "agent.state"),
			"MXROUTE_AGENT_FROM_START=true",
			fmt.Sprintf("MXROUTE_AGENT_PORT=%d", snk.port),
		}
		n.startAgent(t)
		nodes[spec.name] = n
	}
	a, b := nodes["exim-a"], nodes["exim-b"]
	both := []*eximNode{a, b}

	t.Run("split", func(t *testing.T) { testSplit(t, mx, snk, both) })
	t.Run("refuse", func(t *testing.T) { testRefuse(t, mx, snk, a, b) })
	t.Run("greeting421", func(t *testing.T) { testGreeting421(t, mx, snk, both) })
	t.Run("afterDot421", func(t *testing.T) { testAfterDot421(t, mx, snk, both) })
	t.Run("tlsFailure", func(t *testing.T) { testTLSFailure(t, mx, snk, both) })
	t.Run("nullMX", func(t *testing.T) { testNullMX(t, both) })
	t.Run("outage", func(t *testing.T) { testOutage(t, mx, snk, a, b) })
	t.Run("agentRestart", func(t *testing.T) { testAgentRestart(t, mx, snk, both) })
}

// delivered counts messages whose Message-ID has prefix, per sink.
func delivered(snk *sinks, prefix string) (map[string]int, map[string]int) {
	perSink, perID := map[string]int{}, map[string]int{}
	for _, m := range snk.messages() {
		if strings.HasPrefix(m.messageID, "<"+prefix) {
			perSink[m.sink]++
			perID[m.messageID]++
		}
	}
	return perSink, perID
}

func testSplit(t *testing.T, mx *mxroute, snk *sinks, nodes []*eximNode) {
	const each = 15
	for i := range each {
		for _, n := range nodes {
			n.send(t, fmt.Sprintf("<split-%s-%d@e2e>", n.name, i), fmt.Sprintf("user%d@split.e2e", i))
		}
	}
	perSink, perID := delivered(snk, "split-")
	total := 0
	for id, c := range perID {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
		total++
	}
	if total != each*len(nodes) {
		t.Fatalf("%d distinct messages delivered, want %d (per sink %v)", total, each*len(nodes), perSink)
	}
	// Equal preferences are shuffled per plan: 30 fair coin flips give each
	// host at least 5 with probability above 1-1e-4.
	if perSink["127.0.0.2"] < 5 || perSink["127.0.0.3"] < 5 {
		t.Errorf("mail not split across both hosts: %v", perSink)
	}
	t.Logf("split: %v", perSink)
	// Every delivery is reported once, as a success of the host that took it.
	waitFor(t, "split successes reported", 10*time.Second, func() (bool, string) {
		h2, h3 := mx.host(t, "127.0.0.2"), mx.host(t, "127.0.0.3")
		return h2.RecentSuccesses == perSink["127.0.0.2"] && h3.RecentSuccesses == perSink["127.0.0.3"],
			fmt.Sprintf("127.0.0.2 %d/%d, 127.0.0.3 %d/%d", h2.RecentSuccesses, perSink["127.0.0.2"], h3.RecentSuccesses, perSink["127.0.0.3"])
	})
}

func testRefuse(t *testing.T, mx *mxroute, snk *sinks, a, b *eximNode) {
	send := func(n *eximNode, count int) {
		for i := range count {
			if i > 0 {
				time.Sleep(retryGap)
			}
			n.send(t, fmt.Sprintf("<refuse-%s-%d@e2e>", n.name, i), "user@refuse.e2e")
		}
	}
	// One node's failures are one vote: not enough to demote.
	send(a, 3)
	waitFor(t, "exim-a's vote on 127.0.0.4", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.4")
		return slices.Equal(h.Votes, []string{"exim-a"}), fmt.Sprintf("%+v", h)
	})
	if h := mx.host(t, "127.0.0.4"); h.State != "healthy" {
		t.Fatalf("127.0.0.4 is %s after one node reported", h.State)
	}
	send(b, 3)
	waitFor(t, "127.0.0.4 demoted", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.4")
		return h.State == "demoted", fmt.Sprintf("%+v", h)
	})
	h := mx.host(t, "127.0.0.4")
	if h.LastFailure == nil || h.LastFailure.Stage != "connect" || h.LastFailure.Host != "mx1.refuse.e2e" || h.LastFailure.Domain != "refuse.e2e" {
		t.Errorf("last failure of 127.0.0.4: %+v", h.LastFailure)
	}
	refused := len(logLines(a.mainlog(), "ev=msg:host:defer ip=127.0.0.4", "Connection refused")) +
		len(logLines(b.mainlog(), "ev=msg:host:defer ip=127.0.0.4", "Connection refused"))
	if refused != 6 || h.RecentFailures != refused {
		t.Errorf("127.0.0.4: %d refusals logged by Exim, %d failures reported, want 6 and 6", refused, h.RecentFailures)
	}
	perSink, perID := delivered(snk, "refuse-")
	if len(perID) != 6 || perSink["127.0.0.5"] != 6 {
		t.Errorf("refuse: delivered %v (%d distinct), want all 6 through 127.0.0.5", perSink, len(perID))
	}
	p := mx.plan(t, "refuse.e2e")
	if len(p.Attempts) != 2 || p.Attempts[0].Address != "127.0.0.5" || p.Attempts[1].State != "demoted" {
		t.Errorf("plan after demotion: %+v", p)
	}
	// The next message goes to the healthy host first: no new refusal.
	a.send(t, "<refuse-after@e2e>", "user@refuse.e2e")
	if n := len(logLines(a.mainlog(), "ev=msg:host:defer ip=127.0.0.4")); n != 3 {
		t.Errorf("exim-a tried 127.0.0.4 again after its demotion (%d refusals)", n)
	}
}

func testGreeting421(t *testing.T, mx *mxroute, snk *sinks, nodes []*eximNode) {
	for i := range 3 {
		if i > 0 {
			time.Sleep(retryGap)
		}
		for _, n := range nodes {
			n.send(t, fmt.Sprintf("<greet-%s-%d@e2e>", n.name, i), "user@greet.e2e")
		}
	}
	// Exim moved on to the next host within each attempt.
	perSink, perID := delivered(snk, "greet-")
	if len(perID) != 6 || perSink["127.0.0.7"] != 6 {
		t.Errorf("greeting 421: delivered %v (%d distinct), want all 6 through 127.0.0.7", perSink, len(perID))
	}
	for _, n := range nodes {
		if q := n.queued(t); q != 0 {
			t.Errorf("%s has %d messages queued", n.name, q)
		}
	}
	waitFor(t, "127.0.0.6 demoted", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.6")
		return h.State == "demoted", fmt.Sprintf("%+v", h)
	})
	h := mx.host(t, "127.0.0.6")
	if h.LastFailure == nil || h.LastFailure.Stage != "greeting" || h.LastFailure.SMTPCode != 421 {
		t.Errorf("last failure of 127.0.0.6: %+v", h.LastFailure)
	}
	if h.RecentFailures != 6 {
		t.Errorf("127.0.0.6: %d failures reported, want 6", h.RecentFailures)
	}
}

// testAfterDot421 stages the one failure Exim raises no per-host event
// for (a 4xx after the final dot at a host that is not the last): the agent
// reports it from Exim's own H= line, once, and never again from the
// message's later lines.
func testAfterDot421(t *testing.T, mx *mxroute, snk *sinks, nodes []*eximNode) {
	for i := range 2 {
		for _, n := range nodes {
			n.send(t, fmt.Sprintf("<dot-%s-%d@e2e>", n.name, i), "user@dot.e2e")
		}
	}
	perSink, perID := delivered(snk, "dot-")
	if len(perID) != 4 || perSink["127.0.0.11"] != 4 {
		t.Errorf("421 after the dot: delivered %v (%d distinct), want all 4 through 127.0.0.11", perSink, len(perID))
	}
	logged := 0
	for _, n := range nodes {
		logged += len(logLines(n.mainlog(), "H=127.0.0.10 [127.0.0.10]", "after end of data: 421"))
		if l := logLines(n.mainlog(), "mxroute-event", "ip=127.0.0.10"); len(l) != 0 {
			t.Errorf("%s raised events for 127.0.0.10: %q", n.name, l)
		}
	}
	waitFor(t, "421 after the dot reported", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.10")
		return h.RecentFailures == logged && h.LastFailure != nil, fmt.Sprintf("%+v", h)
	})
	time.Sleep(2 * time.Second) // a duplicate would arrive within a batch interval
	h := mx.host(t, "127.0.0.10")
	if logged != 4 || h.RecentFailures != 4 || h.LastFailure.Stage != "data" || h.LastFailure.SMTPCode != 421 {
		t.Errorf("127.0.0.10: %d failures logged by Exim, %d reported, last %+v; want 4, 4, data 421", logged, h.RecentFailures, h.LastFailure)
	}
}

// testTLSFailure: the handshake fails, Exim reports it (tls) and, as its
// tls_tempfail_tryclear default says, delivers in clear to the same host:
// one failure and one success per message, each reported once.
func testTLSFailure(t *testing.T, mx *mxroute, snk *sinks, nodes []*eximNode) {
	for _, n := range nodes {
		n.send(t, "<tls-"+n.name+"@e2e>", "user@tls.e2e")
	}
	perSink, perID := delivered(snk, "tls-")
	if len(perID) != 2 || perSink["127.0.0.12"] != 2 {
		t.Errorf("TLS failure: delivered %v, want both messages in clear to 127.0.0.12", perSink)
	}
	failed := 0
	for _, n := range nodes {
		failed += len(logLines(n.mainlog(), "ev=msg:host:defer ip=127.0.0.12", "errno=-37", "TLS session"))
	}
	waitFor(t, "TLS failures and clear deliveries reported", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.12")
		return h.RecentFailures == failed && h.RecentSuccesses == 2, fmt.Sprintf("%+v", h)
	})
	time.Sleep(2 * time.Second)
	h := mx.host(t, "127.0.0.12")
	if failed != 2 || h.RecentFailures != 2 || h.RecentSuccesses != 2 || h.LastFailure.Stage != "tls" {
		t.Errorf("127.0.0.12: %d TLS failures logged, %d failures and %d successes reported, last %+v; want 2, 2, 2, tls",
			failed, h.RecentFailures, h.RecentSuccesses, h.LastFailure)
	}
}

func testNullMX(t *testing.T, nodes []*eximNode) {
	for _, n := range nodes {
		n.send(t, "<null-"+n.name+"@e2e>", "user@null.e2e")
		if l := logLines(n.mainlog(), "** user@null.e2e R=mxroute_verdict: 5.1.10"); len(l) != 1 {
			t.Errorf("%s: no 5.1.10 failure for user@null.e2e in the main log", n.name)
		}
		waitFor(t, n.name+" bounce", 10*time.Second, func() (bool, string) {
			bounce := n.bounces()
			return strings.Contains(bounce, "user@null.e2e") && strings.Contains(bounce, "5.1.10"), bounce
		})
	}
}

func testOutage(t *testing.T, mx *mxroute, snk *sinks, a, b *eximNode) {
	mx.proc.stop()
	a.send(t, "<outage-a@e2e>", "user@outage.e2e")
	b.send(t, "<outage-b@e2e>", "user@outage.e2e")
	// Fail open: exim-a's agent answered pass and Exim's dnslookup
	// delivered; fail closed: exim-b deferred.
	if perSink, _ := delivered(snk, "outage-a"); perSink["127.0.0.8"] != 1 {
		t.Errorf("fail open: outage-a not delivered by Exim's own routing: %v", perSink)
	}
	if q := b.queued(t); q != 1 {
		t.Errorf("fail closed: exim-b has %d messages queued, want 1", q)
	}
	if l := logLines(b.mainlog(), "== user@outage.e2e R=mxroute_verdict defer", "4.4.3 mxroute unavailable"); len(l) != 1 {
		t.Errorf("fail closed: no mxroute_verdict deferral in exim-b's log")
	}
	mx.restart()
	b.runQueue(t)
	perSink, perID := delivered(snk, "outage-")
	if len(perID) != 2 || perSink["127.0.0.8"] != 2 {
		t.Errorf("after the outage: delivered %v, want both messages once", perSink)
	}
	if q := b.queued(t); q != 0 {
		t.Errorf("exim-b still has %d messages queued", q)
	}
	// The delivery exim-a made while mxroute was down was reported after.
	waitFor(t, "outage deliveries reported", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.8")
		return h.RecentSuccesses == 2, fmt.Sprintf("%+v", h)
	})
	for _, n := range []*eximNode{a, b} {
		if strings.Contains(n.bounces(), "outage.e2e") {
			t.Errorf("%s bounced mail for outage.e2e", n.name)
		}
	}
}

func testAgentRestart(t *testing.T, mx *mxroute, snk *sinks, nodes []*eximNode) {
	send := func(tag string) {
		for i := range 3 {
			for _, n := range nodes {
				n.send(t, fmt.Sprintf("<restart-%s-%s-%d@e2e>", tag, n.name, i), "user@restart.e2e")
			}
		}
	}
	send("before")
	// Stopped right after delivering, before the batch of the last events
	// is due: what it had not posted it reads again after the restart.
	for _, n := range nodes {
		n.agent.stop()
	}
	send("down") // exim-a routes by DNS and logs the events; exim-b defers
	for _, n := range nodes {
		n.startAgent(t)
	}
	nodes[1].runQueue(t)
	send("after")
	perSink, perID := delivered(snk, "restart-")
	want := 3 * 3 * len(nodes)
	if len(perID) != want || perSink["127.0.0.9"] != want {
		t.Fatalf("agent restart: delivered %v (%d distinct), want %d", perSink, len(perID), want)
	}
	waitFor(t, "each delivery reported once", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.9")
		return h.RecentSuccesses == want, fmt.Sprintf("%d of %d", h.RecentSuccesses, want)
	})
	time.Sleep(2 * time.Second) // a duplicate would arrive within a batch interval
	if h := mx.host(t, "127.0.0.9"); h.RecentSuccesses != want {
		t.Errorf("127.0.0.9: %d successes reported for %d deliveries", h.RecentSuccesses, want)
	}

	// Killed (SIGKILL) right after delivering: nothing is lost, and what
	// may be counted twice is bounded by docs/exim.md: at most the batch
	// mxroute accepted before the state file was saved, here at most the
	// 3 deliveries each node made since its last batch.
	send("killed")
	for _, n := range nodes {
		n.agent.kill()
	}
	for _, n := range nodes {
		n.startAgent(t)
	}
	want += 3 * len(nodes)
	waitFor(t, "deliveries before the kill reported", 10*time.Second, func() (bool, string) {
		h := mx.host(t, "127.0.0.9")
		return h.RecentSuccesses >= want, fmt.Sprintf("%d of %d", h.RecentSuccesses, want)
	})
	time.Sleep(2 * time.Second)
	got := mx.host(t, "127.0.0.9").RecentSuccesses
	if got < want || got > want+3*len(nodes) {
		t.Errorf("after SIGKILL: %d successes reported for %d deliveries, want %d to %d", got, want, want, want+3*len(nodes))
	}
	t.Logf("after SIGKILL: %d successes reported for %d deliveries", got, want)
}
