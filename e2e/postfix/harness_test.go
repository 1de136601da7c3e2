//go:build postfix_e2e

// Package postfixe2e runs two real Postfix 3.7 instances, each with its own
// mxroute-agent, against a real mxroute with a real Redis, real DNS on
// 127.0.0.1:53, SMTP sinks on 127.0.0.2 and 127.0.0.3 and STARTTLS sinks on
// 127.0.0.4 to 127.0.0.9 (tls_test.go: MTA-STS and DANE). It must run in
// its own network namespace (make postfix-e2e does: unshare -n -m, lo up,
// /etc/resolv.conf bind-mounted to "nameserver 127.0.0.1"), and it fails
// rather than skips when anything it needs is missing.
package postfixe2e

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
)

const (
	sinkPort = 2525
	zone     = `$TTL 60
e2e.test.        IN SOA ns.e2e.test. hostmaster.e2e.test. 1 60 60 60 60
e2e.test.        IN MX 10 mx1.e2e.test.
e2e.test.        IN MX 10 mx2.e2e.test.
mx1.e2e.test.    IN A  127.0.0.2
mx2.e2e.test.    IN A  127.0.0.3
null.test.       IN SOA ns.e2e.test. hostmaster.e2e.test. 1 60 60 60 60
null.test.       IN MX 0 .
sender.test.     IN SOA ns.e2e.test. hostmaster.e2e.test. 1 60 60 60 60
sender.test.     IN MX 10 mx2.e2e.test.
` + tlsZone
)

// proc is a child process with its output kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startProc(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- %s output:\n%s", name, lastLines(p.out.String(), 60))
			p.mu.Unlock()
		}
	})
	return p
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop on SIGTERM", p.name)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// env reads a required variable: missing means the make target was not
// used, which is a failure, not a skip.
func env(t *testing.T, k string) string {
	v := os.Getenv(k)
	if v == "" {
		t.Fatalf("%s is not set: run the e2e with `make postfix-e2e`", k)
	}
	return v
}

