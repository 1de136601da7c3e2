// Package redistest starts real redis-server processes for tests: a
// standalone server that can be stopped and restarted on the same port (to
// test outages), a Cluster of masters, and the two failover setups: a
// Sentinel group (master, replica, three Sentinels) and a Cluster with a
// replica per master (failover.go). Tests use real servers, never a
// fake: the Lua scripts, hash-tag routing and pub/sub are what is tested.
//
// Servers keep nothing on disk (--save "" --appendonly no) and live in the
// test's temporary directory; t.Cleanup stops them. On Linux they are also
// killed if the test binary dies.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds waiting for a server or a cluster to become ready.
const startTimeout = 20 * time.Second

// Server is one redis-server process.
type Server struct {
	tb   testing.TB
	port int
	dir  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartServer starts a standalone redis-server on a free loopback port. If
// redis-server is not installed the test fails, saying how to install it.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

func start(tb testing.TB, cluster bool) *Server {
	tb.Helper()
	return startWith(tb, cluster)
}

// startWith starts a server with extra arguments after the defaults
// (a later argument overrides an earlier one).
func startWith(tb testing.TB, cluster bool, extra ...string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server not found on PATH (%v): `make test` installs it "+
			"(apt-get install redis-server redis-tools)", err)
	}
	dir := tb.TempDir()
	port, err := freePort(cluster)
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	s := &Server{tb: tb, port: port, dir: dir, args: []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
	}}
	if cluster {
		s.args = append(s.args, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
			// The bus port is port+10000 by default; freePort checked
			// that one, and saying so keeps it right for any port.
			"--cluster-port", strconv.Itoa(port+10000))
	}
	s.args = append(s.args, extra...)
	s.args = append([]string{bin}, s.args...)
	tb.Cleanup(s.Stop)
	s.launch()
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop kills the server at once, as a crash would. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait() // the exit status of a killed process is expected
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open and requests
// hang, as with an overloaded or partitioned Redis, until Resume.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.tb.Fatalf("redis-server on %s is not running", s.Addr())
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("signal redis-server: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same
// port, empty (nothing is persisted), and waits until it answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.launch()
}

func (s *Server) launch() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	poll(s.tb, startTimeout, "redis-server on "+s.Addr()+" ready", func() (bool, string) {
		reply, err := Command(s.Addr(), "PING")
		return err == nil && reply == "PONG", fmt.Sprintf("%v\n%s", err, s.logTail())
	})
}

// poll calls check every pollInterval until it reports done and returns
// when; once timeout has passed it fails tb with what and check's account
// of the last try.
func poll(tb testing.TB, timeout time.Duration, what string, check func() (done bool, last string)) time.Time {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, last := check()
		if done {
			return time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s: %s", what, timeout, last)
		}
		time.Sleep(pollInterval)
	}
}

// pollInterval is how often poll looks: short against a failover's
// timings, long against a command's round trip.
const pollInterval = 20 * time.Millisecond

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Sentinel is a redis-sentinel process monitoring one master.
type Sentinel struct {
	*Server
	master string
}

// StartSentinel starts a Sentinel (redis-server --sentinel) that monitors
// master under the name "mymaster", and waits until it knows the master.
// Alone (quorum 1, down-after 5 s) it never fails over in a test; see
// StartSentinelGroup for one that does.
func StartSentinel(tb testing.TB, master *Server) *Sentinel {
	tb.Helper()
	return startSentinel(tb, master, 5*time.Second, 1)
}

// MasterName is the name the Sentinel monitors the master under.
func (s *Sentinel) MasterName() string { return s.master }

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts masters cluster-enabled servers (at least 3, which
// redis-cli requires), joins them with redis-cli --cluster create and waits
// until every node reports cluster_state:ok.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redis-cli not found on PATH (%v): `make test` installs it "+
			"(apt-get install redis-server redis-tools)", err)
	}
	c := &Cluster{}
	args := []string{"--cluster", "create"}
	for range masters {
		n := start(tb, true)
		c.nodes = append(c.nodes, n)
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(tb)
	return c
}

// Addrs lists the nodes' host:port.
func (c *Cluster) Addrs() []string { return addrsOf(c.nodes) }

// addrsOf lists the servers' host:port.
func addrsOf[S interface{ Addr() string }](servers []S) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr()
	}
	return out
}

// freePort finds a free loopback port; for a cluster node the bus port
// (port+10000) must be free too.
func freePort(cluster bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("listen: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !cluster {
			_ = l.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port pair found")
}

// Command sends one command over a fresh connection and returns the reply
// as a string (an array's elements joined by newlines). It is for probing servers without a client
// library (readiness, CLUSTER INFO, INFO commandstats).
func Command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", fmt.Errorf("write to %s: %w", addr, err)
	}
	reply, err := readReply(bufio.NewReader(conn))
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return reply, nil
}

// readReply reads one RESP2 reply; an array's elements are joined by
// newlines, a null reply is "".
func readReply(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis error: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array reply %q", line)
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(rd)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unsupported reply %q", line)
}
