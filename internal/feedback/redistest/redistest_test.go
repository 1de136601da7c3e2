package redistest

import (
	"strings"
	"testing"
)

func TestServerRestartKeepsPort(t *testing.T) {
	s := StartServer(t)
	addr := s.Addr()
	if _, err := Command(addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := Command(addr, "PING"); err == nil {
		t.Fatal("stopped server answers")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if v, err := Command(addr, "EXISTS", "k"); err != nil || v != "0" {
		t.Fatalf("EXISTS after restart = %q, %v; want an empty server", v, err)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("addrs = %v", c.Addrs())
	}
	info, err := Command(c.Addrs()[0], "CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("cluster info = %q, %v", info, err)
	}
}

func TestServerPauseResume(t *testing.T) {
	s := StartServer(t)
	s.Pause()
	if _, err := Command(s.Addr(), "PING"); err == nil {
		t.Fatal("paused server answers")
	}
	s.Resume()
	if v, err := Command(s.Addr(), "PING"); err != nil || v != "PONG" {
		t.Fatalf("PING after resume = %q, %v", v, err)
	}
}

func TestSentinel(t *testing.T) {
	m := StartServer(t)
	s := StartSentinel(t, m)
	addr, err := Command(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName())
	if err != nil || strings.ReplaceAll(addr, "\n", ":") != m.Addr() {
		t.Fatalf("sentinel says master is %q (%v), want %s", addr, err, m.Addr())
	}
}
