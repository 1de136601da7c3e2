package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FailoverTimeout is Redis's promptness in the failover setups below:
// Sentinel's down-after-milliseconds and Cluster's cluster-node-timeout.
// A killed master's replica is promoted about 2.4 s after the kill.
const FailoverTimeout = time.Second

// StartReplica starts a standalone redis-server replicating master and
// waits until the replication link is up.
func StartReplica(tb testing.TB, master *Server) *Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.Addr())
	r := startWith(tb, false, "--replicaof", host, port)
	r.WaitReplicating()
	return r
}

// WaitReplicating waits until the server is a replica whose link to its
// master is up (so what the master holds has been copied).
func (s *Server) WaitReplicating() {
	s.tb.Helper()
	s.waitInfo("replication", "master_link_status:up")
}

// WaitCaughtUp waits until the replica s has received everything master
// had written when it was called (its replication offset reached the
// master's): a test that kills master next loses no write it already made,
// as asynchronous replication otherwise may.
func (s *Server) WaitCaughtUp(master *Server) {
	s.tb.Helper()
	want := replOffset(s.tb, master, "master_repl_offset")
	deadline := time.Now().Add(startTimeout)
	for replOffset(s.tb, s, "slave_repl_offset") < want {
		if time.Now().After(deadline) {
			s.tb.Fatalf("replica %s did not reach offset %d of %s within %s", s.Addr(), want, master.Addr(), startTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replOffset reads one offset field of INFO replication.
func replOffset(tb testing.TB, s *Server, field string) int64 {
	tb.Helper()
	info, err := Command(s.Addr(), "INFO", "replication")
	if err != nil {
		tb.Fatalf("INFO replication: %v", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	tb.Fatalf("%s: no %s in INFO replication", s.Addr(), field)
	return 0
}

// WaitMaster waits until the server reports role:master, e.g. a replica
// being promoted, and returns when it saw it.
func (s *Server) WaitMaster(timeout time.Duration) time.Time {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info, err := Command(s.Addr(), "INFO", "replication")
		if err == nil && strings.Contains(info, "role:master") {
			return time.Now()
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("%s not promoted to master within %s: %v", s.Addr(), timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) waitInfo(section, want string) {
	s.tb.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := Command(s.Addr(), "INFO", section)
		if err == nil && strings.Contains(info, want) {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("%s: no %q in INFO %s after %s: %v", s.Addr(), want, section, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SentinelGroup is a master, one replica and three Sentinels (quorum 2)
// that fail the master over after FailoverTimeout: the smallest setup in
// which a Sentinel failover really happens.
type SentinelGroup struct {
	Master, Replica *Server
	Sentinels       []*Sentinel
}

// StartSentinelGroup starts the group and waits until every Sentinel
// knows the replica and the two other Sentinels.
func StartSentinelGroup(tb testing.TB) *SentinelGroup {
	tb.Helper()
	g := &SentinelGroup{Master: StartServer(tb)}
	g.Replica = StartReplica(tb, g.Master)
	for range 3 {
		g.Sentinels = append(g.Sentinels, startSentinel(tb, g.Master, FailoverTimeout, 2))
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range g.Sentinels {
		for {
			m, err := Command(s.Addr(), "SENTINEL", "MASTER", s.master)
			f := fields(m)
			if err == nil && f["num-other-sentinels"] == "2" && f["num-slaves"] == "1" {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("sentinel %s does not see the group after %s: %v %v", s.Addr(), startTimeout, err, f)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return g
}

// Addrs lists the Sentinels' host:port.
func (g *SentinelGroup) Addrs() []string {
	out := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		out[i] = s.Addr()
	}
	return out
}

// MasterName is the name the Sentinels monitor the master under.
func (g *SentinelGroup) MasterName() string { return g.Sentinels[0].master }

// fields reads a flat key/value array reply (joined by newlines).
func fields(reply string) map[string]string {
	parts := strings.Split(reply, "\n")
	out := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		out[parts[i]] = parts[i+1]
	}
	return out
}

// startSentinel starts a Sentinel monitoring master as "mymaster".
func startSentinel(tb testing.TB, master *Server, downAfter time.Duration, quorum int) *Sentinel {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server not found on PATH (%v): `make test` installs it "+
			"(apt-get install redis-server redis-tools)", err)
	}
	dir := tb.TempDir()
	port, err := freePort(false)
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	host, mport, _ := net.SplitHostPort(master.Addr())
	body := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nlogfile %s\n"+
		"sentinel monitor mymaster %s %s %d\nsentinel down-after-milliseconds mymaster %d\n"+
		"sentinel failover-timeout mymaster 10000\nsentinel parallel-syncs mymaster 1\n",
		port, dir, filepath.Join(dir, "redis.log"), host, mport, quorum, downAfter.Milliseconds())
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatalf("write sentinel config: %v", err)
	}
	s := &Sentinel{Server: &Server{tb: tb, port: port, dir: dir, args: []string{bin, conf, "--sentinel"}}, master: "mymaster"}
	tb.Cleanup(s.Stop)
	s.launch()
	deadline := time.Now().Add(startTimeout)
	for {
		addr, err := Command(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master)
		if err == nil && addr != "" {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sentinel on %s does not know its master after %s: %v\n%s", s.Addr(), startTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReplicatedCluster is a Redis Cluster of masters with one replica each,
// cluster-node-timeout FailoverTimeout: a killed master's replica takes
// over its slots.
type ReplicatedCluster struct {
	Cluster
	// ReplicaOf maps each master to its replica.
	ReplicaOf map[*Server]*Server
}

// StartReplicatedCluster starts masters masters and as many replicas,
// joins them with redis-cli --cluster create --cluster-replicas 1, and
// waits until the cluster is ok and every replica is in sync.
func StartReplicatedCluster(tb testing.TB, masters int) *ReplicatedCluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redis-cli not found on PATH (%v): `make test` installs it "+
			"(apt-get install redis-server redis-tools)", err)
	}
	timeout := strconv.FormatInt(FailoverTimeout.Milliseconds(), 10)
	var all []*Server
	args := []string{"--cluster", "create"}
	for range 2 * masters {
		n := startWith(tb, true, "--cluster-node-timeout", timeout)
		all = append(all, n)
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := &ReplicatedCluster{Cluster: Cluster{nodes: all}, ReplicaOf: map[*Server]*Server{}}
	c.waitOK(tb)
	byAddr := map[string]*Server{}
	for _, n := range all {
		byAddr[n.Addr()] = n
	}
	deadline := time.Now().Add(startTimeout)
	for len(c.ReplicaOf) < masters {
		c.ReplicaOf = c.replicas(tb, byAddr)
		if time.Now().After(deadline) {
			tb.Fatalf("cluster: %d of %d replicas attached after %s", len(c.ReplicaOf), masters, startTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range c.ReplicaOf {
		r.WaitReplicating()
	}
	return c
}

// replicas reads CLUSTER NODES: each master and its replica.
func (c *ReplicatedCluster) replicas(tb testing.TB, byAddr map[string]*Server) map[*Server]*Server {
	tb.Helper()
	out, err := Command(c.nodes[0].Addr(), "CLUSTER", "NODES")
	if err != nil {
		tb.Fatalf("CLUSTER NODES: %v", err)
	}
	addrOf := map[string]string{} // node id -> host:port
	type line struct{ id, addr, flags, master string }
	var lines []line
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addrOf[f[0]] = addr
		lines = append(lines, line{f[0], addr, f[2], f[3]})
	}
	m := map[*Server]*Server{}
	for _, l := range lines {
		if strings.Contains(l.flags, "slave") && l.master != "-" {
			if mas, rep := byAddr[addrOf[l.master]], byAddr[l.addr]; mas != nil && rep != nil {
				m[mas] = rep
			}
		}
	}
	return m
}

// MasterOf returns the master serving key's slot.
func (c *ReplicatedCluster) MasterOf(tb testing.TB, key string) *Server {
	tb.Helper()
	for m := range c.ReplicaOf {
		// A master answers a read of its own keys; others answer MOVED.
		if _, err := Command(m.Addr(), "EXISTS", key); err == nil {
			return m
		}
	}
	tb.Fatalf("no master serves %q", key)
	return nil
}

func (c *Cluster) waitOK(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.nodes {
		for {
			info, err := Command(n.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cluster node %s not ok after %s: %v %q", n.Addr(), startTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
