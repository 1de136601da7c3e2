//go:build exim_e2e

package exime2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The drop-in files docs/exim.md documents, used verbatim.
var dropIns = []string{"main/01_mxroute_macros", "acl/50_mxroute_event", "router/190_mxroute", "transport/30_mxroute_smtp"}

// eximNode is one Exim instance with its own spool, log, config and agent.
type eximNode struct {
	name, dir, bin, conf string
	agent                *proc
	agentBin             string
	agentEnv             []string
	top                  *testing.T // owns the agent process across restarts in subtests
}

func (n *eximNode) mainlog() string { return filepath.Join(n.dir, "log", "mainlog") }
func (n *eximNode) socket() string  { return filepath.Join(n.dir, "agent.sock") }

// newEximNode writes the instance's configuration: the test's own main
// settings, then the mxroute drop-ins, then a dnslookup router and a local
// mailbox for bounces.
func newEximNode(t *testing.T, name, dir, eximBin string, sinkPort int, agentDown string) *eximNode {
	t.Helper()
	n := &eximNode{name: name, dir: dir, bin: eximBin, conf: filepath.Join(dir, "exim.conf"), top: t}
	exim, err := user.Lookup("Debian-exim")
	if err != nil {
		t.Fatalf("the Debian-exim user is missing (install-exim.sh creates it): %v", err)
	}
	uid, _ := strconv.Atoi(exim.Uid)
	gid, _ := strconv.Atoi(exim.Gid)
	for _, d := range []string{"spool", "log", "mail"} {
		p := filepath.Join(dir, d)
		if err := os.MkdirAll(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	// Delivery processes run as Debian-exim and must reach the socket.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := &strings.Builder{}
	fmt.Fprintf(conf, `exim_path = %s
primary_hostname = %s.e2e.invalid
qualify_domain = origin.e2e
spool_directory = %s/spool
log_file_path = %s/log/%%slog
pid_file_path = %s/exim.pid
keep_environment =
log_selector = +outgoing_port +millisec +smtp_confirmation
domainlist local_domains = origin.e2e
MXROUTE_SOCKET = %s
MXROUTE_AGENT_DOWN = %s
`, eximBin, name, dir, dir, dir, n.socket(), agentDown)
	section := map[string]string{"acl": "begin acl", "router": "begin routers", "transport": "begin transports"}
	for _, f := range dropIns {
		if s := section[strings.Split(f, "/")[0]]; s != "" {
			fmt.Fprintf(conf, "\n%s\n\n", s)
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "clients", "exim", "conf.d", f))
		if err != nil {
			t.Fatal(err)
		}
		conf.Write(b)
		switch f {
		case "router/190_mxroute":
			conf.WriteString(`
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more

local_mailbox:
  driver = accept
  domains = +local_domains
  transport = mailbox
`)
		case "transport/30_mxroute_smtp":
			fmt.Fprintf(conf, `
remote_smtp:
  driver = smtp
  port = %d
  event_action = MXROUTE_EVENT_ACTION

mailbox:
  driver = appendfile
  file = %s/mail/bounces
  user = Debian-exim
`, sinkPort, dir)
		}
	}
	// Retry a failed host after a second: the scenarios send a few
	// messages each and want each one to try the plan's first host.
	conf.WriteString("\nbegin retry\n\n* * F,1h,1s\n")
	if err := os.WriteFile(n.conf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(eximBin, "-C", n.conf, "-bV").CombinedOutput(); err != nil {
		t.Fatalf("exim -bV with %s: %v\n%s", n.conf, err, out)
	}
	return n
}

// startAgent runs the node's agent; it keeps its state next to the log.
func (n *eximNode) startAgent(t *testing.T) {
	t.Helper()
	n.agent = startProc(n.top, n.name+"-agent", filepath.Join(n.dir, "agent.log"), n.agentEnv, n.agentBin, "exim")
	waitFor(t, n.name+" agent socket", 20*time.Second, func() (bool, string) {
		if n.agent.exited() {
			t.Fatalf("%s agent exited:\n%s", n.name, n.agent.log())
		}
		_, err := os.Stat(n.socket())
		return err == nil, fmt.Sprint(err)
	})
}

// send submits one message and lets Exim attempt delivery before it
// returns (-odi).
func (n *eximNode) send(t *testing.T, messageID string, rcpts ...string) {
	t.Helper()
	msg := fmt.Sprintf("From: sender@origin.e2e\nMessage-ID: %s\nSubject: %s\n\nhello\n", messageID, messageID)
	args := append([]string{"-C", n.conf, "-odi", "-f", "sender@origin.e2e"}, rcpts...)
	cmd := exec.Command(n.bin, args...)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: exim %v: %v\n%s", n.name, args, err, out)
	}
}

// runQueue makes Exim try every queued message now.
func (n *eximNode) runQueue(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(n.bin, "-C", n.conf, "-qff").CombinedOutput(); err != nil {
		t.Fatalf("%s: exim -qff: %v\n%s", n.name, err, out)
	}
	// The queue runner forks deliveries; wait until the queue is empty
	// or stable.
}

// queued counts messages on the node's queue.
func (n *eximNode) queued(t *testing.T) int {
	t.Helper()
	out, err := exec.Command(n.bin, "-C", n.conf, "-bpc").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: exim -bpc: %v\n%s", n.name, err, out)
	}
	c, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("%s: exim -bpc: %q", n.name, out)
	}
	return c
}

// bounces returns what the sender's mailbox holds.
func (n *eximNode) bounces() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "mail", "bounces"))
	return string(b)
}