func requireNamespace(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			t.Fatalf("interface %s present: the e2e must run in its own network namespace (make postfix-e2e)", i.Name)
		}
	}
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || !strings.Contains(string(b), "nameserver 127.0.0.1") {
		t.Fatalf("/etc/resolv.conf must point at the test resolver inside the namespace: %q %v", b, err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mxroute is the service under test, restartable on the same port.
type mxroute struct {
	t     *testing.T
	bin   string
	port  int
	redis *redistest.Server
	env   []string // more settings (the MTA-STS test settings)
	p     *proc
}

func (m *mxroute) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", m.port) }

func (m *mxroute) start() {
	m.t.Helper()
	m.p = startProc(m.t, "mxroute", m.bin, append([]string{
		"MXROUTE_LISTEN=127.0.0.1:" + strconv.Itoa(m.port),
		"MXROUTE_REDIS_URL=redis://" + m.redis.Addr() + "/0",
		"MXROUTE_DNS_SERVERS=127.0.0.1:53",
		"MXROUTE_ZONE_FILES=none",
		"MXROUTE_IGNORE_NETWORKS=none", // the sinks are on loopback
		"MXROUTE_HEALTH_VOTE_FAILURES=2",
		"MXROUTE_HEALTH_VOTE_TTL=1h", // counters cover the whole run
		"MXROUTE_HEALTH_QUORUM=2",
		"MXROUTE_LOG_LEVEL=warn",
	}, m.env...))
	waitFor(m.t, 20*time.Second, "mxroute /healthz", func() bool {
		res, err := http.Get(m.url() + "healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

func (m *mxroute) stop() { m.p.stop(m.t) }

// reset forgets all health state: FLUSHALL and a restart (the service
// keeps a local view too).
func (m *mxroute) reset() {
	m.stop()
	if _, err := redistest.Command(m.redis.Addr(), "FLUSHALL"); err != nil {
		m.t.Fatal(err)
	}
	m.start()
}

func (m *mxroute) host(addr string) apigen.HostStatus {
	m.t.Helper()
	var h apigen.HostStatus
	res, err := http.Get(m.url() + "hosts/" + addr)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return apigen.HostStatus{Address: addr, State: "healthy"}
	}
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		m.t.Fatal(err)
	}
	return h
}

func (m *mxroute) route(domain string) apigen.Plan {
	m.t.Helper()
	var p apigen.Plan
	res, err := http.Get(m.url() + "route?domain=" + domain)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		m.t.Fatal(err)
	}
	return p
}

// node is one Postfix instance with its agent.
type node struct {
	t         *testing.T
	name      string
	root      string // unpacked postfix package
	dir       string
	smtpdPort int
	queuePort int
	agentPort int
	agentBin  string
	caFile    string // smtp_tls_CAfile: the test CA
	failOpen  bool
	order     string // agent -order; "" is the default
	mx        *mxroute
	agent     *proc
}

func (n *node) etc() string     { return filepath.Join(n.dir, "etc") }
func (n *node) maillog() string { return filepath.Join(n.dir, "maillog") }

func (n *node) postfix(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(n.root, "usr/sbin/postfix"), append([]string{"-c", n.etc()}, args...)...)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(n.root, "usr/lib/postfix"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *node) command(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(n.root, "usr/sbin", name), append([]string{"-c", n.etc()}, args...)...)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(n.root, "usr/lib/postfix"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *node) setup() {
	t := n.t
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(n.dir, "data"), 65534, -1); err != nil { // mail_owner = nobody
		t.Fatal(err)
	}
	for _, f := range []struct{ from, to string }{
		{"etc/postfix/postfix-files", "etc/postfix-files"},
		{"usr/share/postfix/dynamicmaps.cf", "etc/dynamicmaps.cf"},
	} {
		b, err := os.ReadFile(filepath.Join(n.root, f.from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(n.dir, f.to), b, 0o644)
	}
	os.MkdirAll(filepath.Join(n.dir, "etc/postfix-files.d"), 0o755)
	os.MkdirAll(filepath.Join(n.dir, "etc/dynamicmaps.cf.d"), 0o755)
	mainCf := fmt.Sprintf(mainCfTemplate, n.dir, n.root, n.name, n.agentPort, sinkPort, n.caFile)
	if err := os.WriteFile(filepath.Join(n.etc(), "main.cf"), []byte(mainCf), 0o644); err != nil {
		t.Fatal(err)
	}
	masterCf := fmt.Sprintf(masterCfTemplate, n.smtpdPort, n.queuePort)
	if err := os.WriteFile(filepath.Join(n.etc(), "master.cf"), []byte(masterCf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mainCfTemplate is a self-contained instance: its own directories, the
// package's binaries, maillog_file through postlogd, routing through the
// agent's socketmap, and the TLS policy from the same socketmap as
// docs/postfix.md configures it, with the test CA as the trusted CAs and
// Debian's default level (may) for everything the agent does not answer.
// The short backoff lets deferred mail retry within the test.
const mainCfTemplate = `compatibility_level = 3.6
config_directory = %[1]s/etc
queue_directory = %[1]s/spool
data_directory = %[1]s/data
meta_directory = %[1]s/etc
daemon_directory = %[2]s/usr/lib/postfix/sbin
command_directory = %[2]s/usr/sbin
shlib_directory = %[2]s/usr/lib/postfix
mail_owner = nobody
setgid_group = mail
default_privs = daemon
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH POSTLOG_SERVICE POSTLOG_HOSTNAME
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
syslog_name = postfix-%[3]s
myhostname = %[3]s.e2e.test
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
biff = no
smtputf8_enable = no
transport_maps = socketmap:inet:127.0.0.1:%[4]d:mxroute
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:%[4]d:mxroute-tls
smtp_tls_CAfile = %[6]s
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_tcp_port = %[5]d
smtp_connect_timeout = 5s
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
`

const masterCfTemplate = `127.0.0.1:%d inet n - n - - smtpd
127.0.0.1:%d inet n - n - - smtpd -o smtpd_reject_unlisted_recipient=no -o smtpd_recipient_restrictions=permit_mynetworks,reject -o smtpd_relay_restrictions=permit_mynetworks,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
`

func (n *node) startPostfix() {
	if out, err := n.postfix("start"); err != nil {
		n.t.Fatalf("%s: postfix start: %v\n%s", n.name, err, out)
	}
	n.t.Cleanup(func() {
		n.postfix("stop")
		if n.t.Failed() {
			b, _ := os.ReadFile(n.maillog())
			n.t.Logf("--- %s maillog:\n%s", n.name, lastLines(string(b), 80))
		}
	})
	waitFor(n.t, 20*time.Second, n.name+" smtpd", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.smtpdPort))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (n *node) startAgent() {
	n.agent = startProc(n.t, "agent "+n.name, n.agentBin, []string{
		"MXROUTE_AGENT_URL=" + n.mx.url(),
		"MXROUTE_AGENT_REPORTER=" + n.name,
		"MXROUTE_AGENT_LISTEN=inet:127.0.0.1:" + strconv.Itoa(n.agentPort),
		"MXROUTE_AGENT_PORT=" + strconv.Itoa(sinkPort),
		"MXROUTE_AGENT_MAILLOG=" + n.maillog(),
		"MXROUTE_AGENT_FROM_START=true",
		"MXROUTE_AGENT_FAIL_OPEN=" + strconv.FormatBool(n.failOpen),
		"MXROUTE_AGENT_BATCH_INTERVAL=200ms",
		"MXROUTE_AGENT_ROUTE_TIMEOUT=1s",
		"MXROUTE_AGENT_REPLY_BUDGET=2s",
		"MXROUTE_AGENT_ORDER=" + cmp.Or(n.order, "fresh"),
	}, "postfix")
	waitFor(n.t, 10*time.Second, n.name+" agent socketmap", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.agentPort))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// send submits one message whose Subject is its token.
func (n *node) send(to, token string) {
	n.t.Helper()
	msg := fmt.Sprintf("From: a@sender.test\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\nbody of %s\r\n", to, token, token, token)
	var err error
	for range 3 {
		if err = smtp.SendMail(fmt.Sprintf("127.0.0.1:%d", n.smtpdPort), nil, "a@sender.test", []string{to}, []byte(msg)); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	n.t.Fatalf("%s: submitting %s: %v", n.name, token, err)
}

// queue submits one message through the instance's second smtpd, which
// accepts any recipient (smtpd_reject_unlisted_recipient=no) and so queues
// mail before routing it, as a relay that does not verify recipients does.
func (n *node) queue(to, token string) {
	n.t.Helper()
	msg := fmt.Sprintf("From: a@sender.test\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n", to, token)
	if err := smtp.SendMail(fmt.Sprintf("127.0.0.1:%d", n.queuePort), nil, "a@sender.test", []string{to}, []byte(msg)); err != nil {
		n.t.Fatalf("%s: queueing %s: %v", n.name, to, err)
	}
}

// submitError returns the SMTP error of submitting to rcpt, nil if accepted.
func (n *node) submitError(to string) error {
	msg := fmt.Sprintf("From: a@sender.test\r\nTo: %s\r\nSubject: x\r\n\r\nbody\r\n", to)
	return smtp.SendMail(fmt.Sprintf("127.0.0.1:%d", n.smtpdPort), nil, "a@sender.test", []string{to}, []byte(msg))
}

// logLines returns the instance's log, rotated files first.
func (n *node) logLines() []string {
	var all []string
	for _, f := range []string{n.maillog() + ".1", n.maillog() + ".0", n.maillog()} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		all = append(all, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	return all
}

// countLines counts log lines containing every one of subs.
func countLines(nodes []*node, subs ...string) int {
	n := 0
	for _, nd := range nodes {
	lines:
		for _, l := range nd.logLines() {
			for _, s := range subs {
				if !strings.Contains(l, s) {
					continue lines
				}
			}
			n++
		}
	}
	return n
}

// socketmap asks an agent one key of the transport table over the
// socketmap protocol.
func socketmap(t *testing.T, port int, key string) string {
	t.Helper()
	return socketmapAsk(t, port, "mxroute", key)
}

// socketmapAsk asks an agent one key of the named table.
func socketmapAsk(t *testing.T, port int, table, key string) string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := table + " " + key
	fmt.Fprintf(c, "%d:%s,", len(req), req)
	r := bufio.NewReader(c)
	lenText, err := r.ReadString(':')
	if err != nil {
		t.Fatal(err)
	}
	size, err := strconv.Atoi(strings.TrimSuffix(lenText, ":"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size+1)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return string(b[:size])
}
