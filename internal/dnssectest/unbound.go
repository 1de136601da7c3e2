package dnssectest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// startTimeout bounds how long an unbound process may take to answer.
const startTimeout = 10 * time.Second

// unboundPath finds the unbound binary, in PATH or where Debian puts it
// (/usr/sbin, which a non-root PATH may lack).
func unboundPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("unbound"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/unbound"); err == nil {
		return "/usr/sbin/unbound"
	}
	t.Fatal("dnssectest: unbound is not installed; `make deps` installs it (apt-get install --no-install-recommends unbound)")
	return ""
}

// startUnbound runs unbound in the foreground with the configuration conf
// gives for a port, on a free port of 127.0.0.1, and waits until it
// answers a query for probe. The free port is found by binding it and
// letting go, so another process may take it first: a few ports are
// tried. It returns the address and stops the process when the test ends.
func startUnbound(t testing.TB, bin, dir, name string, conf func(port int) string, probe string) string {
	t.Helper()
	var lastErr error
	for attempt := range 3 {
		port, err := dnstest.FreePort()
		if err != nil {
			t.Fatalf("dnssectest: %v", err)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.conf", name, attempt))
		if err := os.WriteFile(path, []byte(conf(port)), 0o600); err != nil {
			t.Fatalf("dnssectest: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := launch(bin, path)
		if err != nil {
			t.Fatalf("dnssectest: start %s: %v", name, err)
		}
		if err = p.ready(addr, probe); err == nil {
			t.Cleanup(p.stop)
			return addr
		}
		p.stop()
		lastErr = fmt.Errorf("%w\n%s", err, p.log.String())
	}
	t.Fatalf("dnssectest: %s unbound did not start: %v", name, lastErr)
	return ""
}

// process is a running unbound and its output.
type process struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func launch(bin, conf string) (*process, error) {
	p := &process{log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "-d", "-c", conf)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// ready waits until the server at addr answers a query for probe's SOA
// with NOERROR, or the process exits.
func (p *process) ready(addr, probe string) error {
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(probe, dns.TypeSOA)
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.cmd.ProcessState)
		default:
		}
		if r, _, err := c.Exchange(m, addr); err == nil && r.Rcode == dns.RcodeSuccess {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer for %s SOA within %v", probe, startTimeout)
}

func (p *process) stop() {
	p.cmd.Process.Kill()
	<-p.done
}

// common is the part of both configurations that keeps unbound to
// itself: foreground, no privileges dropped, no chroot, no control
// socket, logging to stderr, IPv4 loopback only.
func common(dir string, port int, name string) string {
	return fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-daemonize: no
	use-systemd: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	logfile: ""
	use-syslog: no
	log-time-ascii: yes
	verbosity: 1
	num-threads: 1
	so-reuseport: no
	outgoing-range: 64
`, port, dir, filepath.Join(dir, name+".pid"))
}

// authConfig serves the zones from files, authoritatively, and refuses
// every other name (refuse_non_local: no recursion for anyone).
func authConfig(dir string, port int, zones []servedZone) string {
	var b strings.Builder
	b.WriteString(common(dir, port, "auth"))
	b.WriteString("\taccess-control: 127.0.0.0/8 refuse_non_local\n\tmodule-config: \"iterator\"\n")
	b.WriteString(transparent(zones))
	b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	for _, z := range zones {
		fmt.Fprintf(&b, "auth-zone:\n\tname: %q\n\tzonefile: %q\n\tfor-downstream: yes\n\tfor-upstream: no\n\tfallback-enabled: no\n", z.apex, z.file)
	}
	return b.String()
}

// resolverConfig validates with the anchors and asks auth for every
// name: a stub zone per test zone, and one for the root, so that no query
// ever leaves loopback.
func resolverConfig(dir string, port int, auth string, zones []servedZone, anchors []string) string {
	host, authPort, _ := net.SplitHostPort(auth)
	var b strings.Builder
	b.WriteString(common(dir, port, "resolver"))
	b.WriteString(`	access-control: 127.0.0.0/8 allow
	module-config: "validator iterator"
	do-not-query-localhost: no
	val-permissive-mode: no
	val-log-level: 2
	qname-minimisation: no
	aggressive-nsec: no
	prefetch: no
	target-fetch-policy: "0 0 0 0 0"
`)
	b.WriteString(transparent(zones))
	for _, a := range anchors {
		fmt.Fprintf(&b, "\ttrust-anchor: %q\n", a)
	}
	b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	for _, name := range append([]string{"."}, apexes(zones)...) {
		fmt.Fprintf(&b, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", name, host, authPort)
	}
	return b.String()
}

// transparent lets the zones through unbound's default local zones for
// special-use names (RFC 6761: test., invalid., ...), which would
// otherwise answer NXDOMAIN for them.
func transparent(zones []servedZone) string {
	var b strings.Builder
	for _, z := range zones {
		fmt.Fprintf(&b, "\tlocal-zone: %q transparent\n", z.apex)
	}
	return b.String()
}

func apexes(zones []servedZone) []string {
	out := make([]string, len(zones))
	for i, z := range zones {
		out[i] = z.apex
	}
	return out
}

// syncBuffer is a bytes.Buffer the process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
