//go:build exim_e2e

package exime2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a child process logging to a file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logFile string
	done    chan struct{}
}

func startProc(t *testing.T, name, logFile string, env []string, bin string, args ...string) *proc {
	t.Helper()
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary if it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

// stop sends SIGTERM and waits, then SIGKILL after 10s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once, as a crash would.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)", d, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// binaries returns the mxroute and mxroute-agent binaries make exim-e2e
// built before entering the network namespace (where no module can be
// downloaded).
func binaries(t *testing.T) (mxroute, agent string) {
	t.Helper()
	for _, v := range []string{"MXROUTE_BIN", "MXROUTE_AGENT_BIN"} {
		if _, err := os.Stat(os.Getenv(v)); err != nil {
			t.Fatalf("%s=%q: %v: run `make exim-e2e`", v, os.Getenv(v), err)
		}
	}
	return os.Getenv("MXROUTE_BIN"), os.Getenv("MXROUTE_AGENT_BIN")
}

// mxroute is the service under test.
type mxroute struct {
	*proc
	url string
	env []string
	bin string
	top *testing.T // owns the process: a restart inside a subtest outlives it
}

func startMxroute(t *testing.T, bin, dir, dnsAddr, redisAddr string) *mxroute {
	t.Helper()
	port := freeTCPPort(t)
	m := &mxroute{url: fmt.Sprintf("http://127.0.0.1:%d/", port), bin: bin, top: t, env: []string{
		fmt.Sprintf("MXROUTE_LISTEN=127.0.0.1:%d", port),
		"MXROUTE_ZONE_FILES=none",
		"MXROUTE_DNS_SERVERS=" + dnsAddr,
		"MXROUTE_REDIS_URL=redis://" + redisAddr + "/0",
		// Everything but loopback: the sinks live on 127.0.0.0/8.
		"MXROUTE_IGNORE_NETWORKS=0.0.0.0/8,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4",
		"OTEL_TRACES_EXPORTER=none",
		"OTEL_METRICS_EXPORTER=none",
	}}
	m.proc = m.launch(t, filepath.Join(dir, "mxroute.log"))
	return m
}

func (m *mxroute) launch(t *testing.T, logFile string) *proc {
	t.Helper()
	p := startProc(t, "mxroute", logFile, m.env, m.bin)
	waitFor(t, "mxroute /healthz", 20*time.Second, func() (bool, string) {
		if p.exited() {
			t.Fatalf("mxroute exited:\n%s", p.log())
		}
		res, err := http.Get(m.url + "healthz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == 200, res.Status
	})
	return p
}

func (m *mxroute) restart() {
	m.proc.stop()
	m.proc = m.launch(m.top, m.proc.logFile)
}

// hostStatus is the part of GET /hosts/{address} the test reads.
type hostStatus struct {
	Address         string   `json:"address"`
	State           string   `json:"state"`
	Votes           []string `json:"votes"`
	RecentFailures  int      `json:"recent_failures"`
	RecentSuccesses int      `json:"recent_successes"`
	LastFailure     *struct {
		Reporter string `json:"reporter"`
		Host     string `json:"host"`
		Domain   string `json:"domain"`
		Stage    string `json:"stage"`
		SMTPCode int    `json:"smtp_code"`
	} `json:"last_failure"`
}

func (m *mxroute) host(t *testing.T, addr string) hostStatus {
	t.Helper()
	var h hostStatus
	m.get(t, "hosts/"+addr, &h)
	return h
}

type plan struct {
	Disposition string `json:"disposition"`
	Attempts    []struct {
		Address string `json:"address"`
		State   string `json:"state"`
	} `json:"attempts"`
}

func (m *mxroute) plan(t *testing.T, domain string) plan {
	t.Helper()
	var p plan
	m.get(t, "route?domain="+domain, &p)
	return p
}

func (m *mxroute) get(t *testing.T, rel string, into any) {
	t.Helper()
	req, _ := http.NewRequest("GET", m.url+rel, nil)
	req.Header.Set("X-Mxroute-Reporter", "e2e-observer")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rel, err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", rel, res.Status, buf.String())
	}
	if err := json.Unmarshal(buf.Bytes(), into); err != nil {
		t.Fatalf("GET %s: %v", rel, err)
	}
}

// logLines returns the lines of a file containing every one of subs.
func logLines(path string, subs ...string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		ok := l != ""
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}
