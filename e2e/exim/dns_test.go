//go:build exim_e2e

package exime2e

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// isolated fails the test unless it runs in its own network and mount
// namespaces (make exim-e2e runs it under `unshare -n -m` and passes the
// mount namespace it started from in MXROUTE_E2E_HOST_MNT): it binds port
// 53 and bind-mounts /etc/resolv.conf, which must never touch the host.
func isolated(t *testing.T) {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/mnt")
	host := os.Getenv("MXROUTE_E2E_HOST_MNT")
	if err != nil || host == "" || self == host {
		t.Fatalf("not in a private mount namespace (%s, started from %q): run `make exim-e2e`", self, host)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if i.Name != "lo" {
			t.Fatalf("network interface %s is visible: run `make exim-e2e` (unshare -n)", i.Name)
		}
	}
}

// resolvThrough points the namespace's resolver (and so Exim's dnslookup
// router) at a relay on 127.0.0.1:53 that forwards to upstream.
func resolvThrough(t *testing.T, dir, upstream string) {
	t.Helper()
	relay := func(w dns.ResponseWriter, req *dns.Msg) {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		if w.RemoteAddr().Network() == "tcp" {
			c.Net = "tcp"
		}
		res, _, err := c.Exchange(req, upstream)
		if err != nil {
			res = new(dns.Msg)
			res.SetRcode(req, dns.RcodeServerFailure)
		}
		_ = w.WriteMsg(res)
	}
	for _, n := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: "127.0.0.1:53", Net: n, Handler: dns.HandlerFunc(relay)}
		started := make(chan error, 1)
		srv.NotifyStartedFunc = func() { started <- nil }
		go func() { started <- srv.ListenAndServe() }()
		if err := <-started; err != nil {
			t.Fatalf("dns relay on 127.0.0.1:53/%s: %v", n, err)
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(conf, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount resolv.conf: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount("/etc/resolv.conf", 0) })
}
