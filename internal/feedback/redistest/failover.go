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
	poll(s.tb, startTimeout, fmt.Sprintf("replica %s at offset %d of %s", s.Addr(), want, master.Addr()), func() (bool, string) {
		got := replOffset(s.tb, s, "slave_repl_offset")
		return got >= want, fmt.Sprintf("at %d", got)
	})
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
	return poll(s.tb, timeout, s.Addr()+" promoted to master", func() (bool, string) {
		info, err := Command(s.Addr(), "INFO", "replication")
		return err == nil && strings.Contains(info, "role:master"), fmt.Sprint(err)
	})
}

func (s *Server) waitInfo(section, want string) {
	s.tb.Helper()
	poll(s.tb, startTimeout, fmt.Sprintf("%s: %q in INFO %s", s.Addr(), want, section), func() (bool, string) {
		info, err := Command(s.Addr(), "INFO", section)
		return err == nil && strings.Contains(info, want), fmt.Sprint(err)
	})
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
	for _, s := range g.Sentinels {
		poll(tb, startTimeout, "sentinel "+s.Addr()+" sees the group", func() (bool, string) {
			m, err := Command(s.Addr(), "SENTINEL", "MASTER", s.master)
			f := fields(m)
			return err == nil && f["num-other-sentinels"] == "2" && f["num-slaves"] == "1", fmt.Sprintf("%v %v", err, f)
		})
	}
	return g
}

// Addrs lists the Sentinels' host:port.
func (g *SentinelGroup) Addrs() []string { return addrsOf(g.Sentinels) }

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
	poll(tb, startTimeout, "sentinel on "+s.Addr()+" knows its master", func() (bool, string) {
		addr, err := Command(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master)
		return err == nil && addr != "", fmt.Sprintf("%v\n%s", err, s.logTail())
	})
	return s
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
	poll(tb, startTimeout, fmt.Sprintf("cluster: %d replicas attached", masters), func() (bool, string) {
		c.ReplicaOf = c.replicas(tb, byAddr)
		return len(c.ReplicaOf) >= masters, fmt.Sprintf("%d attached", len(c.ReplicaOf))
	})
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
	for _, n := range c.nodes {
		poll(tb, startTimeout, "cluster node "+n.Addr()+" ok", func() (bool, string) {
			info, err := Command(n.Addr(), "CLUSTER", "INFO")
			return err == nil && strings.Contains(info, "cluster_state:ok"), fmt.Sprintf("%v %q", err, info)
		})
	}
}
